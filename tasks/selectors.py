"""Reads of tasks that span relations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.utils import timezone

from tasks.models import Task, TaskStatus

if TYPE_CHECKING:
    from deals.models import Account, Deal
    from pipeline_crm.models import User

OPEN_TASKS_SHOWN = 50
# What a task row shows and what `can_change_task` reads, in the same query.
ROW_JOINS = ("assignee__team", "deal__owner__team", "account__owner__team")


def open_tasks(
    *,
    deal: Deal | None = None,
    account: Account | None = None,
    deals: QuerySet[Deal] | None = None,
    limit: int = OPEN_TASKS_SHOWN,
) -> list[Task]:
    """The first `limit` open tasks, soonest due first, with assignee and deal joined.

    For a deal: its tasks. For an account: its own tasks (not tied to a deal) plus those of
    `deals`, which the caller narrows to the account's deals the user may see; a task of a
    deal outside `deals` never shows, even when it names the account. One query.
    """
    tasks = Task.objects.filter(status=TaskStatus.OPEN)
    if deal is not None:
        tasks = tasks.filter(deal=deal)
    elif account is not None:
        own = Q(deal__isnull=True, account=account)
        tasks = tasks.filter(own | Q(deal__in=deals.values("pk")) if deals is not None else own)
    else:
        raise ValueError("open_tasks needs a deal or an account.")
    return list(tasks.select_related(*ROW_JOINS).order_by("due_at", "pk")[:limit])


def task_assignees(user: User, *, owner: User) -> QuerySet[User]:
    """Who `user` may give a task of a record owned by `owner`: whoever `user` may make
    an owner (`assignable_owners`) and the record's owner."""
    from deals.selectors import assignable_owners
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name", "pk")
    return people.filter(Q(pk__in=assignable_owners(user).values("pk")) | Q(pk=owner.pk))


# Who sees and acts on which task


def visible_tasks(user: User) -> QuerySet[Task]:
    """Tasks `user` may see: those they may act on (their own, their teams' members' for a
    manager) and the tasks of the deals they see, or, for a task of an account alone, of
    the accounts they see. Admins see all."""
    from deals.models import Account, Deal

    if user.is_crm_admin:
        return Task.objects.all()
    return Task.objects.filter(
        Q(assignee=user)
        | Q(assignee__team__manager=user)
        | Q(deal__in=Deal.objects.visible_to(user).values("pk"))
        | Q(deal__isnull=True, account__in=Account.objects.visible_to(user).values("pk"))
    )


def get_task_for_user_or_404(user: User, task_id: int) -> Task:
    """The task if `user` may see it, else 404, with what its row shows and what
    `can_change_task` reads joined (one query)."""
    try:
        return visible_tasks(user).select_related(*ROW_JOINS).get(pk=task_id)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None


def can_change_task(user: User, task: Task) -> bool:
    """Whether `user` may complete, snooze, reassign, edit or dismiss `task`: its assignee,
    a manager of the assignee's team, whoever may change its deal (for a task of an account
    alone, its account), an admin. No query when ROW_JOINS are loaded."""
    from deals.selectors import can_change_account, can_change_deal

    if user.is_crm_admin or task.assignee_id == user.pk:
        return True
    team = task.assignee.team
    if team is not None and team.manager_id == user.pk:
        return True
    if task.deal_id is not None:
        return can_change_deal(user, task.deal)
    if task.account_id is not None:
        return can_change_account(user, task.account)
    return False


def task_people(user: User) -> QuerySet[User]:
    """Whose tasks `user` may list besides their own: a manager their teams' members, an
    admin every active user, a rep nobody (no query for a rep)."""
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).exclude(pk=user.pk)
    if user.is_crm_admin:
        return people
    if not user.is_manager:
        return UserModel.objects.none()
    return people.filter(team__manager=user)


