"""The forecast report: the coming two quarters month by month (won and weighted open), the
open deals outside them, and how the forecasts of the last four quarters compared with what
was won. The forecast always looks forward from today, whatever the period filter says;
`?probabilities=learned` weights it by learned instead of configured stage probabilities.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from reports.forms import ReportFilterForm
from reports.links import DealLinks
from reports.scope import report_deals
from reports.selectors.forecast import (
    Forecast,
    OpenSums,
    QuarterAccuracy,
    forecast,
    forecast_accuracy,
    learned_weights,
    mean_error,
)
from reports.tables import COUNT, MONEY, PERCENT, Chart, Column, Link, Table

CONFIGURED, LEARNED = "configured", "learned"
PROBABILITY_MODES = ((CONFIGURED, "Configured probabilities"), (LEARNED, "Learned probabilities"))

MONTHS_NOTE = (
    "{window}, looking forward from today: the period filter does not change this window. "
    "Open deals count in the month of their expected close date (this month: from today on), "
    "weighted by their stage's {mode} probability; won deals count in the month they were won."
)
APART_NOTE = "Open deals not in the months above, weighted by their stage's {mode} probability."
ACCURACY_NOTE = (
    "Forecast: on the quarter's first day, the weighted value of the deals then open and "
    "expected to close in the quarter, each at the probability configured that day for the "
    "stage it was in. Won: every deal won in the quarter. Error: |won − forecast| in % of won; the "
    "footer gives the mean over the quarters with one. Each deal counts at the value and "
    "expected close date it had that day: a deal that slipped to a later quarter still "
    "counts in this one's forecast."
)
LEARNED_NOTE = (
    "Learned probabilities: {used} of {stages} open stages had at least {min_sample} deals "
    "closed in the last {months} months and use the share of them that was won; the others "
    "keep their configured probability."
)


def probability_mode(request: HttpRequest) -> str:
    """The `probabilities` parameter; anything unknown reads as configured."""
    chosen = request.GET.get("probabilities", CONFIGURED)
    return chosen if chosen in dict(PROBABILITY_MODES) else CONFIGURED


def mode_links(request: HttpRequest, mode: str) -> list[dict[str, object]]:
    """The toggle between the modes, each link keeping the other query parameters."""
    links = []
    for value, label in PROBABILITY_MODES:
        query = request.GET.copy()
        for name in ("format", "table", "probabilities"):
            query.pop(name, None)
        if value != CONFIGURED:
            query["probabilities"] = value
        url = f"{request.path}?{query.urlencode()}" if query else request.path
        links.append({"label": label, "url": url, "active": value == mode})
    return links


def months_table(result: Forecast, links: DealLinks, *, mode: str) -> Table:
    table = Table(
        "forecast-months",
        "Forecast by month",
        [
            Column("Month"),
            Column("Won", MONEY),
            Column("Weighted open", MONEY),
            Column("Open total", MONEY),
            Column("Deals", COUNT),
        ],
        chart=Chart(series=(1, 2), stacked=True, colors=("won", "accent")),
        note=MONTHS_NOTE.format(window=_window_label(result), mode=mode),
    )
    for item in result.months:
        open_list = ""
        if item.looks_ahead:
            open_list = links.open(close_from=item.open_from, close_to=item.month.end)
        table.add(
            item.month.label,
            Link(item.won, links.won(item.month)),
            *_open_figures(item.open, open_list),
        )
    table.total(
        "Total",
        Link(sum(item.won for item in result.months), links.won(result.window)),
        *_open_figures(
            OpenSums(
                weighted=sum(item.open.weighted for item in result.months),
                total=sum(item.open.total for item in result.months),
                count=sum(item.open.count for item in result.months),
            ),
            links.open(close_from=result.today, close_to=result.window.end),
        ),
    )
    return table


def apart_table(result: Forecast, links: DealLinks, *, mode: str) -> Table:
    table = Table(
        "forecast-apart",
        "Open deals outside the forecast",
        [
            Column("Expected close"),
            Column("Weighted open", MONEY),
            Column("Open total", MONEY),
            Column("Deals", COUNT),
        ],
        note=APART_NOTE.format(mode=mode),
    )
    after = result.window.end + dt.timedelta(days=1)
    table.add("No date", *_open_figures(result.undated, links.open(expected="none")))
    table.add(
        f"Passed (before {result.today:%b %-d, %Y})",
        *_open_figures(result.overdue, links.open(expected="past")),
    )
    table.add(
        f"Later (from {after:%b %-d, %Y})",
        *_open_figures(result.later, links.open(close_from=after)),
    )
    return table


def accuracy_table(quarters: list[QuarterAccuracy], links: DealLinks) -> Table:
    table = Table(
        "forecast-accuracy",
        "Forecast accuracy, last four quarters",
        [
            Column("Quarter"),
            Column("Forecast", MONEY),
            Column("Won", MONEY),
            Column("Difference", MONEY),
            Column("Error", PERCENT),
        ],
        chart=Chart(series=(1, 2), colors=("accent", "won")),
        note=ACCURACY_NOTE,
    )
    for item in quarters:
        table.add(
            item.quarter.label,
            item.forecast,
            Link(item.won, links.won(item.quarter)),
            item.difference,
            item.error,
        )
    forecast_total = sum(item.forecast for item in quarters)
    won_total = sum(item.won for item in quarters)
    table.total(
        "Four quarters", forecast_total, won_total, won_total - forecast_total, mean_error(quarters)
    )
    return table


def _open_figures(sums: OpenSums, url: str) -> tuple[Link, Link, Link]:
    return Link(sums.weighted, url), Link(sums.total, url), Link(sums.count, url)


def _window_label(result: Forecast) -> str:
    first, last = result.months[0].month, result.months[-1].month
    return f"{first.start:%B %Y} to {last.start:%B %Y}"


def build(request: HttpRequest, form: ReportFilterForm, links: DealLinks) -> dict:
    filters = form.filters
    deals = report_deals(request.user, **filters)
    today = form.today
    mode = probability_mode(request)
    probability, learned_note = None, ""
    if mode == LEARNED:
        weights = learned_weights(deals, now=timezone.now(), pipeline=filters["pipeline"])
        probability = weights.probability
        learned_note = LEARNED_NOTE.format(
            used=weights.used,
            stages=weights.stages,
            min_sample=settings.LEARNED_PROBABILITY_MIN_SAMPLE,
            months=settings.LEARNED_PROBABILITY_MONTHS,
        )
    result = forecast(deals, today=today, probability=probability)
    return {
        "tables": [
            months_table(result, links, mode=mode),
            apart_table(result, links, mode=mode),
            accuracy_table(forecast_accuracy(deals, today=today), links),
        ],
        "probability_modes": mode_links(request, mode),
        # the forecast looks forward from today, whatever the period filter says
        "ignores_period": True,
        "learned_note": learned_note,
    }
