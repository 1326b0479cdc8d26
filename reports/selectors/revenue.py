"""The revenue dashboard's figures for a period and the one before it.

Every figure is a filtered aggregate over the deals in scope: one query for the headline
figures of both periods, two for the pipeline now (or at the period's end) and at the end
of the previous period, and one grouped query per top-list.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.models import Deal, DealStatus
from deals.selectors.totals import ZERO
from reports.periods import Period
from reports.selectors import days
from reports.selectors.history import pipeline_sums

CYCLE = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())
TOP = 10


@dataclass(frozen=True)
class PeriodFigures:
    won_value: Decimal
    won_count: int
    lost_count: int
    cycle_days: Decimal | None  # average days from creation to won
    created_count: int
    created_value: Decimal

    @property
    def average_won(self) -> Decimal | None:
        return self.won_value / self.won_count if self.won_count else None

    @property
    def win_rate(self) -> Decimal | None:
        """Won ÷ (won + lost) among the deals closed in the period, in %."""
        closed = self.won_count + self.lost_count
        return Decimal(self.won_count) * 100 / closed if closed else None


def closed_in(period: Period) -> Q:
    return Q(closed_at__gte=period.start_at, closed_at__lt=period.end_at)


def created_in(period: Period) -> Q:
    return Q(created_at__gte=period.start_at, created_at__lt=period.end_at)


def won_in(period: Period) -> Q:
    return Q(status=DealStatus.WON) & closed_in(period)


def lost_in(period: Period) -> Q:
    return Q(status=DealStatus.LOST) & closed_in(period)


@dataclass(frozen=True)
class Headline:
    periods: list[PeriodFigures]  # in the order asked for
    open_now: dict[str, Decimal]  # `total` and `weighted` of the open pipeline now


def headline_figures(deals: QuerySet[Deal], *periods: Period) -> Headline:
    """The headline figures of each period and the open pipeline now: one query over the
    deals created or closed in the periods (read through the indexes on those dates, not
    by a scan of every deal), one over the open deals."""
    start = min(period.start_at for period in periods)
    end = max(period.end_at for period in periods)
    in_periods = Q(created_at__gte=start, created_at__lt=end) | Q(
        closed_at__gte=start, closed_at__lt=end
    )
    aggregates = {}
    for index, period in enumerate(periods):
        won, lost, created = won_in(period), lost_in(period), created_in(period)
        aggregates |= {
            f"won_value_{index}": Coalesce(Sum("value", filter=won), ZERO),
            f"won_count_{index}": Count("pk", filter=won),
            f"lost_count_{index}": Count("pk", filter=lost),
            f"cycle_{index}": Avg(CYCLE, filter=won),
            f"created_count_{index}": Count("pk", filter=created),
            f"created_value_{index}": Coalesce(Sum("value", filter=created), ZERO),
        }
    sums = deals.filter(in_periods).aggregate(**aggregates)
    figures = [
        PeriodFigures(
            won_value=Decimal(sums[f"won_value_{index}"]),
            won_count=sums[f"won_count_{index}"],
            lost_count=sums[f"lost_count_{index}"],
            cycle_days=days(sums[f"cycle_{index}"]),
            created_count=sums[f"created_count_{index}"],
            created_value=Decimal(sums[f"created_value_{index}"]),
        )
        for index in range(len(periods))
    ]
    return Headline(periods=figures, open_now=pipeline_sums(deals))


def pipeline_at_end(deals: QuerySet[Deal], period: Period, *, now: Headline) -> dict[str, Decimal]:
    """The open and weighted pipeline now (from the headline figures) when the period has
    not ended, else as it stood at its end (rebuilt from stage history)."""
    if period.end_at >= timezone.now():
        return now.open_now
    return pipeline_sums(deals, at=period.end_at, open_now=now.open_now)


def top_accounts(deals: QuerySet[Deal], period: Period) -> list[dict]:
    """The accounts with the most revenue won in the period: id, name, won count and value."""
    return list(
        deals.filter(won_in(period))
        .values("account_id", "account__name")
        .annotate(won_count=Count("pk"), won_value=Sum("value"))
        .order_by("-won_value", "account__name")[:TOP]
    )


def top_sources(deals: QuerySet[Deal], period: Period) -> list[dict]:
    """Lead sources by revenue won in the period, then by deals created in it (no source is
    a row of its own, `source_id` None)."""
    won, created = won_in(period), created_in(period)
    return list(
        deals.filter(won | created)
        .values("source_id", "source__name")
        .annotate(
            created_count=Count("pk", filter=created),
            won_count=Count("pk", filter=won),
            won_value=Coalesce(Sum("value", filter=won), ZERO),
        )
        .order_by("-won_value", "-created_count", "source__name")[:TOP]
    )


def top_lost_reasons(deals: QuerySet[Deal], period: Period) -> list[dict]:
    """Lost reasons of the deals lost in the period, by count then value."""
    return list(
        deals.filter(lost_in(period))
        .values("lost_reason_id", "lost_reason__name")
        .annotate(lost_count=Count("pk"), lost_value=Sum("value"))
        .order_by("-lost_count", "-lost_value", "lost_reason__name")[:TOP]
    )
