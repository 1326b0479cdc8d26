"""Flushing 100,000 stale deals to lost (issue 8: under 8 s, worker peak memory under 150 MB,
a query count that grows with the batches, not with the deals).

The data set is written by PostgreSQL itself (INSERT … SELECT over generate_series), in its
own pipeline of the Simple template, and removed at the end: 100,000 open deals without
activity for 200 days, 5,000 open deals active two days ago and 2,000 won or lost deals as
quiet as the stale ones (neither may move), one creation row of history each. A manager leads
the team of the 20 reps who own them all, and confirms the flush: the page's path.

A run is what the manager waits for: the confirmation (`start_flush`, which freezes the
selection) and the job (`run_flush`), in this process. The suite runs Celery eagerly (no
broker), so the job `start_flush` queues on commit would run inside it, and a second time
when the run calls `run_flush`: the run replaces `pipeline_crm.jobs.enqueue` by a recorder,
so the job runs exactly once, where it is timed, and `check()` sees that it was queued once.
(Turning eager mode off instead would publish to whatever broker answers on the default
address, RabbitMQ on this machine, from inside the timed run.)

`before_run` puts the stale deals back as they were, deletes the flushes with their items
and history rows, and vacuums, so that every run starts from the same tables.

Besides the runner's figures, `details()` gives the confirmation's and the job's own times,
the query counts of one flush at two other batch sizes (queries ∝ batches), and the peak
memory of a separate worker process that runs the job alone, as a Celery worker would.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Count, Q
from django.test.utils import override_settings
from django.utils import timezone

from bench.runner import Case, QueryCounter, log, register
from deals.models import (
    Account,
    Activity,
    Deal,
    DealStatus,
    Flush,
    FlushItem,
    FlushStatus,
    StageChange,
)
from deals.services.flush import FlushCriteria, run_flush, start_flush
from pipeline_crm.models import Role, Team, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template
from tasks.models import Notification, Task

STALE = 100_000
ACTIVE = 5_000
CLOSED = 2_000  # half won, half lost
REPS = 20
ACCOUNTS = 500
INACTIVE_DAYS = 90
QUIET_DAYS = 200
PIPELINE_NAME = "Bench flush"
TEAM_NAME = "Bench flush team"
MANAGER_USERNAME = "bench.flush.manager"
REP_USERNAME = "bench.flush.rep{number:02d}"
ACCOUNT_PREFIX = "Bench flush account"
# One flush each at these batch sizes, counted in setup: the queries grow with the batches.
COUNTED_BATCH_SIZES = (1_000, 5_000)
TABLES = (Deal, StageChange, FlushItem, Flush)

# Deal n (its board position): stale when n < STALE, active below STALE + ACTIVE, else closed,
# won when n is even. Open deals sit in open stage n % 4, created 400 days ago.
DEALS_SQL = f"""
    INSERT INTO "{Deal._meta.db_table}" (
        title, account_id, pipeline_id, stage_id, status, owner_id, value, has_budget,
        has_authority, has_need, has_timeline, created_at, updated_at, stage_changed_at,
        closed_at, last_activity_at, board_position, is_archived
    )
    SELECT 'Bench flush deal ' || n,
           (%(accounts)s::bigint[])[1 + n %% {ACCOUNTS}],
           %(pipeline)s,
           CASE WHEN n < {STALE + ACTIVE} THEN (%(open)s::bigint[])[1 + n %% 4]
                WHEN n %% 2 = 0 THEN %(won)s ELSE %(lost)s END,
           CASE WHEN n < {STALE + ACTIVE} THEN '{DealStatus.OPEN}'
                WHEN n %% 2 = 0 THEN '{DealStatus.WON}' ELSE '{DealStatus.LOST}' END,
           (%(reps)s::bigint[])[1 + n %% {REPS}],
           1000 + (n * 37) %% 200 * 250,
           false, false, false, false,
           %(created)s, %(created)s, %(created)s,
           CASE WHEN n >= {STALE + ACTIVE} THEN %(quiet)s::timestamptz END,
           CASE WHEN n >= {STALE} AND n < {STALE + ACTIVE} THEN %(active)s::timestamptz
                ELSE %(quiet)s::timestamptz END,
           n,
           false
    FROM generate_series(0, {STALE + ACTIVE + CLOSED - 1}) AS n
