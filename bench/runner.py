"""The benchmark runner: a registry of cases, how each is measured, and the command line.

A benchmark is a `Case` subclass decorated with `@register`, in a module listed in
MODULES. The runner calls `setup()` once, then for each run `before_run()`, the timed
`run()`, `check()` and `after_run()`, and finally `teardown()`. Only `run()` is timed and
has its queries counted; one more, untimed run under tracemalloc gives the peak memory.

A missed target is reported as MISSED and the exit status stays 0: the suite measures, it
does not gate (timings depend on the machine; CI guards the query counts instead). The exit
status is 1 when a benchmark breaks: an exception, or a wrong result in `check()`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import logging
import math
import pstats
import resource
import statistics
import sys
import time
import traceback
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.database import BenchDatabaseError, bench_url, configure_environment

# Modules that register benchmarks, in the order they run.
MODULES = (
    "bench.import_deals",
    "bench.export_deals",
    "bench.followups",
    "bench.flush",
    "bench.generate",
    # The reports before the pages: the pages' own deals (110,000 more) stay until the end
    # of the run and would be counted in every report.
    "bench.reports",
    "bench.pages",
    "bench.http",
    # Last: it replaces the shared 100,000-deal set by a 1,000,000-deal one.
    "bench.stress",
)
# Called once after the last case, even when one failed: data sets shared by several cases.
AFTER_ALL: list[Callable[[], None]] = []
DEFAULT_RUNS = 5
DEFAULT_WARMUPS = 1
# Statements that read and write no rows; left out of the query counts, as in the tests.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


class Case:
    """One benchmark. Subclasses set the class attributes and implement `run()`."""

    name: ClassVar[str]  # identifier on the command line and in results.json
    title: ClassVar[str]  # what is measured, for people
    target: ClassVar[float | None] = None  # seconds the median must stay under; None: none yet
    runs: ClassVar[int | None] = None  # overrides --runs, e.g. for slow cases
    max_queries: ClassVar[int | None] = None  # the query budget of one run; None: none
    p99_target: ClassVar[float | None] = None  # seconds the p99 must stay under; None: none

    def setup(self) -> None:
        """Once before the runs (untimed): data and fixtures."""

    def before_run(self) -> None:
        """Before each run (untimed): bring the database to the run's starting state."""

    def run(self) -> Any:
        """The measured operation; its return value goes to `check()`."""
        raise NotImplementedError

    def check(self, outcome: Any) -> list[str]:
        """What is wrong with a run's outcome; empty when it did what it should."""
        return []

    def after_run(self) -> None:
        """After each run (untimed)."""

    def teardown(self) -> None:
        """Once after the runs, even when one failed."""

    def details(self) -> dict[str, Any]:
        """Facts about the workload for the report, e.g. the number of rows."""
        return {}


REGISTRY: dict[str, type[Case]] = {}


def register(case: type[Case]) -> type[Case]:
    if case.name in REGISTRY:
        raise ValueError(f"two benchmarks are called {case.name!r}")
    REGISTRY[case.name] = case
    return case


@dataclass
class QueryCounter:
    """An execute wrapper that counts the statements sent, without keeping their SQL."""

    queries: int = 0
    transaction_control: int = 0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict):
        if sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.transaction_control += 1
        else:
            self.queries += 1
        return execute(sql, params, many, context)


