from __future__ import annotations

from datetime import datetime, timedelta
from smtplib import SMTPException
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from deals.tests.factories import DealFactory
from pipeline_crm.tests.factories import UserFactory
from tasks.automation import (
    NO_EMAIL_ADDRESS,
    send_due_reminders,
    send_notification,
    send_pending_notifications,
)
from tasks.models import Notification, Task
from tasks.tasks import send_notification as send_notification_task
from tasks.tests.factories import TaskFactory

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("UTC"))


class FailingBackend(BaseEmailBackend):
    """The SMTP server refuses: the one true external, replaced."""

    def send_messages(self, email_messages):
        raise SMTPException("451 try again later")


class FlakyBackend(BaseEmailBackend):
    """Refuses the first email it is given, then delivers to the test outbox."""

    refused = 0

    def send_messages(self, email_messages):
        if not FlakyBackend.refused:
            FlakyBackend.refused += 1
            raise SMTPException("451 try again later")
        mail.outbox.extend(email_messages)
        return len(email_messages)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Runs the reminder scan with its on-commit jobs (eager Celery in tests)."""

    def scan(**kwargs) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return send_due_reminders(**kwargs)

    return scan


def test_a_task_that_falls_due_emails_its_assignee_once(run, rep):
    task = TaskFactory(title="Call Acme", assignee=rep, due_at=NOW - timedelta(minutes=1))

    assert run() == 1

    assert [(m.subject, m.to) for m in mail.outbox] == [("Due: Call Acme", ["alice@example.com"])]
    assert "Your task is due: Call Acme" in mail.outbox[0].body
    task.refresh_from_db()
    assert task.reminder_sent_at == NOW
    assert Notification.objects.get(task=task).sent_at == NOW


def test_tasks_not_due_yet_snoozed_or_closed_get_no_reminder(run, rep):
    TaskFactory(assignee=rep, due_at=NOW + timedelta(minutes=1))
    TaskFactory(
        assignee=rep, due_at=NOW - timedelta(hours=1), snoozed_until=NOW + timedelta(hours=1)
    )
    TaskFactory(assignee=rep, due_at=NOW - timedelta(hours=1), status="done", completed_at=NOW)

    assert run() == 0
    assert mail.outbox == []


def test_a_snoozed_task_is_reminded_when_the_snooze_ends(run, rep):
    TaskFactory(
        assignee=rep, due_at=NOW - timedelta(hours=1), snoozed_until=NOW + timedelta(hours=1)
    )

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert run() == 1
    assert len(mail.outbox) == 1


def test_scanning_again_or_twice_at_once_sends_no_second_email(run, rep):
    TaskFactory(assignee=rep, due_at=NOW - timedelta(minutes=1))

    assert run() == 1
    assert run() == 0
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        assert run() == 0
    assert len(mail.outbox) == 1


def test_a_retried_or_redelivered_send_job_sends_the_email_once(run, rep):
    TaskFactory(assignee=rep, due_at=NOW - timedelta(minutes=1))
    run()
    notification = Notification.objects.get()

    # The job delivered a second time (acks_late redelivery, a retry, a second worker).
    assert send_notification(notification.pk) is False
    assert send_notification(notification.pk) is False
    assert len(mail.outbox) == 1


def test_the_send_job_retries_a_refused_email_and_sends_it_once(rep, monkeypatch):
    task = TaskFactory(title="Call Acme", assignee=rep, due_at=NOW - timedelta(minutes=1))
    assert send_due_reminders() == 1  # its send job waits for a commit that never comes
    notification = Notification.objects.get(task=task)
    monkeypatch.setattr(FlakyBackend, "refused", 0)

    with override_settings(EMAIL_BACKEND="tasks.tests.test_reminders.FlakyBackend"):
        result = send_notification_task.apply(args=[notification.pk], throw=False)  # as a worker
        again = send_notification_task.apply(args=[notification.pk])  # delivered twice

    assert FlakyBackend.refused == 1
    assert result.get() is True and again.get() is False
    assert [m.subject for m in mail.outbox] == ["Due: Call Acme"]
    notification.refresh_from_db()
    assert notification.sent_at == NOW


def test_a_failed_send_releases_its_claim_and_the_catch_up_delivers_it(
    run, rep, django_capture_on_commit_callbacks
):
    task = TaskFactory(title="Call Acme", assignee=rep, due_at=NOW - timedelta(minutes=1))

    with override_settings(EMAIL_BACKEND="tasks.tests.test_reminders.FailingBackend"):
        # The job retries (eagerly here) and gives up; the request that queued it goes on.
        assert run() == 1
    notification = Notification.objects.get(task=task)
    assert notification.sent_at is None
    assert mail.outbox == []

    with (
        pytest.raises(SMTPException),
        override_settings(EMAIL_BACKEND="tasks.tests.test_reminders.FailingBackend"),
    ):
        send_notification(notification.pk)
    notification.refresh_from_db()
    assert notification.sent_at is None  # claim released again

    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        assert run() == 0  # the task itself is not reminded twice …
        with django_capture_on_commit_callbacks(execute=True):
            assert send_pending_notifications() == 1  # … its email is caught up
    assert [m.subject for m in mail.outbox] == ["Due: Call Acme"]


def test_an_assignee_without_email_is_skipped_and_recorded(run, team_a):
    nobody = UserFactory(username="noemail", email="", team=team_a)
    TaskFactory(assignee=nobody, due_at=NOW - timedelta(minutes=1))

    assert run() == 1

    assert mail.outbox == []
    notification = Notification.objects.get()
    assert notification.skipped_reason == NO_EMAIL_ADDRESS
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        assert send_pending_notifications() == 0


def test_clearing_the_reminder_record_sends_a_new_reminder_for_the_next_due_period(run, rep):
    task = TaskFactory(assignee=rep, due_at=NOW - timedelta(minutes=1))
    run()
    # What snoozing, a later due date or a reassignment does (tasks.services).
    Task.objects.filter(pk=task.pk).update(reminder_sent_at=None)

    assert run() == 1
    assert len(mail.outbox) == 2


def test_the_scan_costs_a_fixed_number_of_queries_per_due_task(rep, assert_max_queries):
    for _ in range(3):
        TaskFactory(assignee=rep, due_at=NOW - timedelta(minutes=1))
    # 1 scan + per task: claim, read with joins, insert notification (+ savepoints, ignored).
    with assert_max_queries(1 + 3 * 3):
        assert send_due_reminders() == 3


def test_the_email_has_an_html_part_with_what_was_typed_escaped(run, rep, settings):
    settings.SITE_URL = "https://crm.example.com"
    deal = DealFactory(title="Acme <b>renewal</b>", owner=rep)
    TaskFactory(title="Call <Acme>", assignee=rep, deal=deal, due_at=NOW - timedelta(minutes=1))

    run()

    (email,) = mail.outbox
    assert "Your task is due: Call <Acme>" in email.body  # the text part as typed
    ((html, mimetype),) = email.alternatives
    assert mimetype == "text/html"
    assert "Call &lt;Acme&gt;" in html
    assert "Acme &lt;b&gt;renewal&lt;/b&gt;" in html
    assert "<Acme>" not in html and "<b>" not in html
    assert f'href="https://crm.example.com{deal.get_absolute_url()}"' in html
    assert 'href="https://crm.example.com/tasks/"' in html


def test_an_email_written_before_html_parts_goes_out_as_text_alone(rep):
    notification = Notification.objects.create(recipient=rep, subject="Due: Call", body="Hi")

    assert send_notification(notification.pk)

    (email,) = mail.outbox
    assert (email.body, email.alternatives) == ("Hi", [])
