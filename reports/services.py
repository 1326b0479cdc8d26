"""What reports change: applying the stage probabilities learned from history."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from pipeline_crm.models import User
from reports.selectors.learned import LearnedProbability, learned_for
from stages.models import Pipeline, Stage

LEARNED_CHANGE_REASON = "Learned probability applied"


def whole_percent(learned: LearnedProbability) -> int:
    """The learned rate rounded to a whole percent, from the counts (rounding the
    one-decimal rate again could round twice: 44.46 → 44.5 → 45)."""
    rate = Decimal(learned.won) * 100 / learned.sample
    return int(rate.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@transaction.atomic
def apply_learned_probabilities(
    pipeline: Pipeline,
    *,
    now: dt.datetime | None = None,
    min_sample: int | None = None,
    by: User | None = None,
    learned: dict[int, LearnedProbability] | None = None,
) -> list[Stage]:
    """Set each open stage's probability to its learned rate, rounded to a whole percent,
    where the sample has at least `min_sample` closed deals (LEARNED_PROBABILITY_MIN_SAMPLE
    by default). Returns the stages whose probability changed, written in one bulk update
    with a history row each (by `by`). A caller that has already read the learned
    probabilities passes them as `learned`."""
    stages = list(pipeline.stages.open().select_for_update().order_by("position", "pk"))
    if learned is None:
        learned = learned_for([stage.pk for stage in stages], now=now or timezone.now())
    changed = []
    for stage in stages:
        item = learned.get(stage.pk)
        if item is None or not item.usable(min_sample):
            continue
        probability = whole_percent(item)
        if probability != stage.probability:
            stage.probability = probability
            changed.append(stage)
    if changed:
        bulk_update_with_history(
            changed,
            Stage,
            ["probability"],
            default_user=by,
            default_change_reason=LEARNED_CHANGE_REASON,
        )
    return changed
