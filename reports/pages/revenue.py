"""The revenue dashboard: headline figures against the previous period, and the top
accounts, lead sources and lost reasons."""

from __future__ import annotations

from django.utils import timezone

from reports.periods import Period
from reports.scope import report_deals
from reports.selectors import revenue
from reports.tables import (
    CHANGE,
    COUNT,
    DAYS,
    MONEY,
    PERCENT,
    POINTS,
    TEXT,
    Chart,
    Column,
    Link,
    Table,
    change,
)


def build(request, form, links) -> dict:
    period: Period = form.chosen_period
    previous = period.previous()
    deals = report_deals(request.user, **form.filters)
    return {
        "compares": True,
        "tables": [
            _summary(deals, period, previous, links),
            _accounts(deals, period, links),
            _sources(deals, period, links),
            _lost_reasons(deals, period, links),
        ],
    }


def _summary(deals, period: Period, previous: Period, links) -> Table:
    headline = revenue.headline_figures(deals, period, previous)
    now, before = headline.periods
    pipeline_now, pipeline_before = revenue.pipelines_at_ends(
        deals, [period, previous], now=headline
    )
    live = period.end_at > timezone.now()
    table = Table(
        "summary",
        "Summary",
        [
            Column("Figure"),
            Column("This period", MONEY),
            Column("Previous period", MONEY),
            Column("Change", CHANGE),
        ],
    )

    def row(label, kind, current, earlier, url_now="", url_before="", *, points=False, lower=False):
        """`points`: the change of a rate in percentage points; `lower`: less is better."""
        if points:
            moved = current - earlier if current is not None and earlier is not None else None
        else:
            moved = change(current, earlier)
        tone = ""
        if moved:
            tone = "good" if (moved > 0) != lower else "bad"
        table.add(
            label,
            Link(current, url_now, kind),
            Link(earlier, url_before, kind),
            Link(moved, "", POINTS if points else CHANGE, tone),
        )

    won_now, won_before = links.won(period), links.won(previous)
    row("Closed-won revenue", MONEY, now.won_value, before.won_value, won_now, won_before)
    row("Deals won", COUNT, now.won_count, before.won_count, won_now, won_before)
    row("Average won value", MONEY, now.average_won, before.average_won, won_now, won_before)
    row(
        "Win rate",
        PERCENT,
        now.win_rate,
        before.win_rate,
        links.closed(period),
        links.closed(previous),
        points=True,
    )
    row(
        "Average sales cycle",
        DAYS,
        now.cycle_days,
        before.cycle_days,
        won_now,
        won_before,
        lower=True,
    )
    created_now, created_before = links.created(period), links.created(previous)
    row("New deals", COUNT, now.created_count, before.created_count, created_now, created_before)
    row(
        "New deal value",
        MONEY,
        now.created_value,
        before.created_value,
        created_now,
        created_before,
    )
    open_url = links.open() if live else ""
    row(
        "Open pipeline" + (" (now)" if live else " (at period end)"),
        MONEY,
        pipeline_now["total"],
        pipeline_before["total"],
        open_url,
    )
    row(
        "Weighted pipeline" + (" (now)" if live else " (at period end)"),
        MONEY,
        pipeline_now["weighted"],
        pipeline_before["weighted"],
        open_url,
    )
    table.note = (
        "Pipeline figures of past moments are rebuilt from history: each deal in the stage "
        "and at the value it had then, each stage at the probability configured then."
    )
    return table


def _accounts(deals, period: Period, links) -> Table:
    table = Table(
        "top_accounts",
        "Top accounts by won revenue",
        [Column("Account", TEXT), Column("Deals won", COUNT), Column("Won revenue", MONEY)],
        chart=Chart(series=(2,), horizontal=True, colors=("won",)),
        empty="No deal won in this period.",
    )
    for row in revenue.top_accounts(deals, period):
        url = links.won(period, account=row["account_id"])
        table.add(row["account__name"], Link(row["won_count"], url), Link(row["won_value"], url))
    return table


def _sources(deals, period: Period, links) -> Table:
    table = Table(
        "top_sources",
        "Top lead sources",
        [
            Column("Lead source", TEXT),
            Column("Deals created", COUNT),
            Column("Deals won", COUNT),
            Column("Won revenue", MONEY),
        ],
        chart=Chart(series=(3,), horizontal=True, colors=("won",)),
        empty="No deal created or won in this period.",
    )
    for row in revenue.top_sources(deals, period):
        source = row["source_id"]
        created = links.created(period, source=source) if source else ""
        won = links.won(period, source=source) if source else ""
        table.add(
            row["source__name"] or "(no source)",
            Link(row["created_count"], created),
            Link(row["won_count"], won),
            Link(row["won_value"], won),
        )
    return table


def _lost_reasons(deals, period: Period, links) -> Table:
    table = Table(
        "top_lost_reasons",
        "Top lost reasons",
        [Column("Lost reason", TEXT), Column("Deals lost", COUNT), Column("Lost value", MONEY)],
        chart=Chart(series=(1,), horizontal=True, colors=("lost",)),
        empty="No deal lost in this period.",
    )
    for row in revenue.top_lost_reasons(deals, period):
        reason = row["lost_reason_id"]
        url = links.lost(period, lost_reason=reason) if reason else ""
        table.add(
            row["lost_reason__name"] or "(no reason)",
            Link(row["lost_count"], url),
            Link(row["lost_value"], url),
        )
    return table
