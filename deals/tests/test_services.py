from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from deals.models import Activity, ActivityKind, Deal, DealStatus, StageChange
from deals.services import (
    DealDraft,
    DealMoveError,
    create_deal,
    create_deals_with_history,
    log_activity,
    move_deal,
)
from deals.tests.factories import AccountFactory, DealFactory, LostReasonFactory
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def deal(pipeline, rep):
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        return DealFactory(title="Acme rollout", pipeline=pipeline, owner=rep, value=5000)


def history(deal: Deal) -> list[tuple[str | None, str, str]]:
    return [
        (
            change.from_stage.name if change.from_stage else None,
            change.to_stage.name,
            change.by.username,
        )
        for change in deal.stage_changes.select_related("from_stage", "to_stage", "by")
    ]


# create_deal


def test_created_deal_starts_in_the_first_open_stage_with_a_history_row(deal):
    assert deal.stage.name == "Lead"
    assert deal.status == DealStatus.OPEN
    assert history(deal) == [(None, "Lead", "alice")]


def test_created_deal_may_start_in_a_given_stage(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep, stage=stage(pipeline, "Qualified"))
    assert history(deal) == [(None, "Qualified", "alice")]


def test_creating_a_deal_with_a_negative_value_saves_nothing(pipeline, rep):
    account = AccountFactory(owner=rep)
    with pytest.raises(ValidationError) as exc:
        create_deal(title="X", account=account, owner=rep, pipeline=pipeline, by=rep, value=-1)
    assert exc.value.message_dict == {"value": ["A deal's value cannot be negative."]}
    assert not Deal.objects.exists()
    assert not StageChange.objects.exists()


def test_creating_a_deal_in_a_stage_of_another_pipeline_is_refused(pipeline, rep):
    other = PipelineFactory(name="Renewals")
    with pytest.raises(DealMoveError, match="Stage “Lead” is not part of the pipeline “Sales”."):
        DealFactory(pipeline=pipeline, owner=rep, stage=stage(other, "Lead"))
    assert not Deal.objects.exists()


# move_deal


@time_machine.travel(NOW, tick=False)
def test_move_records_the_stage_change_and_bumps_activity(deal, pipeline, other_rep):
    moved = move_deal(deal, stage(pipeline, "Qualified"), by=other_rep)

    moved.refresh_from_db()
    assert moved.stage.name == "Qualified"
    assert moved.stage_changed_at == NOW
    assert moved.last_activity_at == NOW
    assert history(moved) == [(None, "Lead", "alice"), ("Lead", "Qualified", "bob")]
    assert moved.stage_changes.last().changed_at == NOW


@time_machine.travel(NOW, tick=False)
def test_moving_to_won_sets_closed_at(deal, pipeline, rep):
    moved = move_deal(deal, stage(pipeline, "Won"), by=rep)

    moved.refresh_from_db()
    assert moved.status == DealStatus.WON
    assert moved.closed_at == NOW


def test_reopening_a_won_deal_clears_closed_at(deal, pipeline, rep):
    move_deal(deal, stage(pipeline, "Won"), by=rep)
    reopened = move_deal(deal, stage(pipeline, "Proposal made"), by=rep)

    reopened.refresh_from_db()
    assert reopened.status == DealStatus.OPEN
    assert reopened.closed_at is None
    assert [row[1] for row in history(reopened)] == ["Lead", "Won", "Proposal made"]


def test_moving_to_lost_requires_a_lost_reason_and_saves_nothing(deal, pipeline, rep):
    with pytest.raises(
        DealMoveError, match="Choose a lost reason to move “Acme rollout” to “Lost”."
    ):
        move_deal(deal, stage(pipeline, "Lost"), by=rep)

    deal.refresh_from_db()
    assert deal.stage.name == "Lead"
    assert deal.closed_at is None
    assert deal.stage_changes.count() == 1


def test_moving_to_lost_records_the_reason_and_reopening_clears_it(deal, pipeline, rep):
    price = LostReasonFactory(name="Price")
    lost = move_deal(deal, stage(pipeline, "Lost"), by=rep, lost_reason=price)
    lost.refresh_from_db()
    assert (lost.status, lost.lost_reason, lost.closed_at is not None) == ("lost", price, True)

    reopened = move_deal(lost, stage(pipeline, "Lead"), by=rep)
    reopened.refresh_from_db()
    assert (reopened.lost_reason, reopened.closed_at) == (None, None)


def test_moving_to_a_stage_of_another_pipeline_is_refused_and_saves_nothing(deal, rep):
    other = PipelineFactory(name="Renewals")
    with pytest.raises(
        DealMoveError, match="Stage “Qualified” is not part of the pipeline “Sales”."
    ):
        move_deal(deal, stage(other, "Qualified"), by=rep)

    deal.refresh_from_db()
    assert deal.stage.name == "Lead"
    assert deal.stage_changes.count() == 1


def test_moving_to_the_current_stage_writes_no_history(deal, pipeline, rep):
    move_deal(deal, stage(pipeline, "Lead"), by=rep)
    assert deal.stage_changes.count() == 1


def test_move_uses_the_current_row_not_a_stale_instance(deal, pipeline, rep):
    stale = Deal.objects.get(pk=deal.pk)
    move_deal(deal, stage(pipeline, "Contacted"), by=rep)
    move_deal(stale, stage(pipeline, "Qualified"), by=rep)

    assert [row[:2] for row in history(deal)] == [
        (None, "Lead"),
        ("Lead", "Contacted"),
        ("Contacted", "Qualified"),
    ]


def column(pipeline, name: str) -> list[str]:
    deals = Deal.objects.filter(stage=stage(pipeline, name)).order_by("board_position", "pk")
    return list(deals.values_list("title", flat=True))


