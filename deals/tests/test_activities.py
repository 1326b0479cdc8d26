"""Correcting the timeline: editing and removing logged activities on the deal and account
pages, what that does to "last active", and who may do it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from deals.forms import ACTIVITY_IN_THE_FUTURE
from deals.models import Account, Activity, Deal
from deals.selectors import timeline
from deals.services import delete_activity, log_activity, move_deal, update_activity
from deals.tests.factories import AccountFactory, DealFactory
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2025, 3, 14, 12, 0))
HTMX = {"HTTP_HX_REQUEST": "true"}


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def local(moment: datetime) -> str:
    """A time as the form's "When" input shows it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def deal(rep, pipeline):
    deal = DealFactory(
        title="Fleet rollout",
        pipeline=pipeline,
        owner=rep,
        value=Decimal("48000"),
        created_at=at(100),
    )
    log_activity(kind="call", subject="Intro call", user=rep, deal=deal, occurred_at=at(90))
    log_activity(kind="email", subject="Sent the deck", user=rep, deal=deal, occurred_at=at(50))
    return deal


@pytest.fixture
def pricing(rep, deal) -> Activity:
    """The deal's newest activity."""
    return log_activity(kind="note", subject="Pricing", user=rep, deal=deal, occurred_at=at(10))


@pytest.fixture
def account(rep):
    return AccountFactory(name="Initech", owner=rep)


@pytest.fixture
def account_note(rep, account) -> Activity:
    return log_activity(
        kind="note", subject="Met at a fair", user=rep, account=account, occurred_at=at(20)
    )


def edit_url(activity: Activity) -> str:
    return reverse("deals:activity-edit", args=[activity.pk])


def delete_url(activity: Activity) -> str:
    return reverse("deals:activity-delete", args=[activity.pk])


def form_data(activity: Activity, **changes: str) -> dict[str, str]:
    """What the edit form posts when the user changes `changes` only."""
    shown = local(activity.occurred_at)
    data = {
        "kind": activity.kind,
        "subject": activity.subject,
        "body": activity.body,
        "occurred_at": shown,
        "initial-occurred_at": shown,
    }
    return data | changes


