"""Learned stage probabilities: which deals make the sample, the won share, and applying
them to the configured probabilities."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import Deal
from reports.selectors.learned import (
    LearnedProbability,
    learned_probabilities,
    with_learned_counts,
)
from reports.services import LEARNED_CHANGE_REASON, apply_learned_probabilities
from reports.tests.factories import at, deal_with_history
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

NOW = at("2026-04-15")


def by_name(pipeline, learned: dict[int, LearnedProbability]) -> dict[str, tuple]:
    names = dict(pipeline.stages.values_list("pk", "name"))
    return {names[pk]: (item.won, item.sample, item.rate) for pk, item in learned.items()}


def closed_deals(pipeline, owner, path: list[str], *, won: int, lost: int) -> None:
    """`won` + `lost` deals through the open stages of `path`, closed in March 2026."""
    steps = [(name, f"2026-02-{day + 1:02d}") for day, name in enumerate(path)]
    for _ in range(won):
        deal_with_history(pipeline, owner, [*steps, ("Won", "2026-03-01")])
    for _ in range(lost):
        deal_with_history(pipeline, owner, [*steps, ("Lost", "2026-03-01")])


# The selector


def test_only_deals_closed_in_the_window_count_and_skipped_stages_are_not_sampled(
    pipeline, rep, outsider
):
    # In the window (April 15, 2025 to April 15, 2026), everyone's:
    deal_with_history(
        pipeline,
        rep,
        [("Lead", "2026-01-05"), ("Proposal made", "2026-01-15"), ("Won", "2026-02-04")],
    )
    deal_with_history(
        pipeline,
        outsider,
        [("Lead", "2025-06-01"), ("Contacted", "2025-06-05"), ("Lost", "2025-07-01")],
    )
    deal_with_history(
        pipeline,
        rep,
        [
            ("Lead", "2025-12-01"),
            ("Contacted", "2025-12-02"),
            ("Qualified", "2025-12-03"),
            ("Won", "2026-01-10"),
        ],
    )
    # Left out: closed before the window, still open, archived, closed after `now`.
    deal_with_history(
        pipeline, rep, [("Lead", "2025-01-05"), ("Contacted", "2025-02-01"), ("Won", "2025-04-14")]
    )
    deal_with_history(pipeline, rep, [("Lead", "2026-01-05"), ("Contacted", "2026-02-01")])
    archived = deal_with_history(pipeline, rep, [("Lead", "2026-01-05"), ("Won", "2026-02-01")])
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    deal_with_history(pipeline, rep, [("Lead", "2026-04-01"), ("Lost", "2026-04-16")])
    # Another pipeline's deals stay out of this one's stages.
    other = PipelineFactory(name="Renewals")
    deal_with_history(other, rep, [("Lead", "2026-01-05"), ("Won", "2026-02-01")])

    learned = learned_probabilities(pipeline.stages.all(), now=NOW)

    # Lead: 2 won of 3; Contacted: the lost one and the won one (the first deal skipped it);
    # Qualified: 1 of 1; Proposal made: 1 of 1. Won and Lost are not open stages.
    assert by_name(pipeline, learned) == {
        "Lead": (2, 3, Decimal("66.7")),
        "Contacted": (1, 2, Decimal("50.0")),
        "Qualified": (1, 1, Decimal("100.0")),
        "Proposal made": (1, 1, Decimal("100.0")),
    }


def test_a_stage_nobody_entered_has_no_rate(pipeline, rep):
    deal_with_history(pipeline, rep, [("Lead", "2026-01-05"), ("Lost", "2026-02-01")])

    learned = learned_probabilities(pipeline.stages.all(), now=NOW)

    assert by_name(pipeline, learned)["Qualified"] == (0, 0, None)
    assert not learned[stage(pipeline, "Qualified").pk].usable(0)


def test_a_deal_that_entered_a_stage_twice_is_sampled_once(pipeline, rep):
    deal_with_history(
        pipeline,
        rep,
        [
            ("Lead", "2026-01-05"),
            ("Contacted", "2026-01-06"),
            ("Lead", "2026-01-07"),
            ("Won", "2026-02-01"),
        ],
    )
    learned = learned_probabilities(pipeline.stages.all(), now=NOW)
    assert by_name(pipeline, learned)["Lead"] == (1, 1, Decimal("100.0"))


def test_the_window_follows_the_months_setting(pipeline, rep, settings):
    deal_with_history(pipeline, rep, [("Lead", "2025-09-01"), ("Won", "2025-10-01")])
    settings.LEARNED_PROBABILITY_MONTHS = 6

    learned = learned_probabilities(pipeline.stages.all(), now=NOW)

    assert by_name(pipeline, learned)["Lead"] == (0, 0, None)
    assert by_name(pipeline, learned_probabilities(pipeline.stages.all(), now=NOW, months=7))[
        "Lead"
    ] == (1, 1, Decimal("100.0"))


def test_learned_probabilities_take_two_queries(pipeline, rep, django_assert_num_queries):
    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=3, lost=2)
    # the open stages, then the counts grouped by stage
    with django_assert_num_queries(2):
        learned = learned_probabilities(pipeline.stages.all(), now=NOW)
    assert by_name(pipeline, learned)["Contacted"] == (3, 5, Decimal("60.0"))


def test_learned_counts_annotate_a_stage_query(pipeline, rep):
    closed_deals(pipeline, rep, ["Lead", "Qualified"], won=1, lost=3)
    stages = with_learned_counts(pipeline.stages.order_by("position"), now=NOW)
    assert [(s.name, s.learned_won, s.learned_sample) for s in stages][:3] == [
        ("Lead", 1, 4),
        ("Contacted", 0, 0),
        ("Qualified", 1, 4),
    ]


@pytest.mark.parametrize(
    ("sample", "min_sample", "usable"),
    [(19, None, False), (20, None, True), (2, 2, True), (1, 2, False), (0, 0, False)],
)
def test_a_sample_is_usable_from_the_minimum_on(sample, min_sample, usable):
    assert LearnedProbability(1, 0, sample).usable(min_sample) is usable


# Applying them


def test_applying_changes_only_the_stages_with_a_large_enough_sample(pipeline, rep, admin_user):
    # Lead and Contacted: 5 won of 11 = 45.45 % → 45 (not 45.5 → 46);
    # Qualified: 1 of 8 = 12.5 % → 13; Proposal made: 1 of 1, below the minimum of 2.
    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=5, lost=6)
    closed_deals(pipeline, rep, ["Qualified"], won=1, lost=7)
    closed_deals(pipeline, rep, ["Proposal made"], won=1, lost=0)

    changed = apply_learned_probabilities(pipeline, now=NOW, min_sample=2, by=admin_user)

    probabilities = dict(pipeline.stages.values_list("name", "probability"))
    assert [(s.name, s.probability) for s in changed] == [
        ("Lead", 45),
        ("Contacted", 45),
        ("Qualified", 13),
    ]
    assert probabilities == {
        "Lead": 45,
        "Contacted": 45,
        "Qualified": 13,
        "Proposal made": 60,
        "Won": 100,
        "Lost": 0,
    }


def test_a_stage_already_at_its_learned_rate_is_not_rewritten(pipeline, rep):
    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=1, lost=4)  # 20 %, as configured
    contacted = stage(pipeline, "Contacted")
    before = contacted.history.count()

    changed = apply_learned_probabilities(pipeline, now=NOW, min_sample=5)

    assert [(s.name, s.probability) for s in changed] == [("Lead", 20)]
    assert contacted.history.count() == before


def test_the_default_minimum_sample_comes_from_settings(pipeline, rep, settings):
    closed_deals(pipeline, rep, ["Lead"], won=3, lost=0)
    settings.LEARNED_PROBABILITY_MIN_SAMPLE = 4
    assert apply_learned_probabilities(pipeline, now=NOW) == []
    settings.LEARNED_PROBABILITY_MIN_SAMPLE = 3
    assert [s.probability for s in apply_learned_probabilities(pipeline, now=NOW)] == [100]


def test_applying_writes_one_history_row_per_changed_stage(
    pipeline, rep, admin_user, assert_max_queries
):
    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=2, lost=2)
    lead = stage(pipeline, "Lead")
    before = lead.history.count()

    # the open stages (locked), the learned counts, the bulk update, the history rows
    with assert_max_queries(4):
        apply_learned_probabilities(pipeline, now=NOW, min_sample=4, by=admin_user)

    latest = lead.history.latest()
    assert (latest.probability, latest.history_type) == (50, "~")
    assert (latest.history_user, latest.history_change_reason) == (
        admin_user,
        LEARNED_CHANGE_REASON,
    )
    assert lead.history.count() == before + 1
    assert stage(pipeline, "Qualified").history.count() == before


def test_pages_read_learned_probabilities_at_most_once_an_hour(pipeline, rep):
    from reports.selectors.learned import recent_learned_probabilities

    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=3, lost=2)
    lead = stage(pipeline, "Lead").pk
    first = recent_learned_probabilities([pipeline.pk], now=NOW)
    closed_deals(pipeline, rep, ["Lead"], won=0, lost=5)

    assert recent_learned_probabilities([pipeline.pk], now=NOW + dt.timedelta(minutes=50)) == first
    later = recent_learned_probabilities([pipeline.pk], now=NOW + dt.timedelta(minutes=61))
    assert (later[lead].won, later[lead].sample) == (3, 10)


def test_the_beat_job_counts_them_ahead_of_the_pages(pipeline, rep, django_assert_num_queries):
    from reports.selectors.learned import recent_learned_probabilities
    from reports.tasks import refresh_learned_probabilities_task

    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=3, lost=2)

    assert refresh_learned_probabilities_task.delay().get() == 1
    with django_assert_num_queries(0):
        learned = recent_learned_probabilities([pipeline.pk], now=timezone.now())
    assert learned[stage(pipeline, "Contacted").pk].sample == 5