"""

HISTORY_SQL = f"""
    INSERT INTO "{StageChange._meta.db_table}" (deal_id, from_stage_id, to_stage_id, by_id,
                                                changed_at)
    SELECT id, NULL, stage_id, owner_id, created_at
    FROM "{Deal._meta.db_table}" WHERE pipeline_id = %(pipeline)s
"""

# The stale deals back in their open stage, as generated (those still open are left alone).
REOPEN_SQL = f"""
    UPDATE "{Deal._meta.db_table}"
    SET stage_id = (%(open)s::bigint[])[1 + board_position %% 4], status = '{DealStatus.OPEN}',
        lost_reason_id = NULL, closed_at = NULL, stage_changed_at = %(created)s,
        updated_at = %(created)s
    WHERE pipeline_id = %(pipeline)s AND board_position < {STALE}
          AND status <> '{DealStatus.OPEN}'
"""

FLUSHES = f'SELECT id FROM "{Flush._meta.db_table}" WHERE pipeline_id = %(pipeline)s'
FORGET_FLUSHES_SQL = (
    f'DELETE FROM "{StageChange._meta.db_table}" WHERE flush_id IN ({FLUSHES})',
    f'DELETE FROM "{FlushItem._meta.db_table}" WHERE flush_id IN ({FLUSHES})',
    f'DELETE FROM "{Flush._meta.db_table}" WHERE pipeline_id = %(pipeline)s',
)

# The job alone in a fresh process, as a worker runs it: its peak resident memory.
WORKER_CODE = """
import json, logging, sys, time
import django
django.setup()
# As in the runner: the bench's people have no email address (a warning each).
logging.getLogger("tasks.automation").setLevel(logging.ERROR)
from deals.services.flush import run_flush
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(l.split()[1]) * 1024 for l in lines if l.startswith(field + ":"))
before = status("VmRSS")
started = time.perf_counter()
flush = run_flush(int(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started, "rss_before": before,
                  "peak": status("VmHWM"), "moved": flush.moved}))
"""


class QueuedJobs:
    """Stands in for `pipeline_crm.jobs.enqueue`: records the jobs instead of running them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple]] = []

    def __call__(self, task: Any, *args: Any) -> bool:
        self.jobs.append((task.name, args))
        return True


@contextmanager
def jobs_recorded():
    queued = QueuedJobs()
    with mock.patch("pipeline_crm.jobs.enqueue", queued):
        yield queued


def _mb(size: int) -> float:
    return round(size / 2**20, 1)


def _vm(field: str) -> int:
    """This process's VmRSS or VmHWM (the resident high-water mark), in bytes."""
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))


