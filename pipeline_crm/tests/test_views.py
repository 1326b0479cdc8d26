from __future__ import annotations

import re

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import Client
from django.urls import resolve, reverse

from pipeline_crm.context_processors import NAVIGATION

pytestmark = pytest.mark.django_db

SECTION_URL_NAMES = [url_name for _, url_name, _ in NAVIGATION]
PASSWORD = "secret-pass-123"  # set by UserFactory
WRONG_LOGIN = (
    "Please enter a correct username and password. Note that both fields may be case-sensitive."
)


def csrf_token_of(response: HttpResponse) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "the page has no CSRF token field"
    return match[1]


def nav_link(content: str, url: str) -> str:
    """The opening <a> tag of the navigation link to `url`."""
    match = re.search(rf'<a href="{re.escape(url)}"[^>]*>', content)
    assert match, f"no navigation link to {url}"
    return match[0]


@pytest.mark.parametrize("url_name", SECTION_URL_NAMES)
def test_anonymous_users_are_redirected_to_login_from_every_section(client, url_name):
    url = reverse(url_name)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_a_rep_sees_all_five_sections_and_no_admin_link(client, rep):
    client.force_login(rep)

    content = client.get(reverse("home")).content.decode()

    for label, url_name, icon in NAVIGATION:
        # (Tasks carries the overdue badge, empty when nothing is overdue.)
        badge = r'(?:<span id="nav-task-badge"[^>]*></span>\s*)?'
        link = rf'<a href="{reverse(url_name)}"[^>]*>\s*<i class="bi bi-{icon}"[^>]*></i>\s*{label}\s*{badge}</a>'
        assert re.search(link, content), label
    assert reverse("admin:index") not in content


def test_an_admin_sees_the_admin_link(client, admin_user):
    client.force_login(admin_user)

    content = client.get(reverse("home")).content.decode()

    assert f'<a class="nav-link" href="{reverse("admin:index")}">' in content


@pytest.mark.parametrize("url_name", SECTION_URL_NAMES)
def test_the_current_section_is_highlighted_and_no_other(client, rep, url_name):
    client.force_login(rep)

    content = client.get(reverse(url_name)).content.decode()

    for _, other, _ in NAVIGATION:
        link = nav_link(content, reverse(other))
        is_active = 'class="nav-link active" aria-current="page"' in link
        assert is_active is (other == url_name), link


def test_the_user_menu_shows_full_name_role_and_a_logout_form(client, rep):
    client.force_login(rep)

    content = client.get(reverse("home")).content.decode()

    assert '<span class="user-menu-name">Alice Archer</span>' in content
    assert '<span class="user-menu-role">Sales rep</span>' in content
    assert f'<form method="post" action="{reverse("logout")}">' in content


def test_logging_in_through_the_form_redirects_home(rep):
    client = Client(enforce_csrf_checks=True)
    form_page = client.get(reverse("login"))

    response = client.post(
        reverse("login"),
        {
            "csrfmiddlewaretoken": csrf_token_of(form_page),
            "username": "alice",
            "password": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_logging_in_returns_to_the_page_asked_for(client, rep):
    tasks_url = reverse("tasks:list")
    form_page = client.get(client.get(tasks_url).url)
    assert f'<input type="hidden" name="next" value="{tasks_url}">' in form_page.content.decode()

    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD, "next": tasks_url}
    )

    assert response.status_code == 302
    assert response.url == tasks_url


def test_the_login_form_asks_browsers_for_the_right_autocomplete(client):
    content = client.get(reverse("login")).content.decode()

    assert re.search(r'<input type="text" name="username"[^>]*autocomplete="username"', content)
    assert re.search(
        r'<input type="password" name="password"[^>]*autocomplete="current-password"', content
    )


def test_a_wrong_password_shows_the_error_and_keeps_the_user_out(client, rep):
    response = client.post(reverse("login"), {"username": "alice", "password": "not-it"})

    assert response.status_code == 200
    assert WRONG_LOGIN in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_a_logged_in_user_visiting_login_goes_home(client, rep):
    client.force_login(rep)

    response = client.get(reverse("login"))

    assert response.status_code == 302
    assert response.url == reverse("home")


def test_logging_out_by_post_ends_the_session(client, rep):
    client.force_login(rep)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("home")).status_code == 302


def test_logging_out_by_get_is_not_allowed(client, rep):
    client.force_login(rep)

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert client.get(reverse("home")).status_code == 200


def test_flash_messages_render_as_dismissible_alerts(rf, rep):
    request = rf.get(reverse("home"))
    request.user = rep
    SessionMiddleware(lambda request: HttpResponse()).process_request(request)
    MessageMiddleware(lambda request: HttpResponse()).process_request(request)
    messages.success(request, "Deal moved to Proposal made.")
    messages.error(request, "Deal could not be moved.")

    content = resolve(reverse("reports:revenue")).func(request).content.decode()

    success, error = re.findall(r'<div class="alert alert-(\w+) alert-dismissible[^"]*"', content)
    assert (success, error) == ("success", "danger")
    assert "<div>Deal moved to Proposal made.</div>" in content
    assert "<div>Deal could not be moved.</div>" in content
    assert content.count('data-bs-dismiss="alert"') == 2


def test_pages_have_no_inline_scripts_or_event_handlers(client, admin_user, pipeline):
    """A strict Content-Security-Policy is coming; the shell must already satisfy it."""
    client.force_login(admin_user)
    pages = [client.get(reverse("home"), follow=True), Client().get(reverse("login"))]

    for page in pages:
        content = page.content.decode()
        assert "<script src=" in content
        assert not re.search(r"<script(?![^>]*\ssrc=)", content)
        assert not re.search(r"\son[a-z]+=", content)
        assert " style=" not in content


def test_the_home_page_query_count_is_pinned(client, rep, django_assert_max_num_queries):
    client.force_login(rep)

    # session, user, the default pipeline
    with django_assert_max_num_queries(3):
        response = client.get(reverse("home"))

    assert response.status_code == 200


def test_pages_name_the_app_icon_and_favicon_ico_leads_to_it(client):
    login_page = client.get(reverse("login")).content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', login_page)
    assert icon, "the page names no icon"

    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == icon[1]
    assert client.get(icon[1]).status_code == 200
