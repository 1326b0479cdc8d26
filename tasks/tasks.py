"""Celery tasks: thin adapters around tasks.automation (the rules and the tests live there)."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task


@shared_task
def suggest_followups_task() -> int:
    """Daily (beat): one suggested follow-up per deal quiet for too long."""
    from tasks.automation import suggest_followups

    return suggest_followups()


@shared_task
def send_due_reminders_task() -> int:
    """Every few minutes (beat): reminders for tasks that fell due, then the catch-up of
    notifications that could not be queued earlier (broker down) or ran out of retries."""
    from tasks.automation import send_due_reminders, send_pending_notifications

    return send_due_reminders() + send_pending_notifications()


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_notification(notification_id: int) -> bool:
    """Send one email. A failure releases its claim and retries with backoff; after the last
    retry the catch-up in `send_due_reminders_task` picks it up again."""
    from tasks.automation import send_notification as service

    return service(notification_id)
