"""Business rules for tasks. Completing, snoozing and dismissing come with the task list."""

from __future__ import annotations

from copy import copy
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tasks.automation import notify_task_assigned, notify_task_completed
from tasks.models import Task, TaskStatus

if TYPE_CHECKING:
    from deals.models import Account, Deal
    from pipeline_crm.models import User


def create_task(
    *,
    title: str,
    due_at: datetime,
    assignee: User,
    by: User | None,
    deal: Deal | None = None,
    account: Account | None = None,
    notes: str = "",
) -> Task:
    """A new open task for `assignee`, about `deal` and/or `account`.

    A task of a deal also names the deal's account (as `log_activity` does for activities),
    so the account's pages list it. Raises ValidationError for bad values (an empty title).
    Who may create it and for whom is the caller's check.
    """
    if deal is not None and account is None:
        account = deal.account
    task = Task(
        title=title.strip(),
        notes=notes,
        due_at=due_at,
        assignee=assignee,
        deal=deal,
        account=account,
        created_by=by,
    )
    task.full_clean(exclude=["assignee", "deal", "account", "created_by"])
    with transaction.atomic():
        task.save()
        # Someone else's task: an email tells them (queued on commit; never fails the call).
        notify_task_assigned(task, by=by)
    return task


# Acting on a task: complete, snooze, reassign, edit, dismiss. Who may act is the caller's
# check (`tasks.selectors.can_change_task`); these refuse a task that is no longer open.
# Each writes with one guarded UPDATE (`status=open` in its WHERE), so two people acting
# at once cannot both close a task, nor edit one that was closed meanwhile.

TASK_CLOSED = "“{title}” is already {status}: it can no longer be changed."
REASSIGN_NOT_ALLOWED = "{person} cannot be given this task: pick someone you may assign it to."
SNOOZE_IN_THE_PAST = "Snooze until a time in the future."
SNOOZE_OPTIONS = {
    "tomorrow": "Tomorrow",
    "3days": "In 3 days",
    "next_week": "Next week",
}
UNKNOWN_SNOOZE_OPTION = "Unknown snooze option: choose tomorrow, 3days, next_week or a date."
# Snoozed tasks and the "what's next?" task wake up at the start of a working day.
MORNING = time(9, 0)
NEXT_TASK_WORKING_DAYS = 2


class TaskError(Exception):
    """A refused change of a task; the message is for the user."""


class TaskClosed(TaskError):
    """The task is done or dismissed (409 in views)."""


def at_morning(day: date) -> datetime:
    """09:00 of `day` in the current time zone, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, MORNING))


def snooze_time(option: str, *, now: datetime, day: date | None = None) -> datetime:
    """When a snooze `option` ends: "tomorrow", "3days" or "next_week" (the next Monday,
    a week on when today is Monday), or "date" (`day`), each at 09:00 local time."""
    today = timezone.localdate(now)
    if option == "tomorrow":
        return at_morning(today + timedelta(days=1))
    if option == "3days":
        return at_morning(today + timedelta(days=3))
    if option == "next_week":
        return at_morning(today + timedelta(days=7 - today.weekday()))
    if option == "date" and day is not None:
        return at_morning(day)
    raise ValueError(UNKNOWN_SNOOZE_OPTION)


def working_days_after(day: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `day`."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def next_task_due(*, now: datetime) -> datetime:
    """The default due time of the task that follows a completed one: two working days
    ahead, at 09:00."""
    return at_morning(working_days_after(timezone.localdate(now), NEXT_TASK_WORKING_DAYS))


def _update_open(task: Task, **changes: object) -> Task:
    """Write `changes` to `task` if it is still open, then onto the instance; TaskClosed
    (with its status as it is now) otherwise."""
    if not Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(**changes):
        status = Task.objects.filter(pk=task.pk).values_list("status", flat=True).first()
        label = TaskStatus(status).label.lower() if status else "deleted"
        raise TaskClosed(TASK_CLOSED.format(title=task.title, status=label))
    for name, value in changes.items():
        setattr(task, name, value)
    return task


@transaction.atomic
def complete_task(task: Task, *, by: User) -> Task:
    """Mark `task` done. Finishing a task is activity on its deal and account: their
    `last_activity_at` moves to now (never back, as `log_activity` keeps it)."""
    from deals.models import Account, Deal

    now = timezone.now()
    _update_open(task, status=TaskStatus.DONE, completed_at=now)
    newer = Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=now)
    if task.deal_id is not None:
        Deal.objects.filter(newer, pk=task.deal_id).update(last_activity_at=now)
    if task.account_id is not None:
        Account.objects.filter(newer, pk=task.account_id).update(last_activity_at=now)
    notify_task_completed(task, by=by)
    return task


def dismiss_task(task: Task, *, by: User) -> Task:
    """Close `task` without doing it (a suggestion not worth following, a plan dropped)."""
    return _update_open(task, status=TaskStatus.DISMISSED, completed_at=timezone.now())


def snooze_task(task: Task, *, until: datetime, by: User) -> Task:
    """Hide `task` from Overdue and Today until `until`; then it is due again, and its due
    reminder may go out once more."""
    if until <= timezone.now():
        raise ValidationError({"snoozed_until": SNOOZE_IN_THE_PAST})
    return _update_open(task, snoozed_until=until, reminder_sent_at=None)


def reassign_task(task: Task, *, to: User, by: User) -> Task:
    """Give `task` to `to`, who must be someone `by` may give a task of its record to
    (`task_assignees`: whoever `by` may make an owner, and the record's owner). The new
    assignee gets their own due reminder."""
    from tasks.selectors import task_assignees

    if to.pk == task.assignee_id:
        return _update_open(task, assignee=to)  # nothing to change, but refused if closed
    if not task_assignees(by, owner=record_owner(task)).filter(pk=to.pk).exists():
        raise TaskError(REASSIGN_NOT_ALLOWED.format(person=to))
    with transaction.atomic():
        _update_open(task, assignee=to, reminder_sent_at=None)
        notify_task_assigned(task, by=by)
    return task


def update_task(
    task: Task,
    *,
    by: User,
    title: str | None = None,
    notes: str | None = None,
    due_at: datetime | None = None,
) -> Task:
    """Change what `task` says and when it is due (a field left None is kept). Raises
    ValidationError for bad values (an empty title), leaving `task` as it was. A later due
    date makes the due reminder go out again when the new time comes."""
    candidate = copy(task)
    if title is not None:
        candidate.title = title.strip()
    if notes is not None:
        candidate.notes = notes
    if due_at is not None:
        candidate.due_at = due_at
    candidate.clean_fields(exclude=["assignee", "deal", "account", "created_by"])
    changes: dict[str, object] = {
        name: getattr(candidate, name)
        for name in ("title", "notes", "due_at")
        if getattr(candidate, name) != getattr(task, name)
    }
    if not changes:
        return task
    if candidate.due_at > task.due_at:
        changes["reminder_sent_at"] = None
    return _update_open(task, **changes)


def record_owner(task: Task) -> User:
    """Who owns what `task` is about: its deal's owner, else its account's; the assignee
    for a task about neither."""
    if task.deal_id is not None:
        return task.deal.owner
    if task.account_id is not None:
        return task.account.owner
    return task.assignee
