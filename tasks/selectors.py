"""Reads of tasks that span relations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from tasks.models import Task, TaskStatus

if TYPE_CHECKING:
    from deals.models import Account, Deal
    from pipeline_crm.models import User

OPEN_TASKS_SHOWN = 50


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
    return list(tasks.select_related("assignee", "deal").order_by("due_at", "pk")[:limit])


def task_assignees(user: User, *, owner: User) -> QuerySet[User]:
    """Who `user` may give a task of a record owned by `owner`: whoever `user` may make
    an owner (`assignable_owners`) and the record's owner."""
    from deals.selectors import assignable_owners
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name", "pk")
    return people.filter(Q(pk__in=assignable_owners(user).values("pk")) | Q(pk=owner.pk))
