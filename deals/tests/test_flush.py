"""The flush of stale deals (deals/services/flush.py and its Celery tasks): what it selects,
what the job moves, that it runs safely again after a crash, the undo, the catch-up and the
monthly schedule. Batches of two deals, so that every flush here runs several."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from deals.models import (
    ActivityKind,
    Deal,
    DealStatus,
    Flush,
    FlushItem,
    FlushItemStatus,
    FlushStatus,
    StageChange,
)
from deals.services import archive_account, archive_deal, log_activity, move_deal
from deals.services import flush as flush_service
from deals.services.flush import (
    ALREADY_UNDONE,
    DATE_IN_FUTURE,
    DAYS_NOT_POSITIVE,
    FLUSH_FORBIDDEN,
    NO_CRITERION,
    NO_LOST_STAGE,
    NOT_FINISHED,
    NOTHING_TO_FLUSH,
    UNDO_TOO_LATE,
    FlushCriteria,
    FlushError,
    check_undo,
    fail_flush,
    preview_flush,
    request_undo,
    resume_stalled_flushes,
    run_flush,
    run_undo,
    start_flush,
    start_scheduled_flushes,
)
from deals.tasks import (
    FLUSH_RETRIES,
    notify_flush_owners_task,
    run_flush_task,
    undo_flush_task,
)
from deals.tests.factories import DealFactory, LostReasonFactory
from reports.tests.factories import at, deal_with_history
from stages.models import Pipeline, StageKind
from stages.tests.factories import PipelineFactory, StageFactory, stage

pytestmark = pytest.mark.django_db

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")

# Confirmation at noon on June 1, 2024: "no activity for 90 days" means none since
# March 3, 2024, noon. The job runs an hour later.
NOW = at("2024-06-01")
LATER = at("2024-06-01", 13)


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.FLUSH_BATCH_SIZE = 2
    settings.FLUSH_UNDO_DAYS = 30


@pytest.fixture
def stale(pipeline, rep):
    """Five of alice's open deals quiet for more than 90 days: 9,300 in all, weighted
    100 + 500 + 1,600 + 900 + 30 = 3,130."""
    return [
        deal_with_history(
            pipeline, rep, [("Lead", "2023-12-01")], value=1000, last_activity="2024-01-10"
        ),
        deal_with_history(
            pipeline,
            rep,
            [("Lead", "2023-10-01"), ("Contacted", "2023-11-01")],
            value=2500,
            last_activity="2023-12-01",
        ),
        deal_with_history(
            pipeline,
            rep,
            [("Lead", "2023-09-01"), ("Qualified", "2024-01-05")],
            value=4000,
            last_activity="2024-02-15",
        ),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-08-01"), ("Proposal made", "2024-01-20")], value=1500
        ),
        deal_with_history(pipeline, rep, [("Lead", "2023-11-05")], value=300),
    ]


@pytest.fixture
def untouchable(pipeline, rep):
    """Alice's deals no 90-day flush of "Sales" may touch."""
    archived = deal_with_history(pipeline, rep, [("Lead", "2023-05-01")], title="Archived")
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    return [
        deal_with_history(pipeline, rep, [("Lead", "2023-05-01"), ("Won", "2023-09-01")]),
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01"), ("Lost", "2023-09-01")], lost_reason="Price"
        ),
        archived,
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01")], last_activity="2024-05-20", title="Recent"
        ),
        # Exactly 90 days without activity: not more than 90.
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01")], last_activity="2024-03-03", title="Borderline"
        ),
        deal_with_history(
            PipelineFactory(name="Renewals"), rep, [("Lead", "2023-05-01")], title="Elsewhere"
        ),
    ]


def ninety_days(pipeline: Pipeline, **criteria) -> FlushCriteria:
    return FlushCriteria(pipeline, inactive_days=90, **criteria)


def state(deals: list[Deal]) -> dict[int, tuple]:
    """What a flush or an undo may change, read from the database."""
    return {
        deal.pk: (
            deal.stage.name,
            deal.status,
            deal.lost_reason.name if deal.lost_reason else None,
            deal.closed_at,
            deal.board_position,
            deal.is_archived,
            deal.stage_changes.count(),
        )
        for deal in Deal.objects.filter(pk__in=[d.pk for d in deals]).select_related(
            "stage", "lost_reason"
        )
    }


def flush_history(flush: Flush) -> list[tuple]:
    return list(
        StageChange.objects.filter(flush=flush)
        .order_by("deal_id", "pk")
        .values_list("deal_id", "from_stage__name", "to_stage__name", "by__username", "changed_at")
    )


def moved_once(flush: Flush, deals: list[Deal], *, by: str | None = "erin") -> None:
    """Every deal of `deals` is in the lost stage, with exactly one history row of `flush`."""
    assert flush_history(flush) == [
        (deal.pk, deal.stage.name, "Lost", by, LATER) for deal in sorted(deals, key=lambda d: d.pk)
    ]
    for deal in Deal.objects.filter(pk__in=[d.pk for d in deals]).select_related("stage"):
        assert (deal.stage.name, deal.status, deal.closed_at) == ("Lost", DealStatus.LOST, LATER)


def data_queries(context: CaptureQueriesContext) -> int:
    return sum(
        not query["sql"].startswith(_TRANSACTION_CONTROL) for query in context.captured_queries
    )


# Preview and effect


def test_the_preview_figures_equal_what_the_job_moves(pipeline, stale, untouchable, admin_user):
    criteria = ninety_days(pipeline)

    preview = preview_flush(criteria, user=admin_user, now=NOW)

    assert (preview.count, preview.total, preview.weighted) == (5, Decimal(9300), Decimal(3130))
    oldest_first = [stale[4], stale[1], stale[0], stale[3], stale[2]]
    assert preview.sample == oldest_first

    flush = start_flush(criteria, by=admin_user, now=NOW)
    assert (flush.total, flush.total_value, flush.weighted_value) == (5, 9300, 3130)
    assert flush.status == FlushStatus.QUEUED

    flush = run_flush(flush.pk, now=LATER)

    assert (flush.status, flush.moved, flush.skipped) == (FlushStatus.DONE, 5, 0)
    assert (flush.started_at, flush.finished_at) == (LATER, LATER)
    moved = Deal.objects.filter(stage_changes__flush=flush)
    assert moved.count() == preview.count
    assert sum(deal.value for deal in moved) == preview.total
    weighted = sum(
        change.deal.value * change.from_stage.probability / 100
        for change in StageChange.objects.filter(flush=flush).select_related("deal", "from_stage")
    )
    assert weighted == preview.weighted