def test_move_appends_to_the_end_of_the_target_column(pipeline, rep):
    qualified = stage(pipeline, "Qualified")
    for title in ("A", "B"):
        DealFactory(title=title, pipeline=pipeline, owner=rep, stage=qualified)
    c = DealFactory(title="C", pipeline=pipeline, owner=rep)

    move_deal(c, qualified, by=rep)
    assert column(pipeline, "Qualified") == ["A", "B", "C"]


def test_move_places_the_deal_at_the_given_position(pipeline, rep):
    qualified = stage(pipeline, "Qualified")
    for title in ("A", "B", "C"):
        DealFactory(title=title, pipeline=pipeline, owner=rep, stage=qualified)
    d = DealFactory(title="D", pipeline=pipeline, owner=rep)

    move_deal(d, qualified, by=rep, position=1)
    assert column(pipeline, "Qualified") == ["A", "D", "B", "C"]

    a = Deal.objects.get(title="A")
    move_deal(a, qualified, by=rep, position=3)  # reorder within the column
    assert column(pipeline, "Qualified") == ["D", "B", "C", "A"]
    assert Deal.objects.get(title="A").stage_changes.count() == 1


def test_a_position_outside_the_column_is_refused(pipeline, rep):
    qualified = stage(pipeline, "Qualified")
    DealFactory(title="A", pipeline=pipeline, owner=rep, stage=qualified)
    b = DealFactory(title="B", pipeline=pipeline, owner=rep)

    with pytest.raises(DealMoveError, match=r"Position 2 is outside the column \(0 to 1\)."):
        move_deal(b, qualified, by=rep, position=2)
    b.refresh_from_db()
    assert b.stage.name == "Lead"


# create_deals_with_history


def test_bulk_creation_writes_consistent_history(pipeline, rep):
    account = AccountFactory(owner=rep)
    reason = LostReasonFactory(name="Timing")
    start = NOW - timedelta(days=30)
    lost = Deal(
        title="Lost one",
        account=account,
        owner=rep,
        pipeline=pipeline,
        stage=stage(pipeline, "Lead"),
        value=Decimal("800"),
        created_at=start,
        lost_reason=reason,
    )
    moves = [
        (stage(pipeline, "Qualified"), start + timedelta(days=3)),
        (stage(pipeline, "Lost"), start + timedelta(days=9)),
    ]

    [created] = create_deals_with_history([DealDraft(deal=lost, moves=moves, by=rep)])

    created.refresh_from_db()
    assert created.status == DealStatus.LOST
    assert created.closed_at == start + timedelta(days=9)
    assert created.lost_reason == reason
    assert [
        (c.from_stage and c.from_stage.name, c.to_stage.name, c.changed_at)
        for c in created.stage_changes.all()
    ] == [
        (None, "Lead", start),
        ("Lead", "Qualified", start + timedelta(days=3)),
        ("Qualified", "Lost", start + timedelta(days=9)),
    ]


def test_bulk_creation_refuses_a_lost_deal_without_reason(pipeline, rep):
    deal = Deal(
        title="No reason",
        account=AccountFactory(owner=rep),
        owner=rep,
        pipeline=pipeline,
        stage=stage(pipeline, "Lead"),
        created_at=NOW,
    )
    with pytest.raises(DealMoveError, match="Choose a lost reason"):
        create_deals_with_history([DealDraft(deal=deal, moves=[(stage(pipeline, "Lost"), NOW)])])
    assert not Deal.objects.filter(title="No reason").exists()


# log_activity


def test_logging_an_activity_bumps_the_deal_and_its_account(deal, rep):
    with time_machine.travel(NOW, tick=False):
        activity = log_activity(kind=ActivityKind.CALL, subject="Intro call", user=rep, deal=deal)

    deal.refresh_from_db()
    deal.account.refresh_from_db()
    assert activity.account == deal.account
    assert deal.last_activity_at == NOW
    assert deal.account.last_activity_at == NOW


def test_an_activity_logged_late_does_not_move_last_activity_back(deal, rep):
    with time_machine.travel(NOW, tick=False):
        log_activity(kind=ActivityKind.EMAIL, subject="Sent offer", user=rep, deal=deal)
        log_activity(
            kind=ActivityKind.NOTE,
            subject="Last week's meeting",
            user=rep,
            deal=deal,
            occurred_at=NOW - timedelta(days=7),
        )
    deal.refresh_from_db()
    assert deal.last_activity_at == NOW
    assert Activity.objects.filter(deal=deal).count() == 2


def test_an_activity_without_a_subject_is_refused(deal, rep):
    with pytest.raises(ValidationError):
        log_activity(kind=ActivityKind.NOTE, subject="", user=rep, deal=deal)
    assert not Activity.objects.exists()


def test_bulk_created_open_deals_queue_up_after_the_cards_already_there(pipeline, rep):
    lead = stage(pipeline, "Lead")
    existing = DealFactory(pipeline=pipeline, owner=rep)
    account = AccountFactory(owner=rep)
    drafts = [
        DealDraft(
            deal=Deal(
                title=f"Imported {n}",
                account=account,
                owner=rep,
                pipeline=pipeline,
                stage=lead,
                created_at=NOW,
            )
        )
        for n in range(3)
    ]

    create_deals_with_history(drafts)

    assert column(pipeline, "Lead") == [existing.title, "Imported 0", "Imported 1", "Imported 2"]
    positions = Deal.objects.filter(stage=lead).values_list("board_position", flat=True)
    assert len(set(positions)) == 4


def test_move_reports_the_stage_it_left(deal, pipeline, rep):
    moved = move_deal(deal, stage(pipeline, "Qualified"), by=rep)
    assert moved.previous_stage.name == "Lead"