@dataclass
class Result:
    name: str
    title: str
    target: float | None
    max_queries: int | None = None
    p99_target: float | None = None
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  # this process only, not PostgreSQL
    queries: list[int] = field(default_factory=list)
    peak_memory: int | None = None  # bytes allocated by Python at the peak of a run
    max_rss: int | None = None  # bytes: the process's resident high-water mark after the case
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_times) if self.cpu_times else None

    @property
    def p95(self) -> float | None:
        """Nearest-rank 95th percentile: with fewer than 20 runs, the slowest run."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]

    @property
    def p99(self) -> float | None:
        """Nearest-rank 99th percentile: with 100 runs or fewer, the slowest run."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[math.ceil(0.99 * len(ordered)) - 1]

    @property
    def p99_met(self) -> bool | None:
        if self.p99_target is None or self.broken or self.p99 is None:
            return None
        return self.p99 < self.p99_target

    @property
    def queries_met(self) -> bool | None:
        if self.max_queries is None or not self.queries:
            return None
        return max(self.queries) <= self.max_queries

    @property
    def broken(self) -> bool:
        return bool(self.error or self.problems)

    @property
    def met(self) -> bool | None:
        if self.target is None or self.broken or self.median is None:
            return None
        return self.median < self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "runs": len(self.times),
            "times_s": [round(t, 4) for t in self.times],
            "median_s": _round(self.median),
            "p95_s": _round(self.p95),
            "p99_s": _round(self.p99),
            "min_s": _round(min(self.times) if self.times else None),
            "python_cpu_median_s": _round(self.cpu_median),
            "queries": max(self.queries) if self.queries else None,
            "queries_per_run": self.queries,
            "max_queries": self.max_queries,
            "queries_met": self.queries_met,
            "p99_target_s": self.p99_target,
            "p99_met": self.p99_met,
            "peak_python_memory_mb": _mb(self.peak_memory),
            "max_rss_mb": _mb(self.max_rss),
            "target_s": self.target,
            "met": self.met,
            "details": self.details,
            "problems": self.problems,
            "error": self.error,
        }


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)


def _mb(size: int | None) -> float | None:
    return None if size is None else round(size / 2**20, 1)


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def _freeze_heap() -> None:
    """Set aside every object alive once a case is set up (Django's, the data set's) from
    the garbage collector, as a pre-fork server does (`gc.freeze()`): each run then starts
    by collecting only what the runs before it left. Collecting the whole heap before every
    run walked a few hundred thousand objects and left the CPU caches cold for the run:
    +2.5 ms (+40 %) on a card move, a cost no server pays between two requests."""
    gc.collect()
    gc.freeze()


def _timed_run(case: Case, counter: QueryCounter) -> tuple[float, float, Any]:
    """Wall-clock seconds, this process's CPU seconds, and the outcome of one run."""
    from django.db import connection

    case.before_run()
    gc.collect()
    with connection.execute_wrapper(counter):
        start, cpu_start = time.perf_counter(), time.process_time()
        outcome = case.run()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return elapsed, cpu, outcome


def measure(case: Case, *, runs: int, warmups: int, profile: bool = False) -> Result:
    result = Result(
        name=case.name,
        title=case.title,
        target=case.target,
        max_queries=case.max_queries,
        p99_target=case.p99_target,
    )
    runs = case.runs or runs
    log(f"{case.name}: setting up")
    try:
        case.setup()
        result.details = case.details()
        _vacuum_database()
        _freeze_heap()
        for number in range(warmups + runs):
            counter = QueryCounter()
            elapsed, cpu, outcome = _timed_run(case, counter)
            problems = case.check(outcome)
            case.after_run()
            kind = "warm-up" if number < warmups else f"run {number - warmups + 1}/{runs}"
            log(
                f"{case.name}: {kind}: {elapsed:.3f} s ({cpu:.3f} s CPU), {counter.queries} queries"
            )
            if problems:
                result.problems = problems
                return result
            if number >= warmups:
                result.times.append(elapsed)
                result.cpu_times.append(cpu)
                result.queries.append(counter.queries)
        result.peak_memory = _memory_run(case)
        if profile:
            _profile_run(case)
    except Exception:
        result.error = traceback.format_exc()
        log(result.error)
    finally:
        gc.unfreeze()
        try:
            case.teardown()
        except Exception:
            result.error = (result.error or "") + traceback.format_exc()
        result.max_rss = _max_rss()
    return result


