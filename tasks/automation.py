"""What the CRM does on its own: suggested follow-ups, due reminders and email notifications.

The Celery tasks in tasks/tasks.py are thin adapters around these functions; tests call them
directly. Every email is first written as a `Notification` row, then sent by a worker that
claims it with a guarded update, so a retry, a redelivery or a second worker never sends it
twice, and the periodic catch-up sends whatever could not be queued: nothing is lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.template.loader import render_to_string
from django.utils import timezone

from deals.models import Deal, DealStatus, Flush, FlushItemStatus
from pipeline_crm.jobs import enqueue
from pipeline_crm.models import User
from stages.models import Pipeline
from tasks.models import Notification, Task, TaskKind, TaskStatus

logger = logging.getLogger(__name__)

FOLLOWUP_TITLE = "Follow up: no activity for {days} days"
# Suggested follow-ups fall due at the end of the working day they are made (local time),
# so the morning scan puts them under "Today" and the reminder goes out in the afternoon.
# A scan run later than that makes them due at once.
FOLLOWUP_DUE_TIME = time(17, 0)

REMINDER_SUBJECT = "Due: {title}"
ASSIGNED_SUBJECT = "{actor} gave you a task: {title}"
COMPLETED_SUBJECT = "{actor} completed a task you gave: {title}"
DEAL_CLOSED_SUBJECT = "{actor} marked your deal “{deal}” as {outcome}"
FLUSHED_SUBJECT = "{actor} moved {count} of your deals to {stage}"
SCHEDULED_FLUSH = "The monthly automatic flush"
COMMAND_FLUSH = "An administrator"  # the flush_stale_deals command, run by nobody named
FLUSHED_LISTED = 20  # deals named in the email, the most valuable first
NO_EMAIL_ADDRESS = "The recipient has no email address."

# Pending notifications younger than this were just queued on commit; the catch-up leaves
# them to that job rather than queueing a second copy (the claim would stop it anyway).
CATCH_UP_AFTER = timedelta(minutes=1)
# Rows per INSERT of the follow-up scan (PostgreSQL takes them as three arrays).
INSERT_BATCH = 10_000


# --- Suggested follow-ups ---------------------------------------------------------------


def followup_thresholds(*, pipeline: Pipeline | None = None) -> dict[int, list[int]]:
    """Pipeline ids by their follow-up threshold in days (own value, else the setting)."""
    pipelines = (
        Pipeline.objects.all() if pipeline is None else Pipeline.objects.filter(pk=pipeline.pk)
    )
    by_days: dict[int, list[int]] = defaultdict(list)
    for pk, days in pipelines.values_list("pk", "followup_days"):
        by_days[days or settings.FOLLOWUP_INACTIVE_DAYS].append(pk)
    return dict(by_days)


def stale_deals(*, now: datetime, days: int, pipeline_ids: list[int]) -> QuerySet[Deal]:
    """Open, unarchived deals of these pipelines quiet for more than `days` days that need
    a suggestion: no open suggested task, and none made since their last activity (so a
    dismissed or finished suggestion comes back only after new activity and new quiet)."""
    suggested = Task.objects.filter(deal=OuterRef("pk"), kind=TaskKind.SUGGESTED).filter(
        Q(status=TaskStatus.OPEN) | Q(created_at__gte=OuterRef("last_activity_at"))
    )
    return Deal.objects.filter(
        pipeline_id__in=pipeline_ids,
        status=DealStatus.OPEN,
        is_archived=False,
        last_activity_at__lt=now - timedelta(days=days),
    ).filter(~Exists(suggested))


def followup_due_at(now: datetime) -> datetime:
    end_of_day = timezone.localtime(now).replace(
        hour=FOLLOWUP_DUE_TIME.hour, minute=FOLLOWUP_DUE_TIME.minute, second=0, microsecond=0
    )
    return max(end_of_day, now)


def suggest_followups(*, now: datetime | None = None, pipeline: Pipeline | None = None) -> int:
    """Create one suggested follow-up task per stale deal; returns how many were created.

    Per distinct threshold (usually one): one query reads the stale deals' ids, owners and
    accounts (never whole deals), then one set-based INSERT writes their tasks. Reading
    first keeps the "already suggested?" anti-join from re-reading the rows being inserted
    (PostgreSQL planned that as a nested loop over a growing table: quadratic). Safe to run
    twice or concurrently: the partial unique constraint "one open suggestion per deal"
    drops duplicates (ON CONFLICT DO NOTHING).
    """
    now = now or timezone.now()
    due_at = followup_due_at(now)
    created = 0
    for days, pipeline_ids in followup_thresholds(pipeline=pipeline).items():
        rows = list(
            stale_deals(now=now, days=days, pipeline_ids=pipeline_ids)
            .order_by()
            .values_list("pk", "owner_id", "account_id")
        )
        title = FOLLOWUP_TITLE.format(days=days)
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            if connection.vendor == "postgresql":
                created += _insert_unnest(batch, title=title, due_at=due_at, now=now)
            else:
                created += _insert_bulk(batch, title=title, due_at=due_at, now=now)
    logger.info("Suggested %d follow-up tasks.", created)
    return created


def _insert_unnest(
    rows: list[tuple[int, int, int]], *, title: str, due_at: datetime, now: datetime
) -> int:
    """One INSERT … SELECT FROM unnest(…) for the batch; the exact count of new rows."""
    opts = Task._meta
    fields = ["title", "notes", "due_at", "status", "kind", "created_at", "deal", "assignee"]
    columns = ", ".join(
        connection.ops.quote_name(opts.get_field(f).column) for f in [*fields, "account"]
    )
    sql = (
        f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({columns}) "
        "SELECT %s, '', %s, %s, %s, %s, d, o, a "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(d, o, a) "
        "ON CONFLICT DO NOTHING"
    )
    deal_ids, owner_ids, account_ids = (list(column) for column in zip(*rows, strict=True))
    params = [title, due_at, TaskStatus.OPEN, TaskKind.SUGGESTED, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, deal_ids, owner_ids, account_ids])
        return cursor.rowcount


def _insert_bulk(
    rows: list[tuple[int, int, int]], *, title: str, due_at: datetime, now: datetime
) -> int:
    """Other databases: bulk_create, then count what this scan inserted."""
    Task.objects.bulk_create(
        [
            Task(
                title=title,
                due_at=due_at,
                assignee_id=owner_id,
                deal_id=deal_id,
                account_id=account_id,
                kind=TaskKind.SUGGESTED,
                created_at=now,
            )
            for deal_id, owner_id, account_id in rows
        ],
        ignore_conflicts=True,
    )
    return Task.objects.filter(
        deal_id__in=[row[0] for row in rows], kind=TaskKind.SUGGESTED, created_at=now
    ).count()


# --- Due reminders ----------------------------------------------------------------------


def due_for_reminder(*, now: datetime) -> QuerySet[Task]:
    """Open tasks that are due (and not snoozed past `now`) whose reminder is not written."""
    return Task.objects.filter(
        status=TaskStatus.OPEN, due_at__lte=now, reminder_sent_at__isnull=True
    ).filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))


def send_due_reminders(*, now: datetime | None = None) -> int:
    """Write and queue one reminder email per due task; returns how many were written.

    Each task is claimed with a guarded update of `reminder_sent_at`, so two runs at once
    (or a run retried) remind a task once per due period. The email itself is a
    Notification, sent (and retried) by `send_notification`.
    """
    now = now or timezone.now()
    written = 0
    for task_id in list(due_for_reminder(now=now).values_list("pk", flat=True)):
        with transaction.atomic():
            claimed = due_for_reminder(now=now).filter(pk=task_id).update(reminder_sent_at=now)
            if claimed != 1:
                continue  # another run got there first, or the task changed meanwhile
            task = Task.objects.select_related("assignee", "deal", "account").get(pk=task_id)
            notify(
                recipient=task.assignee,
                subject=REMINDER_SUBJECT.format(title=task.title),
                template="reminder",
                context={"task": task},
                task=task,
            )
        written += 1
    return written


# --- Notifications ----------------------------------------------------------------------


def notify(
    *,
    recipient: User,
    subject: str,
    template: str,
    context: dict[str, Any],
    task: Task | None = None,
    deal: Deal | None = None,
) -> Notification:
    """Record an email for `recipient` and queue it for sending once the transaction commits.

    Never fails because of the broker: when it is down, the row waits for the catch-up run.
    """
    subject = subject[:200]
    context = {**context, "recipient": recipient, "site_url": settings.SITE_URL}
    notification = Notification.objects.create(
        recipient=recipient,
        subject=subject,
        body=render_to_string(f"tasks/email/{template}.txt", context),
        html_body=render_to_string(f"tasks/email/{template}.html", {**context, "subject": subject}),
        task=task,
        deal=deal,
    )
    from tasks.tasks import send_notification as send_notification_task  # import cycle

    enqueue(send_notification_task, notification.pk)
    return notification


def send_notification(notification_id: int, *, now: datetime | None = None) -> bool:
    """Send one notification email, at most once; returns whether this call sent it.

    Claims the row (sent_at) before sending, so a second worker or a redelivered job finds
    it taken. If sending raises, the claim is released and the error re-raised: the job's
    retries, or the next catch-up run, try again. A recipient without an email address is
    recorded as skipped. A worker killed between claim and send loses that one email
    (at most once is the trade-off for never twice).
    """
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, sent_at__isnull=True, skipped_reason=""
    ).update(sent_at=now)
    if claimed != 1:
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    address = notification.recipient.email
    if not address:
        Notification.objects.filter(pk=notification_id).update(skipped_reason=NO_EMAIL_ADDRESS)
        logger.warning("Notification %s skipped: %s", notification_id, NO_EMAIL_ADDRESS)
        return False
    try:
        email = EmailMultiAlternatives(notification.subject, notification.body, to=[address])
        if notification.html_body:  # rows written before HTML emails have none
            email.attach_alternative(notification.html_body, "text/html")
        email.send()
    except Exception:
        Notification.objects.filter(pk=notification_id, sent_at=now).update(sent_at=None)
        raise
    return True


def pending_notifications(*, now: datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(
        sent_at__isnull=True, skipped_reason="", created_at__lte=now - CATCH_UP_AFTER
    )


def send_pending_notifications(*, now: datetime | None = None) -> int:
    """Queue every notification still unsent (broker was down, or all retries failed)."""
    from tasks.tasks import send_notification as send_notification_task  # import cycle

    now = now or timezone.now()
    queued = 0
    for pk in list(pending_notifications(now=now).order_by("pk").values_list("pk", flat=True)):
        queued += enqueue(send_notification_task, pk)
    return queued


def notify_task_assigned(task: Task, *, by: User | None) -> Notification | None:
    """Email the assignee of a task someone else gave them (created or reassigned)."""
    if by is None or task.assignee_id == by.pk:
        return None
    return notify(
        recipient=task.assignee,
        subject=ASSIGNED_SUBJECT.format(actor=by, title=task.title),
        template="assigned",
        context={"task": task, "actor": by},
        task=task,
    )


def notify_task_completed(task: Task, *, by: User | None) -> Notification | None:
    """Email whoever gave a task when someone else completes it."""
    creator = task.created_by
    if by is None or creator is None or creator.pk == by.pk:
        return None
    return notify(
        recipient=creator,
        subject=COMPLETED_SUBJECT.format(actor=by, title=task.title),
        template="completed",
        context={"task": task, "actor": by},
        task=task,
    )


def notify_deal_closed(deal: Deal, *, by: User | None) -> Notification | None:
    """Email a deal's owner when someone else moves it to won or lost."""
    if by is None or deal.owner_id == by.pk or deal.status == DealStatus.OPEN:
        return None
    outcome = DealStatus(deal.status).label.lower()
    return notify(
        recipient=deal.owner,
        subject=DEAL_CLOSED_SUBJECT.format(actor=by, deal=deal.title, outcome=outcome),
        template="deal_closed",
        context={"deal": deal, "actor": by, "outcome": outcome},
        deal=deal,
    )


