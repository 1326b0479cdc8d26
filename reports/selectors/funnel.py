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
    Count,
    DurationField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from deals.models import Deal, DealStatus, StageChange
from stages.models import Stage

DAY_SECONDS = Decimal(86400)


@dataclass(frozen=True)
class FunnelStage:
    stage: Stage
    reached: int
    avg_days: Decimal | None  # over completed stays; None when no deal has left the stage


@dataclass(frozen=True)
class Funnel:
    stages: list[FunnelStage]
    won: int


def days(duration: dt.timedelta | None) -> Decimal | None:
    """A duration as a number of days."""
    if duration is None:
        return None
    return Decimal(duration.total_seconds()) / DAY_SECONDS


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
        won=reached["won"],
    )


def _reached(deals: QuerySet[Deal], *, stages: Sequence[Stage]) -> dict[str, int]:
    """The won count and, per stage, `reached_<pk>`: the deals that reached it."""
    furthest = (
        StageChange.objects.filter(deal=OuterRef("pk"), to_stage__in=[s.pk for s in stages])
        .order_by("-to_stage__position")
        .values("to_stage__position")[:1]
    )
    won = Q(status=DealStatus.WON)
    return deals.annotate(furthest=Subquery(furthest)).aggregate(
        won=Count("pk", filter=won),
        **{
            f"reached_{stage.pk}": Count("pk", filter=won | Q(furthest__gte=stage.position))
            for stage in stages
        },
    )


def _average_stays(deals: QuerySet[Deal], *, stages: Sequence[Stage]) -> dict[int, dt.timedelta]:
    """Per stage, the average time from entering it to the deal's next stage change, over
    the stays that ended (a deal still in the stage is left out)."""
    same_deal_later = StageChange.objects.filter(deal=OuterRef("deal")).filter(
        Q(changed_at__gt=OuterRef("changed_at"))
        | Q(changed_at=OuterRef("changed_at"), pk__gt=OuterRef("pk"))
    )
    left_at = Subquery(same_deal_later.order_by("changed_at", "pk").values("changed_at")[:1])
    rows = (
        StageChange.objects.filter(deal__in=deals.values("pk"), to_stage__in=[s.pk for s in stages])
        .values("to_stage")
        # A stay still going has no next change: the difference is NULL and Avg skips it.
        .annotate(stay=Avg(left_at - F("changed_at"), output_field=DurationField()))
        .order_by()
    )
    return {row["to_stage"]: row["stay"] for row in rows if row["stay"] is not None}
