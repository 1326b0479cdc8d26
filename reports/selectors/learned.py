"""Stage probabilities learned from history: of the closed deals that entered a stage, the
share that ended won.

The window counts deals closed in the last LEARNED_PROBABILITY_MONTHS months (open deals
have no outcome yet). A deal that skipped a stage did not enter it and is not in its sample.
Learned values describe a pipeline, like its configured probabilities, so they are read
over all its deals, not one user's.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from deals.models import DealStatus, StageChange
from reports.periods import add_months
from reports.selectors.history import probability_of
from stages.models import Stage, StageKind

PROBABILITY = DecimalField(max_digits=5, decimal_places=1)
# How long pages use learned probabilities before counting again, and how long the cache
# keeps them (the beat job refreshes them every half hour).
CACHE_FRESH = dt.timedelta(hours=1)
CACHE_SECONDS = 2 * 3600


@dataclass(frozen=True)
class LearnedProbability:
    stage_id: int
    won: int
    sample: int

    @property
    def rate(self) -> Decimal | None:
        """Won ÷ sample in %, one decimal; None without a sample."""
        if not self.sample:
            return None
        return (Decimal(self.won) * 100 / self.sample).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    def usable(self, min_sample: int | None = None) -> bool:
        """Whether the sample is large enough to replace the configured probability."""
        if min_sample is None:
            min_sample = settings.LEARNED_PROBABILITY_MIN_SAMPLE
        return self.sample >= max(min_sample, 1)


def window_start(now: dt.datetime, months: int | None = None) -> dt.datetime:
    """The first instant of the look-back window ending at `now`."""
    months = settings.LEARNED_PROBABILITY_MONTHS if months is None else months
    first = add_months(now.date(), -months)
    last_day = calendar.monthrange(first.year, first.month)[1]
    return now.replace(year=first.year, month=first.month, day=min(now.day, last_day))


def with_learned_counts(
    stages: QuerySet[Stage], *, now: dt.datetime, months: int | None = None
) -> QuerySet[Stage]:
    """`stages` annotated with `learned_won` and `learned_sample`: of the deals closed in the
    window that entered each stage, how many ended won, and how many in all. Adds no query
    (two correlated subqueries per stage), so it fits into a page's own stage query."""
    entries = (
        StageChange.objects.filter(
            to_stage=OuterRef("pk"),
            deal__status__in=(DealStatus.WON, DealStatus.LOST),
            deal__closed_at__gte=window_start(now, months),
            deal__closed_at__lte=now,
            deal__is_archived=False,
        )
        .order_by()
        .values("to_stage")
    )

    def deal_count(rows: QuerySet[StageChange]) -> Coalesce:
        counted = rows.annotate(n=Count("deal", distinct=True)).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    return stages.annotate(
        learned_sample=deal_count(entries),
        learned_won=deal_count(entries.filter(deal__status=DealStatus.WON)),
    )


def learned_probabilities(
    stages: QuerySet[Stage], *, now: dt.datetime, months: int | None = None
) -> dict[int, LearnedProbability]:
    """For each open stage among `stages`, the learned probability (stages nobody entered
    in the window have a sample of 0). Two queries: the open stages, then the counts."""
    ids = list(stages.filter(kind=StageKind.OPEN).values_list("pk", flat=True))
    return learned_for(ids, now=now, months=months)


def recent_learned_probabilities(
    pipeline_ids: list[int], *, now: dt.datetime
) -> dict[int, LearnedProbability]:
    """The learned probabilities of the open stages of these pipelines, as computed within
    the last hour: a year of closed deals moves little in an hour, and counting it takes
    a few hundred milliseconds at 100,000 deals. A beat job refreshes them every half hour
    (`refresh_learned_probabilities`), so pages rarely count; the admin's apply action
    always reads fresh values. One query for the pipelines that need counting, if any."""
    keys = {pk: learned_cache_key(pk) for pk in pipeline_ids}
    cached = cache.get_many(keys.values())
    learned: dict[int, LearnedProbability] = {}
    stale = []
    for pk, key in keys.items():
        entry = cached.get(key)
        if entry is not None and now - CACHE_FRESH <= entry[0] <= now:
            learned |= entry[1]
        else:
            stale.append(pk)
    if stale:
        learned |= store_learned_probabilities(stale, now=now)
    return learned


def store_learned_probabilities(
    pipeline_ids: list[int], *, now: dt.datetime
) -> dict[int, LearnedProbability]:
    """Count the learned probabilities of these pipelines' open stages and cache them, one
    entry per pipeline. Two queries."""
    stages = dict(
        Stage.objects.filter(pipeline_id__in=pipeline_ids, kind=StageKind.OPEN).values_list(
            "pk", "pipeline_id"
        )
    )
    learned = learned_for(list(stages), now=now)
    entries: dict[str, tuple] = {learned_cache_key(pk): (now, {}) for pk in pipeline_ids}
    for stage_id, item in learned.items():
        entries[learned_cache_key(stages[stage_id])][1][stage_id] = item
    cache.set_many(entries, CACHE_SECONDS)
    return learned


def learned_cache_key(pipeline_id: int) -> str:
    return f"learned-probabilities:{settings.LEARNED_PROBABILITY_MONTHS}:{pipeline_id}"


def learned_for(
    ids: list[int], *, now: dt.datetime, months: int | None = None
) -> dict[int, LearnedProbability]:
    """The learned probabilities of the open stages `ids`, grouped by stage in one query. The ids are
    literals, so that PostgreSQL hashes the window's deals instead of probing entries."""
    if not ids:
        return {}
    counts = (
        StageChange.objects.filter(
            to_stage_id__in=ids,
            deal__status__in=(DealStatus.WON, DealStatus.LOST),
            deal__closed_at__gte=window_start(now, months),
            deal__closed_at__lte=now,
            deal__is_archived=False,
        )
        .values("to_stage")
        .annotate(
            sample=Count("deal", distinct=True),
            won=Count("deal", distinct=True, filter=Q(deal__status=DealStatus.WON)),
        )
        .order_by()
    )
    found = {row["to_stage"]: (row["won"], row["sample"]) for row in counts}
    return {pk: LearnedProbability(pk, *found.get(pk, (0, 0))) for pk in ids}


def probability_case(
    learned: dict[int, LearnedProbability], *, min_sample: int | None = None, prefix: str = ""
) -> Case:
    """Per deal, the learned probability of its stage where the sample is large enough,
    else the configured one (`prefix` reaches the deal from another model: "deal__")."""
    usable = {pk: item.rate for pk, item in learned.items() if item.usable(min_sample)}
    return probability_of(
        f"{prefix}stage",
        usable,
        default=F(f"{prefix}stage__probability"),
        output_field=PROBABILITY,
    )
