"""Stale deals: open deals nobody has touched for longer than their stage allows, as the
team report counts them and the deal list filters them (the link behind the report's
figure)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Q

from stages.models import Pipeline, Stage, StageKind


def stale_thresholds(*, pipeline: Pipeline | None = None) -> dict[int, list[int]]:
    """Open stage ids by the days without activity after which their deals are stale: the
    stage's rotting days or the pipeline's follow-up threshold (its own, else
    FOLLOWUP_INACTIVE_DAYS), whichever is smaller. One query."""
    stages = Stage.objects.filter(kind=StageKind.OPEN)
    if pipeline is not None:
        stages = stages.filter(pipeline=pipeline)
    by_days: dict[int, list[int]] = defaultdict(list)
    rows = stages.order_by().values_list("pk", "rotting_days", "pipeline__followup_days")
    for pk, rotting_days, followup_days in rows:
        threshold = followup_days or settings.FOLLOWUP_INACTIVE_DAYS
        if rotting_days:  # 0 or empty: the stage never rots, as on the board
            threshold = min(threshold, rotting_days)
        by_days[threshold].append(pk)
    return dict(by_days)


def active_rule(thresholds: dict[int, list[int]], *, now: dt.datetime) -> Q | None:
    """Deals with activity within their stage's threshold (`stale_thresholds`): the open
    deals of those stages that are not stale. None when no stage has a threshold."""
    rule = None
    for quiet_days, stage_ids in thresholds.items():
        cutoff = now - dt.timedelta(days=quiet_days)
        active = Q(stage_id__in=stage_ids, last_activity_at__gte=cutoff)
        rule = active if rule is None else rule | active
    return rule


def stale_rule(thresholds: dict[int, list[int]], *, now: dt.datetime) -> Q:
    """Open deals of the stages in `thresholds` (`stale_thresholds`) without activity
    within their stage's threshold. Matches nothing when no stage has a threshold."""
    rule = Q(pk__in=[])
    for quiet_days, stage_ids in thresholds.items():
        cutoff = now - dt.timedelta(days=quiet_days)
        rule |= Q(stage_id__in=stage_ids, last_activity_at__lt=cutoff)
    return rule