def test_each_moved_deal_is_lost_as_stale_with_one_history_row_by_the_requester(
    pipeline, stale, admin_user
):
    before = {deal.pk: deal.stage.name for deal in stale}

    flush = run_flush(start_flush(ninety_days(pipeline), by=admin_user, now=NOW).pk, now=LATER)

    for deal in Deal.objects.filter(pk__in=before).select_related("stage", "lost_reason"):
        assert deal.stage == pipeline.default_lost_stage
        assert (deal.status, deal.lost_reason.name) == (DealStatus.LOST, "Stale (flushed)")
        assert (deal.closed_at, deal.stage_changed_at) == (LATER, LATER)
    assert flush_history(flush) == [
        (pk, before[pk], "Lost", "erin", LATER) for pk in sorted(before)
    ]
    assert set(flush.items.values_list("status", flat=True)) == {FlushItemStatus.MOVED}


def test_won_lost_archived_recent_and_other_pipelines_deals_are_never_touched(
    pipeline, stale, untouchable, admin_user
):
    before = state(untouchable)

    flush = run_flush(start_flush(ninety_days(pipeline), by=admin_user, now=NOW).pk, now=LATER)

    assert flush.moved == 5
    assert state(untouchable) == before
    assert not FlushItem.objects.filter(deal__in=untouchable).exists()


def test_the_lost_reason_is_configurable(settings, pipeline, stale, admin_user):
    settings.FLUSH_LOST_REASON = "Gone quiet"

    run_flush(start_flush(ninety_days(pipeline), by=admin_user, now=NOW).pk, now=LATER)

    assert set(Deal.objects.values_list("lost_reason__name", flat=True)) == {"Gone quiet"}


def test_deals_go_to_the_default_lost_stage_else_the_first_lost_one(pipeline, rep, admin_user):
    fridge = StageFactory(pipeline=pipeline, name="Fridge", kind=StageKind.LOST, probability=0)
    Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=fridge)
    first = deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])
    pipeline.refresh_from_db()

    run_flush(start_flush(ninety_days(pipeline), by=admin_user, now=NOW).pk, now=LATER)
    Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
    second = deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])
    pipeline.refresh_from_db()
    run_flush(start_flush(ninety_days(pipeline), by=admin_user, now=NOW).pk, now=LATER)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage.name, second.stage.name) == ("Fridge", "Lost")  # Lost comes first


# Who and what is selected


@pytest.fixture
def everyones(pipeline, rep, other_rep, outsider, manager):
    """One stale deal each: alice and bob (team A), carol (team B), dave (manages team B)."""
    return {
        user.username: deal_with_history(pipeline, user, [("Lead", "2023-05-01")])
        for user in (rep, other_rep, outsider, manager)
    }


@pytest.mark.parametrize(
    ("requester", "selected"),
    [
        ("manager", {"carol", "dave"}),
        ("admin_user", {"alice", "bob", "carol", "dave"}),
    ],
)
def test_only_deals_the_requester_may_change_are_selected(
    request, pipeline, everyones, requester, selected
):
    user = request.getfixturevalue(requester)

    preview = preview_flush(ninety_days(pipeline), user=user, now=NOW)
    flush = run_flush(start_flush(ninety_days(pipeline), by=user, now=NOW).pk, now=LATER)

    assert {deal.owner.username for deal in preview.sample} == selected
    lost = Deal.objects.filter(status=DealStatus.LOST)
    assert set(lost.values_list("owner__username", flat=True)) == selected
    assert flush.moved == len(selected)


def test_a_scheduled_flush_selects_everyones_deals(pipeline, everyones):
    flush = run_flush(start_flush(ninety_days(pipeline), by=None, now=NOW).pk, now=LATER)

    assert flush.moved == 4
    assert set(StageChange.objects.filter(flush=flush).values_list("by", flat=True)) == {None}


def test_a_user_who_may_change_none_of_the_deals_gets_nothing_to_flush(
    pipeline, rep, manager, django_capture_on_commit_callbacks
):
    deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])  # alice is not in dave's team

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(FlushError, match=NOTHING_TO_FLUSH),
    ):
        start_flush(ninety_days(pipeline), by=manager, now=NOW)

    assert callbacks == []
    assert not Flush.objects.exists()


def test_created_before_owner_and_stage_narrow_the_selection(
    pipeline, stale, other_rep, admin_user
):
    bobs = deal_with_history(pipeline, other_rep, [("Lead", "2023-07-01")], value=700)
    old_but_busy = deal_with_history(
        pipeline, other_rep, [("Lead", "2023-01-01")], value=50, last_activity="2024-05-20"
    )
    cases = [
        # Created before October 1, 2023: the deals opened from January to September.
        (
            FlushCriteria(pipeline, created_before=dt.date(2023, 10, 1)),
            {stale[2], stale[3], bobs, old_but_busy},
        ),
        # Both criteria: stale and created before November 2023.
        (
            ninety_days(pipeline, created_before=dt.date(2023, 11, 1)),
            {stale[1], stale[2], stale[3], bobs},
        ),
        (ninety_days(pipeline, owner=other_rep), {bobs}),
        (ninety_days(pipeline, stage=stage(pipeline, "Lead")), {stale[0], stale[4], bobs}),
        (
            ninety_days(pipeline, stage=stage(pipeline, "Lead"), owner=other_rep),
            {bobs},
        ),
    ]
    for criteria, expected in cases:
        preview = preview_flush(criteria, user=admin_user, now=NOW)
        assert set(preview.sample) == expected, criteria
        assert preview.total == sum(deal.value for deal in expected)