def with_row_details(
    tasks: list[Task], *, user: User, people: list[User], now: datetime
) -> list[Task]:
    """Give each task what its row needs without a query: `is_overdue` (open, due before
    `now`, not snoozed), `is_snoozed`, `can_change` and `reassign_choices`, the people it
    may go to (`people`, who `user` may make an owner, plus the owner of its deal or
    account, as `reassign_task` allows), its assignee excluded. `tasks` must have
    ROW_JOINS loaded."""
    from tasks.services import record_owner

    known = {person.pk for person in people}
    for task in tasks:
        task.is_snoozed = task.snoozed_until is not None and task.snoozed_until > now
        is_open = task.status == TaskStatus.OPEN
        task.is_overdue = is_open and task.due_at < now and not task.is_snoozed
        task.can_change = can_change_task(user, task)
        choices = list(people)
        owner = record_owner(task)
        if owner.pk not in known and owner.is_active:
            choices.append(owner)
        task.reassign_choices = [person for person in choices if person.pk != task.assignee_id]
    return tasks


# The task list: Overdue, Today, Upcoming, Snoozed

GROUPS = [
    ("overdue", "Overdue", "Nothing overdue."),
    ("today", "Today", "Nothing else due today."),
    ("upcoming", "Upcoming", "Nothing planned after today."),
    ("snoozed", "Snoozed", "No snoozed task."),
]
GROUP_SHOWN = 50


@dataclass
class TaskGroup:
    key: str
    label: str
    empty_text: str
    total: int = 0
    tasks: list[Task] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.total - len(self.tasks)


def _scope(*, user: User, person: User | None, team: bool) -> QuerySet[Task]:
    """Open tasks of `person`; with `team`, of everyone `user` manages and `user` (all for
    an admin); else of `user`. Choosing `person` among `task_people(user)` is the caller's
    check."""
    tasks = Task.objects.filter(status=TaskStatus.OPEN)
    if team:
        if user.is_crm_admin:
            return tasks
        return tasks.filter(Q(assignee=user) | Q(assignee__team__manager=user))
    return tasks.filter(assignee=person or user)


def _group_of(now: datetime) -> Case:
    """Which group an open task is in at `now`: snoozed while its snooze runs, else by
    due time: before now overdue, before tomorrow (local) today, later upcoming."""
    tomorrow = timezone.make_aware(
        datetime.combine(timezone.localdate(now) + timedelta(days=1), datetime.min.time())
    )
    return Case(
        When(snoozed_until__gt=now, then=Value("snoozed")),
        When(due_at__lt=now, then=Value("overdue")),
        When(due_at__lt=tomorrow, then=Value("today")),
        default=Value("upcoming"),
        output_field=CharField(),
    )


def task_groups(
    *, user: User, person: User | None = None, team: bool = False, now: datetime
) -> list[TaskGroup]:
    """The open tasks in scope (see `_scope`) as the four groups, each with its first
    GROUP_SHOWN tasks (soonest first; snoozed ones by the end of their snooze) and its
    total. One query: a window numbers and counts the rows of each group."""
    group = _group_of(now)
    sort_at = Case(When(snoozed_until__gt=now, then=F("snoozed_until")), default=F("due_at"))
    rows = (
        _scope(user=user, person=person, team=team)
        .select_related(*ROW_JOINS)
        .annotate(
            group=group,
            sort_at=sort_at,
            row=Window(RowNumber(), partition_by=[group], order_by=[sort_at.asc(), F("pk")]),
            group_total=Window(Count("pk"), partition_by=[group]),
        )
        .filter(row__lte=GROUP_SHOWN)
        .order_by("sort_at", "pk")
    )
    groups = {key: TaskGroup(key, label, empty) for key, label, empty in GROUPS}
    for task in rows:
        groups[task.group].tasks.append(task)
        groups[task.group].total = task.group_total
    return list(groups.values())


def task_counts(
    *, user: User, person: User | None = None, team: bool = False, now: datetime
) -> dict[str, int]:
    """How many open tasks in scope each group holds (one aggregate query)."""
    group = _group_of(now)
    rows = (
        _scope(user=user, person=person, team=team)
        .annotate(group=group)
        .values("group")
        .annotate(total=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys((key for key, _, _ in GROUPS), 0)
    for row in rows:
        counts[row["group"]] = row["total"]
    return counts


def overdue_count(user: User) -> int:
    """How many of `user`'s open tasks are overdue now and not snoozed: the navigation's
    red badge. One COUNT over the partial index task_open_assignee_due_idx."""
    now = timezone.now()
    return (
        Task.objects.filter(assignee=user, status=TaskStatus.OPEN, due_at__lt=now)
        .exclude(snoozed_until__gt=now)
        .count()
    )