def page(client, record) -> str:
    response = client.get(record.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def entry_titles(html: str) -> list[str]:
    return re.findall(r'<span class="timeline-title">([^<]+)</span>', html)


def last_active(record: Deal | Account) -> datetime | None:
    record.refresh_from_db()
    return record.last_activity_at


# The timeline's controls


def test_activities_of_a_deal_one_may_change_get_edit_and_remove(client, rep, deal, pricing):
    client.force_login(rep)
    html = page(client, deal)
    assert html.count('class="timeline-controls"') == 3  # the activities, not the creation
    assert f'href="{edit_url(pricing)}" hx-get="{edit_url(pricing)}"' in html
    assert f'action="{delete_url(pricing)}" hx-post="{delete_url(pricing)}"' in html
    assert 'hx-confirm="Remove the note “Pricing”?"' in html


def test_a_read_only_viewer_gets_no_controls(client, other_rep, deal, pricing):
    client.force_login(other_rep)
    assert 'class="timeline-controls"' not in page(client, deal)


def test_the_account_page_offers_them_on_the_accounts_own_activities_only(
    client, rep, pipeline, account, account_note
):
    mine = DealFactory(title="Mine", account=account, owner=rep, pipeline=pipeline)
    on_deal = log_activity(kind="call", subject="Deal call", user=rep, deal=mine)
    client.force_login(rep)
    html = page(client, account)
    assert html.count('class="timeline-controls"') == 1
    assert edit_url(account_note) in html and edit_url(on_deal) not in html


# Editing


def test_the_edit_page_shows_the_activity_in_a_form(client, rep, deal, pricing):
    client.force_login(rep)
    response = client.get(edit_url(pricing))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Edit the note “Pricing”" in html
    assert '<option value="note" selected>Note</option>' in html
    assert 'value="Pricing"' in html and f'value="{local(pricing.occurred_at)}"' in html
    assert f'action="{edit_url(pricing)}"' in html


def test_with_htmx_the_edit_form_goes_into_the_timeline_slot(client, rep, deal, pricing):
    client.force_login(rep)
    html = client.get(edit_url(pricing), **HTMX).content.decode()
    assert html.strip().startswith('<form class="activity-form"')
    assert "Edit the note" in html
    assert f'hx-post="{edit_url(pricing)}" hx-target="#activity-form-slot"' in html


def test_an_edit_changes_the_activity_and_goes_back_to_the_deal(client, rep, deal, pricing):
    client.force_login(rep)
    data = form_data(pricing, kind="meeting", subject="Pricing workshop", body="With finance")

    response = client.post(edit_url(pricing), data)

    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    pricing.refresh_from_db()
    assert (pricing.kind, pricing.subject, pricing.body) == (
        "meeting",
        "Pricing workshop",
        "With finance",
    )
    assert pricing.occurred_at == at(10)  # "When" left as it was keeps the exact time
    assert "Saved the meeting “Pricing workshop”." in page(client, deal)


def test_leaving_when_as_it_was_keeps_the_time_to_the_microsecond(client, rep, deal):
    exact = at(2) + timedelta(seconds=37, microseconds=5)
    note = log_activity(kind="note", subject="Exact", user=rep, deal=deal, occurred_at=exact)
    client.force_login(rep)
    client.post(edit_url(note), form_data(note, subject="Still exact"))
    note.refresh_from_db()
    assert (note.subject, note.occurred_at) == ("Still exact", exact)


def test_moving_an_activity_back_in_time_reorders_the_timeline(client, rep, deal, pricing):
    client.force_login(rep)
    moved = at(70)

    response = client.post(edit_url(pricing), form_data(pricing, occurred_at=local(moved)))

    assert response.status_code == 302
    assert entry_titles(page(client, deal)) == [
        "Sent the deck",
        "Pricing",
        "Intro call",
        "Created in Lead",
    ]
    assert last_active(deal) == at(50)
    assert last_active(deal.account) == at(50)


def test_with_htmx_a_saved_edit_answers_the_timeline(client, rep, deal, pricing):
    client.force_login(rep)
    data = form_data(pricing, subject="Pricing v2", occurred_at=local(at(60)))

    response = client.post(edit_url(pricing), data, **HTMX)

    assert response.status_code == 200
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#timeline", "outerHTML")
    html = response.content.decode()
    assert html.strip().startswith('<section id="timeline"')
    assert entry_titles(html) == ["Sent the deck", "Pricing v2", "Intro call", "Created in Lead"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"subject": ""}, "This field is required."),
        ({"subject": "x" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
        ({"kind": "fax"}, "Select a valid choice. fax is not one of the available choices."),
        ({"occurred_at": ""}, "This field is required."),
        ({"occurred_at": "yesterday"}, "Enter a valid date/time."),
        ({"occurred_at": "2999-01-01T10:00"}, ACTIVITY_IN_THE_FUTURE),
    ],
)
def test_a_bad_edit_shows_the_error_and_saves_nothing(client, rep, deal, pricing, changes, error):
    client.force_login(rep)
    for headers in ({}, HTMX):
        response = client.post(edit_url(pricing), form_data(pricing, **changes), **headers)
        assert response.status_code == 200
        assert error in response.content.decode()
        assert "HX-Retarget" not in response
    saved = Activity.objects.get(pk=pricing.pk)
    assert (saved.kind, saved.subject, saved.occurred_at) == ("note", "Pricing", at(10))
    assert last_active(deal) == at(10)


def test_an_accounts_own_activity_is_edited_from_the_account_page(
    client, rep, account, account_note
):
    client.force_login(rep)
    response = client.post(edit_url(account_note), form_data(account_note, kind="meeting"))
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    assert "Saved the meeting “Met at a fair”." in page(client, account)

    response = client.post(edit_url(account_note), form_data(account_note), **HTMX)
    assert 'id="timeline-heading"' in response.content.decode()
    assert "Met at a fair" in response.content.decode()


# Removing


