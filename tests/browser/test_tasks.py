"""The task list in a real browser: complete a task, accept the "what's next?" prompt and
see the new task listed, with the navigation's overdue count following; screenshot."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.tests.factories import AccountFactory, DealFactory
from pipeline_crm.jobs import JOB_DEFERRED
from tasks.models import Task, TaskKind, TaskStatus
from tasks.tests.factories import TaskFactory
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 1000}


@pytest.fixture
def tasks(rep, other_rep, pipeline):
    """Alice's week: two overdue tasks, one due later today, upcoming ones and a snoozed
    suggestion, on deals and an account."""
    acme = AccountFactory(name="Acme Logistics", owner=rep)
    fleet = DealFactory(
        title="Fleet rollout", account=acme, owner=rep, pipeline=pipeline, value=Decimal(48_000)
    )
    clinic = DealFactory(title="Clinic pilot", owner=rep, pipeline=pipeline)
    now = timezone.now()
    made = {}
    for key, title, deal, account, due, extra in [
        ("call", "Call Sam about the pilot", fleet, acme, now - timedelta(days=1), {}),
        ("quote", "Send the revised quote", clinic, clinic.account, now - timedelta(hours=3), {}),
        ("review", "Quarterly review prep", None, acme, now + timedelta(minutes=30), {}),
        (
            "demo",
            "Demo for the drivers",
            fleet,
            acme,
            now + timedelta(days=2),
            {"notes": "Bring the tablets"},
        ),
        (
            "follow",
            "Follow up: no activity for 10 days",
            clinic,
            clinic.account,
            now,
            {"kind": TaskKind.SUGGESTED, "snoozed_until": now + timedelta(days=1)},
        ),
    ]:
        made[key] = TaskFactory(
            title=title, deal=deal, account=account, assignee=rep, due_at=due, **extra
        )
    return made


def row(page: Page, task: Task):
    return page.locator(f"#task-{task.pk}")


def test_completing_a_task_and_planning_the_next(page, live_server, rep, tasks, screenshots):
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, rep)
    page.goto(live_server.url + reverse("tasks:list"))

    badge = page.locator("#nav-task-badge")
    expect(badge).to_have_text("2 overdue")
    expect(page.locator("#group-count-overdue")).to_have_text("2")
    page.screenshot(path=screenshots / "tasks.png", full_page=True)

    call = row(page, tasks["call"])
    call.get_by_role("button", name="Complete").click()
    prompt = page.locator(f"#task-{tasks['call'].pk}.task-next")
    expect(prompt).to_contain_text("What's next for Fleet rollout?")
    expect(badge).to_have_text("1 overdue")
    expect(page.locator("#group-count-overdue")).to_have_text("1")

    prompt.get_by_label("Next task").fill("Send the contract")
    prompt.get_by_role("button", name="Add next task").click()

    expect(page.locator(".task-title", has_text="Send the contract")).to_be_visible()
    expect(prompt).to_have_count(0)
    new = Task.objects.get(title="Send the contract")
    expect(row(page, new).locator(".task-title")).to_have_text("Send the contract")
    expect(page.locator("#group-count-upcoming")).to_have_text("2")
    assert Task.objects.get(pk=tasks["call"].pk).status == TaskStatus.DONE
    assert (new.deal_id, new.assignee) == (tasks["call"].deal_id, rep)

    page.reload()
    upcoming = page.locator("#group-upcoming")
    expect(upcoming.locator(".task-title")).to_have_count(2)
    expect(upcoming).to_contain_text("Send the contract")


def test_snoozing_and_dismissing_in_place(page, live_server, rep, tasks):
    log_in(page.context, live_server, rep)
    page.goto(live_server.url + reverse("tasks:list"))

    quote = row(page, tasks["quote"])
    quote.locator("summary", has_text="Snooze").click()
    quote.get_by_role("button", name="Tomorrow").click()
    expect(row(page, tasks["quote"])).to_contain_text("Snoozed until")
    expect(page.locator("#group-count-snoozed")).to_have_text("2")

    review = row(page, tasks["review"])
    review.get_by_role("button", name="Dismiss").click()
    expect(row(page, tasks["review"])).to_have_count(0)
    expect(page.locator("#group-count-today")).to_have_text("0")
    assert Task.objects.get(pk=tasks["review"].pk).status == TaskStatus.DISMISSED


def test_completing_with_the_job_queue_down_says_the_email_will_follow(
    page, live_server, rep, other_rep, tasks, broker_down, screenshots
):
    """Bob gave Alice the call: completing it emails him. With the queue unreachable the
    task is still done, and the row's toast says the email goes out later."""
    Task.objects.filter(pk=tasks["call"].pk).update(created_by=other_rep)
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, rep)
    page.goto(live_server.url + reverse("tasks:list"))

    row(page, tasks["call"]).get_by_role("button", name="Complete").click()

    toast = page.locator("[data-error-toast]")
    expect(toast).to_be_visible()
    expect(toast).to_have_text(JOB_DEFERRED)
    expect(toast).to_have_class(re.compile(r"\btext-bg-warning\b"))
    expect(toast).not_to_have_class(re.compile(r"\bshowing\b"))  # faded in
    expect(toast).to_have_attribute("role", "status")
    expect(page.locator(f"#task-{tasks['call'].pk}.task-next")).to_be_visible()
    page.wait_for_timeout(500)
    page.screenshot(path=screenshots / "tasks-job-deferred.png")
    assert Task.objects.get(pk=tasks["call"].pk).status == TaskStatus.DONE
