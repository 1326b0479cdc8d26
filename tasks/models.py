from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DISMISSED = "dismissed", "Dismissed"


class TaskKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    SUGGESTED = "suggested", "Suggested by the CRM"


class TaskQuerySet(models.QuerySet["Task"]):
    def open(self) -> TaskQuerySet:
        return self.filter(status=TaskStatus.OPEN)


class Task(models.Model):
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    due_at = models.DateTimeField("due")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="tasks")
    deal = models.ForeignKey(
        "deals.Deal", models.CASCADE, null=True, blank=True, related_name="tasks"
    )
    account = models.ForeignKey(
        "deals.Account", models.CASCADE, null=True, blank=True, related_name="tasks"
    )
    status = models.CharField(max_length=9, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=9, choices=TaskKind.choices, default=TaskKind.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_tasks",
        # Only read when a user is deleted (rare); one index less to write per new task.
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set when the due reminder is claimed for sending; cleared when the task is snoozed,
    # moved to a later due date or reassigned, so the next due period gets its own email.
    reminder_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=TaskStatus.OPEN, completed_at__isnull=True)
                | (~Q(status=TaskStatus.OPEN) & Q(completed_at__isnull=False)),
                name="task_completed_at_iff_closed",
                violation_error_message="Done and dismissed tasks have a completion time; open tasks do not.",
            ),
            # Never two open suggested follow-ups for one deal, even when two scans race:
            # the scan inserts with ignore_conflicts and the loser's rows are dropped here.
            models.UniqueConstraint(
                fields=["deal"],
                condition=Q(status=TaskStatus.OPEN, kind=TaskKind.SUGGESTED),
                name="task_one_open_suggestion_per_deal",
            ),
        ]
        indexes = [
            models.Index(
                fields=["assignee", "due_at"],
                name="task_open_assignee_due_idx",
                condition=Q(status=TaskStatus.OPEN),
            ),
            # A deal's open tasks use the plain deal_id index: a deal has few tasks, and
            # every index here is one more write per task the follow-up scan inserts.
            # The due-reminder scan: open tasks whose reminder has not gone out yet.
            models.Index(
                fields=["due_at"],
                name="task_reminder_scan_idx",
                condition=Q(status=TaskStatus.OPEN, reminder_sent_at__isnull=True),
            ),
            # The follow-up scan's "suggested since the last activity?" lookup.
            models.Index(
                fields=["deal", "created_at"],
                name="task_suggested_deal_idx",
                condition=Q(kind=TaskKind.SUGGESTED),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Notification(models.Model):
    """An email to a user, written in the same transaction as the change it reports.

    The row is the record: a worker sends it (claiming `sent_at` first), and the periodic
    catch-up sends whatever is still unsent, so nothing is lost when the broker is down.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    html_body = models.TextField(blank=True)  # the same email as HTML, sent beside `body`
    task = models.ForeignKey(
        Task, models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    deal = models.ForeignKey(
        "deals.Deal", models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    skipped_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="notification_pending_idx",
                condition=Q(sent_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.subject
