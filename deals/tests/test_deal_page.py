"""The deal page: header and stage bar, the timeline, inline edit, BANT, logging activities
and adding tasks, who may do what, and the page's query count."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from deals.forms import ACTIVITY_IN_THE_FUTURE
from deals.models import Activity, Deal, DealStatus
from deals.selectors import TIMELINE_LIMIT, TimelineCursor, timeline
from deals.services import log_activity, move_deal, update_deal
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from pipeline_crm.tests.factories import UserFactory
from stages.tests.factories import stage
from tasks.forms import DUE_IN_THE_PAST, DUE_TIME
from tasks.models import Task, TaskStatus
from tasks.services import create_task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2025, 3, 14, 12, 0))
HTMX = {"HTTP_HX_REQUEST": "true"}


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(
        title="Fleet rollout",
        pipeline=pipeline,
        owner=rep,
        value=Decimal("48000"),
        created_at=at(100),
    )


def page(client, deal, **params) -> str:
    response = client.get(reverse("deals:detail", args=[deal.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    """The visible text of some HTML, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def titles(entries) -> list[str]:
    return [entry.title for entry in entries]


# Header and stage bar


def test_the_header_shows_title_account_status_value_and_owner(client, rep, deal):
    client.force_login(rep)
    html = page(client, deal)
    summary = text(html.split('id="deal-summary"')[1].split("</header>")[0])
    assert "Fleet rollout" in summary
    assert f'href="{deal.account.get_absolute_url()}"' in html
    assert "Open" in summary and "$48,000" in summary and "Alice Archer" in summary


def test_the_stage_bar_lists_open_stages_then_won_and_lost(client, rep, deal, pipeline):
    move_deal(deal, stage(pipeline, "Qualified"), by=rep)
    client.force_login(rep)
    html = page(client, deal)
    steps = re.findall(r'<li class="stage-step is-(\w+) kind-(\w+)"', html)
    names = re.findall(r'<span class="stage-step-name">([^<]+)<', html)
    assert names == ["Lead", "Contacted", "Qualified", "Proposal made", "Won", "Lost"]
    assert steps == [
        ("passed", "open"),
        ("passed", "open"),
        ("current", "open"),
        ("ahead", "open"),
        ("ahead", "won"),
        ("ahead", "lost"),
    ]
    assert html.count('aria-current="step"') == 1


def test_every_other_stage_is_a_move_form_back_to_the_deal_page(client, rep, deal, pipeline):
    client.force_login(rep)
    html = page(client, deal)
    move_url = reverse("deals:move", args=[deal.pk])
    assert html.count(f'action="{move_url}"') == 4 + 1  # the steps but current and lost; the dialog
    assert f'name="next" value="{deal.get_absolute_url()}"' in html

    response = client.post(
        move_url,
        {
            "stage": stage(pipeline, "Won").pk,
            "from_stage": deal.stage_id,
            "next": deal.get_absolute_url(),
        },
    )

    assert response.status_code == 302
    assert response["Location"] == deal.get_absolute_url()
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON


def test_the_lost_step_asks_for_a_reason_in_a_dialog_or_the_move_form(client, rep, deal, pipeline):
    LostReasonFactory(name="Price")
    lost = stage(pipeline, "Lost")
    client.force_login(rep)
    html = page(client, deal)
    assert f'data-bs-target="#lost-dialog-{lost.pk}"' in html
    assert f'id="lost-dialog-{lost.pk}"' in html and ">Price</option>" in html
    move_form = reverse("deals:move-form", args=[deal.pk])
    assert f'href="{move_form}?stage={lost.pk}&amp;next=' in html

    form = client.get(move_form, {"stage": lost.pk}).content.decode()

    assert re.search(rf'value="{lost.pk}" checked', form)
    assert not re.search(rf'value="{deal.stage_id}" checked', form)


