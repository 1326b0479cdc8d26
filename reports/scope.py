"""Whose figures a user may read in reports, and the deals and activities behind them
(the rule itself is `deals.models.reported_by`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from deals.models import Activity, Deal, reported_by
from pipeline_crm.models import Team, User

if TYPE_CHECKING:
    from stages.models import Pipeline


def report_people(user: User) -> QuerySet[User]:
    """The people whose figures `user` may read (active or not: history stays)."""
    if user.is_crm_admin:
        return User.objects.all()
    rule = Q(pk=user.pk)
    if user.is_manager:
        rule |= Q(team__manager=user)
    return User.objects.filter(rule)


def report_teams(user: User) -> QuerySet[Team]:
    """The teams `user` may filter reports by: all for an admin, their own for a manager."""
    if user.is_crm_admin:
        return Team.objects.all()
    if user.is_manager:
        return Team.objects.filter(manager=user)
    return Team.objects.none()


def report_deals(
    user: User,
    *,
    pipeline: Pipeline | None = None,
    team: Team | None = None,
    owner: User | None = None,
) -> QuerySet[Deal]:
    """The unarchived deals behind `user`'s figures, narrowed by the report's filters
    (which the filter form has already checked are in `user`'s scope)."""
    deals = Deal.objects.filter(is_archived=False)
    return _narrowed(deals, user, "owner", "pipeline", pipeline=pipeline, team=team, owner=owner)


def report_activities(
    user: User,
    *,
    pipeline: Pipeline | None = None,
    team: Team | None = None,
    owner: User | None = None,
) -> QuerySet[Activity]:
    """The activities logged by the people behind `user`'s figures, under the same
    filters; with a pipeline, only those of its deals."""
    return _narrowed(
        Activity.objects.all(),
        user,
        "user",
        "deal__pipeline",
        pipeline=pipeline,
        team=team,
        owner=owner,
    )


def _narrowed(rows: QuerySet, user: User, person: str, pipeline_field: str, **chosen) -> QuerySet:
    """`rows` of the people `user` reports on (`person` names the row's person), with the
    chosen pipeline, team and owner; None leaves a filter out."""
    rows = rows.filter(reported_by(user, person))
    team = chosen.pop("team", None)
    if team is not None:
        rows = rows.filter(**{f"{person}__in": team.people()})
    fields = {"pipeline": pipeline_field, "owner": person}
    for name, value in chosen.items():
        if value is not None:
            rows = rows.filter(**{fields[name]: value})
    return rows
