"""The team report's figures: per person in scope, their activity logged in a period, the
deals they created, won and lost in it, and their open and stale pipeline now; grouped by
team.

Four grouped queries and two small ones, whatever the number of deals, activities or
people: the open stages' idleness thresholds; the deals created or closed in the period by
owner; the open deals by owner and stage, and those of them active lately; the activities
by user and kind; the people with their team. The rows are merged in Python by person.

Who is listed: the active people the user reports on (reports/scope.py), and an inactive one
only while they have a figure (a deal or activity counted in the period, an open deal): their
deals stay in the team's and the grand total, so their row must too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, DurationField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from deals.models import ActivityKind, Deal, DealStatus
from deals.selectors.stale import active_rule, stale_thresholds
from deals.selectors.totals import ZERO
from reports.scope import report_activities, report_deals, report_people
from reports.selectors import days
from reports.tables import ratio
from stages.models import Stage

if TYPE_CHECKING:
    from pipeline_crm.models import Team, User
    from reports.periods import Period
    from stages.models import Pipeline

NO_TIME = Value(dt.timedelta(0), output_field=DurationField())
ACTIVITY_FIELDS = {
    ActivityKind.EMAIL: "emails",
    ActivityKind.CALL: "calls",
    ActivityKind.MEETING: "meetings",
    ActivityKind.NOTE: "notes",
}


@dataclass
class Figures:
    """One person's figures, or the sum of several people's. Rates and averages are read
    from the summed counts, so a team's win rate is its own, not an average of rates."""

    emails: int = 0
    calls: int = 0
    meetings: int = 0
    notes: int = 0
    created: int = 0
    won: int = 0
    lost: int = 0
    won_revenue: Decimal = Decimal(0)
    cycle: dt.timedelta = dt.timedelta(0)  # created → closed, summed over the won deals
    open_value: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    stale: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            **{name: getattr(self, name) + getattr(other, name) for name in _FIELD_NAMES}
        )

    @property
    def win_rate(self) -> Decimal | None:
        """Won ÷ (won + lost) among the deals closed in the period, in %."""
        return ratio(self.won, self.won + self.lost)

    @property
    def average_cycle(self) -> Decimal | None:
        """Days from creation to close, on average, of the deals won in the period."""
        if not self.won:
            return None
        return days(self.cycle) / self.won

    @property
    def activities(self) -> int:
        return self.emails + self.calls + self.meetings + self.notes

    def __bool__(self) -> bool:
        return self != Figures()


_FIELD_NAMES = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True)
class PersonFigures:
    person: User
    figures: Figures
    leads: bool = False  # counted in the team they manage, not being on a team


@dataclass
class TeamGroup:
    team: Team | None  # None: the people without a team
    people: list[PersonFigures] = field(default_factory=list)

    @property
    def figures(self) -> Figures:
        return sum((row.figures for row in self.people), Figures())


def team_figures(
    user: User,
    *,
    period: Period,
    now: dt.datetime,
    pipeline: Pipeline | None = None,
    team: Team | None = None,
    owner: User | None = None,
) -> list[TeamGroup]:
    """The figures of the people `user` reports on, under the report's filters, grouped by
    team (by name; the people without a team last), people by name within a team. A
    manager on no team counts in the team they manage (`Team.people`), the first by name
    when they manage several and no team is chosen."""
    scope = {"pipeline": pipeline, "team": team, "owner": owner}
    by_person: dict[int, Figures] = defaultdict(Figures)
    deals = report_deals(user, **scope)
    _add_period_deals(by_person, deals, period=period)
    _add_open_deals(by_person, deals, now=now, pipeline=scope["pipeline"])
    for row in _activity_rows(user, period=period, scope=scope):
        setattr(by_person[row["user"]], ACTIVITY_FIELDS[row["kind"]], row["n"])
    counted = [pk for pk, figures in by_person.items() if figures]

    people = report_people(user).filter(Q(is_active=True) | Q(pk__in=counted))
    if team is not None:
        people = people.filter(pk__in=team.people())
    if owner is not None:
        people = people.filter(pk=owner.pk)
    groups: dict[int | None, TeamGroup] = {}
    for person in people.select_related("team").prefetch_related("managed_teams"):
        led = person.team is None and (team or next(iter(person.managed_teams.all()), None))
        counted_in = led or person.team
        group = groups.setdefault(counted_in and counted_in.pk, TeamGroup(counted_in))
        figures = by_person.get(person.pk, Figures())
        group.people.append(PersonFigures(person, figures, leads=bool(led)))
    return sorted(groups.values(), key=lambda g: (g.team is None, g.team.name if g.team else ""))