def test_a_read_only_viewer_sees_the_bar_without_buttons_and_no_edit_controls(
    client, other_rep, deal
):
    client.force_login(other_rep)
    html = page(client, deal)
    assert "stage-step" in html
    assert reverse("deals:move", args=[deal.pk]) not in html
    assert "lost-dialog" not in html
    assert reverse("deals:field", args=[deal.pk, "title"]) not in html
    assert reverse("deals:log-activity", args=[deal.pk]) not in html
    assert reverse("deals:add-task", args=[deal.pk]) not in html
    assert "disabled" in html.split('id="bant"')[1]


def test_a_deal_outside_visibility_is_404(client, outsider, deal):
    client.force_login(outsider)
    assert client.get(reverse("deals:detail", args=[deal.pk])).status_code == 404


def test_an_archived_deal_says_so(client, rep, deal):
    Deal.objects.filter(pk=deal.pk).update(is_archived=True)
    client.force_login(rep)
    assert "This deal is archived" in page(client, deal)


# Timeline


@pytest.fixture
def history(rep, other_rep, deal, pipeline):
    """Interleaved: created 100 h ago, then a call, a move, a value edit, a completed
    task, a note, a move to Qualified, a value and expected close edit and an email."""
    log_activity(kind="call", subject="Discovery", user=rep, deal=deal, occurred_at=at(90))
    move_deal(deal, stage(pipeline, "Contacted"), by=other_rep, at=at(80))
    with time_machine.travel(at(75), tick=False):
        update_deal(deal, by=rep, value=Decimal(1500))
    TaskFactory(
        deal=deal, assignee=rep, title="Send deck", status=TaskStatus.DONE, completed_at=at(70)
    )
    log_activity(
        kind="note", subject="Budget ok", body="Q3", user=rep, deal=deal, occurred_at=at(60)
    )
    move_deal(deal, stage(pipeline, "Qualified"), by=rep, at=at(50))
    with time_machine.travel(at(45), tick=False):
        update_deal(deal, by=other_rep, value=Decimal(1200), expected_close_date=date(2026, 12, 20))
    log_activity(kind="email", subject="Pricing", user=rep, deal=deal, occurred_at=at(40))
    return deal


EXPECTED = [
    "Pricing",
    "Value $1,500 → $1,200 · Expected close none → Dec 20, 2026",
    "Moved from Contacted to Qualified",
    "Budget ok",
    "Completed: Send deck",
    "Value $48,000 → $1,500",
    "Moved from Lead to Contacted",
    "Discovery",
    "Created in Lead",
]


def test_the_timeline_merges_activities_moves_and_completed_tasks_newest_first(history):
    assert titles(timeline(deal=history).entries) == EXPECTED


def test_the_page_shows_the_timeline_in_that_order_with_who_did_it(client, rep, history):
    client.force_login(rep)
    html = page(client, history)
    assert re.findall(r'<span class="timeline-title">([^<]+)</span>', html) == EXPECTED
    moved = html.split("Moved from Lead to Contacted")[1].split("</li>")[0]
    assert "by Bob Baker" in moved


def test_open_and_dismissed_tasks_stay_off_the_timeline(rep, deal):
    TaskFactory(deal=deal, assignee=rep, title="Still to do")
    TaskFactory(
        deal=deal, assignee=rep, title="Dropped", status=TaskStatus.DISMISSED, completed_at=at(1)
    )
    assert titles(timeline(deal=deal).entries) == ["Created in Lead"]


def test_entries_at_the_same_instant_show_task_then_activity_then_stage_then_by_pk(rep, deal):
    TaskFactory(deal=deal, assignee=rep, title="T", status=TaskStatus.DONE, completed_at=at(100))
    first = log_activity(kind="call", subject="A1", user=rep, deal=deal, occurred_at=at(100))
    second = log_activity(kind="call", subject="A2", user=rep, deal=deal, occurred_at=at(100))
    assert first.pk < second.pk
    assert titles(timeline(deal=deal).entries) == ["Completed: T", "A2", "A1", "Created in Lead"]


