"""What a request that cannot be served gets: a fragment request (htmx, the board's
script) a reason its page can show or a redirect of the whole page; a page an error page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from deals.tests.factories import DealFactory
from pipeline_crm.errors import CSRF_REFUSED, SESSION_ENDED

pytestmark = pytest.mark.django_db

FRAGMENT = {"HX-Request": "true"}


def fragment_from(page: str) -> dict[str, str]:
    return FRAGMENT | {"HX-Current-URL": f"http://testserver{page}"}


def test_a_fragment_request_after_the_session_ended_logs_the_whole_page_in_again(
    client, rep, pipeline
):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    page = deal.get_absolute_url()

    response = client.get(
        reverse("deals:field", args=[deal.pk, "value"]), headers=fragment_from(page)
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={quote(page, safe='')}"
    assert response.content == b""  # nothing for htmx to swap into the field


@pytest.mark.parametrize("url_name", ["deals:move", "deals:log-activity"])
def test_a_save_in_place_after_the_session_ended_keeps_the_page_and_says_why(
    client, rep, pipeline, url_name
):
    deal = DealFactory(pipeline=pipeline, owner=rep)

    response = client.post(
        reverse(url_name, args=[deal.pk]),
        {"subject": "Two pages of notes"},
        headers=fragment_from(deal.get_absolute_url()),
    )

    assert (response.status_code, response.text) == (401, SESSION_ENDED)
    assert "HX-Redirect" not in response  # leaving the page would lose what was typed


def test_a_fragment_request_from_another_site_goes_home_after_logging_in(client, pipeline):
    headers = FRAGMENT | {"HX-Current-URL": "https://evil.example/deals/1/"}

    response = client.get(reverse("tasks:badge"), headers=headers)

    assert response["HX-Redirect"] == f"{reverse('login')}?next={quote(reverse('home'), safe='')}"


def test_a_page_request_after_the_session_ended_is_redirected_as_before(client, pipeline):
    response = client.get(reverse("deals:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "HX-Redirect" not in response


def test_a_refused_change_in_place_answers_the_reason_as_text(client, rep, other_rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=other_rep, title="Pilot")
    client.force_login(rep)  # a teammate: may look at the deal, not change it

    response = client.get(reverse("deals:field", args=[deal.pk, "value"]), headers=FRAGMENT)

    assert response.status_code == 403
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == "You may look at “Pilot” but not change it."


def test_a_refused_page_shows_the_reason_on_the_error_page(client, rep, other_rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=other_rep, title="Pilot")
    client.force_login(rep)

    response = client.get(reverse("deals:edit", args=[deal.pk]))

    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert "You may look at “Pilot” but not change it." in response.text
    assert "Back to Pipeline CRM" in response.text


def test_a_change_in_place_from_a_page_older_than_the_session_says_reload(rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)  # no CSRF token: as after logging in again in another tab

    fragment = client.post(reverse("deals:bant", args=[deal.pk]), headers=FRAGMENT)
    page = client.post(reverse("deals:bant", args=[deal.pk]))

    assert (fragment.status_code, fragment.text) == (403, CSRF_REFUSED)
    assert page.status_code == 403
    assert "This page was out of date" in page.text
    assert "nothing was saved" in page.text


def test_a_missing_page_says_so_with_a_way_back(client, rep):
    client.force_login(rep)

    response = client.get("/deals/999999/")

    assert response.status_code == 404
    assert "Nothing here" in response.text
    assert "Back to Pipeline CRM" in response.text


def test_the_server_error_page_renders_without_a_request():
    html = render_to_string("500.html")

    assert "Something went wrong on our side" in html
    assert 'href="/"' in html


def test_a_post_too_large_to_read_gets_the_error_page(client, rep, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    client.force_login(rep)

    response = client.post(reverse("deals:create"), {f"field{n}": "x" for n in range(20)})

    assert response.status_code == 400
    assert "That request could not be read" in response.text
