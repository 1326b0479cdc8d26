"""The Celery set-up the tasks and flush jobs rely on: what a worker does with a job it
could not finish, what it accepts, how long a job may run, and what the beat runs."""

from __future__ import annotations

from celery.schedules import crontab
from django.conf import settings

from pipeline_crm.celery import app
from tasks.tasks import send_notification


def test_a_job_is_acknowledged_only_once_done_and_accepted_only_as_json():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_jobs_have_time_limits_with_room_to_stop_cleanly():
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit <= 15 * 60


def test_sending_an_email_retries_with_backoff():
    assert send_notification.max_retries == 5
    assert send_notification.retry_backoff is True
    assert send_notification.retry_jitter is True
    assert OSError in send_notification.autoretry_for


def test_every_beat_entry_runs_a_task_the_worker_knows():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert set(schedule) == {
        "suggest-followups",
        "send-due-reminders",
        "resume-flushes",
        "scheduled-flushes",
        "refresh-learned-probabilities",
    }


def test_the_monthly_flush_is_asked_for_every_morning():
    # Once a month per pipeline is the service's rule (start_scheduled_flushes): asked daily,
    # a month whose first morning the beat missed is not skipped.
    assert settings.CELERY_BEAT_SCHEDULE["scheduled-flushes"]["schedule"] == crontab(
        minute=0, hour=5
    )
    assert settings.CELERY_BEAT_SCHEDULE["suggest-followups"]["schedule"] == crontab(
        minute=0, hour=6
    )