def test_show_older_walks_the_whole_timeline_once_even_across_ties(rep, history):
    for index in range(3):
        log_activity(
            kind="note", subject=f"Tie {index}", user=rep, deal=history, occurred_at=at(60)
        )
    everything = titles(timeline(deal=history).entries)
    seen, before = [], None
    while True:
        page = timeline(deal=history, limit=2, before=before)
        seen += titles(page.entries)
        if not page.has_more:
            break
        before = TimelineCursor.parse(str(page.next_cursor))
    assert seen == everything
    assert len(seen) == len(EXPECTED) + 3


def test_a_long_timeline_is_cut_with_a_show_older_link(client, rep, deal):
    for index in range(TIMELINE_LIMIT + 5):
        log_activity(
            kind="note", subject=f"N{index}", user=rep, deal=deal, occurred_at=at(50 + index / 10)
        )
    client.force_login(rep)
    html = page(client, deal)
    assert html.count('class="timeline-entry') == TIMELINE_LIMIT
    cursor = re.search(r'href="[^"]+\?before=([\d_]+)"', html).group(1)

    older = client.get(reverse("deals:detail", args=[deal.pk]), {"before": cursor}, **HTMX)

    fragment = older.content.decode()
    assert "<section" not in fragment
    assert re.findall(r'<span class="timeline-title">([^<]+)</span>', fragment) == [
        "N50",
        "N51",
        "N52",
        "N53",
        "N54",
        "Created in Lead",
    ]
    assert "Show older" not in fragment
    without_js = page(client, deal, before=cursor)
    assert "Back to the newest" in without_js and "N54" in without_js


@pytest.mark.parametrize("before", ["x", "1_2", "1_9_1", "99999999999999999999999_0_1", "1_0_-1"])
def test_a_malformed_show_older_cursor_is_400(client, rep, deal, before):
    client.force_login(rep)
    response = client.get(reverse("deals:detail", args=[deal.pk]), {"before": before})
    assert response.status_code == 400
    assert response.content.decode() == (
        "“before” must be a position in the timeline, as given by “Show older”."
    )


# Inline edit


def field_url(deal, name: str) -> str:
    return reverse("deals:field", args=[deal.pk, name])


def test_the_pencil_gets_a_one_field_form_in_place(client, rep, deal):
    client.force_login(rep)
    html = page(client, deal)
    assert f'hx-get="{field_url(deal, "value")}" hx-target="#deal-field-value"' in html

    form = client.get(field_url(deal, "value"), **HTMX).content.decode()

    assert form.strip().startswith('<div class="record-field is-editing" id="deal-field-value">')
    assert 'name="value" value="48000.00"' in form
    assert "<html" not in form