def test_the_criteria_are_recorded_on_the_flush(pipeline, stale, rep, admin_user):
    lead = stage(pipeline, "Lead")
    criteria = ninety_days(pipeline, created_before=dt.date(2024, 1, 1), owner=rep, stage=lead)

    flush = start_flush(criteria, by=admin_user, now=NOW)

    assert (flush.inactive_days, flush.created_before, flush.owner, flush.stage) == (
        90,
        dt.date(2024, 1, 1),
        rep,
        lead,
    )
    assert (flush.requested_by, flush.is_scheduled, flush.created_at) == (admin_user, False, NOW)
    assert (flush.lost_stage.name, flush.lost_reason.name) == ("Lost", "Stale (flushed)")
    assert flush.total == 2  # the stale deals in Lead, both created in 2023


# The selection is frozen at confirmation


def test_deals_that_changed_after_the_confirmation_are_skipped(pipeline, stale, rep, admin_user):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    called, moved_on, archived = stale[0], stale[1], stale[2]
    log_activity(kind=ActivityKind.CALL, subject="Still interested", user=rep, deal=called)
    move_deal(moved_on, stage(pipeline, "Qualified"), by=rep)
    archive_deal(archived, by=rep)
    latecomer = deal_with_history(pipeline, rep, [("Lead", "2023-05-01")], title="Latecomer")
    before = state([called, moved_on, archived, latecomer])

    flush = run_flush(flush.pk, now=LATER)

    assert (flush.total, flush.moved, flush.skipped, flush.processed) == (5, 2, 3, 5)
    assert state([called, moved_on, archived, latecomer]) == before
    assert dict(flush.items.values_list("deal", "status")) == {
        called.pk: FlushItemStatus.SKIPPED,
        moved_on.pk: FlushItemStatus.SKIPPED,
        archived.pk: FlushItemStatus.SKIPPED,
        stale[3].pk: FlushItemStatus.MOVED,
        stale[4].pk: FlushItemStatus.MOVED,
    }
    moved_once(flush, [stale[3], stale[4]])


@pytest.mark.parametrize(
    "criteria",
    [ninety_days, lambda pipeline: FlushCriteria(pipeline, created_before=dt.date(2024, 1, 1))],
    ids=["inactive days", "created before"],
)
def test_a_call_logged_after_the_confirmation_but_dated_back_skips_its_deal(
    pipeline, stale, rep, admin_user, criteria
):
    flush = start_flush(criteria(pipeline), by=admin_user, now=NOW)
    called = stale[0]
    log_activity(
        kind=ActivityKind.CALL,
        subject="Called last week",
        user=rep,
        deal=called,
        occurred_at=at("2024-05-25"),
    )
    before = state([called])

    flush = run_flush(flush.pk, now=LATER)

    assert flush.items.get(deal=called).status == FlushItemStatus.SKIPPED
    assert state([called]) == before
    assert flush.skipped == 1


# Safe to run again


def test_a_crash_after_the_first_batch_then_two_reruns_move_each_deal_once(
    pipeline, stale, admin_user
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    flush = run_flush(flush.pk, now=LATER, max_batches=1)  # the worker dies here
    assert (flush.status, flush.moved, flush.processed) == (FlushStatus.RUNNING, 2, 2)
    assert flush.heartbeat_at == LATER

    flush = run_flush(flush.pk, now=LATER)
    assert (flush.status, flush.moved, flush.skipped) == (FlushStatus.DONE, 5, 0)
    flush = run_flush(flush.pk, now=LATER)  # a duplicate delivery, after the end

    assert (flush.status, flush.moved, flush.skipped) == (FlushStatus.DONE, 5, 0)
    moved_once(flush, stale)


def test_a_duplicate_delivery_of_the_task_moves_nothing_twice(pipeline, stale, admin_user):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    assert run_flush_task.delay(flush.pk).get() == 5
    assert run_flush_task.delay(flush.pk).get() == 5

    assert StageChange.objects.filter(flush=flush).count() == 5
    assert set(Deal.objects.values_list("status", flat=True)) == {DealStatus.LOST}


class Crash(Exception):
    pass


def crash_in_batch(monkeypatch, batch: int) -> None:
    """Fail batch number `batch` (from 1) at its end, after its deals moved, their history
    was written and its items were marked, before it commits (either way of moving a batch:
    one statement on PostgreSQL, the ORM elsewhere)."""
    calls = []
    for name in ("_move_batch", "_move_batch_at_once"):
        real = getattr(flush_service, name)

        def move(flush, *, at, _real=real):
            result = _real(flush, at=at)
            calls.append(result)
            if len(calls) == batch:
                raise Crash
            return result

        monkeypatch.setattr(flush_service, name, move)


def crash_at_mark(monkeypatch, call: int) -> None:
    """Fail an undo batch at its end: `_mark` runs twice a batch (the restored items, then
    the kept ones), after the deals moved back and their history was written."""
    real_mark = flush_service._mark
    calls = []

    def mark(item_ids, status):
        calls.append(status)
        if len(calls) == call:
            raise Crash
        real_mark(item_ids, status)

    monkeypatch.setattr(flush_service, "_mark", mark)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_crash_mid_batch_rolls_that_batch_back_and_a_rerun_completes(
    monkeypatch, pipeline, stale, admin_user, batch
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    items = list(flush.items.order_by("pk").values_list("deal", flat=True))
    done_batches = batch - 1
    crashed = [deal for deal in stale if deal.pk in items[2 * done_batches : 2 * done_batches + 2]]
    before = state(crashed)
    crash_in_batch(monkeypatch, batch)

    with pytest.raises(Crash):
        run_flush(flush.pk, now=LATER)

    flush.refresh_from_db()
    assert flush.moved == 2 * done_batches
    assert flush.status == (FlushStatus.RUNNING if done_batches else FlushStatus.QUEUED)
    assert state(crashed) == before
    assert StageChange.objects.filter(flush=flush).count() == 2 * done_batches
    assert flush.items.filter(status=FlushItemStatus.PENDING).count() == 5 - 2 * done_batches

    monkeypatch.undo()
    flush = run_flush(flush.pk, now=LATER)

    assert (flush.status, flush.moved, flush.skipped) == (FlushStatus.DONE, 5, 0)
    moved_once(flush, stale)


def test_the_query_count_grows_with_the_batches_not_the_deals(settings, pipeline, rep, admin_user):
    def queries(deals: int, batch: int) -> int:
        settings.FLUSH_BATCH_SIZE = batch
        for _ in range(deals):
            deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])
        flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
        with CaptureQueriesContext(connection) as context:
            assert run_flush(flush.pk, now=LATER).moved == deals
        return data_queries(context)

    two_batches = queries(4, 2)
    same_batches_twice_the_deals = queries(8, 4)
    four_batches = queries(8, 2)

    assert same_batches_twice_the_deals == two_batches
    per_batch = (four_batches - two_batches) / 2
    if connection.vendor == "postgresql":
        # Lock the flush, move the batch in one statement, save the progress.
        assert per_batch == 3
    else:
        # Lock the flush, read the items, lock the deals, move them, write history, mark
        # the items, save the progress.
        assert per_batch == 7
    # The last round: lock, no item left, done (the owners' emails are a job of their own,
    # queued on commit); and the flush read back.
    assert two_batches == 2 * per_batch + 4


