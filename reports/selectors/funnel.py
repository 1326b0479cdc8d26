"""The stage funnel of one pipeline: how far deals got, and how long they stayed in each stage.

A deal reached an open stage if it entered that stage or a later open one (by position), or
was won: won deals passed every open stage, even those they skipped. A lost deal reached
the stages up to the furthest open stage it entered. Each stage therefore counts at least as
many deals as the next. The deal list's `reached` filter (deals/filters.py) applies the
same rule, so each count links to the deals behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    When,
    Window,
)
from django.db.models.functions import Lead

from deals.models import Deal, DealStatus, StageChange
from reports.selectors import days
from stages.models import Stage, StageKind


@dataclass(frozen=True)
class FunnelStage:
    stage: Stage
    reached: int
    avg_days: Decimal | None  # over completed stays; None when no deal has left the stage


@dataclass(frozen=True)
class Funnel:
    stages: list[FunnelStage]
    won: int


def stage_funnel(deals: QuerySet[Deal], *, stages: Sequence[Stage]) -> Funnel:
    """The funnel of `deals` over `stages`: the open stages of one pipeline, in position
    order (fetched by the caller). Two queries."""
    reached = _reached(deals, stages=stages)
    stays = _average_stays(deals, stages=stages)
    return Funnel(
        stages=[
            FunnelStage(stage, reached[f"reached_{stage.pk}"], days(stays.get(stage.pk)))
            for stage in stages
        ],
        won=reached["won_count"],
    )


def _reached(deals: QuerySet[Deal], *, stages: Sequence[Stage]) -> dict[str, int]:
    """`won_count` and, per stage, `reached_<pk>`: the deals that reached it. One query:
    the deals' stage changes grouped by deal (the furthest open stage entered), counted."""
    by_deal = (
        StageChange.objects.filter(deal__in=deals.values("pk"))
        .values("deal")
        .annotate(
            furthest=Max("to_stage__position", filter=Q(to_stage__kind=StageKind.OPEN)),
            won=Max(Case(When(deal__status=DealStatus.WON, then=1), default=0)),
        )
        .order_by()
    )
    won = Q(won=1)
    return by_deal.aggregate(
        won_count=Count("deal", filter=won),
        **{
            f"reached_{stage.pk}": Count("deal", filter=won | Q(furthest__gte=stage.position))
            for stage in stages
        },
    )


def _average_stays(deals: QuerySet[Deal], *, stages: Sequence[Stage]) -> dict[int, dt.timedelta]:
    """Per stage, the average time from entering it to the deal's next stage change, over
    the stays that ended (a deal still in the stage is left out). One query: each change
    learns when the next one of its deal happened (LEAD over the deal's changes)."""
    changes = StageChange.objects.filter(deal__in=deals.values("pk")).annotate(
        left_at=Window(
            Lead("changed_at"),
            partition_by=F("deal_id"),
            order_by=[F("changed_at").asc(), F("pk").asc()],
        )
    )
    stay = ExpressionWrapper(F("left_at") - F("changed_at"), output_field=DurationField())
    # A stay still going has no next change: the difference is NULL and Avg skips it.
    averages = changes.aggregate(
        **{f"stay_{stage.pk}": Avg(stay, filter=Q(to_stage=stage.pk)) for stage in stages}
    )
    return {
        stage.pk: averages[f"stay_{stage.pk}"]
        for stage in stages
        if averages[f"stay_{stage.pk}"] is not None
    }
