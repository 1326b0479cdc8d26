"""Ids read from user input: a hand-edited URL never makes a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline_crm.ids import parse_id


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
