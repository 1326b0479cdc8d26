"""The deal and account lists in a real browser: filters and sorting update the results in
place (htmx) and the URL, the totals follow the filters, screenshots."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.services import move_deal
from deals.tests.factories import AccountFactory, DealFactory, LostReasonFactory
from stages.tests.factories import stage
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}


@pytest.fixture
def deals(rep, other_rep, pipeline):
    """Four open deals of two reps in two accounts, one won and one lost."""
    acme = AccountFactory(name="Acme Logistics", industry="Logistics", owner=rep)
    globex = AccountFactory(name="Globex Health", industry="Healthcare", owner=other_rep)
    now = timezone.now()
    made = []
    for days, title, account, owner, stage_name, value in [
        (9, "Fleet rollout", acme, rep, "Proposal made", 48_000),
        (8, "Driver app", acme, rep, "Lead", 12_000),
        (7, "Clinic pilot", globex, other_rep, "Qualified", 30_000),
        (6, "Lab expansion", globex, other_rep, "Contacted", 20_000),
        (5, "Pilot: 10 vans", acme, rep, "Lead", 6_500),
        (4, "Imaging suite", globex, other_rep, "Lead", 90_000),
    ]:
        made.append(
            DealFactory(
                title=title,
                account=account,
                owner=owner,
                pipeline=pipeline,
                stage=stage(pipeline, stage_name),
                value=Decimal(value),
                expected_close_date=(now + timedelta(days=30)).date(),
                created_at=now - timedelta(days=days),
            )
        )
    move_deal(made[4], stage(pipeline, "Won"), by=rep)
    move_deal(made[5], stage(pipeline, "Lost"), by=other_rep, lost_reason=LostReasonFactory())
    return made


def row_titles(page: Page) -> list[str]:
    return page.locator("#list-results tbody .list-primary-link").all_inner_texts()


def test_filtering_and_sorting_the_deal_list_updates_rows_totals_and_url(
    page, live_server, rep, deals, screenshots
):
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, rep)
    page.goto(live_server.url + reverse("deals:list"))
    summary = page.locator(".list-summary")
    expect(summary).to_contain_text("6 deals")
    expect(summary).to_contain_text("Total $206,500")

    page.get_by_label("Status").select_option("open")

    expect(summary).to_contain_text("4 deals")
    # 48,000 × 60 % + 12,000 × 10 % + 30,000 × 40 % + 20,000 × 20 %
    expect(summary).to_contain_text("Weighted $46,000")
    expect(page).to_have_url(f"{live_server.url}{reverse('deals:list')}?status=open")
    page.screenshot(path=screenshots / "deals-list.png", full_page=True)

    page.locator("#list-results thead").get_by_role("link", name="Value").click()
    expect(page.locator("#list-results tbody tr").first).to_contain_text("Driver app")
    assert row_titles(page) == ["Driver app", "Lab expansion", "Clinic pilot", "Fleet rollout"]
    page.locator("#list-results thead").get_by_role("link", name="Value").click()
    expect(page.locator("#list-results tbody tr").first).to_contain_text("Fleet rollout")
    assert "status=open" in page.url and "sort=-value" in page.url

    page.get_by_label("Search").fill("clinic")
    expect(summary).to_contain_text("1 deal")
    assert row_titles(page) == ["Clinic pilot"]


def test_the_account_list_filters_by_industry_and_links_to_the_account(
    page, live_server, rep, deals, screenshots
):
    page.set_viewport_size(WIDE)
    log_in(page.context, live_server, rep)
    page.goto(live_server.url + reverse("deals:accounts"))
    rows = page.locator("#list-results tbody tr")
    expect(rows).to_have_count(2)
    page.screenshot(path=screenshots / "accounts-list.png", full_page=True)

    page.get_by_label("Industry").select_option("Logistics")

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme Logistics")
    # Open deals 2 worth $60,000; won $6,500.
    expect(rows.first).to_contain_text("$60,000")
    expect(rows.first).to_contain_text("$6,500")
    rows.first.get_by_role("link", name="Acme Logistics").click()
    expect(page.get_by_role("heading", name="Acme Logistics")).to_be_visible()
