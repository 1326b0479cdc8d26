"""Deals with a history written at fixed moments, for hand-computed report tests."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from deals.models import Account, Deal, DealStatus, LeadSource, LostReason, StageChange
from deals.tests.factories import AccountFactory
from stages.models import Pipeline, StageKind
from stages.tests.factories import stage

UTC = dt.UTC
# Open deals need distinct places in their board column.
_positions = itertools.count(1)


def at(day: str, hour: int = 12) -> dt.datetime:
    """An aware datetime from "YYYY-MM-DD" (noon UTC unless told)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def deal_with_history(
    pipeline: Pipeline,
    owner,
    path: list[tuple[str, str]],
    *,
    value: Decimal | int = 1000,
    account: Account | None = None,
    expected_close_date: str | None = None,
    source: str | None = None,
    lost_reason: str | None = None,
    last_activity: str | None = None,
    title: str = "",
) -> Deal:
    """A deal that entered the stages of `path` — [(stage name, "YYYY-MM-DD"), …], the first
    being its creation — and sits in the last one, closed at that moment if won or lost."""
    stages = [(stage(pipeline, name), at(day)) for name, day in path]
    current, moved_at = stages[-1]
    created_at = stages[0][1]
    status = DealStatus(current.kind)
    lost = None
    if lost_reason:
        lost = LostReason.objects.get_or_create(name=lost_reason)[0]
    deal = Deal.objects.create(
        title=title or f"Deal {Deal.objects.count() + 1}",
        pipeline=pipeline,
        stage=current,
        status=status,
        owner=owner,
        account=account or AccountFactory(owner=owner),
        value=Decimal(value),
        expected_close_date=dt.date.fromisoformat(expected_close_date)
        if expected_close_date
        else None,
        source=LeadSource.objects.get_or_create(name=source)[0] if source else None,
        lost_reason=lost,
        created_at=created_at,
        stage_changed_at=moved_at,
        closed_at=moved_at if current.kind != StageKind.OPEN else None,
        last_activity_at=at(last_activity) if last_activity else moved_at,
        board_position=next(_positions),
    )
    previous = None
    for to_stage, changed_at in stages:
        StageChange.objects.create(
            deal=deal, from_stage=previous, to_stage=to_stage, by=owner, changed_at=changed_at
        )
        previous = to_stage
    return deal
