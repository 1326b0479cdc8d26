"""The deal and account pages in a real browser: logging a call, moving a deal with the
stage bar, marking it lost in the dialog, inline edit with Escape, screenshots."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.models import Activity, Deal, DealStatus
from deals.services import log_activity, move_deal, update_deal
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from stages.tests.factories import stage
from tasks.models import TaskStatus
from tasks.tests.factories import TaskFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 1000}


def open_page(page: Page, live_server, user, url: str) -> None:
    log_in(page.context, live_server, user)
    page.goto(live_server.url + url)
    expect(page.locator("#timeline")).to_be_visible()


def timeline_titles(page: Page) -> list[str]:
    return page.locator("#timeline .timeline-title").all_inner_texts()


def test_logging_a_call_puts_it_at_the_top_of_the_timeline(page, live_server, rep, pipeline):
    deal = DealFactory(
        pipeline=pipeline, owner=rep, title="Pilot", created_at=timezone.now() - timedelta(days=1)
    )
    log_activity(
        kind="note",
        subject="Earlier note",
        user=rep,
        deal=deal,
        occurred_at=timezone.now() - timedelta(hours=1),
    )
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.get_by_role("link", name="Log call").click()
    page.get_by_label("Subject").fill("Talked budget with the CFO")
    page.locator("#activity-form-slot").get_by_role("button", name="Save").click()

    expect(page.locator("#timeline .timeline-entry").first).to_contain_text(
        "Talked budget with the CFO"
    )
    expect(page.locator("#activity-form-slot form")).to_have_count(0)
    assert timeline_titles(page) == [
        "Talked budget with the CFO",
        "Earlier note",
        "Created in Lead",
    ]
    activity = Activity.objects.get(subject="Talked budget with the CFO")
    assert (activity.kind, activity.deal, activity.user) == ("call", deal, rep)


def test_cancel_closes_the_activity_form(page, live_server, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.get_by_role("link", name="Add note").click()
    expect(page.get_by_label("Subject")).to_be_focused()
    page.locator("#activity-form-slot").get_by_role("link", name="Cancel").click()

    expect(page.locator("#activity-form-slot form")).to_have_count(0)
    assert not Activity.objects.exists()


def test_clicking_a_stage_moves_the_deal(page, live_server, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.locator(".stage-steps").get_by_role("button", name="Qualified").click()

    current = page.locator('.stage-step[aria-current="step"]')
    expect(current).to_contain_text("Qualified")
    expect(page.locator(".stage-step.is-passed")).to_have_count(2)  # Lead, Contacted
    expect(page.locator("#timeline .timeline-entry").first).to_contain_text(
        "Moved from Lead to Qualified"
    )
    deal.refresh_from_db()
    assert deal.stage.name == "Qualified"


def test_the_lost_step_asks_for_a_reason(page, live_server, rep, pipeline):
    LostReasonFactory(name="Budget cut")
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.locator(".stage-steps").get_by_role("link", name="Lost").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Why was it lost?").select_option(label="Budget cut")
    dialog.get_by_role("button", name="Mark as lost").click()

    expect(page.locator(".status-badge")).to_have_text("Lost")
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason.name) == (DealStatus.LOST, "Budget cut")


def test_inline_edit_saves_a_field_and_escape_cancels(page, live_server, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep, value=Decimal("1000"))
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.get_by_role("link", name="Edit value").click()
    field = page.locator("#edit-value")
    expect(field).to_be_focused()
    field.fill("25000")
    field.press("Enter")
    expect(page.locator("#deal-field-value")).to_contain_text("$25,000")
    expect(page.locator("#deal-summary .record-value")).to_have_text("$25,000")
    expect(page.locator(".timeline-title").first).to_have_text("Value $1,000 → $25,000")

    page.get_by_role("link", name="Edit title").click()
    page.locator("#edit-title").fill("Never saved")
    page.locator("#edit-title").press("Escape")
    expect(page.locator("#edit-title")).to_have_count(0)
    deal.refresh_from_db()
    assert (deal.value, deal.title) == (Decimal("25000"), deal.title)
    assert deal.title != "Never saved"


def test_an_inline_edit_shows_a_value_saved_meanwhile_before_replacing_it(
    page, live_server, rep, admin_user, pipeline, screenshots
):
    deal = DealFactory(pipeline=pipeline, owner=rep, value=Decimal("1000"))
    page.set_viewport_size(WIDE)
    open_page(page, live_server, rep, deal.get_absolute_url())
    page.get_by_role("link", name="Edit value").click()
    expect(page.locator("#edit-value")).to_be_focused()  # the form's request is over
    update_deal(deal, by=admin_user, value=Decimal("5000"))  # a manager, in another tab

    page.locator("#edit-value").fill("25000")
    page.locator("#edit-value").press("Enter")

    error = page.locator("#deal-field-value .invalid-feedback")
    expect(error).to_contain_text("Someone else changed this to “$5,000” while you were editing")
    expect(page.locator("#edit-value")).to_have_value("25000")
    page.locator("#deal-field-value").screenshot(path=screenshots / "deal-edit-conflict.png")
    deal.refresh_from_db()
    assert deal.value == Decimal("5000")

    page.locator("#edit-value").press("Enter")
    expect(page.locator("#deal-field-value")).to_contain_text("$25,000")
    deal.refresh_from_db()
    assert deal.value == Decimal("25000")


def test_a_change_the_server_refuses_says_why(
    page, expected_failures, live_server, rep, other_rep, pipeline
):
    expected_failures.append(re.compile(r"^403 .*/bant/"))
    deal = DealFactory(pipeline=pipeline, owner=rep, title="Pilot")
    open_page(page, live_server, rep, deal.get_absolute_url())
    Deal.objects.filter(pk=deal.pk).update(owner=other_rep)  # handed over meanwhile

    page.get_by_label("Budget").click()

    toast = page.locator("#app-toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("You may look at “Pilot” but not change it.")
    expect(page.get_by_label("Budget")).not_to_be_checked()  # as saved
    deal.refresh_from_db()
    assert not deal.has_budget


def test_a_change_that_never_reaches_the_server_says_so(
    page, expected_failures, live_server, rep, pipeline
):
    expected_failures.append(re.compile(r"^net::ERR_FAILED .*/bant/"))
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())
    page.route("**/bant/", lambda route: route.abort())  # the connection drops

    page.get_by_label("Budget").click()  # not check(): the box is unticked at once again

    expect(page.locator("#app-toast")).to_contain_text(
        "The server could not be reached, so this was not saved."
    )
    expect(page.get_by_label("Budget")).not_to_be_checked()


def test_a_change_in_place_after_the_session_ended_logs_in_and_comes_back(
    page, live_server, rep, pipeline
):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())
    # The session ends (expired, or logged out in another tab); the CSRF cookie stays.
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)

    page.get_by_role("link", name="Edit value").click()

    # The whole page, not a login form swapped into the value's field.
    login = f"{reverse('login')}?next={quote(deal.get_absolute_url(), safe='')}"
    expect(page).to_have_url(live_server.url + login)
    page.get_by_label("Username").fill(rep.username)
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + deal.get_absolute_url())


def test_a_note_saved_after_the_session_ended_stays_on_the_page(
    page, expected_failures, live_server, rep, pipeline
):
    expected_failures.append(re.compile(r"^401 .*/activities/new/"))
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())
    page.get_by_role("link", name="Add note").click()
    page.get_by_label("Subject").fill("Two pages from the workshop")
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)

    page.locator("#activity-form-slot").get_by_role("button", name="Save").click()

    expect(page.locator("#app-toast")).to_contain_text("Your session has ended")
    expect(page.get_by_label("Subject")).to_have_value("Two pages from the workshop")
    assert not Activity.objects.filter(deal=deal).exists()


def test_ticking_a_bant_box_saves_it(page, live_server, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.get_by_label("Budget").check()

    expect(page.locator("#bant .bant-score")).to_have_text("1/4 qualified")
    deal.refresh_from_db()
    assert deal.has_budget


def test_quick_add_shows_the_new_task(page, live_server, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    open_page(page, live_server, rep, deal.get_absolute_url())

    page.get_by_label("Task", exact=True).fill("Send the proposal")
    page.locator("#tasks").get_by_role("button", name="Add").click()

    expect(page.locator("#tasks .task-title")).to_have_text(["Send the proposal"])
    assert deal.tasks.get().assignee == rep


# --- Screenshots -------------------------------------------------------------------------


def deal_for_screenshots(pipeline, rep, other_rep) -> Deal:
    now = timezone.now()
    account = AccountFactory(
        name="Northwind Traders",
        industry="Logistics",
        owner=rep,
        website="https://www.northwind.example",
        linkedin_url="https://www.linkedin.com/company/northwind",
        twitter_url="https://twitter.com/northwind",
    )
    buyer = ContactFactory(
        account=account, name="Nora Quist", title="Head of Operations", phone="+1 555 0100"
    )
    ContactFactory(account=account, name="Jonas Berg", title="CFO", phone="+1 555 0101")
    ContactFactory(account=account, name="Ida Holm", title="IT lead")
    source = LeadSourceFactory(name="Trade show")
    LostReasonFactory(name="Went with a competitor")
    deal = DealFactory(
        title="Fleet tracking rollout",
        account=account,
        contact=buyer,
        owner=rep,
        pipeline=pipeline,
        value=Decimal("32000"),
        source=source,
        expected_close_date=(now + timedelta(days=24)).date(),
        created_at=now - timedelta(days=21),
    )
    Deal.objects.filter(pk=deal.pk).update(has_budget=True, has_need=True, has_authority=True)
    move_deal(deal, stage(pipeline, "Contacted"), by=rep, at=now - timedelta(days=18))
    log_activity(
        kind="call",
        subject="Discovery call",
        body="60 trucks, tracking by hand today. Wants live ETAs for customers.",
        user=rep,
        deal=deal,
        occurred_at=now - timedelta(days=17),
    )
    log_activity(
        kind="meeting",
        subject="Demo with operations",
        body="Nora and two dispatchers. Loved the geofencing; asked about the API.",
        user=rep,
        deal=deal,
        occurred_at=now - timedelta(days=9),
    )
    move_deal(deal, stage(pipeline, "Qualified"), by=rep, at=now - timedelta(days=8))
    update_deal(deal, by=rep, value=Decimal("48000"))  # for 60 trucks, not 40
    deal.forecast_changes.update(changed_at=now - timedelta(days=6))
    TaskFactory(
        deal=deal,
        assignee=rep,
        title="Send security questionnaire",
        status=TaskStatus.DONE,
        completed_at=now - timedelta(days=4),
    )
    log_activity(
        kind="email",
        subject="Pricing for 60 vehicles",
        body="Sent the three-year pricing with the volume discount.",
        user=rep,
        deal=deal,
        occurred_at=now - timedelta(days=2),
    )
    log_activity(
        kind="note",
        subject="CFO joins the next call",
        user=other_rep,
        deal=deal,
        occurred_at=now - timedelta(hours=5),
    )
    TaskFactory(
        deal=deal, assignee=rep, title="Follow up on pricing", due_at=now - timedelta(days=1)
    )
    TaskFactory(
        deal=deal, assignee=rep, title="Book call with the CFO", due_at=now + timedelta(days=2)
    )
    won = DealFactory(
        title="Pilot: 10 vans",
        account=account,
        owner=rep,
        pipeline=pipeline,
        value=Decimal("6500"),
        created_at=now - timedelta(days=120),
    )
    move_deal(won, stage(pipeline, "Won"), by=rep, at=now - timedelta(days=90))
    DealFactory(
        title="Driver app add-on",
        account=account,
        owner=rep,
        pipeline=pipeline,
        value=Decimal("12000"),
        created_at=now - timedelta(days=3),
    )
    log_activity(
        kind="email",
        subject="Introduced the account team",
        user=rep,
        account=account,
        occurred_at=now - timedelta(days=30),
    )
    TaskFactory(
        account=account, assignee=rep, title="Quarterly review", due_at=now + timedelta(days=10)
    )
    deal.refresh_from_db()
    return deal


def test_screenshots(page, live_server, rep, other_rep, pipeline, screenshots):
    deal = deal_for_screenshots(pipeline, rep, other_rep)
    page.set_viewport_size(WIDE)
    open_page(page, live_server, rep, deal.get_absolute_url())
    expect(page.locator("#timeline .timeline-entry")).to_have_count(9)
    expect(page.locator("#tasks .task-item.is-overdue")).to_have_count(1)
    page.evaluate("document.fonts.ready")
    page.screenshot(path=screenshots / "deal.png", full_page=True)

    page.goto(live_server.url + reverse("deals:account-detail", args=[deal.account_id]))
    expect(page.locator(".deal-group")).to_have_count(3)
    page.evaluate("document.fonts.ready")
    page.screenshot(path=screenshots / "account.png", full_page=True)
