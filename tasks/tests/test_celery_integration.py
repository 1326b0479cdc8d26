"""Through a real worker and Redis: skipped locally without CELERY_BROKER_URL, run in CI."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from deals.tests.factories import DealFactory
from tasks.models import Notification, Task, TaskKind
from tasks.tasks import send_due_reminders_task, suggest_followups_task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.broker


def wait_for(condition, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.05)


def test_a_due_task_sends_exactly_one_reminder_through_the_worker(live_worker, rep):
    TaskFactory(title="Call Acme", assignee=rep, due_at=timezone.now() - timedelta(minutes=1))

    # The beat job writes the reminder and queues its email on commit; the worker sends it.
    assert send_due_reminders_task.delay().get(timeout=20) == 1
    wait_for(lambda: Notification.objects.filter(sent_at__isnull=False).exists())
    wait_for(lambda: len(mail.outbox) == 1)  # the worker thread shares the locmem outbox

    # A second beat run finds nothing more to send.
    assert send_due_reminders_task.delay().get(timeout=20) == 0
    time.sleep(0.5)
    assert [(m.subject, m.to) for m in mail.outbox] == [("Due: Call Acme", ["alice@example.com"])]


def test_the_follow_up_scan_runs_on_the_worker(live_worker, pipeline, rep):
    deals = [DealFactory(pipeline=pipeline, owner=rep) for _ in range(3)]
    DealFactory(pipeline=pipeline, owner=rep)  # fresh
    quiet_since = timezone.now() - timedelta(days=11)
    for deal in deals:
        deal.last_activity_at = quiet_since
        deal.save(update_fields=["last_activity_at"])

    assert suggest_followups_task.delay().get(timeout=20) == 3
    assert suggest_followups_task.delay().get(timeout=20) == 0

    suggested = Task.objects.filter(kind=TaskKind.SUGGESTED)
    assert sorted(suggested.values_list("deal", flat=True)) == sorted(d.pk for d in deals)
