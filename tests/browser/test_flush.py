"""The flush of stale deals in a real browser: a manager previews, confirms, watches the job's
progress reach done (htmx polling) and undoes it; screenshots of the preview and the job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu import pools
from playwright.sync_api import expect

from deals.models import Deal, DealStatus, Flush
from deals.services.flush import (
    FlushCriteria,
    fail_undo,
    request_undo,
    run_flush,
    run_undo,
    start_flush,
)
from pipeline_crm.celery import app
from pipeline_crm.tests.factories import UserFactory
from reports.tests.factories import deal_with_history
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 900}


def _reset_connections() -> None:
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def idle_queue():
    """A queue nobody consumes yet (kombu's in-memory transport): the page queues the job,
    and the test plays the worker, batch by batch, while the browser watches."""
    saved = app.conf.broker_write_url, app.conf.task_always_eager
    _reset_connections()
    app.conf.broker_write_url, app.conf.task_always_eager = "memory://", False
    yield
    app.conf.broker_write_url, app.conf.task_always_eager = saved
    _reset_connections()


@pytest.fixture
def stale_deals(pipeline, outsider, rep, team_b):
    """Team B (Carol and Evan, managed by Dave): eight deals untouched for months, one busy
    deal; and a stale deal of Alice's (team A), which is not Dave's to flush."""
    evan = UserFactory(username="evan", first_name="Evan", last_name="Ellis", team=team_b)
    today = timezone.localdate()

    def day(days_ago: int) -> str:
        return (today - timedelta(days=days_ago)).isoformat()

    made = []
    for title, owner, stage_name, value, idle in [
        ("Warehouse scanners", outsider, "Lead", 12_000, 200),
        ("Fleet telematics", outsider, "Qualified", 48_000, 150),
        ("Clinic pilot", evan, "Contacted", 30_000, 320),
        ("Imaging suite upgrade", evan, "Proposal made", 90_000, 120),
        ("Lab expansion", outsider, "Lead", 20_000, 400),
        ("POS rollout, phase 2", evan, "Qualified", 36_500, 180),
        ("Store Wi-Fi refresh", outsider, "Contacted", 8_400, 95),
        ("Driver app", evan, "Lead", 6_500, 240),
        ("Annual renewal", outsider, "Proposal made", 25_000, 5),
        ("Alice's old lead", rep, "Lead", 15_000, 300),
    ]:
        path = [("Lead", day(idle + 30))]
        if stage_name != "Lead":
            path.append((stage_name, day(idle)))
        made.append(deal_with_history(pipeline, owner, path, value=value, title=title))
    return made


def test_a_manager_previews_confirms_watches_and_undoes_a_flush(
    page, live_server, manager, pipeline, stale_deals, idle_queue, settings, screenshots
):
    settings.FLUSH_BATCH_SIZE = 3
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, manager)
    page.goto(live_server.url + reverse("deals:list"))

    page.get_by_role("link", name="Flush stale deals").click()
    expect(page.get_by_label("No activity for more than")).to_have_value("90")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator(".flush-preview")
    # 12,000 × 10 % + 48,000 × 40 % + 30,000 × 20 % + 90,000 × 60 % + 20,000 × 10 %
    # + 36,500 × 40 % + 8,400 × 20 % + 6,500 × 10 %
    expect(preview).to_contain_text(
        "8 deals worth $251,400 (weighted $99,330) would move to Lost "
        "with the lost reason “Stale (flushed)”"
    )
    expect(preview.locator("tbody tr")).to_have_count(8)
    expect(preview.locator("tbody tr").first).to_contain_text("Lab expansion")
    expect(preview).not_to_contain_text("Annual renewal")
    expect(preview).not_to_contain_text("Alice's old lead")
    assert "inactive_days=90" in page.url and "csrf" not in page.url
    page.screenshot(path=screenshots / "flush-preview.png", full_page=True)

    page.get_by_role("button", name="Confirm: flush 8 deals").click()

    progress = page.locator("#flush-progress")
    expect(progress).to_contain_text("0 of 8 deals processed: waiting for a worker")
    flush = Flush.objects.get()
    run_flush(flush.pk, max_batches=1)
    expect(progress).to_contain_text("3 of 8 deals processed")
    expect(progress.locator(".flush-badge").first).to_have_text("Running")
    run_flush(flush.pk)
    expect(progress).to_contain_text("8 of 8 deals processed")
    expect(progress).to_contain_text("8 deals moved to Lost")
    expect(page.locator("#flush-bar")).to_have_attribute("value", "8")
    expect(progress).not_to_have_attribute("hx-trigger", "every 1s")
    page.screenshot(path=screenshots / "flush-job.png", full_page=True)
    assert Deal.objects.filter(status=DealStatus.LOST).count() == 8

    page.get_by_role("button", name="Undo this flush").click()

    expect(progress).to_contain_text("0 of 8 deals processed")
    run_undo(flush.pk)
    expect(progress).to_contain_text("8 deals moved back to the stages they came from")
    expect(page.get_by_role("button", name="Undo this flush")).to_have_count(0)
    assert not Deal.objects.filter(status=DealStatus.LOST).exists()


def test_a_manager_reaches_the_flush_of_a_pipeline_from_its_board(
    page, live_server, manager, pipeline, stale_deals, screenshots
):
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, manager)
    page.goto(live_server.url + reverse("deals:board", args=[pipeline.pk]))

    page.get_by_role("button", name=pipeline.name).click()
    offer = page.get_by_role("link", name=f"Flush stale deals of {pipeline.name}")
    expect(offer).to_be_visible()
    page.screenshot(path=screenshots / "board-pipeline-menu.png")
    offer.click()

    expect(page.get_by_label("Pipeline")).to_have_value(str(pipeline.pk))
    expect(page.get_by_label("No activity for more than")).to_have_value("90")


def test_an_undo_that_gave_up_says_why_and_carries_on(
    page, live_server, manager, pipeline, stale_deals, idle_queue, settings, screenshots
):
    settings.FLUSH_BATCH_SIZE = 3
    flush = start_flush(FlushCriteria(pipeline, inactive_days=90), by=manager)
    run_flush(flush.pk)
    request_undo(flush, by=manager)
    run_undo(flush.pk, max_batches=1)
    fail_undo(flush.pk, "The database could not be reached.")  # as its job leaves it
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, manager)
    page.goto(live_server.url + flush.get_absolute_url())

    failed = page.locator(".flush-undo-failed")
    expect(failed).to_contain_text(
        "The undo stopped. The 3 deals it moved back stay back; the others are still lost. "
        "The database could not be reached."
    )
    page.screenshot(path=screenshots / "flush-undo-failed.png", full_page=True)
    page.get_by_role("button", name="Carry on with the undo").click()

    progress = page.locator("#flush-progress")
    expect(progress).to_contain_text("3 of 8 deals processed")
    run_undo(flush.pk)
    expect(progress).to_contain_text("8 deals moved back to the stages they came from")
    assert not Deal.objects.filter(status=DealStatus.LOST).exists()
