from __future__ import annotations

import pytest

from pipeline_crm.celery import ping

pytestmark = pytest.mark.broker


def test_a_task_round_trips_through_the_real_broker_and_worker(live_worker):
    result = ping.delay()
    assert result.get(timeout=20) == "pong"
    assert live_worker.conf.broker_url.startswith("redis://")


def test_tasks_run_in_the_web_process_without_a_broker(db):
    # Test settings (like `make run`) use eager mode: no broker needed.
    assert ping.delay().get(timeout=1) == "pong"