def notify_flushed_owners(flush: Flush, *, undo_until: datetime | None) -> int:
    """Email every owner whose deals a finished flush moved to lost, but its requester: how
    many and how much, the most valuable of them by name, and until when the flush can be
    undone. As a deal's owner hears when someone else marks it lost, one deal at a time.
    Four queries and one email per owner, however many deals moved."""
    moved = Deal.objects.filter(
        flush_items__flush=flush, flush_items__status=FlushItemStatus.MOVED
    ).exclude(owner=flush.requested_by_id)
    by_owner = {"partition_by": F("owner")}
    # One pass over the moved deals, narrow rows: each owner's count and total, and their
    # most valuable deals; their titles are read for those alone.
    ranked = (
        moved.annotate(
            rank=Window(RowNumber(), order_by=[F("value").desc(), F("pk")], **by_owner),
            count=Window(Count("*"), **by_owner),
            total=Window(Sum("value"), **by_owner),
        )
        .filter(rank__lte=FLUSHED_LISTED)
        .order_by("owner", "rank")
        .values_list("owner", "pk", "count", "total")
    )
    totals, listed = {}, defaultdict(list)
    for owner_id, pk, count, total in ranked:
        totals[owner_id] = {"count": count, "total": total}
        listed[owner_id].append(pk)
    if not totals:
        return 0
    deals = Deal.objects.only("title", "value").in_bulk(
        [pk for pks in listed.values() for pk in pks]
    )
    owners = User.objects.in_bulk(list(totals))
    flush = Flush.objects.select_related("requested_by", "lost_stage", "lost_reason").get(
        pk=flush.pk
    )
    actor = flush.requested_by or (SCHEDULED_FLUSH if flush.is_scheduled else COMMAND_FLUSH)
    for owner_id, row in totals.items():
        named = [deals[pk] for pk in listed[owner_id]]
        notify(
            recipient=owners[owner_id],
            subject=FLUSHED_SUBJECT.format(
                actor=actor, count=row["count"], stage=flush.lost_stage.name
            ),
            template="flushed",
            context={
                "actor": actor,
                "flush": flush,
                "count": row["count"],
                "total": row["total"],
                "deals": named,
                "more": row["count"] - len(named),
                "undo_until": undo_until,
            },
        )
    return len(totals)
