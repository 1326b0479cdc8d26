"""The team report: per rep and per team, the activity logged and the deals created, won and
lost in the period, the open pipeline now and the deals going stale in it; with two charts,
the activity and the won revenue by rep."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from reports.selectors.team import Figures, PersonFigures, TeamGroup, team_figures
from reports.tables import COUNT, DAYS, MONEY, PERCENT, Chart, Column, Link, Table

if TYPE_CHECKING:
    from django.http import HttpRequest

    from reports.forms import ReportFilterForm
    from reports.links import DealLinks
    from reports.periods import Period

NO_TEAM = "No team"
SUBTOTAL = "{team} subtotal"
TOTAL = "Total"
INACTIVE = "{person} (inactive)"
MANAGER = "{person} (manager)"
TEAM_NOTE = (
    "Activities logged, deals created, won and lost in the period; open pipeline and stale "
    "deals now. Stale: open deals without activity for longer than their stage's rotting "
    "days or their pipeline's follow-up threshold, whichever is shorter."
)
NOBODY = "Nobody to report on."


def build(request: HttpRequest, form: ReportFilterForm, links: DealLinks) -> dict:
    period = form.chosen_period
    groups = team_figures(request.user, period=period, now=timezone.now(), **form.filters)
    people = [row for group in groups for row in group.people]
    team = team_table(groups, period=period, links=links)
    activity = activity_table(people)
    revenue = revenue_table(people, period=period, links=links)
    return {
        "tables": [team, activity, revenue],
        "team_table": team,
        "activity_table": activity,
        "revenue_table": revenue,
    }


def team_table(groups: list[TeamGroup], *, period: Period, links: DealLinks) -> Table:
    """A row per person, a subtotal per team when there are several groups, a total."""
    table = Table(
        "team",
        "Team",
        [
            Column("Rep"),
            Column("Emails", COUNT),
            Column("Calls", COUNT),
            Column("Meetings", COUNT),
            Column("Notes", COUNT),
            Column("Created", COUNT),
            Column("Won", COUNT),
            Column("Won revenue", MONEY),
            Column("Win rate", PERCENT),
            Column("Open pipeline", MONEY),
            Column("Weighted", MONEY),
            Column("Avg cycle (days)", DAYS),
            Column("Stale", COUNT),
        ],
        note=TEAM_NOTE,
        empty=NOBODY,
    )
    total = Figures()
    for group in groups:
        for row in group.people:
            # The deal list filters by active people only: an inactive person's figures
            # are counted, and reachable through their team's and the total's links.
            owner = {"owner": row.person.pk} if row.person.is_active else None
            table.add(_label(row), *_values(row.figures, period=period, links=links, by=owner))
        figures = group.figures
        total += figures
        if len(groups) > 1:
            name = group.team.name if group.team else NO_TEAM
            by = {"team": group.team.pk} if group.team else None
            table.subtotal(
                SUBTOTAL.format(team=name), *_values(figures, period=period, links=links, by=by)
            )
    table.total(TOTAL, *_values(total, period=period, links=links, by={}))
    return table


def activity_table(people: list[PersonFigures]) -> Table:
    table = Table(
        "activity",
        "Activity by rep",
        [
            Column("Rep"),
            Column("Emails", COUNT),
            Column("Calls", COUNT),
            Column("Meetings", COUNT),
            Column("Notes", COUNT),
        ],
        chart=Chart("bar", series=(1, 2, 3, 4), stacked=True),
        empty=NOBODY,
    )
    for row in sorted(people, key=lambda row: -row.figures.activities):
        f = row.figures
        table.add(_label(row), f.emails, f.calls, f.meetings, f.notes)
    return table


def revenue_table(people: list[PersonFigures], *, period: Period, links: DealLinks) -> Table:
    table = Table(
        "won-revenue",
        "Won revenue by rep",
        [Column("Rep"), Column("Won revenue", MONEY), Column("Won", COUNT)],
        chart=Chart("bar", series=(1,), horizontal=True, colors=("won",)),
        empty=NOBODY,
    )
    for row in sorted(people, key=lambda row: -row.figures.won_revenue):
        f = row.figures
        if row.person.is_active:
            url = links.won(period, owner=row.person.pk)
            table.add(_label(row), Link(f.won_revenue, url), Link(f.won, url))
        else:
            table.add(_label(row), f.won_revenue, f.won)
    return table


def _label(row: PersonFigures) -> str:
    person = MANAGER.format(person=row.person) if row.leads else str(row.person)
    return person if row.person.is_active else INACTIVE.format(person=person)


def _values(
    f: Figures, *, period: Period, links: DealLinks, by: dict[str, object] | None
) -> list[object]:
    """The figure columns of a row; with `by` (deal-list filters: owner, team, or none for
    all), the deal counts and sums link to the deals behind them."""
    created, won, won_revenue = f.created, f.won, f.won_revenue
    open_value, weighted, stale = f.open_value, f.weighted, f.stale
    if by is not None:
        won_url, open_url = links.won(period, **by), links.open(**by)
        created = Link(created, links.created(period, **by))
        won, won_revenue = Link(won, won_url), Link(won_revenue, won_url)
        open_value, weighted = Link(open_value, open_url), Link(weighted, open_url)
        stale = Link(stale, links.stale(**by))
    return [
        f.emails,
        f.calls,
        f.meetings,
        f.notes,
        created,
        won,
        won_revenue,
        f.win_rate,
        open_value,
        weighted,
        f.average_cycle,
        stale,
    ]
