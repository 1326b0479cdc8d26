"""`generate_bench_data`: what it writes at a small size, its removal, and its refusals."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery

from bench import generate
from conftest import require_or_skip
from deals.models import Account, Activity, Deal, DealStatus, ForecastChange, StageChange
from pipeline_crm.management.commands.generate_bench_data import (
    NOT_A_BENCH_DATABASE,
    NOT_POSTGRES,
)
from pipeline_crm.models import Role, Team, User
from stages.models import Pipeline, StageKind

DEALS = 500
BOARD_DEALS = 100


@pytest.fixture
def generated(db) -> dict[str, Pipeline]:
    if connection.vendor != "postgresql":
        require_or_skip("the generator's SQL is PostgreSQL's: set DATABASE_URL (CI does)")
    out = StringIO()
    call_command(
        "generate_bench_data",
        deals=DEALS,
        board_deals=BOARD_DEALS,
        force=True,
        stdout=out,
    )
    assert "500 deals, " in out.getvalue()
    return {
        "reports": Pipeline.objects.get(name=generate.PIPELINE_NAME),
        "board": Pipeline.objects.get(name=generate.BOARD_PIPELINE_NAME),
    }


def test_generate_writes_deals_history_activities_and_people(generated):
    deals = Deal.objects.filter(pipeline=generated["reports"])
    assert deals.count() == DEALS
    changes = StageChange.objects.filter(deal__pipeline=generated["reports"]).count()
    assert 4.5 * DEALS <= changes <= 5.5 * DEALS
    assert Activity.objects.filter(deal__pipeline=generated["reports"]).count() == 3 * DEALS
    assert Account.objects.filter(name__startswith=generate.ACCOUNT_PREFIX).count() == 10
    teams = Team.objects.filter(name__startswith=generate.TEAM_PREFIX)
    assert teams.count() == 5
    assert not teams.filter(manager=None).exists()
    assert {team.members.filter(role=Role.REP).count() for team in teams} == {10}
    assert User.objects.get(username=generate.ADMIN_USERNAME).role == Role.ADMIN
    by_status = dict(deals.values_list("status").annotate(n=Count("pk")))
    assert set(by_status) == {DealStatus.OPEN, DealStatus.WON, DealStatus.LOST}


def test_every_deal_is_in_a_stage_of_its_status_and_closed_ones_have_closed_at(generated):
    deals = Deal.objects.filter(pipeline__in=generated.values())
    assert not deals.filter(status=DealStatus.OPEN).exclude(stage__kind=StageKind.OPEN).exists()
    assert not deals.filter(status=DealStatus.OPEN, closed_at__isnull=False).exists()
    closed = deals.exclude(status=DealStatus.OPEN)
    assert closed.exists()
    assert not closed.filter(closed_at=None).exists()
    assert not closed.exclude(stage__kind=F("status")).exists()


def test_board_deals_are_open_and_spread_over_the_open_stages_at_unique_positions(generated):
    board = Deal.objects.filter(pipeline=generated["board"])
    assert board.count() == BOARD_DEALS
    assert set(board.values_list("status", flat=True)) == {DealStatus.OPEN}
    open_stages = generated["board"].stages.filter(kind=StageKind.OPEN).count()
    assert open_stages == 7
    assert board.values("stage").distinct().count() == open_stages
    assert board.values("stage", "board_position").distinct().count() == BOARD_DEALS
    sizes = set(board.values_list("stage").annotate(n=Count("pk")).values_list("n", flat=True))
    assert sizes == {BOARD_DEALS // open_stages, BOARD_DEALS // open_stages + 1}


def test_every_deal_starts_with_its_creation_stage_change(generated):
    deals = Deal.objects.filter(pipeline__in=generated.values())
    first = StageChange.objects.filter(deal=OuterRef("pk")).order_by("changed_at", "pk")
    deals = deals.annotate(
        first_from=Subquery(first.values("from_stage")[:1]),
        first_at=Subquery(first.values("changed_at")[:1]),
        creations=Count("stage_changes", filter=Q(stage_changes__from_stage=None)),
    )
    assert deals.count() == DEALS + BOARD_DEALS
    assert not deals.filter(first_from__isnull=False).exists()
    assert not deals.exclude(first_at=F("created_at")).exists()
    assert set(deals.values_list("creations", flat=True)) == {1}


def test_edited_deals_have_a_consistent_forecast_history(generated):
    deals = Deal.objects.filter(pipeline=generated["reports"])
    edits = ForecastChange.objects.filter(deal__in=deals)
    assert edits.count() == DEALS // 4 + DEALS // 12 + 1  # n % 4 == 1, and n % 12 == 1 again
    last = edits.filter(deal=OuterRef("pk")).order_by("-changed_at", "-pk")
    edited = deals.filter(forecast_changed_at__isnull=False)
    assert edited.count() == (DEALS + 3) // 4
    # The deal's latest edit is when it says it was edited; every edit lies in its life.
    assert not edited.exclude(forecast_changed_at=Subquery(last.values("changed_at")[:1])).exists()
    assert not edits.filter(changed_at__lte=F("deal__created_at")).exists()
    assert not edits.filter(
        deal__closed_at__isnull=False, changed_at__gte=F("deal__closed_at")
    ).exists()
    assert not edits.filter(value_before__lte=F("deal__value")).exists()


def test_remove_leaves_nothing(generated):
    out = StringIO()
    call_command("generate_bench_data", remove=True, force=True, stdout=out)
    assert f"({DEALS + BOARD_DEALS:,} deals)" in out.getvalue()
    names = (generate.PIPELINE_NAME, generate.BOARD_PIPELINE_NAME)
    assert not Pipeline.objects.filter(name__in=names).exists()
    assert not Deal.objects.exists()
    assert not StageChange.objects.exists()
    assert not ForecastChange.objects.exists()
    assert not Activity.objects.exists()
    assert not Account.objects.filter(name__startswith=generate.ACCOUNT_PREFIX).exists()
    assert not User.objects.filter(username__startswith=generate.USER_PREFIX).exists()
    assert not Team.objects.filter(name__startswith=generate.TEAM_PREFIX).exists()


@pytest.mark.parametrize("options", [{}, {"remove": True}])
def test_refuses_a_database_not_named_bench_without_force(db, options):
    message = NOT_A_BENCH_DATABASE.format(name=connection.settings_dict["NAME"])
    with pytest.raises(CommandError, match=f"^{re.escape(message)}$"):
        call_command("generate_bench_data", deals=10, board_deals=0, **options)
    assert not Deal.objects.exists()
    assert not User.objects.exists()


def test_refuses_other_databases_even_with_force(db, monkeypatch):
    # Runs on either database: the command asks the connection which one it is.
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match=f"^{NOT_POSTGRES.format(vendor='sqlite')}$"):
        call_command("generate_bench_data", deals=10, board_deals=0, force=True)
    assert not Deal.objects.exists()
