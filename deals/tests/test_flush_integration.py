"""A flush and its undo through a real worker and Redis: skipped locally without
CELERY_BROKER_URL, run in CI."""

from __future__ import annotations

import time

import pytest

from deals.models import Deal, DealStatus, Flush, FlushStatus, StageChange
from deals.services.flush import FlushCriteria, request_undo, start_flush
from deals.tests.factories import DealFactory
from reports.tests.factories import deal_with_history

pytestmark = pytest.mark.broker


def wait_for(condition, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.05)


def test_the_worker_flushes_in_batches_and_undoes(live_worker, settings, pipeline, rep, manager):
    settings.FLUSH_BATCH_SIZE = 2  # the worker runs in this process: three batches
    paths = [
        [("Lead", "2023-05-01")],
        [("Lead", "2023-05-01"), ("Contacted", "2023-06-01")],
        [("Lead", "2023-05-01"), ("Qualified", "2023-06-01")],
        [("Lead", "2023-05-01"), ("Proposal made", "2023-06-01")],
        [("Lead", "2023-07-01")],
    ]
    stale = [deal_with_history(pipeline, rep, path, value=1000) for path in paths]
    stages = {deal.pk: deal.stage_id for deal in stale}
    recent = DealFactory(pipeline=pipeline, owner=rep)

    # Committed at once (transactional_db): the job goes through Redis to the worker.
    assert live_worker.conf.task_always_eager is False
    assert live_worker.conf.broker_url.startswith("redis://")
    flush = start_flush(FlushCriteria(pipeline, inactive_days=90), by=None)

    wait_for(lambda: Flush.objects.get(pk=flush.pk).status == FlushStatus.DONE)
    flush.refresh_from_db()
    assert (flush.total, flush.moved, flush.skipped) == (5, 5, 0)
    lost = Deal.objects.filter(status=DealStatus.LOST, lost_reason__name="Stale (flushed)")
    assert sorted(lost.values_list("pk", flat=True)) == sorted(stages)
    assert StageChange.objects.filter(flush=flush).count() == 5
    recent.refresh_from_db()
    assert recent.status == DealStatus.OPEN

    request_undo(flush, by=manager)

    wait_for(lambda: Flush.objects.get(pk=flush.pk).undo_status == FlushStatus.DONE)
    flush.refresh_from_db()
    assert (flush.restored, flush.kept) == (5, 0)
    assert dict(Deal.objects.filter(pk__in=stages).values_list("pk", "stage")) == stages
    assert not Deal.objects.filter(status=DealStatus.LOST).exists()
    assert StageChange.objects.filter(flush=flush, by=manager).count() == 5
