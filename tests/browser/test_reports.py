"""The reports in a real browser: a manager opens them from the navigation, reads the headline
figures, follows a figure to the deals behind it, changes the period, downloads the team CSV
and visits every tab with its charts drawn; a rep sees only their own row. Screenshots of the
four reports go to docs/screenshots/.

The server's clock cannot be frozen from here, so the deals are dated relative to today:
spread over this quarter (up to today) and the last one, which the default period and the
"Last quarter" preset cover whatever the date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.models import Activity, ActivityKind, Deal
from deals.tests.factories import AccountFactory
from pipeline_crm.tests.factories import UserFactory
from reports.periods import Period, quarter_of
from reports.tests.factories import at, deal_with_history
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
WON_PATH = ("Lead", "Contacted", "Qualified", "Proposal made", "Won")
# Chart.js draws every report canvas: the number drawn, or 0 when one is missing or when
# the deferred Chart.js has not run yet.
DRAWN_CHARTS = """() => {
  if (typeof Chart === "undefined") return 0;
  const canvases = [...document.querySelectorAll("canvas[data-chart-table]")];
  return canvases.every(canvas => Chart.getChart(canvas)) ? canvases.length : 0;
}"""
TEAM_CSV_HEADER = (
    "Rep,Emails,Calls,Meetings,Notes,Created,Won,Won revenue,Win rate,Open pipeline,Weighted,"
    "Avg cycle (days),Stale"
)


@dataclass(frozen=True)
class Calendar:
    today: dt.date
    this_quarter: Period
    last_quarter: Period

    def this(self, share: float) -> dt.date:
        """A day of this quarter up to today, `share` of the way from its first day."""
        return self.this_quarter.start + dt.timedelta(
            days=round(share * (self.today - self.this_quarter.start).days)
        )

    def last(self, share: float) -> dt.date:
        """A day of the last quarter, `share` of the way through it."""
        return self.last_quarter.start + dt.timedelta(
            days=round(share * (self.last_quarter.days - 1))
        )

    def ahead(self, days: int) -> str:
        return (self.today + dt.timedelta(days=days)).isoformat()


def calendar() -> Calendar:
    today = timezone.localdate()
    this_quarter = quarter_of(today)
    return Calendar(today, this_quarter, this_quarter.previous())


def journey(stages: tuple[str, ...], start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    """The stages entered one after the other, evenly spread from `start` to `end`."""
    steps = len(stages) - 1 or 1
    return [
        (name, (start + (end - start) * index / steps).isoformat())
        for index, name in enumerate(stages)
    ]


@pytest.fixture
def sales(manager, outsider, rep, team_b, pipeline):
    """Dave manages Team B: Carol and Frank. This quarter they won $123,500 in five deals
    (Carol $80,300, Frank $43,200; Northwind Traders $57,800 of it), last quarter $72,500 in
    four; nine deals are open. Alice, in Team A, won a big deal Dave must not count."""
    carol = outsider
    frank = UserFactory(username="frank", first_name="Frank", last_name="Foster", team=team_b)
    days = calendar()
    accounts = {
        name: AccountFactory(name=name, owner=owner)
        for name, owner in [
            ("Northwind Traders", carol),
            ("Contoso Pharma", carol),
            ("Tailspin Toys", carol),
            ("Wide World Importers", carol),
            ("Fabrikam Inc.", frank),
            ("Adventure Works", frank),
            ("Litware Systems", frank),
            ("Proseware Labs", frank),
            ("Globex Health", rep),
        ]
    }
    lost_path = ("Lead", "Contacted", "Qualified", "Lost")
    this, last = days.this, days.last
    before = dt.timedelta
    # Some of last quarter's deals were open on its first day, for the forecast's accuracy.
    last_start = days.last_quarter.start
    closed = [
        # owner, title, account, value, source, stages, created, closed, lost reason
        (carol, "Fleet tracking rollout", "Northwind Traders", 48_000, "Referral", WON_PATH,
         this(0.6) - before(45), this(0.6), None),
        (carol, "Warehouse sensors", "Contoso Pharma", 22_500, "Website", WON_PATH,
         this(0.3) - before(30), this(0.3), None),
        (carol, "Support renewal", "Northwind Traders", 9_800, "Partner",
         ("Lead", "Proposal made", "Won"), this(0.7), this(0.8), None),
        (frank, "Analytics platform", "Fabrikam Inc.", 36_000, "Trade show", WON_PATH,
         this(0.5) - before(60), this(0.5), None),
        (frank, "Pilot: 20 seats", "Adventure Works", 7_200, "Website",
         ("Lead", "Qualified", "Won"), this(0.15) - before(14), this(0.15), None),
        (carol, "Retail POS upgrade", "Tailspin Toys", 18_000, "Outbound", lost_path,
         this(0.1), this(0.4), "Price"),
        (frank, "Data migration", "Wide World Importers", 12_000, "Website", lost_path,
         this(0.2), this(0.7), "Chose a competitor"),
        (frank, "Training package", "Litware Systems", 4_500, "Referral", ("Lead", "Lost"),
         this(0.05), this(0.2), "No budget"),
        (carol, "Label printers", "Proseware Labs", 7_500, "Outbound", lost_path,
         this(0.85) - before(20), this(0.85), "Price"),
        (carol, "Onboarding services", "Contoso Pharma", 15_000, "Referral", WON_PATH,
         last_start - before(30), last(0.4), None),
        (carol, "Cold storage monitors", "Northwind Traders", 27_000, "Trade show", WON_PATH,
         last_start - before(20), last(0.7), None),
        (frank, "BI dashboards", "Fabrikam Inc.", 19_500, "Website", WON_PATH,
         last(0.2), last(0.55), None),
        (frank, "Annual licence", "Proseware Labs", 11_000, "Partner",
         ("Lead", "Proposal made", "Won"), last(0.6), last(0.85), None),
        (carol, "Kiosk rollout", "Tailspin Toys", 25_000, "Outbound", lost_path,
         last_start - before(40), last(0.5), "Chose a competitor"),
        (frank, "Consulting block", "Adventure Works", 8_000, "Website", lost_path,
         last(0.1), last(0.3), "Price"),
        (rep, "Hospital network", "Globex Health", 99_000, "Referral", WON_PATH,
         this(0.2) - before(20), this(0.2), None),
    ]  # fmt: skip
    for owner, title, account, value, source, stages, created, closed_on, reason in closed:
        deal_with_history(
            pipeline,
            owner,
            journey(stages, created, closed_on),
            value=value,
            source=source,
            lost_reason=reason,
            expected_close_date=closed_on.isoformat(),
            account=accounts[account],
            title=title,
        )
    open_deals = [
        # owner, title, account, value, source, stage, created, moved, expected close
        (carol, "Fleet expansion, phase 2", "Northwind Traders", 64_000, "Referral",
         "Proposal made", this(0.5), this(0.9), days.ahead(20)),
        (carol, "Cold chain pilot", "Wide World Importers", 21_000, "Trade show",
         "Qualified", this(0.3), this(0.7), days.ahead(45)),
        (carol, "Handheld scanners", "Contoso Pharma", 14_000, "Website",
         "Contacted", this(0.6), this(0.8), days.ahead(75)),
        (carol, "Store analytics", "Tailspin Toys", 30_000, "Outbound",
         "Lead", this(0.9), this(0.9), days.ahead(110)),
        (carol, "Multi-site licence", "Litware Systems", 40_000, "Partner",
         "Qualified", last(0.8), this(0.4), days.ahead(200)),
        (frank, "Data warehouse", "Fabrikam Inc.", 52_000, "Partner",
         "Proposal made", last(0.9), this(0.85), days.ahead(10)),
        (frank, "Security audit", "Litware Systems", 16_500, "Website",
         "Qualified", this(0.4), this(0.75), days.ahead(60)),
        (frank, "Seat expansion", "Adventure Works", 9_000, "Website",
         "Lead", this(0.95), this(0.95), None),
        (frank, "Reporting add-on", "Proseware Labs", 6_000, "Referral",
         "Contacted", this(0.1), this(0.5), days.ahead(-10)),
        (rep, "Lab expansion", "Globex Health", 45_000, "Website",
         "Qualified", this(0.3), this(0.6), days.ahead(30)),
    ]  # fmt: skip
    for owner, title, account, value, source, stage_name, created, moved, expected in open_deals:
        stages = WON_PATH[: WON_PATH.index(stage_name) + 1]
        deal_with_history(
            pipeline,
            owner,
            journey(stages, created, moved),
            value=value,
            source=source,
            expected_close_date=expected,
            account=accounts[account],
            title=title,
        )
    deals = {deal.title: deal for deal in Deal.objects.all()}
    logged = [
        (carol, "Fleet expansion, phase 2", {"email": 6, "call": 4, "meeting": 3, "note": 2}),
        (frank, "Data warehouse", {"email": 4, "call": 7, "meeting": 2, "note": 1}),
        (manager, "Fleet expansion, phase 2", {"meeting": 2}),
    ]
    for user, title, counts in logged:
        for kind, count in counts.items():
            for index in range(count):
                Activity.objects.create(
                    kind=ActivityKind(kind),
                    subject=f"{kind.title()} {index + 1} about {title}",
                    occurred_at=at(days.this((index + 1) / (count + 1)).isoformat(), hour=10),
                    user=user,
                    deal=deals[title],
                )
    return {"carol": carol, "frank": frank, "days": days}


def watch_console(page: Page) -> list[str]:
    """The console errors the page logs from now on, but for a missing favicon."""
    errors: list[str] = []

    def keep(message) -> None:
        if message.type == "error" and "favicon" not in (message.location.get("url") or ""):
            errors.append(message.text)

    page.on("console", keep)
    return errors


def expect_charts_drawn(page: Page, count: int) -> None:
    """Wait for the page's scripts to draw its charts (they are deferred), then count them."""
    page.wait_for_load_state("load")
    page.wait_for_function(f"() => ({DRAWN_CHARTS})() > 0")
    assert page.evaluate(DRAWN_CHARTS) == count