# Undo


@pytest.fixture
def flushed(pipeline, stale, admin_user):
    """The five stale deals, flushed by erin an hour after she confirmed; alice emailed."""
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    run_flush(flush.pk, now=LATER)
    flush_service.notify_flush_owners(flush.pk, now=LATER)
    return Flush.objects.get(pk=flush.pk)


UNDO_AT = at("2024-06-10")


def undone(flush: Flush, *, by, now: dt.datetime = UNDO_AT, **kwargs) -> Flush:
    request_undo(flush, by=by, now=now)
    return run_undo(flush.pk, now=now, **kwargs)


def test_undo_puts_every_deal_back_where_it_was(pipeline, stale, untouchable, flushed, manager):
    stages = {deal.pk: deal.stage.name for deal in stale}
    # Since the flush, a new deal was opened in Lead: the deals coming back go after it.
    newcomer = DealFactory(pipeline=pipeline, owner=manager, stage=stage(pipeline, "Lead"))
    untouched = state([*untouchable, newcomer])

    flush = undone(flushed, by=manager)

    assert (flush.undo_status, flush.restored, flush.kept) == (FlushStatus.DONE, 5, 0)
    assert (flush.undo_requested_by, flush.undo_requested_at, flush.undone_at) == (
        manager,
        UNDO_AT,
        UNDO_AT,
    )
    for deal in Deal.objects.filter(pk__in=stages).select_related("stage"):
        assert deal.stage.name == stages[deal.pk]
        assert (deal.status, deal.lost_reason, deal.closed_at) == (DealStatus.OPEN, None, None)
        assert deal.stage_changed_at == UNDO_AT
        # a move back counts as activity: the next scheduled flush does not take it again
        assert deal.last_activity_at == UNDO_AT
    assert state([*untouchable, newcomer]) == untouched
    back = list(
        StageChange.objects.filter(flush=flush, changed_at=UNDO_AT)
        .order_by("deal")
        .values_list("deal", "from_stage__name", "to_stage__name", "by__username")
    )
    assert back == [(pk, "Lost", stages[pk], "dave") for pk in sorted(stages)]
    assert set(flush.items.values_list("status", flat=True)) == {FlushItemStatus.RESTORED}


def test_undo_brings_back_an_account_archived_since_the_flush(stale, flushed, rep, manager):
    """Its deals all lost, alice archived the account; the undo reopens them, so the
    account comes back to the lists with them."""
    account = stale[0].account
    archive_account(account, by=rep)

    undone(flushed, by=manager)

    account.refresh_from_db()
    assert not account.is_archived


def test_undone_deals_take_unique_places_at_the_end_of_their_columns(
    pipeline, stale, untouchable, flushed, manager
):
    DealFactory(pipeline=pipeline, owner=manager, stage=stage(pipeline, "Lead"))
    stayed = Deal.objects.filter(status=DealStatus.OPEN, is_archived=False, pipeline=pipeline)
    last_before = {
        name: max(
            stayed.filter(stage__name=name).values_list("board_position", flat=True), default=0
        )
        for name in ("Lead", "Contacted", "Qualified", "Proposal made")
    }

    undone(flushed, by=manager)

    for name, last in last_before.items():
        column = Deal.objects.filter(
            pipeline=pipeline, stage__name=name, status=DealStatus.OPEN, is_archived=False
        )
        positions = list(column.values_list("board_position", flat=True))
        assert len(positions) == len(set(positions)), name
        back = column.filter(pk__in=[deal.pk for deal in stale])
        assert back.exists(), name
        assert min(back.values_list("board_position", flat=True)) > last, name
    lead_back = Deal.objects.filter(pk__in=[stale[0].pk, stale[4].pk]).order_by("board_position")
    assert list(lead_back) == [stale[0], stale[4]]  # in id order


def test_undo_leaves_deals_moved_since_the_flush_alone_and_lists_them(
    pipeline, stale, flushed, rep, manager
):
    reopened, archived = stale[1], stale[2]
    move_deal(reopened, stage(pipeline, "Qualified"), by=rep)
    archive_deal(archived, by=rep)
    # Reopened and lost again: moved since, even though it sits in the flush's stage again.
    move_deal(stale[3], stage(pipeline, "Lead"), by=rep)
    move_deal(
        stale[3], stage(pipeline, "Lost"), by=rep, lost_reason=LostReasonFactory(name="Price")
    )
    kept = [reopened, archived, stale[3]]
    before = state(kept)

    flush = undone(flushed, by=manager)

    assert (flush.restored, flush.kept, flush.undo_processed) == (2, 3, 5)
    assert state(kept) == before
    assert set(flush.items.filter(status=FlushItemStatus.KEPT).values_list("deal", flat=True)) == {
        deal.pk for deal in kept
    }
    assert set(
        flush.items.filter(status=FlushItemStatus.RESTORED).values_list("deal", flat=True)
    ) == {stale[0].pk, stale[4].pk}
    assert not StageChange.objects.filter(flush=flush, deal__in=kept, changed_at=UNDO_AT).exists()


