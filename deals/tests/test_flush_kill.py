"""Crash tests of the flush job and its undo: the job runs in a process of its own, as in a
worker, and the test kills it with SIGKILL between two batches, in the middle of a batch
(after the deals were updated and their history written, before the commit) and at moments
left to chance; after each kill the database holds only whole batches, and running the job
again to the end still moves, or restores, each deal exactly once.

PostgreSQL only: the job's process must reach the test database, and the mid-batch kill
holds a row lock that stops the job half-way through a batch. Batches of five deals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from conftest import require_or_skip
from deals.models import (
    Deal,
    DealStatus,
    Flush,
    FlushItem,
    FlushItemStatus,
    FlushStatus,
    StageChange,
)
from deals.services import move_deal
from deals.services.flush import FlushCriteria, request_undo, run_flush, start_flush
from deals.tests.factories import AccountFactory
from stages.models import StageKind
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db(transaction=True)

DEALS = 300
BATCH = 5
TOUCHED = 7  # deals with activity after the confirmation: the job skips them
MOVED_SINCE = 4  # flushed deals moved again before the undo: the undo leaves them alone
# The job in a fresh process; with a number of batches, it runs them, then waits to be killed
# between two batches with its connection open.
JOB = """
import sys, time
import django
django.setup()
from deals.services import flush
function, flush_id, batches = sys.argv[1], int(sys.argv[2]), sys.argv[3]
getattr(flush, function)(flush_id, max_batches=int(batches) if batches else None)
if batches:
    time.sleep(600)
"""
# The moments of the kills left to chance: seconds after the job's process made progress.
RANDOM_KILLS = (0.0, 0.004, 0.012)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        require_or_skip("kills a job process working on the test database: needs PostgreSQL")


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.FLUSH_BATCH_SIZE = BATCH


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, tuple]]:
    """Jobs queued on commit, recorded instead of run: the test starts them itself. (In a
    transactional test the commit is real, so capturing on-commit callbacks would be too
    late: eager Celery would have run the job already.)"""
    jobs: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        "pipeline_crm.jobs.enqueue", lambda task, *args: jobs.append((task.name, args)) or True
    )
    return jobs


@pytest.fixture
def stale(pipeline, rep) -> list[Deal]:
    """DEALS open deals of alice quiet for 200 days, spread over the four open stages."""
    account = AccountFactory(owner=rep)
    open_stages = list(pipeline.stages.filter(kind=StageKind.OPEN).order_by("position"))
    quiet = timezone.now() - timedelta(days=200)
    return Deal.objects.bulk_create(
        Deal(
            title=f"Stale deal {n}",
            account=account,
            owner=rep,
            pipeline=pipeline,
            stage=open_stages[n % len(open_stages)],
            value=1000 + n,
            created_at=quiet,
            stage_changed_at=quiet,
            last_activity_at=quiet,
            board_position=n,
        )
        for n in range(DEALS)
    )


@pytest.fixture
def jobs():
    """The job processes of a test; any still alive at the end are killed, their database
    sessions ended, so that the test database can be emptied."""
    started: list[Job] = []
    yield started
    for job in started:
        if job.process.poll() is None:
            job.process.kill()
            job.process.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [job.tag],
            )


class Job:
    """`run_flush` or `run_undo` of a flush in a process of its own, on the test database,
    with batches of BATCH; its database session is named by `tag`."""

    def __init__(self, function: str, flush: Flush, *, max_batches: int | None = None) -> None:
        self.tag = f"flush-kill-{uuid.uuid4().hex[:12]}"
        url = urlsplit(os.environ["DATABASE_URL"])
        test_database = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "pipeline_crm.test_settings",
            "DATABASE_URL": test_database,
            "FLUSH_BATCH_SIZE": str(BATCH),
            "PGAPPNAME": self.tag,
        }
        batches = "" if max_batches is None else str(max_batches)
        self.process = subprocess.Popen(
            [sys.executable, "-c", JOB, function, str(flush.pk), batches],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def session(self) -> tuple[str, str | None, str] | None:
        """(state, wait event type, current statement) of the job's database session."""
        with connection.cursor() as cursor:
            # pg_stat_activity is read once per transaction unless asked again.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT state, wait_event_type, query FROM pg_stat_activity "
                "WHERE application_name = %s",
                [self.tag],
            )
            return cursor.fetchone()

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 15) -> None:
        """Poll `condition`; fails when the job failed on its own (not killed) meanwhile."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() not in (None, 0, -signal.SIGKILL):
                pytest.fail(f"the job failed waiting for {what}:\n{self.process.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.001)

    def waits_on_a_lock(self, statement: str) -> bool:
        session = self.session()
        return session is not None and session[1] == "Lock" and statement in session[2]

    def ended(self) -> bool:
        return self.process.poll() is not None

    def kill(self) -> bool:
        """SIGKILL; False when the job had already finished."""
        if self.process.poll() is not None:
            assert self.process.returncode == 0, self.process.stderr.read()
            return False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        return self.process.returncode == -signal.SIGKILL

    def wait_until_gone(self) -> None:
        """Until PostgreSQL has ended the dead process's session, rolling back its batch."""
        self.wait_for(lambda: self.session() is None, "the killed job's session to end")

    def finish(self) -> None:
        assert self.process.wait(timeout=30) == 0, self.process.stderr.read()