def _vacuum_database() -> None:
    """VACUUM ANALYZE the whole bench database before a case's runs, whatever the cases
    before it left: dead rows of deleted data sets still fill indexes, and stale statistics
    choose other plans (a board read 37,000 deleted tasks' index entries per column, 90 ms
    instead of 57, after the follow-up case had removed its tasks)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _memory_run(case: Case) -> int:
    """The most memory Python held during one run, above what it held before."""
    case.before_run()
    gc.collect()
    tracemalloc.start()
    try:
        outcome = case.run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    problems = case.check(outcome)
    case.after_run()
    if problems:
        raise AssertionError("; ".join(problems))
    return peak


def _profile_run(case: Case) -> None:
    case.before_run()
    profiler = cProfile.Profile()
    profiler.enable()
    case.run()
    profiler.disable()
    case.after_run()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    log(f"{case.name}: profile of one run (cProfile, by cumulative time)\n{out.getvalue()}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(results: list[Result]) -> str:
    lines = []
    for r in results:
        if r.broken:
            status = "BROKEN"
        elif r.target is None:
            status = "(no target)"
        else:
            status = f"{'met' if r.met else 'MISSED'}: target < {r.target:g} s"
        if r.times:
            figures = (
                f"median {r.median:.3f} s, p95 {r.p95:.3f} s, p99 {r.p99:.3f} s, "
                f"{max(r.queries)} queries, peak {_mb(r.peak_memory)} MB"
            )
            if r.p99_met is not None:
                status += f"; {'met' if r.p99_met else 'MISSED'}: p99 < {r.p99_target:g} s"
            if r.queries_met is not None:
                verdict = "met" if r.queries_met else "MISSED"
                status += f"; {verdict}: queries <= {r.max_queries}"
        else:
            figures = "no figures"
        lines.append(f"{r.name:<16} {figures}  {status}")
        lines.extend(f"    {problem}" for problem in r.problems)
        if r.error:
            lines.append(f"    {r.error.strip().splitlines()[-1]}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="measured runs each")
    parser.add_argument("--warmups", type=int, default=DEFAULT_WARMUPS, help="unmeasured runs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one run of each with cProfile"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave results.json and the docs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        configure_environment(bench_url())
    except BenchDatabaseError as error:
        log(f"bench: {error}")
        return 1
    # WhiteNoise looks for collected static files, which the benchmarks do not need.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django
    from django.conf import settings

    django.setup()
    # Pages link their static files by the names collectstatic's manifest gives them in
    # production; the suite does not collect, so it names them as in development.
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    for module in MODULES:
        importlib.import_module(module)
    # The bench's people have no email address: the emails a flush sends its deals' owners
    # are each recorded as skipped, with a warning per owner that says nothing about speed.
    logging.getLogger("tasks.automation").setLevel(logging.ERROR)
    if args.list:
        for case in REGISTRY.values():
            target = f"target < {case.target:g} s" if case.target else "no target"
            print(f"{case.name:<16} {case.title} ({target})")
        return 0
    unknown = [name for name in args.names if name not in REGISTRY]
    if unknown:
        log(f"bench: unknown benchmark {', '.join(unknown)}; see --list")
        return 2
    from bench import report

    problem = report.database_problem()
    if problem:
        log(f"bench: {problem}")
        return 1
    machine = report.machine()
    log(f"bench: {report.describe(machine)}")
    load, cores = machine["load_average_before"][0], machine["cores"] or 1
    if load >= cores / 2:
        log(f"bench: the machine is busy (load {load:.2f} on {cores} cores): expect slow runs")
    try:
        results = [
            measure(REGISTRY[name](), runs=args.runs, warmups=args.warmups, profile=args.profile)
            for name in (args.names or list(REGISTRY))
        ]
    finally:
        for cleanup in AFTER_ALL:
            cleanup()
    print(summary(results))
    if not args.no_write:
        for path in report.write(machine, results, runs=args.runs, warmups=args.warmups):
            print(f"wrote {path}")
    return 1 if any(r.broken for r in results) else 0