def test_removing_an_activity_goes_back_with_a_message(client, rep, deal, pricing):
    client.force_login(rep)

    response = client.post(delete_url(pricing))

    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert not Activity.objects.filter(pk=pricing.pk).exists()
    html = page(client, deal)
    assert "Removed the note “Pricing”." in html
    assert entry_titles(html) == ["Sent the deck", "Intro call", "Created in Lead"]
    assert last_active(deal) == at(50)


def test_with_htmx_removing_answers_the_timeline_without_it(client, rep, deal, pricing):
    client.force_login(rep)
    response = client.post(delete_url(pricing), **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#timeline"
    assert entry_titles(response.content.decode()) == [
        "Sent the deck",
        "Intro call",
        "Created in Lead",
    ]


def test_removing_is_a_post(client, rep, deal, pricing):
    client.force_login(rep)
    assert client.get(delete_url(pricing)).status_code == 405
    assert Activity.objects.filter(pk=pricing.pk).exists()


def test_removing_an_accounts_own_activity_goes_back_to_the_account(
    client, rep, account, account_note
):
    client.force_login(rep)
    response = client.post(delete_url(account_note))
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    assert "Removed the note “Met at a fair”." in page(client, account)
    assert last_active(account) is None


# Who may


@pytest.mark.parametrize("url", [edit_url, delete_url])
def test_correcting_is_403_for_read_only_and_404_outside_visibility(
    client, other_rep, outsider, deal, pricing, url
):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        if url is edit_url:
            assert client.get(url(pricing)).status_code == status
        assert client.post(url(pricing), form_data(pricing, subject="Sneaky")).status_code == status
    assert Activity.objects.get(pk=pricing.pk).subject == "Pricing"


def test_an_accounts_own_activity_follows_the_accounts_rights(
    client, other_rep, outsider, account, account_note
):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(edit_url(account_note)).status_code == status
        assert client.post(delete_url(account_note)).status_code == status
    assert Activity.objects.filter(pk=account_note.pk).exists()


def test_an_unknown_activity_is_404(client, rep):
    client.force_login(rep)
    assert client.get(reverse("deals:activity-edit", args=[10**9])).status_code == 404


# last_activity_at: the newest activity or stage change, whatever gets corrected


def test_moving_the_newest_activity_later_moves_last_active(rep, deal, pricing):
    update_activity(pricing, by=rep, subject="Pricing", body="", occurred_at=at(1))
    assert last_active(deal) == last_active(deal.account) == at(1)


def test_moving_an_older_activity_leaves_last_active_alone(rep, deal, pricing):
    intro = Activity.objects.get(subject="Intro call")
    update_activity(intro, by=rep, subject="Intro call", body="", occurred_at=at(99))
    assert last_active(deal) == last_active(deal.account) == at(10)


def test_a_stage_change_newer_than_every_activity_is_where_the_deal_falls_back_to(
    rep, pipeline, deal, pricing
):
    move_deal(deal, stage(pipeline, "Contacted"), by=rep, at=at(30))
    delete_activity(pricing, by=rep)
    assert last_active(deal) == at(30)
    assert last_active(deal.account) == at(50)


def test_without_activities_a_deal_was_last_active_at_its_creation(rep, deal):
    for activity in Activity.objects.filter(deal=deal):
        delete_activity(activity, by=rep)
    assert last_active(deal) == at(100)
    assert last_active(deal.account) is None


def test_a_correction_does_not_touch_the_others_timeline_entries(rep, deal, pricing):
    update_activity(
        pricing, by=rep, subject="Pricing call", body="", occurred_at=at(10), kind="call"
    )
    assert [entry.title for entry in timeline(deal=deal).entries] == [
        "Pricing call",
        "Sent the deck",
        "Intro call",
        "Created in Lead",
    ]


def test_a_completed_task_newer_than_the_other_activities_is_where_last_active_falls_back_to(
    rep, deal, pricing
):
    from tasks.services import complete_task
    from tasks.tests.factories import TaskFactory

    task = TaskFactory(deal=deal, account=deal.account, assignee=rep, due_at=at(25))
    with time_machine.travel(at(20), tick=False):
        complete_task(task, by=rep)
    delete_activity(pricing, by=rep)
    assert last_active(deal) == last_active(deal.account) == at(20)
