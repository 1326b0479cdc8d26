"""The open pipeline as it stood at a past moment, rebuilt from stage history.

A deal's stage at moment T is the `to_stage` of its last StageChange at or before T. Most
deals have not moved since T (`stage_changed_at <= T`): their stage then is their stage now,
read without touching the history; only the deals moved since T look it up, one index probe
each (stagechange_deal_idx). Values are today's: deal values and stage probabilities are
not versioned.
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
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.models import Deal, DealStatus, StageChange
from deals.selectors.totals import MONEY, ZERO
from stages.models import StageKind


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


def pipeline_sums(deals: QuerySet[Deal], *, at: dt.datetime | None = None) -> dict[str, Decimal]:
    """`total` and `weighted` value of the open pipeline among `deals`, now (`at` None or
    not in the past) or as it stood at `at`. One query."""
    if at is None or at >= timezone.now():
        sums = deals.filter(status=DealStatus.OPEN).aggregate(
            total=Coalesce(Sum("value"), ZERO),
            weighted=Coalesce(Sum(F("value") * F("stage__probability"), output_field=MONEY), ZERO),
        )
    else:
        sums = (
            # A deal closed by `at` was not open then (its close is its last stage change).
            deals.filter(Q(closed_at__isnull=True) | Q(closed_at__gt=at), created_at__lte=at)
            .annotate(p_then=probability_then(at))
            .filter(p_then__isnull=False)
            .aggregate(
                total=Coalesce(Sum("value"), ZERO),
                weighted=Coalesce(Sum(F("value") * F("p_then"), output_field=MONEY), ZERO),
            )
        )
    return {"total": Decimal(sums["total"]), "weighted": Decimal(sums["weighted"]) / 100}