def _add_period_deals(
    by_person: dict[int, Figures], deals: QuerySet[Deal], *, period: Period
) -> None:
    """Deals created, won and lost in the period, by owner: read through the indexes on
    the creation and close dates, not by a scan of every deal."""
    created = Q(created_at__gte=period.start_at, created_at__lt=period.end_at)
    closed = Q(closed_at__gte=period.start_at, closed_at__lt=period.end_at)
    won = closed & Q(status=DealStatus.WON)
    rows = (
        deals.filter(created | closed)
        .order_by()
        .values_list("owner")
        .annotate(
            created=Count("pk", filter=created),
            won=Count("pk", filter=won),
            lost=Count("pk", filter=closed & Q(status=DealStatus.LOST)),
            won_revenue=Coalesce(Sum("value", filter=won), ZERO),
            cycle=Coalesce(
                Sum(F("closed_at") - F("created_at"), filter=won, output_field=DurationField()),
                NO_TIME,
            ),
        )
    )
    for owner, created_count, won_count, lost_count, won_revenue, cycle in rows:
        figures = by_person[owner]
        figures.created, figures.won, figures.lost = created_count, won_count, lost_count
        figures.won_revenue, figures.cycle = Decimal(won_revenue), cycle


def _add_open_deals(
    by_person: dict[int, Figures],
    deals: QuerySet[Deal],
    *,
    now: dt.datetime,
    pipeline: Pipeline | None,
) -> None:
    """Open and weighted pipeline and stale deals now, by owner, in two queries that read
    indexes of the open deals alone: counts and values by owner and stage from the board's
    covering index (each stage's probability looked up once per group), and the deals
    active within their stage's threshold from the index on last activity. Stale is the
    rest: in a pipeline nobody has followed up, most open deals are stale, and counting
    them would read every open deal from the table."""
    probability = Stage.objects.filter(pk=OuterRef("stage")).order_by().values("probability")
    open_deals = deals.filter(status=DealStatus.OPEN).order_by()
    by_stage = open_deals.values_list("owner", "stage").annotate(
        count=Count("*"), total=Sum("value"), weighted=Sum("value") * Subquery(probability)
    )
    thresholds = stale_thresholds(pipeline=pipeline)
    counted_stages = {stage_id for stage_ids in thresholds.values() for stage_id in stage_ids}
    for owner, stage_id, count, total, weighted in by_stage:
        figures = by_person[owner]
        figures.open_value += total or 0
        figures.weighted += (weighted or 0) / 100
        if stage_id in counted_stages:
            figures.stale += count
    active = active_rule(thresholds, now=now)
    if active is not None:
        fresh = open_deals.filter(active).values_list("owner").annotate(count=Count("*"))
        for owner, count in fresh:
            by_person[owner].stale -= count


def _activity_rows(user: User, *, period: Period, scope: dict[str, object]) -> list[dict]:
    """Activities of the period by user and kind. COUNT(*), not COUNT(id): the id is not in
    `activity_period_idx`, and without it PostgreSQL counts from that index alone."""
    return list(
        report_activities(user, **scope)
        .filter(occurred_at__gte=period.start_at, occurred_at__lt=period.end_at, user__isnull=False)
        .values("user", "kind")
        .annotate(n=Count("*"))
        .order_by()
    )
