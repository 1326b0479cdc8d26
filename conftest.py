"""The fixed cast of every test: two teams, their reps and managers, an outsider, an admin."""

from __future__ import annotations

import os

import pytest

from pipeline_crm.models import Role
from pipeline_crm.tests.factories import TeamFactory, UserFactory
from stages.tests.factories import PipelineFactory


def require_or_skip(reason: str) -> None:
    """Skip a test that needs a missing service, or fail it where services are required.

    `.ci/run` sets PIPELINE_CRM_REQUIRE_SERVICES=1 so that nothing skips silently in CI.
    """
    if os.environ.get("PIPELINE_CRM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Cached sessions must not outlive the test database they point into."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@pytest.fixture
def assert_max_queries():
    """Like pytest-django's django_assert_max_num_queries, minus transaction control.

    BEGIN/COMMIT and SAVEPOINT/RELEASE read and write no rows, and inside the test
    transaction every atomic block adds two of them; the budgets count data queries.
    """
    from contextlib import contextmanager

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    @contextmanager
    def check(limit: int):
        with CaptureQueriesContext(connection) as context:
            yield context
        queries = [
            q["sql"]
            for q in context.captured_queries
            if not q["sql"].startswith(_TRANSACTION_CONTROL)
        ]
        assert len(queries) <= limit, f"{len(queries)} queries > {limit}:\n" + "\n".join(queries)

    return check


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Team A")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Team B")


@pytest.fixture
def rep(team_a):
    return UserFactory(username="alice", first_name="Alice", last_name="Archer", team=team_a)


@pytest.fixture
def other_rep(team_a):
    return UserFactory(username="bob", first_name="Bob", last_name="Baker", team=team_a)


@pytest.fixture
def outsider(team_b):
    return UserFactory(username="carol", first_name="Carol", last_name="Clark", team=team_b)


@pytest.fixture
def manager(team_b):
    user = UserFactory(username="dave", first_name="Dave", last_name="Dunn", role=Role.MANAGER)
    team_b.manager = user
    team_b.save(update_fields=["manager"])
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="erin", first_name="Erin", last_name="Evans", role=Role.ADMIN)


@pytest.fixture
def pipeline(db):
    """Simple template: Lead 10, Contacted 20, Qualified 40, Proposal made 60, Won, Lost."""
    return PipelineFactory(name="Sales")


@pytest.fixture
def live_worker(transactional_db):
    """A real Celery worker thread consuming from the broker in CELERY_BROKER_URL.

    Skips when no broker is configured; CI always sets one, so these tests run there.
    Tasks queued while the fixture is active go through the broker, not eager mode.
    """
    from celery.contrib.testing.worker import start_worker

    from pipeline_crm.celery import app

    broker_url = os.environ.get("CELERY_BROKER_URL")
    if not broker_url:
        require_or_skip("needs a real broker: set CELERY_BROKER_URL (CI sets it to Redis)")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
    finally:
        app.conf.task_always_eager = True


# A broker nothing listens on (tasks/tests/test_jobs.py, browser tests): requests that queue
# work must still succeed.
CLOSED_PORT = "redis://127.0.0.1:1/0"


def _reset_broker_connections() -> None:
    """Forget pooled broker connections, so the next publish connects to the new URL."""
    from kombu import pools

    from pipeline_crm.celery import app

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """A broker address nothing listens on, and no eager mode: publishing must fail."""
    from pipeline_crm.celery import app

    # The write URL: Celery prefers a CELERY_BROKER_URL environment variable (set in CI)
    # over app.conf.broker_url, but publishing uses broker_write_url when it is set.
    saved = app.conf.broker_write_url, app.conf.task_always_eager
    _reset_broker_connections()
    app.conf.broker_write_url, app.conf.task_always_eager = CLOSED_PORT, False
    yield
    app.conf.broker_write_url, app.conf.task_always_eager = saved
    _reset_broker_connections()
