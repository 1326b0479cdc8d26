"""Business rules for tasks. Completing, snoozing and dismissing come with the task list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tasks.models import Task

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
    task.save()
    return task
