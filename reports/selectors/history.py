"""The open pipeline as it stood at a past moment, rebuilt from stage history.

A deal's stage at moment T is the `to_stage` of its last StageChange at or before T. Most
deals have not moved since T (`stage_changed_at <= T`): their stage then is their stage now,
read without touching the history; only the deals moved since T look it up, one index
probe each (stagechange_deal_history_idx). Values are today's: deal values and stage
probabilities are not versioned.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.utils import timezone

from deals.models import Deal, DealStatus, StageChange
from stages.models import Stage, StageKind


def probability_then(at: dt.datetime) -> Case:
    """Per deal, the probability of the stage it was in at `at` if that stage was open,
    else NULL (closed, or not created yet). Use on deals created at or before `at`."""
    entered = StageChange.objects.filter(deal=OuterRef("pk"), changed_at__lte=at).order_by(
        "-changed_at", "-pk"
    )
    open_probability = Case(
        When(to_stage__kind=StageKind.OPEN, then=F("to_stage__probability")),
        output_field=IntegerField(),
    )
    return Case(
        When(
            stage_changed_at__lte=at,
            then=Case(
                When(stage__kind=StageKind.OPEN, then=F("stage__probability")),
                output_field=IntegerField(),
            ),
        ),
        default=Subquery(
            entered.annotate(p=open_probability).values("p")[:1], output_field=IntegerField()
        ),
        output_field=IntegerField(),
    )


def pipeline_sums(
    deals: QuerySet[Deal],
    *,
    at: dt.datetime | None = None,
    open_now: dict[str, Decimal] | None = None,
) -> dict[str, Decimal]:
    """`total` and `weighted` value of the open pipeline among `deals`, now (`at` None or
    not in the past) or as it stood at `at`; `open_now`, when the caller has it, is this
    function's answer for now. One query, two for a past moment without `open_now`.

    The pipeline at `at` is the pipeline now, less what the deals moved since `at` bring to
    it now, plus what they brought then. Only they are grouped, not every deal open at
    `at`, and only those created by `at` look up their history (1,000,000 deals, a moment
    two months back: 136,000 deals grouped and 51,000 lookups instead of 327,000 deals
    sorted by their lookup, 0.6 → 0.4 s)."""
    if at is None or at >= timezone.now():
        return _open_pipeline_now(deals)
    open_now = open_now or _open_pipeline_now(deals)
    total, weighted = open_now["total"], open_now["weighted"] * 100
    # A deal closed by `at` was not open then (its close is its last stage change).
    open_then = Q(created_at__lte=at) & (Q(closed_at__isnull=True) | Q(closed_at__gt=at))
    moved = (
        deals.filter(stage_changed_at__gt=at)
        .annotate(
            p_now=Case(
                When(status=DealStatus.OPEN, then=F("stage__probability")),
                output_field=IntegerField(),
            ),
            p_then=Case(When(open_then, then=probability_then(at)), output_field=IntegerField()),
        )
        .order_by()
        # Grouped by the probabilities: each deal's history is looked up once (a filter or
        # a sum over p_then would each look it up again).
        .values_list("p_now", "p_then")
        .annotate(value=Sum("value"))
    )
    for p_now, p_then, value in moved:
        value = value or Decimal(0)
        if p_now is not None:
            total -= value
            weighted -= value * p_now
        if p_then is not None:
            total += value
            weighted += value * p_then
    return {"total": total, "weighted": weighted / 100}


def _open_pipeline_now(deals: QuerySet[Deal]) -> dict[str, Decimal]:
    """Summed per stage, each stage's probability looked up once per group rather than
    joined to every deal: PostgreSQL then reads the open deals' covering index alone
    (deal_open_board_totals_idx), 338,000 of them in about 50 ms."""
    probability = Stage.objects.filter(pk=OuterRef("stage")).order_by().values("probability")
    by_stage = (
        deals.filter(status=DealStatus.OPEN)
        .order_by()
        .values_list("stage")
        # An expression over the aggregate, not a column of its own: grouped by, the
        # lookup would run once per deal.
        .annotate(total=Sum("value"), weighted=Sum("value") * Subquery(probability))
    )
    total = weighted = Decimal(0)
    for _, stage_total, stage_weighted in by_stage:
        total += stage_total or 0
        weighted += stage_weighted or 0
    return {"total": total, "weighted": weighted / 100}