def test_saving_a_field_returns_its_value_and_refreshes_the_header(client, rep, deal):
    client.force_login(rep)
    response = client.post(field_url(deal, "value"), {"value": "52000"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="deal-field-value"' in html and "$52,000" in text(html)
    assert 'id="deal-summary" class="record-summary" hx-swap-oob="true"' in html
    deal.refresh_from_db()
    assert deal.value == Decimal("52000")


@pytest.mark.parametrize(
    ("name", "pick", "shown", "stored"),
    [
        ("title", lambda deal, bob: "Phase 2", "Phase 2", ("title", "Phase 2")),
        (
            "account",
            lambda deal, bob: AccountFactory(owner=deal.owner, name="Hooli").pk,
            "Hooli",
            ("account.name", "Hooli"),
        ),
        (
            "contact",
            lambda deal, bob: ContactFactory(account=deal.account, name="Nora Quist").pk,
            "Nora Quist",
            ("contact.name", "Nora Quist"),
        ),
        ("owner", lambda deal, bob: bob.pk, "Bob Baker", ("owner.username", "bob")),
        ("value", lambda deal, bob: "52000", "$52,000", ("value", Decimal("52000"))),
        (
            "expected_close_date",
            lambda deal, bob: "2031-02-27",
            "Feb 27, 2031",
            ("expected_close_date", date(2031, 2, 27)),
        ),
        (
            "source",
            lambda deal, bob: LeadSourceFactory(name="Trade show").pk,
            "Trade show",
            ("source.name", "Trade show"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_field_saves_in_place_and_shows_its_new_value(
    client, admin_user, other_rep, deal, name, pick, shown, stored
):
    client.force_login(admin_user)

    response = client.post(field_url(deal, name), {name: pick(deal, other_rep)}, **HTMX)

    assert response.status_code == 200
    assert shown in text(response.content.decode())
    deal.refresh_from_db()
    path, expected = stored
    value = deal
    for attribute in path.split("."):
        value = getattr(value, attribute)
    assert value == expected
    assert shown in text(page(client, deal))


def test_without_javascript_a_field_has_its_own_page_and_saving_goes_back(client, rep, deal):
    client.force_login(rep)
    html = client.get(field_url(deal, "title")).content.decode()
    assert "Edit the title of “Fleet rollout”" in html and "<html" in html

    response = client.post(field_url(deal, "title"), {"title": "Fleet rollout, phase 2"})

    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    deal.refresh_from_db()
    assert deal.title == "Fleet rollout, phase 2"
    assert "Saved the title of “Fleet rollout, phase 2”." in page(client, deal)


def test_cancel_returns_the_value_without_saving(client, rep, deal):
    client.force_login(rep)
    html = client.get(field_url(deal, "title") + "?cancel", **HTMX).content.decode()
    assert 'id="deal-field-title"' in html and "is-editing" not in html


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("value", "-5", "A deal&#x27;s value cannot be negative."),
        ("value", "abc", "Enter a number."),
        ("title", "", "This field is required."),
        ("expected_close_date", "someday", "Enter a valid date."),
    ],
)
def test_a_bad_value_shows_the_form_with_the_error_and_saves_nothing(
    client, rep, deal, name, value, error
):
    client.force_login(rep)
    response = client.post(field_url(deal, name), {name: value}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "is-editing" in html and "is-invalid" in html
    assert error in html
    assert Deal.objects.filter(pk=deal.pk, title="Fleet rollout", value=48000).exists()


def test_choices_are_limited_to_what_the_user_may_pick(client, rep, other_rep, outsider, deal):
    hidden_account = AccountFactory(owner=outsider)
    elsewhere = ContactFactory(account=AccountFactory(owner=rep))
    LeadSourceFactory(name="Retired", is_active=False)
    client.force_login(rep)

    for name, value in [
        ("owner", other_rep.pk),
        ("account", hidden_account.pk),
        ("contact", elsewhere.pk),
        ("source", 999),
    ]:
        response = client.post(field_url(deal, name), {name: value}, **HTMX)
        assert "Select a valid choice." in response.content.decode(), name

    form = client.get(field_url(deal, "source"), **HTMX).content.decode()
    assert "Retired" not in form
    deal.refresh_from_db()
    assert (deal.owner, deal.account_id, deal.contact) == (rep, deal.account_id, None)


def test_a_new_account_drops_a_contact_who_does_not_work_there(client, rep, deal):
    Deal.objects.filter(pk=deal.pk).update(contact=ContactFactory(account=deal.account))
    other = AccountFactory(owner=rep)
    client.force_login(rep)
    response = client.post(field_url(deal, "account"), {"account": other.pk}, **HTMX)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.account, deal.contact) == (other, None)


def test_the_contact_can_be_set_and_cleared(client, rep, deal):
    contact = ContactFactory(account=deal.account, name="Nora Quist")
    client.force_login(rep)
    client.post(field_url(deal, "contact"), {"contact": contact.pk}, **HTMX)
    assert "Nora Quist" in page(client, deal)
    client.post(field_url(deal, "contact"), {"contact": ""}, **HTMX)
    deal.refresh_from_db()
    assert deal.contact is None


def test_an_unknown_field_is_404(client, rep, deal):
    client.force_login(rep)
    for name in ["stage", "status", "nonsense"]:
        assert client.get(field_url(deal, name)).status_code == 404
        assert client.post(field_url(deal, name), {name: "x"}).status_code == 404


def test_inline_edit_is_403_for_read_only_and_404_outside_visibility(
    client, other_rep, outsider, deal
):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(field_url(deal, "title")).status_code == status
        assert client.post(field_url(deal, "title"), {"title": "Hacked"}).status_code == status
    deal.refresh_from_db()
    assert deal.title == "Fleet rollout"


# BANT


def bant_url(deal) -> str:
    return reverse("deals:bant", args=[deal.pk])


def test_ticking_bant_boxes_saves_them_and_counts_them(client, rep, deal):
    client.force_login(rep)
    assert "0/4 qualified" in page(client, deal)

    response = client.post(bant_url(deal), {"has_budget": "on", "has_need": "on"}, **HTMX)

    html = response.content.decode()
    assert html.strip().startswith('<section id="bant"') and "2/4 qualified" in html
    deal.refresh_from_db()
    assert (deal.has_budget, deal.has_authority, deal.has_need, deal.has_timeline) == (
        True,
        False,
        True,
        False,
    )


def test_unticking_saves_too_and_without_javascript_goes_back(client, rep, deal):
    Deal.objects.filter(pk=deal.pk).update(has_budget=True, has_timeline=True)
    client.force_login(rep)
    response = client.post(bant_url(deal), {"has_timeline": "on"})
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    deal.refresh_from_db()
    assert (deal.has_budget, deal.has_timeline) == (False, True)
    assert "Saved the qualification of “Fleet rollout”." in page(client, deal)


def test_bant_is_403_for_read_only_and_404_outside_visibility(client, other_rep, outsider, deal):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.post(bant_url(deal), {"has_budget": "on"}).status_code == status
    assert not Deal.objects.get(pk=deal.pk).has_budget


# Logging an activity


def log_url(deal, kind: str = "call") -> str:
    return reverse("deals:log-activity", args=[deal.pk]) + f"?kind={kind}"


def test_log_buttons_open_the_form_in_place(client, rep, deal):
    client.force_login(rep)
    html = page(client, deal)
    for label in ["Log call", "Log email", "Log meeting", "Add note"]:
        assert label in html
    assert f'hx-get="{log_url(deal, "meeting")}" hx-target="#activity-form-slot"' in html

    form = client.get(log_url(deal, "meeting"), **HTMX).content.decode()

    assert form.strip().startswith('<form class="activity-form"')
    assert "Log meeting" in form and f'hx-post="{log_url(deal, "meeting")}"' in form


@time_machine.travel(NOW, tick=False)
def test_a_logged_call_tops_the_re_rendered_timeline(client, rep, history):
    client.force_login(rep)
    response = client.post(
        log_url(history),
        {"subject": "Follow-up", "body": "Agreed on a pilot", "occurred_at": "2025-03-14T11:30"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#timeline", "outerHTML")
    assert re.findall(r'<span class="timeline-title">([^<]+)</span>', html)[:2] == [
        "Follow-up",
        "Pricing",
    ]
    activity = Activity.objects.get(subject="Follow-up")
    assert (activity.kind, activity.body, activity.user, activity.account) == (
        "call",
        "Agreed on a pilot",
        rep,
        history.account,
    )
    assert activity.occurred_at == timezone.make_aware(datetime(2025, 3, 14, 11, 30))
    history.refresh_from_db()
    assert history.last_activity_at == activity.occurred_at


def test_an_untouched_default_time_means_now(client, rep, deal):
    client.force_login(rep)
    form = client.get(log_url(deal, "note")).content.decode()
    shown = re.search(r'name="initial-occurred_at" value="([^"]+)"', form).group(1)
    before = timezone.now()
    client.post(
        log_url(deal, "note"),
        {"subject": "Quick note", "occurred_at": shown, "initial-occurred_at": shown},
    )
    assert Activity.objects.get(subject="Quick note").occurred_at >= before


def test_without_javascript_logging_goes_back_to_the_deal(client, rep, deal):
    client.force_login(rep)
    assert "Log email: Fleet rollout" in client.get(log_url(deal, "email")).content.decode()
    response = client.post(log_url(deal, "email"), {"subject": "Sent the quote"})
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    html = page(client, deal)
    assert "Logged the email “Sent the quote”." in html
    assert "Sent the quote" in html.split('class="timeline"')[1]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"subject": ""}, "This field is required."),
        ({"subject": "x" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
        ({"subject": "Ok", "occurred_at": "yesterday"}, "Enter a valid date/time."),
        ({"subject": "Ok", "occurred_at": "2999-01-01T10:00"}, ACTIVITY_IN_THE_FUTURE),
    ],
)
def test_a_bad_activity_shows_the_error_and_saves_nothing(client, rep, deal, data, error):
    client.force_login(rep)
    for headers in ({}, HTMX):
        response = client.post(log_url(deal), data, **headers)
        assert response.status_code == 200
        assert error in response.content.decode()
        assert "HX-Retarget" not in response
    assert not Activity.objects.exists()


def test_an_unknown_kind_of_activity_is_400(client, rep, deal):
    client.force_login(rep)
    response = client.post(log_url(deal, "fax"), {"subject": "Hello"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "Unknown kind of activity: choose call, email, meeting or note."
    )
    assert not Activity.objects.exists()


def test_logging_is_403_for_read_only_and_404_outside_visibility(client, other_rep, outsider, deal):
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(log_url(deal)).status_code == status
        assert client.post(log_url(deal), {"subject": "Sneaky"}).status_code == status
    assert not Activity.objects.exists()


# Tasks


def task_url(deal) -> str:
    return reverse("deals:add-task", args=[deal.pk])


@time_machine.travel(NOW, tick=False)
def test_open_tasks_show_due_date_assignee_and_overdue_in_red(client, rep, deal):
    TaskFactory(deal=deal, assignee=rep, title="Late one", due_at=at(2))
    TaskFactory(deal=deal, assignee=rep, title="Next week", due_at=at(-24 * 7))
    TaskFactory(deal=deal, assignee=rep, title="Done", status=TaskStatus.DONE, completed_at=at(1))
    client.force_login(rep)
    tasks = page(client, deal).split('id="tasks"')[1].split("</section>")[0]
    assert re.findall(r'class="task-title">([^<]+)<', tasks) == ["Late one", "Next week"]
    assert tasks.count("is-overdue") == 1
    assert "Mar 14 · overdue" in text(tasks) and "Alice Archer" in tasks


@time_machine.travel(NOW, tick=False)
def test_the_quick_add_defaults_to_tomorrow_and_the_deal_owner(client, manager, pipeline, outsider):
    deal = DealFactory(pipeline=pipeline, owner=outsider)
    client.force_login(manager)
    form = page(client, deal).split('id="tasks"')[1]
    assert 'name="due" value="2025-03-15"' in form
    assert re.search(rf'<option value="{outsider.pk}" selected>', form)


@time_machine.travel(NOW, tick=False)
def test_adding_a_task_returns_the_card_with_it(client, rep, deal):
    client.force_login(rep)
    response = client.post(
        task_url(deal),
        {"title": " Send proposal ", "due": "2025-03-20", "assignee": rep.pk},
        **HTMX,
    )
    html = response.content.decode()
    assert html.strip().startswith('<section id="tasks"')
    assert "Send proposal" in html and 'value=""' not in html.split('name="title"')[0]
    task = Task.objects.get()
    assert (task.title, task.deal, task.account, task.assignee, task.created_by) == (
        "Send proposal",
        deal,
        deal.account,
        rep,
        rep,
    )
    assert task.due_at == timezone.make_aware(datetime.combine(datetime(2025, 3, 20), DUE_TIME))
    assert task.status == TaskStatus.OPEN


def test_without_javascript_adding_a_task_goes_back(client, rep, deal):
    client.force_login(rep)
    assert "New task for “Fleet rollout”" in client.get(task_url(deal)).content.decode()
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        task_url(deal), {"title": "Call back", "due": tomorrow, "assignee": rep.pk}
    )
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert "Added the task “Call back”." in page(client, deal)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"title": "", "due": "2025-03-20"}, "This field is required."),
        ({"title": "x", "due": "2025-03-13"}, DUE_IN_THE_PAST),
        ({"title": "x", "due": "soon"}, "Enter a valid date."),
    ],
)
@time_machine.travel(NOW, tick=False)
def test_a_bad_task_shows_the_error_and_saves_nothing(client, rep, deal, data, error):
    client.force_login(rep)
    for headers in ({}, HTMX):
        response = client.post(task_url(deal), data | {"assignee": rep.pk}, **headers)
        assert response.status_code == 200
        assert error in response.content.decode()
    assert not Task.objects.exists()


