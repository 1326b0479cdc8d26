"""The board page and card moves over HTTP, through gunicorn, as a browser reaches them.

Each case builds its own pipeline "Bench http" (sales-cycle-8) with 10,000 open deals and
their creation StageChange rows (one INSERT … SELECT each), starts gunicorn on a free local
port with the suite's environment, and removes both again in teardown. The requests carry
`X-Forwarded-Proto: https`, as behind the production proxy: with DEBUG off, plain HTTP is
redirected. As in production, gunicorn reads sessions from a shared Redis cache (`CACHE_URL`,
here BENCH_CACHE_URL, default database 15 of the local Redis), and from PostgreSQL when no
Redis answers there (the details say which). Clients log in with a session made by Django's test client (no password hashing,
no login throttling rows) and send the CSRF cookie back as X-CSRFToken, as board.js does.

Only the client side runs in the suite's process: the queries run in the gunicorn workers and
are not counted, and the peak memory is the client's.
"""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.cached_db import KEY_PREFIX as SESSION_CACHE_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bench.runner import Case, log, register
from deals.models import Account, Deal, DealStatus, StageChange
from deals.services.moves import POSITION_GAP
from pipeline_crm.models import Role, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template

DEALS = 10_000
PIPELINE_NAME = "Bench http"
TEMPLATE = "sales-cycle-8"
ADMIN_USERNAME = "bench.http.admin"
ACCOUNT_NAME = "Bench http account"
# Two cores, one sync worker each: a move is CPU-bound (Django ~8-10 ms per request, then
# PostgreSQL); its lock waits are a few per cent of the backends' time. Measured here with
# 8 clients, 4 workers gave ~107 moves/s at ~10 ms worker CPU per move, 2 workers ~117
# at ~8 ms: the extra workers only compete with PostgreSQL and the clients for the cores.
WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "2"))
# As production (.env.example): a worker keeps its database connection between requests.
CONN_MAX_AGE = "60"
# As production (README): sessions read from Redis, not from PostgreSQL on every request.
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15")
STARTUP_TIMEOUT = 60
REQUEST_TIMEOUT = 120
CLIENTS = 8
CARDS_PER_CLIENT = 10
MOVES_PER_CLIENT = 200
MOVES = CLIENTS * MOVES_PER_CLIENT
MOVES_PER_SECOND_TARGET = 300
HTTPS_HEADERS = {"X-Forwarded-Proto": "https"}
# gunicorn's own entry point, after the override the runner makes too: pages link their
# static files by their development names, since the suite does not run collectstatic.
# The workers fork from this process and inherit the setting (no --preload: each loads the
# app itself, as in production).
GUNICORN = """
import sys
import warnings
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
from django.conf import settings
settings.STORAGES = settings.STORAGES | {
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
}
from gunicorn.app.wsgiapp import run
sys.argv[0] = "gunicorn"
sys.exit(run())
"""
SERVER_DIED = "gunicorn stopped before answering (exit status {status}):\n{output}"
SERVER_SILENT = "gunicorn did not answer within {seconds} s:\n{output}"


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of processes, from /proc (Linux)."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpClient:
    """One browser: its own connection and cookies (session and CSRF)."""

    def __init__(self, *, port: int, session_key: str) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.cookies = {settings.SESSION_COOKIE_NAME: session_key}

    def request(
        self, method: str, path: str, *, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent = HTTPS_HEADERS | {"Cookie": cookie} | (headers or {})
        try:
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return response.status, content

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def post(self, path: str, fields: dict) -> tuple[int, bytes]:
        """A POST as board.js sends it: htmx header, CSRF token header, same origin."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRFToken": self.cookies.get(settings.CSRF_COOKIE_NAME, ""),
            "HX-Request": "true",
            "Origin": f"https://127.0.0.1:{self.port}",
        }
        return self.request("POST", path, body=urlencode(fields), headers=headers)

    def close(self) -> None:
        self.connection.close()


class HttpCase(Case):
    """The data set and a gunicorn serving it, for the life of one case."""

    server: subprocess.Popen | None = None

    def setup(self) -> None:
        self.session_keys: list[str] = []
        self.cache_url = CACHE_URL if _redis_answers(CACHE_URL) else None
        if self.cache_url is None:
            log(f"{self.name}: no Redis at {CACHE_URL}: gunicorn reads sessions from PostgreSQL")
        self._remove()
        self.now = timezone.now()
        self.admin = User.objects.create(
            username=ADMIN_USERNAME, role=Role.ADMIN, is_staff=True, password=make_password(None)
        )
        self.pipeline = create_pipeline_from_template(TEMPLATE, name=PIPELINE_NAME)
        self.stage_ids = list(
            self.pipeline.stages.filter(kind=StageKind.OPEN)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        account = Account.objects.create(name=ACCOUNT_NAME, owner=self.admin)
        self._insert_deals(account_id=account.pk)
        with connection.cursor() as cursor:
            for model in (Deal, StageChange):
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        self.board_path = f"/pipelines/{self.pipeline.pk}/board/"
        self._start_server()

    def _insert_deals(self, *, account_id: int) -> None:
        """Deal n sits in open stage n % 7 at position (n // 7) × POSITION_GAP, unique in its
        column; each gets its creation StageChange."""
        deal_table, change_table = Deal._meta.db_table, StageChange._meta.db_table
        deals = f"""
            INSERT INTO "{deal_table}" (
                title, account_id, pipeline_id, stage_id, status, owner_id, value,
                has_budget, has_authority, has_need, has_timeline, created_at, updated_at,
                stage_changed_at, last_activity_at, board_position, is_archived
            )
            SELECT 'Bench http deal ' || n, %(account)s, %(pipeline)s,
                   (%(stages)s::bigint[])[1 + n %% %(stage_count)s],
                   %(open)s, %(owner)s, 1000 + n %% 50000,
                   false, false, false, false, %(created)s, %(created)s, %(created)s,
                   %(created)s, (n / %(stage_count)s) * {POSITION_GAP}, false
            FROM generate_series(0, {DEALS - 1}) AS n
        """
        changes = f"""
            INSERT INTO "{change_table}" (deal_id, from_stage_id, to_stage_id, by_id, changed_at)
            SELECT id, NULL, stage_id, %(owner)s, created_at
            FROM "{deal_table}" WHERE pipeline_id = %(pipeline)s
        """
        params = {
            "account": account_id,
            "pipeline": self.pipeline.pk,
            "stages": self.stage_ids,
            "stage_count": len(self.stage_ids),
            "open": DealStatus.OPEN,
            "owner": self.admin.pk,
            "created": self.now - timedelta(days=30),
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(deals, params)
            cursor.execute(changes, params)

    def login(self) -> HttpClient:
        """A client with a fresh session of the admin and the CSRF cookie the board sets."""
        django_client = Client()
        django_client.force_login(self.admin)
        key = django_client.cookies[settings.SESSION_COOKIE_NAME].value
        self.session_keys.append(key)
        client = HttpClient(port=self.port, session_key=key)
        status, _ = client.get(self.board_path)
        if status != 200 or settings.CSRF_COOKIE_NAME not in client.cookies:
            raise RuntimeError(f"{self.board_path} answered {status} without a CSRF cookie")
        return client

    def _start_server(self) -> None:
        self.port = _free_port()
        environment = os.environ | {
            "ALLOWED_HOSTS": f"{os.environ.get('ALLOWED_HOSTS', 'testserver')},127.0.0.1",
            "DATABASE_CONN_MAX_AGE": CONN_MAX_AGE,
        }
        if self.cache_url:
            environment["CACHE_URL"] = self.cache_url
        # Open for the server's life; _stop_server closes it.
        self.output = tempfile.TemporaryFile()  # noqa: SIM115
        command = [
            sys.executable,
            "-c",
            GUNICORN,
            "pipeline_crm.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={WORKERS}",
            "--worker-class=sync",
            "--log-level=warning",
        ]
        self.server = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            status = self.server.poll()
            if status is not None:
                raise RuntimeError(SERVER_DIED.format(status=status, output=self._output()))
            try:
                probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                probe.request("GET", "/login/", headers=HTTPS_HEADERS)
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        SERVER_SILENT.format(seconds=STARTUP_TIMEOUT, output=self._output())
                    ) from None
                time.sleep(0.2)
        self._warm_workers()

    def _warm_workers(self) -> None:
        """Concurrent board requests, so that every worker has imported the app, read its
        templates and opened its database connection before the first measured run."""
        clients = [self.login() for _ in range(WORKERS)]

        def fetch(client: HttpClient) -> None:
            for _ in range(3):
                client.get(self.board_path)
            client.close()

        threads = [threading.Thread(target=fetch, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def worker_cpu(self) -> float | None:
        """CPU seconds the gunicorn workers have used so far; None where /proc cannot say."""
        pid = self.server.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                return _cpu_seconds([int(child) for child in children.read().split()])
        except (OSError, ValueError):
            return None

    def _output(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")[-4000:]

    def details(self) -> dict:
        return {
            "open deals": DEALS,
            "gunicorn sync workers": WORKERS,
            "queries": "run in the gunicorn workers, not counted",
            "sessions": (
                f"cached in Redis ({self.cache_url}), as in production"
                if self.cache_url
                else "read from PostgreSQL (no Redis answered)"
            ),
        }

    def teardown(self) -> None:
        try:
            self._stop_server()
        finally:
            self._remove()

    def _stop_server(self) -> None:
        if self.server is None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        problems = self._output()
        if problems.strip():
            log(f"{self.name}: gunicorn said:\n{problems}")
        self.output.close()
        self.server = None

    def _remove(self) -> None:
        keys = getattr(self, "session_keys", [])
        if keys and getattr(self, "cache_url", None):
            sessions = RedisCache(self.cache_url, {})
            sessions.delete_many([SESSION_CACHE_PREFIX + key for key in keys])
            sessions.close()
        with transaction.atomic():
            Session.objects.filter(session_key__in=keys).delete()
            pipeline = Pipeline.objects.filter(name=PIPELINE_NAME).first()
            if pipeline is not None:
                Deal.objects.filter(pipeline=pipeline).delete()
                Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
                pipeline.stages.all().delete()
                pipeline.delete()
            Account.objects.filter(name=ACCOUNT_NAME).delete()
            User.objects.filter(username=ADMIN_USERNAME).delete()


@register
class BoardOverHttp(HttpCase):
    """GET the board of a pipeline with 10,000 open deals through gunicorn, as an admin."""

    name = "board_http_10k"
    title = "Board page over HTTP (gunicorn), 10,000 open deals"
    target = 0.05

    def setup(self) -> None:
        super().setup()
        self.client = self.login()

    def run(self) -> tuple[int, bytes]:
        return self.client.get(self.board_path)

    def check(self, outcome: tuple[int, bytes]) -> list[str]:
        status, content = outcome
        if status != 200:
            return [f"{self.board_path} answered {status}"]
        if PIPELINE_NAME.encode() not in content:
            return [f"{self.board_path} does not show the pipeline {PIPELINE_NAME!r}"]
        return []

    def teardown(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        super().teardown()


@dataclass
class MoveOutcome:
    """What the clients did in one run: the stage each card should end in, per the last
    successful move of it, and each answer's status and latency."""

    expected: dict[int, int] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def successes(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> dict[str, int]:
        return {str(status): n for status, n in self.statuses.items() if not 200 <= status < 300}


@register
class MovesOverHttp(HttpCase):
    """8 clients at once, each with its own session and connection, each moving its own 10
    cards back and forth between the first two stages (dropped at the top of the column,
    where concurrent drops collide on the unique board position and retry), 200 moves each.
    The target is 1,600 moves at 300 moves/s. Checks that no move was lost: each card ends
    where its last successful move put it, with one StageChange per successful move."""

    name = "move_http_8_clients"
    title = f"{MOVES:,} card moves over HTTP by {CLIENTS} concurrent clients, 10,000 open deals"
    target = round(MOVES / MOVES_PER_SECOND_TARGET, 2)

    def setup(self) -> None:
        super().setup()
        self.first, self.second = self.stage_ids[:2]
        self.cards = list(
            Deal.objects.filter(pipeline=self.pipeline, stage_id=self.first)
            .order_by("pk")
            .values_list("pk", flat=True)[: CLIENTS * CARDS_PER_CLIENT]
        )
        self.clients = [self.login() for _ in range(CLIENTS)]
        self.measured: list[dict] = []
        self.summary: dict = {}

    def before_run(self) -> None:
        self.stages = dict(Deal.objects.filter(pk__in=self.cards).values_list("pk", "stage_id"))
        self.changes_before = StageChange.objects.filter(deal_id__in=self.cards).count()
        self.cpu_before = self.worker_cpu()

    def run(self) -> MoveOutcome:
        outcome = MoveOutcome()
        lock = threading.Lock()
        start = threading.Barrier(CLIENTS + 1)

        def work(client: HttpClient, cards: list[int]) -> None:
            where = {card: self.stages[card] for card in cards}
            statuses, latencies = Counter(), []
            start.wait()
            for number in range(MOVES_PER_CLIENT):
                card = cards[number % len(cards)]
                to_stage = self.second if where[card] == self.first else self.first
                fields = {"stage": to_stage, "from_stage": where[card], "position": 0}
                began = time.perf_counter()
                try:
                    status, _ = client.post(f"/deals/{card}/move/", fields)
                except (OSError, http.client.HTTPException):
                    status = 0
                latencies.append(time.perf_counter() - began)
                statuses[status] += 1
                if 200 <= status < 300:
                    where[card] = to_stage
            with lock:
                outcome.expected.update(where)
                outcome.statuses.update(statuses)
                outcome.latencies.extend(latencies)

        threads = [
            threading.Thread(
                target=work,
                args=(client, self.cards[n * CARDS_PER_CLIENT : (n + 1) * CARDS_PER_CLIENT]),
            )
            for n, client in enumerate(self.clients)
        ]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        outcome.elapsed = time.perf_counter() - began
        return outcome

    def check(self, outcome: MoveOutcome) -> list[str]:
        problems = []
        final = dict(Deal.objects.filter(pk__in=self.cards).values_list("pk", "stage_id"))
        lost = [card for card, stage in outcome.expected.items() if final.get(card) != stage]
        if lost:
            problems.append(
                f"{len(lost)} cards are not where their last successful move put them "
                f"(e.g. deal {lost[0]})"
            )
        written = StageChange.objects.filter(deal_id__in=self.cards).count() - self.changes_before
        if written != outcome.successes:
            problems.append(
                f"{written} StageChange rows written for {outcome.successes} successful moves"
            )
        self._record(outcome)
        return problems

    def _record(self, outcome: MoveOutcome) -> None:
        """Keep the run's throughput for details(); the runner reads that dict after the
        runs. The tracemalloc run slows the clients and is left out."""
        ordered = sorted(outcome.latencies)
        cpu_after = self.worker_cpu()
        worker_ms = (
            None
            if cpu_after is None or self.cpu_before is None
            else round((cpu_after - self.cpu_before) * 1000 / MOVES, 1)
        )
        figures = {
            "moves/s": round(MOVES / outcome.elapsed, 1),
            "p95 move (ms)": round(ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000, 1),
            "median move (ms)": round(statistics.median(ordered) * 1000, 1),
            "non-2xx": outcome.errors,
            "gunicorn CPU per move (ms)": worker_ms,
        }
        log(f"{self.name}: {figures}")
        if tracemalloc.is_tracing():
            return
        self.measured.append(figures)
        # The first run is the runner's warm-up when there are several.
        runs = self.measured[1:] or self.measured
        cpu = [r["gunicorn CPU per move (ms)"] for r in runs]
        cpu = [ms for ms in cpu if ms is not None]
        self.summary.update(
            {
                "moves per run": MOVES,
                "moves/s (median of runs)": statistics.median(r["moves/s"] for r in runs),
                "p95 move latency ms (median of runs)": statistics.median(
                    r["p95 move (ms)"] for r in runs
                ),
                "non-2xx answers (all runs)": sum(sum(r["non-2xx"].values()) for r in runs),
                "gunicorn CPU per move ms (median of runs)": (
                    statistics.median(cpu) if cpu else None
                ),
                "target moves/s": MOVES_PER_SECOND_TARGET,
                "runs": runs,
            }
        )

    def details(self) -> dict:
        self.summary.update(
            super().details() | {"clients": CLIENTS, "cards moved": len(self.cards)}
        )
        return self.summary

    def teardown(self) -> None:
        for client in getattr(self, "clients", []):
            client.close()
        super().teardown()