def test_undo_is_refused_after_the_window_with_a_message(settings, flushed, manager):
    deadline = LATER + dt.timedelta(days=30)
    check_undo(flushed, now=deadline)  # the last moment still allowed

    with pytest.raises(FlushError) as refused:
        request_undo(flushed, by=manager, now=deadline + dt.timedelta(seconds=1))

    assert str(refused.value) == UNDO_TOO_LATE.format(days=30)
    assert "can be undone for 30 days" in str(refused.value)
    settings.FLUSH_UNDO_DAYS = 7
    with pytest.raises(FlushError, match="can be undone for 7 days"):
        request_undo(flushed, by=manager, now=LATER + dt.timedelta(days=8))
    flushed.refresh_from_db()
    assert flushed.undo_status == ""


def test_an_unfinished_flush_cannot_be_undone(pipeline, stale, admin_user):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    with pytest.raises(FlushError, match=NOT_FINISHED):
        request_undo(flush, by=admin_user, now=LATER)
    flush = run_flush(flush.pk, now=LATER, max_batches=1)
    with pytest.raises(FlushError, match=NOT_FINISHED):
        request_undo(flush, by=admin_user, now=LATER)


def test_a_flush_that_failed_half_way_can_be_undone(pipeline, stale, admin_user):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    run_flush(flush.pk, now=LATER, max_batches=1)
    fail_flush(flush.pk, "the database went away")

    flush = undone(Flush.objects.get(pk=flush.pk), by=admin_user)

    assert (flush.status, flush.undo_status, flush.restored) == (FlushStatus.FAILED, "done", 2)
    assert not Deal.objects.filter(pk__in=[deal.pk for deal in stale], status="lost").exists()


def test_a_flush_cannot_be_undone_twice(flushed, manager, django_capture_on_commit_callbacks):
    undone(flushed, by=manager)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(FlushError, match=ALREADY_UNDONE),
    ):
        request_undo(flushed, by=manager, now=UNDO_AT)
    assert callbacks == []
    flush = run_undo(flushed.pk, now=UNDO_AT)  # a duplicate delivery of the undo job
    assert (flush.restored, flush.kept) == (5, 0)
    assert StageChange.objects.filter(flush=flush).count() == 10


def test_an_undo_being_run_cannot_be_requested_again(flushed, manager):
    request_undo(flushed, by=manager, now=UNDO_AT)

    with pytest.raises(FlushError, match=ALREADY_UNDONE):
        request_undo(flushed, by=manager, now=UNDO_AT)


def test_a_flush_that_was_undone_is_not_run_again(flushed, manager):
    undone(flushed, by=manager)

    flush = run_flush(flushed.pk)

    assert (flush.moved, flush.restored) == (5, 5)
    assert set(Deal.objects.values_list("status", flat=True)) == {DealStatus.OPEN}


def test_an_undo_that_crashes_mid_batch_then_reruns_restores_each_deal_once(
    monkeypatch, stale, flushed, manager
):
    stages = {deal.pk: deal.stage.name for deal in stale}
    request_undo(flushed, by=manager, now=UNDO_AT)
    crash_at_mark(monkeypatch, 4)  # at the end of the second batch

    with pytest.raises(Crash):
        run_undo(flushed.pk, now=UNDO_AT)

    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored) == (FlushStatus.RUNNING, 2)
    assert Deal.objects.filter(status=DealStatus.OPEN).count() == 2
    monkeypatch.undo()
    flush = run_undo(flushed.pk, now=UNDO_AT, max_batches=1)
    flush = run_undo(flushed.pk, now=UNDO_AT)
    flush = run_undo(flushed.pk, now=UNDO_AT)

    assert (flush.undo_status, flush.restored, flush.kept) == (FlushStatus.DONE, 5, 0)
    for deal in Deal.objects.filter(pk__in=stages).select_related("stage"):
        assert (deal.stage.name, deal.status) == (stages[deal.pk], DealStatus.OPEN)
        # created, the moves before, the flush, the undo
        assert deal.stage_changes.filter(flush=flush).count() == 2
    assert StageChange.objects.filter(flush=flush, changed_at=UNDO_AT).count() == 5


def test_the_undo_task_runs_on_commit(flushed, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request_undo(flushed, by=manager, now=UNDO_AT)

    assert len(callbacks) == 1
    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored) == (FlushStatus.DONE, 5)


# Bad input


@pytest.mark.parametrize(
    ("criteria", "message", "by"),
    [
        ({"inactive_days": 0}, DAYS_NOT_POSITIVE, "admin_user"),
        ({"inactive_days": -5}, DAYS_NOT_POSITIVE, "admin_user"),
        ({"inactive_days": -5, "created_before": dt.date(2024, 1, 1)}, DAYS_NOT_POSITIVE, "admin_user"),
        ({"created_before": dt.date(2024, 6, 2)}, DATE_IN_FUTURE, "admin_user"),
        ({"inactive_days": 90, "created_before": dt.date(2025, 1, 1)}, DATE_IN_FUTURE, "admin_user"),
        ({}, NO_CRITERION, "admin_user"),
        ({"owner": None, "stage": None}, NO_CRITERION, "admin_user"),
        # However asked (the command's --user): a rep flushes nothing, not even their own.
        ({"inactive_days": 90}, FLUSH_FORBIDDEN, "rep"),
    ],
)  # fmt: skip
def test_bad_criteria_are_refused_with_a_message_and_queue_nothing(
    request, pipeline, stale, django_capture_on_commit_callbacks, criteria, message, by
):
    user = request.getfixturevalue(by)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(FlushError) as refused:
        start_flush(FlushCriteria(pipeline, **criteria), by=user, now=NOW)

    assert str(refused.value) == message
    assert callbacks == []
    assert not Flush.objects.exists()
    assert not FlushItem.objects.exists()
    assert not Deal.objects.filter(status=DealStatus.LOST).exists()


