"""Ids read from user input: a hand-edited URL never makes a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deals.models import Deal
from deals.tests.factories import DealFactory
from pipeline_crm.ids import MAX_ID, parse_id
from stages.tests.factories import stage

# Past what a 64-bit integer holds (2**63 - 1), and past what SQLite takes as a parameter.
TOO_LARGE = [str(MAX_ID + 1), str(2**63), "9" * 20]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("42", 42), (7, 7), ("", None), (None, None), ("²", None), ("٣", None), ("-1", None),
     ("1e3", None), ("9" * 19, None)],
)  # fmt: skip
def test_only_ascii_digits_make_an_id(value, expected):
    assert parse_id(value) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "9" * 30])
def test_odd_digits_in_a_query_string_are_ignored(client, rep, pipeline, value):
    client.force_login(rep)

    assert client.get(reverse("deals:create"), {"account": value}).status_code == 200
    assert client.post(reverse("deals:create"), {"account": value}).status_code == 200
    # no such person to switch to: the list answers 404, as for any unknown id
    assert client.get(reverse("tasks:list"), {"person": value}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("value", TOO_LARGE)
@pytest.mark.parametrize("field", ["stage", "from_stage", "position"])
def test_a_move_with_too_large_a_number_is_refused_with_its_reason(
    client, rep, pipeline, field, value
):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    data = {"stage": stage(pipeline, "Contacted").pk, field: value}
    client.force_login(rep)

    response = client.post(reverse("deals:move", args=[deal.pk]), data, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert f"{field}: Ensure this value is less than or equal to" in response.json()["error"]
    assert Deal.objects.get(pk=deal.pk).stage == deal.stage


@pytest.mark.django_db
@pytest.mark.parametrize("value", TOO_LARGE)
@pytest.mark.parametrize("name", ["account", "lost_reason", "reached"])
def test_a_report_link_with_too_large_an_id_lists_nothing_and_says_why(
    client, admin_user, pipeline, name, value
):
    DealFactory(pipeline=pipeline)
    client.force_login(admin_user)

    page = client.get(reverse("deals:list"), {name: value})
    export = client.get(reverse("deals:export"), {name: value})

    assert page.status_code == 200
    assert list(page.context["page_obj"]) == []
    assert "Ensure this value is less than or equal to" in page.content.decode()
    assert export.status_code == 400