@register
class FlushStaleDeals(Case):
    """`start_flush` then `run_flush`: a manager confirms "no activity for more than 90 days"
    over 107,000 deals of their team, and the job moves the 100,000 stale ones to lost in
    batches of FLUSH_BATCH_SIZE. Checks that each stale deal moved once, with one history row,
    and that the active, won and lost deals were not touched."""

    name = "flush"
    title = "Flush 100,000 stale deals"
    target = 8.0

    def setup(self) -> None:
        self.now = timezone.now()
        self.created = self.now - timedelta(days=400)
        self.facts: dict[str, Any] = {}
        self.freeze_times: list[float] = []
        self.job_times: list[float] = []
        self.queued: list[tuple[str, tuple]] = []
        _remove()
        started = time.perf_counter()
        self._build()
        log(f"flush: data set built in {time.perf_counter() - started:.1f} s")
        batch = settings.FLUSH_BATCH_SIZE
        self.facts.update(
            {
                "stale deals (moved)": STALE,
                "recently active open deals (kept)": ACTIVE,
                "won and lost deals as quiet (kept)": CLOSED,
                "requested by": "a manager of the owners' team",
                "batch size": batch,
                "batches": -(-STALE // batch),
            }
        )
        self._count_queries_by_batch_size()
        self._measure_worker()
        self.hwm_before_runs = _vm("VmHWM")

    def _build(self) -> None:
        password = make_password(None)
        with transaction.atomic():
            manager = User.objects.create(
                username=MANAGER_USERNAME, role=Role.MANAGER, password=password
            )
            team = Team.objects.create(name=TEAM_NAME, manager=manager)
            reps = User.objects.bulk_create(
                User(
                    username=REP_USERNAME.format(number=n),
                    first_name="Bench",
                    last_name=f"Flush rep {n}",
                    role=Role.REP,
                    team=team,
                    password=password,
                )
                for n in range(REPS)
            )
            pipeline = create_pipeline_from_template("simple", name=PIPELINE_NAME)
            stages = list(pipeline.stages.order_by("position"))
            self.open_ids = [s.pk for s in stages if s.kind == StageKind.OPEN]
            accounts = Account.objects.bulk_create(
                Account(name=f"{ACCOUNT_PREFIX} {n}", owner_id=reps[n % REPS].pk)
                for n in range(ACCOUNTS)
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    DEALS_SQL,
                    {
                        # account i is owned by rep i % 20, as is deal n (500 % 20 == 0)
                        "accounts": [a.pk for a in accounts],
                        "reps": [r.pk for r in reps],
                        "pipeline": pipeline.pk,
                        "open": self.open_ids,
                        "won": next(s.pk for s in stages if s.kind == StageKind.WON),
                        "lost": next(s.pk for s in stages if s.kind == StageKind.LOST),
                        "created": self.created,
                        "quiet": self.now - timedelta(days=QUIET_DAYS),
                        "active": self.now - timedelta(days=2),
                    },
                )
                cursor.execute(HISTORY_SQL, {"pipeline": pipeline.pk})
        self.pipeline, self.manager = pipeline, manager
        self.criteria = FlushCriteria(pipeline, inactive_days=INACTIVE_DAYS)
        self._vacuum()

    def _vacuum(self) -> None:
        with connection.cursor() as cursor:
            for model in TABLES:
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')

    def _reset(self) -> None:
        params = {"pipeline": self.pipeline.pk, "open": self.open_ids, "created": self.created}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(REOPEN_SQL, params)
            for sql in FORGET_FLUSHES_SQL:
                cursor.execute(sql, params)
        self._vacuum()

    def _count_queries_by_batch_size(self) -> None:
        """One untimed flush at each of COUNTED_BATCH_SIZES: queries = fixed + per batch ×
        batches, whatever the number of deals."""
        counted = {}
        for size in COUNTED_BATCH_SIZES:
            self._reset()
            counter = QueryCounter()
            with override_settings(FLUSH_BATCH_SIZE=size), connection.execute_wrapper(counter):
                started = time.perf_counter()
                self.run()
                elapsed = time.perf_counter() - started
            problems = self.check(self._last)
            if problems:
                raise AssertionError("; ".join(problems))
            batches = -(-STALE // size)
            counted[size] = (batches, counter.queries)
            self.facts[f"batch size {size}: batches, queries, seconds"] = [
                batches,
                counter.queries,
                round(elapsed, 3),
            ]
        (b1, q1), (b2, q2) = counted.values()
        per_batch = (q1 - q2) / (b1 - b2)
        self.facts["queries per batch"] = per_batch
        self.facts["queries outside the batches"] = q1 - per_batch * b1
        self.freeze_times.clear()
        self.job_times.clear()

    def _measure_worker(self) -> None:
        """The job in a fresh process of its own, as a Celery worker runs it."""
        self._reset()
        with jobs_recorded():
            flush = start_flush(self.criteria, by=self.manager, now=self.now)
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, str(flush.pk)],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        output = worker.stdout.read()
        _, status, _ = os.wait4(worker.pid, 0)
        worker.returncode = os.waitstatus_to_exitcode(status)
        if worker.returncode != 0:
            raise RuntimeError(f"the worker process failed with status {worker.returncode}")
        figures = json.loads(output)
        if figures["moved"] != STALE:
            raise AssertionError(f"the worker moved {figures['moved']} deals, not {STALE}")
        # The high-water mark the process read itself after the job: the one of its own
        # memory since exec. (rusage's maximum of a child also counts the pages it shared
        # with this, larger, process between fork and exec.)
        max_rss = figures["peak"]
        self.facts["worker process: job seconds"] = round(figures["seconds"], 3)
        self.facts["worker process: RSS before the job (Django loaded), MB"] = _mb(
            figures["rss_before"]
        )
        self.facts["worker process: peak RSS (max RSS), MB"] = _mb(max_rss)
        self.facts["worker process: peak RSS growth during the job, MB"] = _mb(
            max_rss - figures["rss_before"]
        )

    def details(self) -> dict[str, Any]:
        # The same dict is filled in as the runs go (times of the two phases, RSS).
        return self.facts

    def before_run(self) -> None:
        self._reset()

    def run(self) -> Flush:
        started = time.perf_counter()
        # The jobs are recorded, not run: the flush's own job is run here, as its worker
        # would; the owners' emails it queues when it finishes are another job.
        with jobs_recorded() as queued:
            flush = start_flush(self.criteria, by=self.manager, now=self.now)
            confirmed = time.perf_counter()
            flush = run_flush(flush.pk, now=self.now)
            finished = time.perf_counter()
        self.queued, self._last = queued.jobs, flush
        if not tracemalloc.is_tracing() and sys.getprofile() is None:
            self.freeze_times.append(confirmed - started)
            self.job_times.append(finished - confirmed)
        return flush

    def check(self, outcome: Flush) -> list[str]:
        problems = []
        expected_jobs = [
            ("deals.tasks.run_flush_task", (outcome.pk,)),
            ("deals.tasks.notify_flush_owners_task", (outcome.pk,)),
        ]
        if self.queued != expected_jobs:
            problems.append(f"jobs queued: {self.queued}, expected {expected_jobs}")
        if (outcome.status, outcome.total, outcome.moved, outcome.skipped) != (
            FlushStatus.DONE,
            STALE,
            STALE,
            0,
        ):
            problems.append(
                f"flush {outcome.status}: {outcome.moved} moved and {outcome.skipped} skipped "
                f"of {outcome.total}, expected all {STALE} moved"
            )
        stale = Q(board_position__lt=STALE)
        flushed = Q(
            status=DealStatus.LOST,
            stage=outcome.lost_stage_id,
            lost_reason=outcome.lost_reason_id,
            closed_at=self.now,
        )
        figures = Deal.objects.filter(pipeline=self.pipeline).aggregate(
            flushed=Count("pk", filter=stale & flushed),
            others_untouched=Count("pk", filter=~stale & Q(updated_at=self.created)),
        )
        if figures["flushed"] != STALE:
            problems.append(f"{figures['flushed']} of the {STALE} stale deals are flushed")
        others = ACTIVE + CLOSED
        if figures["others_untouched"] != others:
            problems.append(f"{figures['others_untouched']} of {others} other deals untouched")
        history = StageChange.objects.filter(flush=outcome).aggregate(
            rows=Count("pk"),
            deals=Count("deal", distinct=True),
            stale=Count("deal", distinct=True, filter=Q(deal__board_position__lt=STALE)),
        )
        if history != {"rows": STALE, "deals": STALE, "stale": STALE}:
            problems.append(f"history rows of the flush: {history}, expected one per stale deal")
        return problems

    def after_run(self) -> None:
        if self.freeze_times:
            # Every run but the ones under tracemalloc or cProfile, warm-ups first.
            self.facts["confirmation (start_flush): median s, warm-ups included"] = round(
                statistics.median(self.freeze_times), 3
            )
            self.facts["job (run_flush): median s, warm-ups included"] = round(
                statistics.median(self.job_times), 3
            )
            self.facts["confirmation s, each run"] = [round(t, 3) for t in self.freeze_times]
            self.facts["job s, each run"] = [round(t, 3) for t in self.job_times]
        self.facts["bench process: max RSS growth during the runs, MB"] = _mb(
            _vm("VmHWM") - self.hwm_before_runs
        )

    def teardown(self) -> None:
        _remove()


def _remove() -> None:
    with transaction.atomic():
        pipeline = Pipeline.objects.filter(name=PIPELINE_NAME).first()
        if pipeline is not None:
            with connection.cursor() as cursor:
                for sql in FORGET_FLUSHES_SQL:
                    cursor.execute(sql, {"pipeline": pipeline.pk})
            deals = Deal.objects.filter(pipeline=pipeline)
            for model in (Task, Notification, Activity):
                model.objects.filter(deal__in=deals).delete()
            StageChange.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            deals._raw_delete(connection.alias)
            Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
            pipeline.stages.all().delete()
            pipeline.delete()
        Account.objects.filter(name__startswith=ACCOUNT_PREFIX).delete()
        Team.objects.filter(name=TEAM_NAME).delete()
        User.objects.filter(username__startswith="bench.flush.").delete()
