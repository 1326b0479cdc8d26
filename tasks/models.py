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
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

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
        ]
        indexes = [
            models.Index(
                fields=["assignee", "due_at"],
                name="task_open_assignee_due_idx",
                condition=Q(status=TaskStatus.OPEN),
            ),
            models.Index(
                fields=["deal"],
                name="task_open_deal_idx",
                condition=Q(status=TaskStatus.OPEN),
            ),
        ]

    def __str__(self) -> str:
        return self.title