def reload(flush: Flush) -> Flush:
    return Flush.objects.get(pk=flush.pk)


def progress(flush: Flush) -> int:
    flush = reload(flush)
    return flush.processed if flush.undo_status == "" else flush.undo_processed


def assert_no_half_updated_deal(flush: Flush) -> None:
    """Lost ⇔ in the lost stage ⇔ closed ⇔ with a lost reason, for every deal of the flush."""
    states = {
        (status == DealStatus.LOST, stage_id == flush.lost_stage_id, closed, reason)
        for status, stage_id, closed, reason in (
            (status, stage_id, closed_at is not None, reason_id is not None)
            for status, stage_id, closed_at, reason_id in Deal.objects.filter(
                flush_items__flush=flush
            ).values_list("status", "stage_id", "closed_at", "lost_reason")
        )
    }
    assert states <= {(True, True, True, True), (False, False, False, False)}, states


@dataclass
class Crashes:
    """Kills of `function` ("run_flush" or "run_undo") of `flush`, each followed by a look
    at what the dead job left behind. `moved_since`: flushed deals moved again since."""

    function: str
    flush: Flush
    jobs: list[Job]
    moved_since: int = 0

    def start(self, *, max_batches: int | None = None) -> Job:
        job = Job(self.function, self.flush, max_batches=max_batches)
        self.jobs.append(job)
        return job

    def between_batches(self, *, batches: int) -> None:
        """Let the job's process run `batches` batches, and kill it before the next one."""
        before = progress(self.flush)
        job = self.start(max_batches=batches)
        job.wait_for(lambda: progress(self.flush) == before + batches * BATCH, "the batches")
        job.wait_for(lambda: (job.session() or ("",))[0] == "idle", "the job between batches")
        assert job.kill()
        job.wait_until_gone()
        assert progress(self.flush) == before + batches * BATCH
        self.assert_whole_batches()

    def mid_batch(self, *, batch: int) -> None:
        """Stop the job's `batch`-th batch (from 1) where it marks its items, after it
        updated the deals and wrote their history, and kill it there: the whole batch is
        rolled back."""
        before = progress(self.flush)
        waiting = FlushItemStatus.PENDING if self.function == "run_flush" else FlushItemStatus.MOVED
        items = FlushItem.objects.filter(flush=self.flush, status=waiting).order_by("pk")
        item = items[(batch - 1) * BATCH + BATCH // 2]
        with transaction.atomic():
            FlushItem.objects.select_for_update().get(pk=item.pk)
            job = self.start()
            # The statement that waits marks the items (pg_stat_activity cuts long statements
            # short, such as the flush's one-statement batch: match the table only).
            job.wait_for(lambda: job.waits_on_a_lock('"deals_flushitem"'), "the lock")
            assert progress(self.flush) == before + (batch - 1) * BATCH
            assert job.kill()
        job.wait_until_gone()
        assert progress(self.flush) == before + (batch - 1) * BATCH
        assert FlushItem.objects.get(pk=item.pk).status == waiting
        self.assert_whole_batches()

    def at_random_moments(self) -> int:
        """Start the job again and again and kill it soon after it made progress; returns
        how many kills hit a running job."""
        kills = 0
        for delay in RANDOM_KILLS:
            before = progress(self.flush)
            job = self.start()
            job.wait_for(
                lambda job=job, before=before: progress(self.flush) > before or job.ended(),
                "the job to make progress",
            )
            time.sleep(delay)
            if job.kill():
                kills += 1
                job.wait_until_gone()
            self.assert_whole_batches()
        return kills

    def finish(self) -> Flush:
        self.start().finish()
        return reload(self.flush)

    def assert_whole_batches(self) -> None:
        """What a kill may leave: whole batches done, the rest as before, nothing between."""
        flush = reload(self.flush)
        items = Counter(
            dict(
                FlushItem.objects.filter(flush=flush)
                .values_list("status")
                .annotate(n=Count("pk"))
                .values_list("status", "n")
            )
        )
        restored, kept = items[FlushItemStatus.RESTORED], items[FlushItemStatus.KEPT]
        assert items[FlushItemStatus.MOVED] + restored + kept == flush.moved
        assert items[FlushItemStatus.SKIPPED] == flush.skipped
        assert (restored, kept) == (flush.restored, flush.kept)
        done = flush.undo_processed if flush.undo_status else flush.processed
        assert done % BATCH == 0 or done in (flush.total, flush.moved)
        history = StageChange.objects.filter(flush=flush)
        assert history.filter(to_stage=flush.lost_stage).count() == flush.moved
        assert history.filter(from_stage=flush.lost_stage).count() == flush.restored
        lost_here = Deal.objects.filter(
            flush_items__flush=flush, stage=flush.lost_stage, lost_reason=flush.lost_reason
        )
        assert lost_here.count() == flush.moved - flush.restored - self.moved_since
        assert_no_half_updated_deal(flush)


@pytest.fixture
def flush(pipeline, stale, admin_user, queued) -> Flush:
    """A confirmed flush of the DEALS stale deals, its job queued but not run; then TOUCHED
    of them get activity, so that the job skips them."""
    confirmed = start_flush(FlushCriteria(pipeline, inactive_days=90), by=admin_user)
    assert queued == [("deals.tasks.run_flush_task", (confirmed.pk,))]
    touched = [deal.pk for deal in stale[::40][:TOUCHED]]
    Deal.objects.filter(pk__in=touched).update(last_activity_at=timezone.now())
    return confirmed


def test_a_flush_killed_between_batches_mid_batch_and_at_random_moments_moves_each_deal_once(
    flush, stale, jobs
):
    crashes = Crashes("run_flush", flush, jobs)
    crashes.between_batches(batches=1)
    crashes.mid_batch(batch=3)
    crashes.between_batches(batches=2)
    crashes.mid_batch(batch=1)
    assert crashes.at_random_moments() >= 1

    flush = crashes.finish()
    run_flush(flush.pk)  # a duplicate delivery after the end moves nothing more

    flush = reload(flush)
    assert flush.status == FlushStatus.DONE
    assert (flush.total, flush.moved, flush.skipped) == (DEALS, DEALS - TOUCHED, TOUCHED)
    assert not flush.items.filter(status=FlushItemStatus.PENDING).exists()
    lost = set(
        Deal.objects.filter(pk__in=[d.pk for d in stale], status=DealStatus.LOST).values_list(
            "pk", flat=True
        )
    )
    assert len(lost) == DEALS - TOUCHED
    history = Counter(
        StageChange.objects.filter(flush=flush).values_list("deal", "from_stage", "to_stage", "by")
    )
    assert history == Counter(
        (deal.pk, deal.stage_id, flush.lost_stage_id, flush.requested_by_id)
        for deal in stale
        if deal.pk in lost
    )
    untouched = Deal.objects.filter(pk__in=[d.pk for d in stale], status=DealStatus.OPEN)
    assert set(untouched.values_list("pk", "stage_id")) == {
        (deal.pk, deal.stage_id) for deal in stale if deal.pk not in lost
    }
    assert_no_half_updated_deal(flush)


def test_an_undo_killed_between_batches_mid_batch_and_at_random_moments_restores_each_deal_once(
    flush, stale, pipeline, rep, manager, queued, jobs
):
    run_flush(flush.pk)
    lost = set(
        Deal.objects.filter(pk__in=[d.pk for d in stale], status=DealStatus.LOST).values_list(
            "pk", flat=True
        )
    )
    flushed = [deal for deal in stale if deal.pk in lost]
    qualified = stage(pipeline, "Qualified")
    since = flushed[::50][:MOVED_SINCE]
    for deal in since:
        move_deal(deal, qualified, by=rep)
    request_undo(reload(flush), by=manager)
    assert queued[-1] == ("deals.tasks.undo_flush_task", (flush.pk,))

    crashes = Crashes("run_undo", flush, jobs, moved_since=MOVED_SINCE)
    crashes.between_batches(batches=1)
    crashes.mid_batch(batch=2)
    crashes.between_batches(batches=3)
    crashes.mid_batch(batch=1)
    assert crashes.at_random_moments() >= 1

    flush = crashes.finish()

    assert flush.undo_status == FlushStatus.DONE
    assert (flush.restored, flush.kept) == (len(flushed) - MOVED_SINCE, MOVED_SINCE)
    restored = [deal for deal in flushed if deal not in since]
    now = {
        pk: (stage_id, status, closed_at, reason)
        for pk, stage_id, status, closed_at, reason in Deal.objects.filter(
            pk__in=[d.pk for d in stale]
        ).values_list("pk", "stage_id", "status", "closed_at", "lost_reason")
    }
    assert {d.pk: now[d.pk] for d in restored} == {
        d.pk: (d.stage_id, DealStatus.OPEN, None, None) for d in restored
    }
    assert {now[d.pk][:2] for d in since} == {(qualified.pk, DealStatus.OPEN)}
    history = Counter(StageChange.objects.filter(flush=flush).values_list("deal", "to_stage"))
    assert history == Counter((d.pk, flush.lost_stage_id) for d in flushed) + Counter(
        (d.pk, d.stage_id) for d in restored
    )
