"""Web requests that queue email: they succeed with the broker down, and nothing is lost."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from deals.tests.factories import DealFactory
from pipeline_crm.celery import app, ping
from pipeline_crm.jobs import JOB_DEFERRED, JOB_DEFERRED_EVENT, enqueue
from stages.tests.factories import stage
from tasks.models import Notification, TaskStatus
from tasks.services import create_task, reassign_task
from tasks.tasks import send_due_reminders_task
from tasks.tests.factories import TaskFactory
from tasks.views import TASKS_CHANGED


def catch_up() -> None:
    """The next beat run, a few minutes later, with the broker back (eager here)."""
    later = timezone.now() + timedelta(minutes=5)
    import time_machine

    with time_machine.travel(later, tick=False):
        send_due_reminders_task.delay()


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_enqueue_reports_an_unreachable_broker_quickly_instead_of_raising(broker_down):
    started = time.monotonic()

    assert enqueue(ping) is False

    assert time.monotonic() - started < 1.5


def test_enqueue_queues_when_the_broker_is_there(db):
    assert enqueue(ping) is True  # eager in tests: it ran


def test_marking_a_task_done_succeeds_with_the_broker_down_and_the_email_follows(
    transactional_db, client, broker_down, rep, other_rep
):
    task = TaskFactory(title="Send the quote", assignee=rep, created_by=other_rep)
    client.force_login(rep)

    response = client.post(reverse("tasks:complete", args=[task.pk]), follow=True)

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert JOB_DEFERRED in shown_messages(response)
    pending = Notification.objects.get(recipient=other_rep)
    assert pending.sent_at is None
    assert mail.outbox == []

    app.conf.task_always_eager = True  # the broker is back (eager here)
    catch_up()
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("Alice Archer completed a task you gave: Send the quote", ["bob@example.com"])
    ]


def test_moving_a_deal_succeeds_with_the_broker_down_and_the_owner_hears_later(
    transactional_db, client, broker_down, pipeline, rep, admin_user
):
    deal = DealFactory(title="Acme renewal", pipeline=pipeline, owner=rep)
    client.force_login(admin_user)

    response = client.post(
        reverse("deals:move", args=[deal.pk]), {"stage": stage(pipeline, "Won").pk}, follow=True
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.status == "won"
    assert JOB_DEFERRED in shown_messages(response)
    assert mail.outbox == []

    app.conf.task_always_eager = True
    catch_up()
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("Erin Evans marked your deal “Acme renewal” as won", ["alice@example.com"])
    ]


def test_a_request_that_queues_nothing_shows_no_queue_message(
    transactional_db, client, broker_down, pipeline, rep
):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    client.force_login(rep)

    # The owner closes their own deal: nobody to tell.
    response = client.post(
        reverse("deals:move", args=[deal.pk]), {"stage": stage(pipeline, "Won").pk}, follow=True
    )

    assert JOB_DEFERRED not in shown_messages(response)
    assert not Notification.objects.exists()


def test_a_task_given_to_someone_else_emails_them(
    rep, other_rep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        create_task(
            title="Call Acme", due_at=timezone.now(), assignee=other_rep, by=rep, notes="Budget?"
        )

    (email,) = mail.outbox
    assert email.subject == "Alice Archer gave you a task: Call Acme"
    assert email.to == ["bob@example.com"]
    assert "Budget?" in email.body


def test_a_task_made_for_oneself_sends_no_email(rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create_task(title="Call Acme", due_at=timezone.now(), assignee=rep, by=rep)

    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_a_reassigned_task_emails_the_new_assignee(
    pipeline, rep, other_rep, admin_user, django_capture_on_commit_callbacks
):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    task = TaskFactory(title="Call Acme", assignee=rep, deal=deal, account=deal.account)

    with django_capture_on_commit_callbacks(execute=True):
        reassign_task(task, to=other_rep, by=admin_user)

    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("Erin Evans gave you a task: Call Acme", ["bob@example.com"])
    ]


def test_a_change_made_in_place_says_at_once_that_the_email_will_follow(
    transactional_db, client, broker_down, rep, other_rep
):
    task = TaskFactory(title="Send the quote", assignee=rep, created_by=other_rep)
    client.force_login(rep)

    response = client.post(
        reverse("tasks:complete", args=[task.pk]), {"place": "list"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    events = json.loads(response["HX-Trigger"])
    assert events[JOB_DEFERRED_EVENT] == {"text": JOB_DEFERRED}
    assert TASKS_CHANGED in events  # the row's own event is kept
    # Said once, in place: not again on the next page.
    assert JOB_DEFERRED not in shown_messages(client.get(reverse("tasks:list")))


def test_a_card_dropped_on_the_board_says_at_once_that_the_email_will_follow(
    transactional_db, client, broker_down, pipeline, rep, admin_user
):
    deal = DealFactory(title="Acme renewal", pipeline=pipeline, owner=rep)
    client.force_login(admin_user)

    response = client.post(
        reverse("deals:move", args=[deal.pk]),
        {"stage": stage(pipeline, "Won").pk},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {JOB_DEFERRED_EVENT: {"text": JOB_DEFERRED}}
