"""What the suite writes: the machine it ran on, bench/results.json and docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django
import psycopg2
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor

from bench.runner import REGISTRY, Result

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOCS = ROOT / "docs" / "benchmarks.md"
# PostgreSQL settings that change how fast writes commit.
SERVER_SETTINGS = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "work_mem")

NOT_POSTGRES = "the benchmarks run on PostgreSQL only; this database is {vendor}."
UNMIGRATED = (
    "the bench database has unapplied migrations; `make bench` applies them "
    "(or: DATABASE_URL=<bench url> .venv/bin/python manage.py migrate)."
)


UNREACHABLE = (
    "cannot reach the bench database ({error}); `make bench` creates it "
    "(or: BENCH_DATABASE_URL=<bench url> .venv/bin/python -m bench.database)."
)


def database_problem() -> str | None:
    if connection.vendor != "postgresql":
        return NOT_POSTGRES.format(vendor=connection.vendor)
    try:
        connection.ensure_connection()
    except OperationalError as error:
        return UNREACHABLE.format(error=str(error).strip().splitlines()[-1])
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return UNMIGRATED
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def _git(*args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip()


def _changed_code() -> bool:
    """Whether the work tree differs from HEAD in more than this suite's own output files."""
    outputs = [f":!{path.relative_to(ROOT)}" for path in (RESULTS, DOCS)]
    return bool(_git("status", "--porcelain", "--", ".", *outputs))


def machine() -> dict[str, Any]:
    with connection.cursor() as cursor:
        server = {}
        for setting in SERVER_SETTINGS:
            cursor.execute(f"SHOW {setting}")
            server[setting] = cursor.fetchone()[0]
    commit = _git("rev-parse", "--short", "HEAD")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit + (" (with uncommitted changes)" if _changed_code() else ""),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "psycopg2": psycopg2.__version__.split()[0],
        "postgresql": server.pop("server_version"),
        "postgresql_settings": server,
        "database": connection.settings_dict["NAME"],
        # Other processes on the machine slow the runs down; the load shows how busy it was.
        "load_average_before": _load(),
        "cpu_ticks_before": _cpu_ticks(),
    }


def _cpu_ticks() -> list[int]:
    """The machine's CPU time so far, from /proc/stat: [all ticks, stolen ticks]. Empty
    where /proc cannot say."""
    fields = _read("/proc/stat").split("\n", 1)[0].split()
    if len(fields) < 9 or fields[0] != "cpu":
        return []
    ticks = [int(field) for field in fields[1:]]
    return [sum(ticks[:8]), ticks[7]]