def test_create_task_refuses_an_empty_title(rep, deal):
    with pytest.raises(ValidationError, match="This field cannot be blank."):
        create_task(title="  ", due_at=timezone.now(), assignee=rep, by=rep, deal=deal)
    assert not Task.objects.exists()


def test_tasks_go_only_to_people_who_may_hold_them(client, rep, other_rep, deal):
    stranger = UserFactory()
    client.force_login(rep)
    for person in (other_rep, stranger):
        response = client.post(
            task_url(deal), {"title": "x", "due": "2999-01-01", "assignee": person.pk}
        )
        assert "Select a valid choice." in response.content.decode()
    assert not Task.objects.exists()


def test_adding_a_task_is_403_for_read_only_and_404_outside_visibility(
    client, other_rep, outsider, deal
):
    data = {"title": "x", "due": "2999-01-01"}
    for user, status in [(other_rep, 403), (outsider, 404)]:
        client.force_login(user)
        assert client.get(task_url(deal)).status_code == status
        assert client.post(task_url(deal), data | {"assignee": user.pk}).status_code == status
    assert not Task.objects.exists()


# Query count


@pytest.mark.parametrize("size", [1, 30])
def test_the_deal_page_query_count_is_constant(
    client, rep, other_rep, pipeline, assert_max_queries, size
):
    deal = DealFactory(pipeline=pipeline, owner=rep, contact=None, source=LeadSourceFactory())
    Deal.objects.filter(pk=deal.pk).update(contact=ContactFactory(account=deal.account))
    names = ["Contacted", "Qualified"]
    for index in range(size):
        move_deal(deal, stage(pipeline, names[index % 2]), by=other_rep)
        update_deal(deal, by=other_rep, value=Decimal(123_000 + index))
        log_activity(kind="call", subject=f"Call {index}", user=other_rep, deal=deal)
        TaskFactory(deal=deal, assignee=other_rep)
        TaskFactory(deal=deal, assignee=rep, status=TaskStatus.DONE, completed_at=timezone.now())
    LostReasonFactory()
    client.force_login(rep)
    # user; the deal with owner, team, account, contact, pipeline, stage, source and lost
    # reason; the pipeline's stages; the timeline's activities, stage changes, edits and
    # completed tasks; the open tasks (with what their rows and rights need); the people they may be
    # reassigned to; the assignees offered twice (Django's Select reads its first choice
    # for the `required` attribute, then all of them); the lost reasons; the overdue-tasks
    # badge of the navigation
    with assert_max_queries(13):
        response = client.get(reverse("deals:detail", args=[deal.pk]))
    assert response.status_code == 200
    assert response.content.decode().count('class="timeline-entry') == min(
        4 * size + 1, TIMELINE_LIMIT
    )
