from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tasks.models import Task, TaskStatus
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_a_done_task_needs_a_completion_time(rep):
    task = TaskFactory(assignee=rep)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.DONE)


def test_an_open_task_has_no_completion_time(rep):
    task = TaskFactory(assignee=rep)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(completed_at=timezone.now())


def test_open_tasks_exclude_done_and_dismissed(rep):
    open_task = TaskFactory(assignee=rep)
    TaskFactory(assignee=rep, status=TaskStatus.DONE, completed_at=timezone.now())
    TaskFactory(assignee=rep, status=TaskStatus.DISMISSED, completed_at=timezone.now())
    assert list(Task.objects.open()) == [open_task]