def _steal(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time a virtual machine's host gave to other guests between two
    readings of `_cpu_ticks`, in %."""
    if len(before) != 2 or len(after) != 2 or after[0] <= before[0]:
        return None
    return round((after[1] - before[1]) * 100 / (after[0] - before[0]), 1)


def _load() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def describe(info: dict[str, Any]) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}, Django {info['django']}, "
        f"database {info['database']}"
    )


def write(info: dict[str, Any], results: list[Result], *, runs: int, warmups: int) -> list[Path]:
    """Write results.json and docs/benchmarks.md. Benchmarks not run this time keep their
    previous figures, marked with the date they were measured."""
    previous = {}
    if RESULTS.exists():
        try:
            previous = json.loads(RESULTS.read_text()).get("benchmarks", {})
        except (ValueError, AttributeError):
            previous = {}
    benchmarks = {}
    for name in REGISTRY:
        fresh = next((r for r in results if r.name == name), None)
        if fresh is not None:
            benchmarks[name] = fresh.as_json() | {"measured_at": info["date"]}
        elif name in previous:
            benchmarks[name] = previous[name]
    document = {
        "machine": info
        | {
            "load_average_after": _load(),
            "cpu_steal_percent": _steal(info.get("cpu_ticks_before", []), _cpu_ticks()),
        },
        "method": {"runs": runs, "warmups": warmups, "p95": "nearest rank", "p99": "nearest rank"},
        "benchmarks": benchmarks,
    }
    RESULTS.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(markdown(document))
    return [RESULTS, DOCS]


def _seconds(value: float | None) -> str:
    """1.33 s, or 50.4 ms under a second (two decimals of a second would hide a miss)."""
    if value is None:
        return "–"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def _limit(value: float) -> str:
    """A target: 8 s, 50 ms."""
    return f"{value:g} s" if value >= 1 else f"{value * 1000:g} ms"


def _status(entry: dict[str, Any]) -> str:
    if entry.get("error") or entry.get("problems"):
        return "**broken**"
    if entry.get("target_s") is None:
        status = "no target"
    else:
        status = "met" if entry["met"] else "**MISSED**"
    if entry.get("p99_met") is False:
        status += f"; p99 **MISSED** (≥ {_limit(entry['p99_target_s'])})"
    if entry.get("queries_met") is False:
        status += f"; queries **MISSED** (> {entry['max_queries']})"
    return status


def _queries(entry: dict[str, Any]) -> str:
    if entry["queries"] is None:
        return "–"
    budget = entry.get("max_queries")
    return str(entry["queries"]) if budget is None else f"{entry['queries']} (≤ {budget})"


def _loads(loads: list[float]) -> str:
    return " / ".join(f"{load:.2f}" for load in loads)


def _busy(info: dict[str, Any]) -> str:
    """A warning when other processes competed for the cores as the run began (the load
    after it counts the suite's own work: PostgreSQL and Python keep one core busy)."""
    if info["load_average_before"][0] < (info["cores"] or 1) / 2:
        return ""
    return (
        " — the machine was busy: other processes competed for the cores, so the times "
        "are pessimistic"
    )


def _stolen(info: dict[str, Any]) -> str:
    steal = info.get("cpu_steal_percent")
    if steal is None:
        return ""
    return (
        f"\n- CPU time taken by other guests of the virtual machine's host (steal) during the"
        f" run: {steal:g} %"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _workload(details: dict[str, Any] | None) -> str:
    if not details:
        return ""
    return (
        " Workload: "
        + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in details.items())
        + "."
    )


def markdown(document: dict[str, Any]) -> str:
    info = document["machine"]
    method = document["method"]
    rows = []
    for name, entry in document["benchmarks"].items():
        target = "–" if entry["target_s"] is None else f"< {_limit(entry['target_s'])}"
        memory = entry["peak_python_memory_mb"]
        queries = _queries(entry)
        rows.append(
            f"| `{name}` | {entry['title']} | {entry['runs']} | {_seconds(entry['median_s'])} "
            f"| {_seconds(entry['p95_s'])} | {_seconds(entry.get('p99_s'))} "
            f"| {_seconds(entry.get('python_cpu_median_s'))} "
            f"| {queries} | {'–' if memory is None else f'{memory:g} MB'} | {target} "
            f"| {_status(entry)} |"
        )
    earlier: dict[str, list[str]] = {}
    for name, entry in document["benchmarks"].items():
        if entry.get("measured_at") != info["date"]:
            earlier.setdefault(entry.get("measured_at") or "an unknown time", []).append(name)
    stale = [
        f"Measured by an earlier run, at {when}: {', '.join(f'`{name}`' for name in names)}."
        for when, names in earlier.items()
    ]
    cases = "\n".join(
        f"- `{case.name}` — {' '.join((case.__doc__ or case.title).split())}"
        + _workload(document["benchmarks"].get(case.name, {}).get("details"))
        for case in REGISTRY.values()
    )
    settings = ", ".join(f"{key} {value}" for key, value in info["postgresql_settings"].items())
    table = "\n".join(rows)
    notes = "\n\n" + " ".join(stale) if stale else ""
    return f"""# Benchmarks

How fast Pipeline CRM does its heavy operations on PostgreSQL, measured by the benchmark suite
in `bench/` (not by the tests). This page is written by `make bench`; edit `bench/report.py`,
not this file.

## Results

- Measured: {info["date"]}, commit {info["commit"] or "unknown"}
- Machine: {info["cores"]} cores ({info["cpu"]}), {info["memory_gb"]} GB of memory, {info["os"]}
- PostgreSQL {info["postgresql"]} on the same machine: {settings}
- Python {info["python"]}, Django {info["django"]}, psycopg2 {info["psycopg2"]}
- Load average (1, 5, 15 minutes): {_loads(info["load_average_before"])} before,
  {_loads(info["load_average_after"])} after{_busy(info)}{_stolen(info)}

| benchmark | what | runs | median | p95 | p99 | Python CPU | queries (budget) | peak Python memory | target (median) | |
| --- | --- | --: | --: | --: | --: | --: | --: | --: | --- | --- |
{table}{notes}

The full figures (every run's time, the process's resident memory, the workload) are in
`bench/results.json`. Where the time goes in the operations that miss their targets, and
what would fix them: [performance.md](performance.md).

## Reproduce

```sh
make bench      # creates the pipeline_crm_bench database if missing, migrates it, runs everything
```

`make bench` needs PostgreSQL on 127.0.0.1:5432 (user postgres); point it elsewhere with
`BENCH_DATABASE_URL=postgres://user@host:port/some_bench_db make bench`. The suite refuses a
database whose name does not contain “bench”, since it deletes what it imported. Once the
database is migrated, the runner takes options:

```sh
.venv/bin/python -m bench --list              # the benchmarks and their targets
.venv/bin/python -m bench import --runs 10    # one benchmark, more runs
.venv/bin/python -m bench --profile --no-write  # plus a cProfile of one run; files untouched
```

The generated import file is kept in `bench/data/import-10000.csv` (not committed), so the
same import can be tried by hand:
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/pipeline_crm_bench .venv/bin/python manage.py
import_deals bench/data/import-10000.csv --pipeline "Bench import" --by bench.admin`.

## The benchmarks

{cases}

## How they are measured

- Each benchmark has {_count(method["warmups"], "unmeasured warm-up run")}, then
  {_count(method["runs"], "measured run")} (unless the benchmark sets its own number). Every run starts from the same
  database state: what the previous run created is deleted set-based and the tables are
  vacuumed and analysed, outside the timing; before each benchmark's runs the whole database
  is vacuumed and analysed, so that no case inherits dead rows or stale statistics.
- `make bench` takes 15 to 30 minutes by the machine, a third of it building and removing the 1,000,000-deal
  set of the `stress_*` cases (run the others by name to skip it).
- Times are wall-clock seconds of the operation alone, commit included. The median is
  compared with the target; p95 and p99 are nearest-rank percentiles, so with 20 runs or
  fewer p95 is the slowest run, and so is p99 with 100 runs or fewer. "Python CPU" is the
  median CPU time of the benchmark's own process: the rest of the wall time is PostgreSQL's
  work and waiting for it (the database runs on the same cores).
- Queries are the statements sent to the database during one run (counted by a
  `connection.execute_wrapper`), without BEGIN/COMMIT/SAVEPOINT, as the tests count them.
  A benchmark with a query budget (in brackets) reports **MISSED** when a run sends more;
  `tests/test_query_budgets.py` guards the same budgets in `make test`.
- Peak Python memory is the high-water mark of Python allocations (tracemalloc) in one more,
  untimed run, since tracing slows Python down; `max_rss_mb` in the JSON is the whole
  process's resident high-water mark after the benchmark.
- Django runs with `pipeline_crm.settings`, DEBUG off (so queries are not recorded) and a
  throwaway secret key; nothing else differs from production settings.
- A target that is missed prints **MISSED** and still exits 0: timings depend on the machine,
  so the suite reports rather than gates. It exits 1 when a benchmark breaks (an exception
  or a wrong result, e.g. fewer deals than rows). What `make test` does guard is the query
  count: in `deals/tests/test_imports.py`, `test_the_import_runs_a_constant_number_of_queries`
  pins the queries of one batch and
  `test_the_import_adds_a_few_queries_per_batch_of_deals_not_per_deal` shows that they grow
  with batches of rows, not with rows.

## Adding a benchmark

Subclass `bench.runner.Case` in a module listed in `bench.runner.MODULES`, decorate it with
`@register`, and give it a `name`, a `title`, optionally a `target` in seconds, and `setup`,
`before_run`, `run`, `check`, `after_run` and `teardown` as needed: only `run` is timed.
Shared data (owners, pipeline, the seeded CSV) comes from `bench/data.py`.
"""