def test_today_is_not_in_the_future(pipeline, stale, admin_user):
    flush = start_flush(
        FlushCriteria(pipeline, created_before=dt.date(2024, 6, 1)), by=admin_user, now=NOW
    )

    assert flush.total == 5


def test_a_pipeline_without_a_lost_stage_is_refused(
    rep, admin_user, django_capture_on_commit_callbacks
):
    pipeline = PipelineFactory(name="Hopeful")
    pipeline.stages.filter(kind=StageKind.LOST).update(kind=StageKind.OPEN, probability=5)
    Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
    pipeline.refresh_from_db()
    deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(FlushError) as refused:
        start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    assert str(refused.value) == NO_LOST_STAGE.format(pipeline="Hopeful")
    assert str(refused.value) == "The pipeline “Hopeful” has no lost stage to move deals to."
    assert callbacks == []
    assert not Flush.objects.exists()


def test_nothing_to_flush_leaves_no_flush_and_queues_nothing(
    pipeline, untouchable, admin_user, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(FlushError, match=NOTHING_TO_FLUSH),
    ):
        start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    assert callbacks == []
    assert not Flush.objects.exists()
    assert not FlushItem.objects.exists()


def test_confirming_queues_the_job_once_and_it_runs_on_commit(
    pipeline, stale, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    assert len(callbacks) == 3  # the job; from it, the owners' job; from that, the email
    flush.refresh_from_db()
    assert (flush.status, flush.moved) == (FlushStatus.DONE, 5)


# The owners' emails


def test_each_owner_hears_what_the_flush_moved_of_theirs_but_the_requester(
    pipeline, stale, rep, admin_user, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://crm.example.com"
    own = deal_with_history(pipeline, admin_user, [("Lead", "2023-05-01")], title="Erin's own")

    with django_capture_on_commit_callbacks(execute=True):
        flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    flush.refresh_from_db()
    assert flush.moved == 6 and Deal.objects.get(pk=own.pk).status == DealStatus.LOST
    [email] = mail.outbox  # alice's; Erin flushed her own deal herself
    assert email.to == [rep.email]
    assert email.subject == f"{admin_user} moved 5 of your deals to Lost"
    by_value = sorted(stale, key=lambda deal: -deal.value)
    lines = [
        f"- {deal.title}, ${deal.value:,.0f}: https://crm.example.com/deals/{deal.pk}/"
        for deal in by_value
    ]
    assert "\n".join(lines) in email.body
    assert (
        "worth $9,300, to Lost with the lost reason “Stale (flushed)”: no activity for more "
        "than 90 days.\n"
    ) in email.body
    until = date_format(timezone.localtime(flush_service.undo_deadline(flush)), "M j, Y")
    assert f"a manager can undo the whole flush until {until}." in email.body
    assert "and 0 more" not in email.body


def test_an_owner_of_many_flushed_deals_reads_the_most_valuable_and_a_count(
    settings, pipeline, rep, admin_user, django_capture_on_commit_callbacks
):
    settings.FLUSH_BATCH_SIZE = 10
    for number in range(25):
        deal_with_history(
            pipeline, rep, [("Lead", "2023-05-01")], value=1000 + number, title=f"Old {number}"
        )

    with django_capture_on_commit_callbacks(execute=True):
        start_flush(ninety_days(pipeline), by=admin_user, now=NOW)

    [email] = mail.outbox
    listed = [line for line in email.body.splitlines() if line.startswith("- Old")]
    assert [line.split(",")[0] for line in listed] == [f"- Old {n}" for n in range(24, 4, -1)]
    assert "- and 5 more" in email.body


def test_the_email_states_the_flush_criteria(
    pipeline, stale, admin_user, django_capture_on_commit_callbacks
):
    criteria = FlushCriteria(pipeline, created_before=dt.date(2024, 1, 1))

    with django_capture_on_commit_callbacks(execute=True):
        start_flush(criteria, by=admin_user, now=NOW)

    [email] = mail.outbox
    assert "with the lost reason “Stale (flushed)”: created before Jan 1, 2024.\n" in email.body


def test_the_monthly_flush_names_itself_in_its_emails(
    pipeline, stale, rep, django_capture_on_commit_callbacks
):
    Pipeline.objects.filter(pk=pipeline.pk).update(auto_flush_inactive_days=90)

    with django_capture_on_commit_callbacks(execute=True):
        start_scheduled_flushes(now=at("2024-06-01", 5))

    assert [email.subject for email in mail.outbox] == [
        "The monthly automatic flush moved 5 of your deals to Lost"
    ]


# Catch-up


def test_the_catch_up_requeues_stalled_flushes_only(
    pipeline, rep, other_rep, outsider, manager, admin_user, django_capture_on_commit_callbacks
):
    now = at("2024-06-01", 15)
    flushes = {}
    for name, user in [
        ("queued long ago", rep),
        ("just queued", other_rep),
        ("silent worker", outsider),
        ("busy worker", manager),
    ]:
        deal_with_history(pipeline, user, [("Lead", "2023-05-01")])
        flushes[name] = start_flush(ninety_days(pipeline, owner=user), by=admin_user, now=NOW)
    Flush.objects.filter(pk=flushes["just queued"].pk).update(
        created_at=now - dt.timedelta(seconds=30)
    )
    Flush.objects.filter(pk=flushes["silent worker"].pk).update(
        status=FlushStatus.RUNNING, heartbeat_at=now - dt.timedelta(minutes=6)
    )
    Flush.objects.filter(pk=flushes["busy worker"].pk).update(
        status=FlushStatus.RUNNING, heartbeat_at=now - dt.timedelta(minutes=2)
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert resume_stalled_flushes(now=now) == 2

    assert len(callbacks) == 2 * 3  # each job, its owners' job and the owner's email
    status = dict(Flush.objects.values_list("pk", "status"))
    assert {name: status[flush.pk] for name, flush in flushes.items()} == {
        "queued long ago": FlushStatus.DONE,
        "just queued": FlushStatus.QUEUED,
        "silent worker": FlushStatus.DONE,
        "busy worker": FlushStatus.RUNNING,
    }


def test_the_catch_up_requeues_a_stalled_undo(flushed, manager, django_capture_on_commit_callbacks):
    request_undo(flushed, by=manager, now=UNDO_AT)

    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_flushes(now=UNDO_AT + dt.timedelta(seconds=30)) == 0
        assert resume_stalled_flushes(now=UNDO_AT + dt.timedelta(minutes=2)) == 1

    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored) == (FlushStatus.DONE, 5)
    assert resume_stalled_flushes(now=UNDO_AT + dt.timedelta(days=1)) == 0


def run_as_a_worker(task, flush_id: int):
    """Run a job here as a worker would: retried (at once) after each failure, then given
    up, the failure left in its result instead of raised."""
    conf = task.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False
    try:
        return task.apply(args=[flush_id])
    finally:
        conf.task_eager_propagates = propagates


def outage_after_one_batch(monkeypatch, batch_function: str) -> list[int]:
    """The database unreachable after the first batch of the flush or undo
    (`_flush_batch` or `_undo_batch`); returns the list of the batches tried."""
    outage = OperationalError("could not connect to server")
    return fault_after_one_batch(monkeypatch, batch_function, outage)


def test_a_flush_that_keeps_failing_gives_up_and_says_why(monkeypatch, pipeline, stale, admin_user):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    batches = outage_after_one_batch(monkeypatch, "_flush_batch")
    result = run_as_a_worker(run_flush_task, flush.pk)

    assert result.state == "FAILURE", (result.state, result.result)
    flush.refresh_from_db()
    assert (flush.status, flush.moved, flush.error) == (
        FlushStatus.FAILED,
        2,
        "could not connect to server",
    )
    assert len(batches) == 1 + 1 + FLUSH_RETRIES
    assert resume_stalled_flushes(now=LATER + dt.timedelta(hours=1)) == 0


def fault_after_one_batch(monkeypatch, batch_function: str, fault: Exception) -> list[int]:
    """`fault` raised by the batch after the first of the flush or undo; returns the list
    of the batches tried."""
    real_batch = getattr(flush_service, batch_function)
    batches = []

    def batch_then_fault(flush_id, *, now):
        batches.append(flush_id)
        if len(batches) > 1:
            raise fault
        return real_batch(flush_id, now=now)

    monkeypatch.setattr(flush_service, batch_function, batch_then_fault)
    return batches


def test_a_flush_failing_with_an_error_retrying_would_repeat_stops_at_once_and_tells_the_owners(
    monkeypatch, pipeline, stale, rep, admin_user, django_capture_on_commit_callbacks
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    batches = fault_after_one_batch(monkeypatch, "_flush_batch", ValueError("a bad row"))
    with django_capture_on_commit_callbacks(execute=True):
        result = run_as_a_worker(run_flush_task, flush.pk)

    assert result.state == "FAILURE", (result.state, result.result)
    assert len(batches) == 2  # no retry
    flush.refresh_from_db()
    assert (flush.status, flush.moved, flush.error) == (
        FlushStatus.FAILED,
        2,
        "ValueError: a bad row",
    )
    assert resume_stalled_flushes(now=LATER + dt.timedelta(hours=1)) == 0  # not forever
    # The owner hears of the two deals that did go, and that they can come back.
    [email] = mail.outbox
    assert email.to == [rep.email]
    assert "moved 2 of your deals" in email.body
    assert flush_service.notify_flush_owners(flush.pk) == 0  # once


def test_an_undo_failing_with_an_error_retrying_would_repeat_stops_at_once(
    monkeypatch, stale, flushed, manager
):
    request_undo(flushed, by=manager, now=UNDO_AT)
    batches = fault_after_one_batch(monkeypatch, "_undo_batch", KeyError("stage"))
    result = run_as_a_worker(undo_flush_task, flushed.pk)

    assert result.state == "FAILURE", (result.state, result.result)
    assert len(batches) == 2
    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored) == (FlushStatus.FAILED, 2)
    assert flushed.undo_error == "KeyError: 'stage'"
    assert resume_stalled_flushes(now=UNDO_AT + dt.timedelta(hours=1)) == 0


def test_a_flush_stopped_by_its_time_limit_is_carried_on_by_the_catch_up(
    monkeypatch, pipeline, stale, admin_user, django_capture_on_commit_callbacks
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    fault_after_one_batch(monkeypatch, "_flush_batch", SoftTimeLimitExceeded())
    result = run_as_a_worker(run_flush_task, flush.pk)

    assert result.state == "FAILURE", (result.state, result.result)
    flush.refresh_from_db()
    assert (flush.status, flush.moved, flush.error) == (FlushStatus.RUNNING, 2, "")

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_flushes(now=timezone.now() + dt.timedelta(minutes=10)) == 1
    flush.refresh_from_db()
    assert (flush.status, flush.moved) == (FlushStatus.DONE, 5)


def test_an_undo_that_keeps_failing_gives_up_and_can_be_asked_for_again(
    monkeypatch, stale, flushed, manager, django_capture_on_commit_callbacks
):
    request_undo(flushed, by=manager, now=UNDO_AT)
    batches = outage_after_one_batch(monkeypatch, "_undo_batch")
    result = run_as_a_worker(undo_flush_task, flushed.pk)

    assert result.state == "FAILURE", (result.state, result.result)

    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored) == (FlushStatus.FAILED, 2)
    assert flushed.undo_error == "could not connect to server"
    assert len(batches) == 1 + 1 + FLUSH_RETRIES  # the first call, then each retry
    assert resume_stalled_flushes(now=UNDO_AT + dt.timedelta(hours=1)) == 0  # not forever

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        request_undo(flushed, by=manager, now=UNDO_AT)
    flushed.refresh_from_db()
    assert (flushed.undo_status, flushed.restored, flushed.undo_error) == ("done", 5, "")
    assert set(Deal.objects.values_list("status", flat=True)) == {DealStatus.OPEN}
    assert StageChange.objects.filter(flush=flushed).count() == 10  # each deal moved back once


def test_the_owners_hear_once_even_when_their_emails_job_was_lost(
    pipeline, stale, rep, admin_user, django_capture_on_commit_callbacks
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    run_flush(flush.pk, now=LATER)  # its on-commit job, the owners' emails, never runs here

    assert resume_stalled_flushes(now=LATER + dt.timedelta(seconds=30)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_flushes(now=LATER + dt.timedelta(minutes=5)) == 1
    assert flush_service.notify_flush_owners(flush.pk) == 0  # a second delivery

    assert [email.to for email in mail.outbox] == [[rep.email]]
    assert resume_stalled_flushes(now=LATER + dt.timedelta(days=1)) == 0


@pytest.mark.parametrize(
    ("fault", "tries"),
    [
        (OperationalError("could not connect to server"), 1 + FLUSH_RETRIES),
        (ValueError("a bad address"), 1),  # retrying would only repeat it
    ],
)
def test_emailing_the_owners_gives_up_says_why_and_is_not_queued_again(
    monkeypatch, pipeline, stale, rep, admin_user, fault, tries
):
    flush = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    run_flush(flush.pk, now=LATER)
    tried = []

    def failing(flush, *, undo_until):
        tried.append(flush.pk)
        raise fault

    monkeypatch.setattr(flush_service, "notify_flushed_owners", failing)
    result = run_as_a_worker(notify_flush_owners_task, flush.pk)

    assert result.state == "FAILURE", (result.state, result.result)
    assert len(tried) == tries
    flush.refresh_from_db()
    assert flush.owners_notified_at is None
    assert str(fault) in flush.owners_notify_error
    assert flush.status == FlushStatus.DONE  # the deals stay flushed
    assert resume_stalled_flushes(now=LATER + dt.timedelta(days=1)) == 0  # not forever
    assert mail.outbox == []


def test_finished_and_failed_flushes_are_not_resumed(flushed, pipeline, rep, admin_user):
    deal_with_history(pipeline, rep, [("Lead", "2023-05-01")])
    failed = start_flush(ninety_days(pipeline), by=admin_user, now=NOW)
    flush_service.fail_flush(failed.pk, "database gone")

    assert resume_stalled_flushes(now=at("2024-07-01")) == 0
    failed.refresh_from_db()
    assert (failed.status, failed.error) == (FlushStatus.FAILED, "database gone")
    assert run_flush(failed.pk).moved == 0


# The monthly automatic flush


def test_the_scheduled_flush_runs_once_a_month_for_the_pipelines_that_have_one(
    pipeline, stale, rep, admin_user, django_capture_on_commit_callbacks
):
    Pipeline.objects.filter(pk=pipeline.pk).update(auto_flush_inactive_days=90)
    manual = PipelineFactory(name="Manual")
    dormant = PipelineFactory(name="Dormant", is_active=False, auto_flush_inactive_days=30)
    untouched = [deal_with_history(p, rep, [("Lead", "2023-05-01")]) for p in (manual, dormant)]
    before = state(untouched)

    with django_capture_on_commit_callbacks(execute=True):
        started = start_scheduled_flushes(now=at("2024-06-01", 5))
    assert [flush.pipeline for flush in started] == [pipeline]
    flush = Flush.objects.get()
    assert (flush.is_scheduled, flush.requested_by, flush.inactive_days) == (True, None, 90)
    assert (flush.status, flush.moved) == (FlushStatus.DONE, 5)
    assert set(StageChange.objects.filter(flush=flush).values_list("by", flat=True)) == {None}
    assert state(untouched) == before

    # Later the same month: nothing more, even with a newly stale deal.
    newly = deal_with_history(pipeline, rep, [("Lead", "2024-03-10")])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert start_scheduled_flushes(now=at("2024-06-28")) == []
    assert callbacks == []
    assert Flush.objects.count() == 1

    # Next month: the deal quiet since March 10 goes.
    with django_capture_on_commit_callbacks(execute=True):
        [july] = start_scheduled_flushes(now=at("2024-07-01", 5))
    july.refresh_from_db()
    assert (july.moved, list(july.items.values_list("deal", flat=True))) == (1, [newly.pk])

    # A scheduled flush is undone like a manual one.
    with django_capture_on_commit_callbacks(execute=True):
        request_undo(flush, by=admin_user)
    flush.refresh_from_db()
    assert (flush.undo_status, flush.restored) == (FlushStatus.DONE, 5)
    assert Deal.objects.filter(pk__in=[d.pk for d in stale], status=DealStatus.OPEN).count() == 5


def test_a_month_with_nothing_stale_starts_no_flush(
    pipeline, rep, django_capture_on_commit_callbacks
):
    Pipeline.objects.filter(pk=pipeline.pk).update(auto_flush_inactive_days=90)
    deal_with_history(pipeline, rep, [("Lead", "2024-05-01")])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert start_scheduled_flushes(now=at("2024-06-01", 5)) == []

    assert callbacks == []
    assert not Flush.objects.exists()


def test_a_month_whose_first_mornings_the_beat_missed_still_gets_its_flush(
    pipeline, stale, django_capture_on_commit_callbacks
):
    Pipeline.objects.filter(pk=pipeline.pk).update(auto_flush_inactive_days=90)

    with django_capture_on_commit_callbacks(execute=True):
        [flush] = start_scheduled_flushes(now=at("2024-06-04", 5))  # down June 1 to 3
        assert start_scheduled_flushes(now=at("2024-06-05", 5)) == []

    flush.refresh_from_db()
    assert (flush.is_scheduled, flush.moved) == (True, 5)