def kpi(page: Page, label: str):
    return (
        page.locator(".kpi").filter(has=page.get_by_text(label, exact=True)).locator(".kpi-value")
    )


def row_labels(page: Page, table: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#{table}-table tbody th").all_inner_texts()]


def test_a_manager_reads_follows_and_filters_the_reports(
    page, live_server, manager, sales, screenshots
):
    page.set_viewport_size(WIDE)
    errors = watch_console(page)
    days: Calendar = sales["days"]
    log_in(page.context, live_server, manager)
    page.goto(live_server.url + reverse("home"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()

    expect(page).to_have_url(live_server.url + reverse("reports:revenue"))
    expect(page.locator(".report-tabs [aria-current=page]")).to_have_text("Revenue")
    expect(page.locator(".report-period")).to_contain_text(
        f"{days.this_quarter.label} ({days.this_quarter.start:%b %-d, %Y}"
    )
    expect(kpi(page, "Closed-won revenue")).to_have_text("$123,500")
    expect(kpi(page, "Deals won")).to_have_text("5")
    expect(page.locator("#top_accounts-table tbody th").first).to_have_text("Northwind Traders")
    expect(page.locator("#top_lost_reasons-table tbody th").first).to_have_text("Price")
    expect(page.get_by_text("Globex Health")).to_have_count(0)
    expect_charts_drawn(page, 3)
    page.screenshot(path=screenshots / "reports-revenue.png", full_page=True)

    kpi(page, "Deals won").click()

    expect(page).to_have_url(re.compile(r"/deals/\?.*status=won"))
    summary = page.locator(".list-summary")
    expect(summary).to_contain_text("5 deals")
    expect(summary).to_contain_text("Total $123,500")
    expect(page.locator("#list-results")).not_to_contain_text("Hospital network")

    page.go_back()
    northwind = page.locator("#top_accounts-table tbody tr").filter(has_text="Northwind Traders")
    expect(northwind.locator("td").nth(1)).to_have_text("$57,800")
    northwind.locator("td").nth(1).get_by_role("link").click()

    expect(summary).to_contain_text("2 deals")
    expect(summary).to_contain_text("Total $57,800")
    expect(page.locator(".list-link-filters")).to_contain_text("Northwind Traders")

    page.go_back()
    page.get_by_label("Period").select_option("last_quarter")
    page.get_by_role("button", name="Apply").click()

    expect(page).to_have_url(re.compile(r"period=last_quarter"))
    expect(page.locator(".report-period")).to_contain_text(
        f"{days.last_quarter.label} ({days.last_quarter.start:%b %-d, %Y}"
    )
    expect(kpi(page, "Closed-won revenue")).to_have_text("$72,500")
    expect(kpi(page, "Deals won")).to_have_text("4")
    expect_charts_drawn(page, 3)

    page.get_by_role("link", name="Reset").click()
    page.locator(".report-tabs").get_by_role("link", name="Team").click()

    expect(page).to_have_url(live_server.url + reverse("reports:team"))
    # Dave manages Team B without being on a team: one team, so no subtotal row.
    assert row_labels(page, "team") == ["Carol Clark", "Dave Dunn (manager)", "Frank Foster"]
    won_revenue = page.locator("#team-table tbody tr td:nth-child(8)")
    expect(won_revenue).to_have_text(["$80,300", "$0", "$43,200"])
    expect(page.locator("#team-table tfoot")).to_contain_text("$123,500")
    expect(page.get_by_text("Alice Archer")).to_have_count(0)
    expect_charts_drawn(page, 2)
    page.screenshot(path=screenshots / "reports-team.png", full_page=True)

    team_card = page.locator("section").filter(has=page.locator("#team-table"))
    with page.expect_download() as download:
        team_card.get_by_role("link", name="CSV").click()
    lines = download.value.path().read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == TEAM_CSV_HEADER
    assert lines[1].startswith("Carol Clark,")

    page.locator(".report-tabs").get_by_role("link", name="Forecast").click()

    expect(page.get_by_role("heading", name="Forecast by month")).to_be_visible()
    expect(page.locator(".report-period")).to_have_count(0)
    expect(page.locator("#forecast-months-table tbody tr")).not_to_have_count(0)
    expect_charts_drawn(page, 2)
    page.screenshot(path=screenshots / "reports-forecast.png", full_page=True)

    page.locator(".report-tabs").get_by_role("link", name="Funnel").click()

    expect(page.get_by_role("heading", name="Funnel of Sales")).to_be_visible()
    assert row_labels(page, "funnel") == ["Lead", "Contacted", "Qualified", "Proposal made", "Won"]
    expect_charts_drawn(page, 1)
    page.screenshot(path=screenshots / "reports-funnel.png", full_page=True)
    assert not errors, errors


def test_a_rep_sees_only_their_own_row_in_the_team_report(page, live_server, sales):
    errors = watch_console(page)
    log_in(page.context, live_server, sales["carol"])

    page.goto(live_server.url + reverse("reports:team"))

    assert row_labels(page, "team") == ["Carol Clark"]
    expect(page.locator("#team-table tbody td:nth-child(8)")).to_have_text("$80,300")
    for colleague in ("Frank Foster", "Dave Dunn", "Alice Archer"):
        expect(page.get_by_text(colleague)).to_have_count(0)
    expect(page.get_by_label("Owner")).to_have_count(0)
    expect_charts_drawn(page, 2)
    assert not errors, errors
