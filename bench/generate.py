"""The benchmark data set, written by PostgreSQL itself, and the benchmark of writing it.

One place generates the data every large benchmark reads, for three callers:
`python manage.py generate_bench_data` (any size, `--remove` to delete it), the report and page
benchmarks (through `ensure()`), and the `generate` case below, which times it.

What `generate(deals=N, board_deals=M)` writes, all with INSERT … SELECT over generate_series
(no Python loop over deals; PostgreSQL only):

- 50 reps in five teams with a manager each, and an admin (`ADMIN_USERNAME`), all
  "bench.report.*" with unusable passwords; one account per 50 deals.
- The "Bench reports" pipeline ("Sales cycle in 8 phases" template) with N deals created evenly
  over the last two years, each entering its open stages one after another (a step of 3 to 13
  days), 40 % won and 30 % lost once their last step is behind them: about 5 stage changes per
  deal (the first is the creation), and 3 activities per deal. One deal in four had its value
  and expected close date edited once during its life, one in twelve twice (each edit lowered
  the value by 2,500 and pushed the date 21 days out): about 33,000 forecast changes.
- The "Bench board" pipeline (same template: 7 open stages, won, lost) with M open deals created
  in the last 120 days, spread evenly over the open stages: deal n in open stage n % 7 at
  board position (n / 7 + 1) × 1024, unique in each column and spaced as the board spaces
  them (`POSITION_GAP`); each has its creation stage change.

Sharing the set between benchmark cases: call `ensure()` in a case's `setup()`. The first call
of a run removes any leftover set, builds the default one (100,000 deals and a 10,000-deal
board; about 30 s) and registers its removal in `bench.runner.AFTER_ALL`; later calls, from any
module, return at once with the admin user and the board pipeline. Calls with other sizes
rebuild the set, so use the defaults unless a case truly needs another size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from bench.runner import AFTER_ALL, Case, log, register
from deals.models import (
    Account,
    Activity,
    Deal,
    DealStatus,
    ForecastChange,
    LeadSource,
    LostReason,
    StageChange,
)
from deals.services.moves import POSITION_GAP
from pipeline_crm.models import Role, Team, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template
from tasks.models import Task

DEALS = 100_000
BOARD_DEALS = 10_000
ACTIVITIES_PER_DEAL = 3
DEALS_PER_ACCOUNT = 50
TEAMS = 5
REPS_PER_TEAM = 10
DAYS = 730
BOARD_DAYS = 120
TEMPLATE = "sales-cycle-8"
PIPELINE_NAME = "Bench reports"
BOARD_PIPELINE_NAME = "Bench board"
USER_PREFIX = "bench.report."
USERNAME = USER_PREFIX + "{role}{number:02d}"
ADMIN_USERNAME = USER_PREFIX + "admin"
ACCOUNT_PREFIX = "Bench report account"
TEAM_PREFIX = "Bench report team"
SOURCES = ("Website", "Referral", "Trade show", "Cold call", "LinkedIn", "Partner")
LOST_REASONS = ("Price", "Went with a competitor", "No budget", "No decision", "Timing")
PLAN_TABLE = "bench_report_plan"


@dataclass
class Generated:
    """What `generate()` wrote, for the command's summary and the benchmark's check."""

    admin: User
    pipeline: Pipeline
    board: Pipeline
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _users() -> tuple[list[int], User]:
    """The admin, five managers and their teams, and 50 reps: 56 rows, not worth SQL."""
    password = make_password(None)
    admin = User.objects.create(
        username=ADMIN_USERNAME, role=Role.ADMIN, is_staff=True, password=password
    )
    reps = []
    for t in range(TEAMS):
        manager = User.objects.create(
            username=USERNAME.format(role="manager", number=t),
            first_name="Manager",
            last_name=f"{t + 1:02d}",
            role=Role.MANAGER,
            password=password,
        )
        team = Team.objects.create(name=f"{TEAM_PREFIX} {t + 1}", manager=manager)
        reps += User.objects.bulk_create(
            User(
                username=USERNAME.format(role="rep", number=t * REPS_PER_TEAM + r),
                first_name="Rep",
                last_name=f"{t * REPS_PER_TEAM + r + 1:02d}",
                role=Role.REP,
                team=team,
                password=password,
            )
            for r in range(REPS_PER_TEAM)
        )
    return [rep.pk for rep in reps], admin


def _stage_ids(pipeline: Pipeline) -> tuple[list[int], int, int]:
    stages = list(pipeline.stages.order_by("position"))
    open_ids = [s.pk for s in stages if s.kind == StageKind.OPEN]
    won_id = next(s.pk for s in stages if s.kind == StageKind.WON)
    lost_id = next(s.pk for s in stages if s.kind == StageKind.LOST)
    return open_ids, won_id, lost_id


def generate(*, deals: int = DEALS, board_deals: int = BOARD_DEALS) -> Generated:
    """Write the data set described in the module docstring; PostgreSQL only.

    Expects no earlier set (call `remove()` first). Inside a transaction it ends with ANALYZE,
    outside one with VACUUM ANALYZE (index-only scans want the visibility map).
    """
    started = time.perf_counter()
    now = timezone.now()
    _truncate_if_empty()
    with transaction.atomic():
        rep_ids, admin = _users()
        pipeline = create_pipeline_from_template(TEMPLATE, name=PIPELINE_NAME)
        board = create_pipeline_from_template(TEMPLATE, name=BOARD_PIPELINE_NAME, position=1)
        open_ids, won_id, lost_id = _stage_ids(pipeline)
        board_open_ids, _, _ = _stage_ids(board)
        sources = [LeadSource.objects.get_or_create(name=name)[0].pk for name in SOURCES]
        reasons = [LostReason.objects.get_or_create(name=name)[0].pk for name in LOST_REASONS]
        params = {
            "now": now,
            "deals": deals,
            "board_deals": board_deals,
            "accounts": max(1, deals // DEALS_PER_ACCOUNT),
            "activities": deals * ACTIVITIES_PER_DEAL,
            "pipeline": pipeline.pk,
            "board": board.pk,
            "open": open_ids,
            "won": won_id,
            "lost": lost_id,
            "board_open": board_open_ids,
            "reps": rep_ids,
            "sources": sources,
            "reasons": reasons,
        }
        counts = {}
        with connection.cursor() as cursor:
            cursor.execute(ACCOUNTS_SQL, params)
            params["account_ids"] = sorted(row[0] for row in cursor.fetchall())
            counts["accounts"] = len(params["account_ids"])
            cursor.execute(PLAN_SQL, params)
            cursor.execute(DEALS_SQL, params)
            counts["deals"] = cursor.rowcount
            cursor.execute(CHANGES_SQL, params)
            counts["stage changes"] = cursor.rowcount
            cursor.execute(ACTIVITIES_SQL, params)
            counts["activities"] = cursor.rowcount
            cursor.execute(EDITS_SQL, params)
            counts["forecast changes"] = cursor.rowcount
            cursor.execute(f"DROP TABLE {PLAN_TABLE}")
            cursor.execute(BOARD_SQL, params)
            counts["board deals"] = cursor.rowcount
        counts["users"] = len(rep_ids) + TEAMS + 1
        counts["teams"] = TEAMS
    analyze = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        for model in (Deal, StageChange, ForecastChange, Activity, Account, User):
            cursor.execute(f'{analyze} "{model._meta.db_table}"')
    return Generated(
        admin=admin,
        pipeline=pipeline,
        board=board,
        counts=counts,
        seconds=time.perf_counter() - started,
    )


ACCOUNTS_SQL = f"""
    INSERT INTO "{Account._meta.db_table}" (name, industry, website, owner_id, linkedin_url,
                                            twitter_url, created_at, is_archived)
    SELECT '{ACCOUNT_PREFIX} ' || a, '', '', (%(reps)s::bigint[])[1 + a %% {TEAMS * REPS_PER_TEAM}],
           '', '', %(now)s::timestamptz - interval '{DAYS} days', false
    FROM generate_series(0, %(accounts)s - 1) AS a
    RETURNING id
"""

# Deal n: created n × 2 years / N after two years ago; won (n % 20 < 8), lost (< 14) or open;
# steps: how many open stages it goes through (won deals 4–7, the others 1–7), each lasting
# `step`. `entered`: the steps begun by now; `closed`: its close is in the past; `edits`: how
# many times its value and expected close were edited, at a third and two thirds of `life`
# (its time from creation to its close, or to now).
PLAN_SQL = f"""
    CREATE TEMPORARY TABLE {PLAN_TABLE} AS
    SELECT *,
           CASE WHEN closed THEN steps * step ELSE %(now)s::timestamptz - created_at END AS life
    FROM (
    SELECT n, created_at, outcome, steps, step,
           LEAST(steps, FLOOR(EXTRACT(EPOCH FROM %(now)s::timestamptz - created_at)
                              / EXTRACT(EPOCH FROM step))::int + 1) AS entered,
           outcome <> 'open' AND created_at + steps * step < %(now)s::timestamptz AS closed,
           CASE WHEN n %% 12 = 1 THEN 2 WHEN n %% 4 = 1 THEN 1 ELSE 0 END AS edits
    FROM (
        SELECT n,
               %(now)s::timestamptz - interval '{DAYS} days'
                   + n * interval '{DAYS} days' / %(deals)s AS created_at,
               CASE WHEN n %% 20 < 8 THEN 'won' WHEN n %% 20 < 14 THEN 'lost' ELSE 'open' END
                   AS outcome,
               CASE WHEN n %% 20 < 8 THEN 4 + n %% 4 ELSE 1 + (n::bigint * 7919) %% 7 END AS steps,
               interval '1 day' * (3 + n %% 11) + interval '1 minute' * (n %% 600) AS step
        FROM generate_series(1, %(deals)s) AS n
    ) AS plan
    ) AS entered
"""

# board_position = n: unique in the pipeline, so it also finds deal n again below.
DEALS_SQL = f"""
    INSERT INTO "{Deal._meta.db_table}" (
        title, account_id, pipeline_id, stage_id, status, owner_id, value, expected_close_date,
        source_id, lost_reason_id, has_budget, has_authority, has_need, has_timeline,
        created_at, updated_at, stage_changed_at, closed_at, last_activity_at, board_position,
        is_archived, forecast_changed_at
    )
    SELECT 'Bench report deal ' || n,
           (%(account_ids)s::bigint[])[1 + (n * 13) %% %(accounts)s],
           %(pipeline)s,
           CASE WHEN NOT closed THEN (%(open)s::bigint[])[entered]
                WHEN outcome = 'won' THEN %(won)s ELSE %(lost)s END,
           CASE WHEN NOT closed THEN '{DealStatus.OPEN}'
                WHEN outcome = 'won' THEN '{DealStatus.WON}' ELSE '{DealStatus.LOST}' END,
           (%(reps)s::bigint[])[1 + n %% {TEAMS * REPS_PER_TEAM}],
           1000 + (n * 37) %% 200 * 500,
           (created_at + steps * step)::date + (n %% 41 - 20),
           CASE WHEN n %% 9 = 0 THEN NULL
                ELSE (%(sources)s::bigint[])[1 + n %% {len(SOURCES)}] END,
           CASE WHEN closed AND outcome = 'lost'
                THEN (%(reasons)s::bigint[])[1 + (n / 20) %% {len(LOST_REASONS)}] END,
           false, false, false, false,
           created_at, created_at,
           CASE WHEN closed THEN created_at + steps * step
                ELSE created_at + (entered - 1) * step END,
           CASE WHEN closed THEN created_at + steps * step END,
           LEAST(created_at + (entered - 1) * step + interval '1 day' * (n %% 25),
                 %(now)s::timestamptz),
           n,
           false,
           CASE WHEN edits > 0 THEN created_at + life * edits / 3 END
    FROM {PLAN_TABLE}
"""

# Edit k of a deal's `edits` replaced a value 2,500 higher and a date 21 days earlier than
# the edit after it set (the last one: than the deal holds).
EDITS_SQL = f"""
    INSERT INTO "{ForecastChange._meta.db_table}" (deal_id, value_before,
                                                   expected_close_date_before, by_id, changed_at)
    SELECT d.id,
           d.value + 2500 * (p.edits - k + 1),
           d.expected_close_date - 21 * (p.edits - k + 1),
           d.owner_id,
           p.created_at + p.life * k / 3
    FROM {PLAN_TABLE} AS p
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
    CROSS JOIN LATERAL generate_series(1, p.edits) AS k
"""

# One change per stage entered (the first is the creation), and the close.
CHANGES_SQL = f"""
    INSERT INTO "{StageChange._meta.db_table}" (deal_id, from_stage_id, to_stage_id, by_id,
                                                changed_at)
    SELECT d.id,
           CASE WHEN i > 1 THEN (%(open)s::bigint[])[i - 1] END,
           (%(open)s::bigint[])[i],
           d.owner_id,
           p.created_at + (i - 1) * p.step
    FROM {PLAN_TABLE} AS p
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
    CROSS JOIN LATERAL generate_series(1, p.entered) AS i
    UNION ALL
    SELECT d.id, (%(open)s::bigint[])[p.steps], d.stage_id, d.owner_id, d.closed_at
    FROM {PLAN_TABLE} AS p
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
    WHERE p.closed
"""

# Activity a: on deal 1 + a % N by its owner, between its creation and now.
ACTIVITIES_SQL = f"""
    INSERT INTO "{Activity._meta.db_table}" (kind, subject, body, occurred_at, user_id, deal_id,
                                             account_id, created_at)
    SELECT (ARRAY['email', 'call', 'meeting', 'note'])[1 + a %% 4],
           'Bench activity ' || a, '',
           LEAST(p.created_at + interval '1 hour' * (a %% 2000), %(now)s::timestamptz),
           d.owner_id, d.id, d.account_id, %(now)s::timestamptz
    FROM generate_series(1, %(activities)s) AS a
    JOIN {PLAN_TABLE} AS p ON p.n = 1 + a %% %(deals)s
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
"""

# Board deal n (from 0): open stage n % k, position (n / k + 1) × gap, created in the last
# 120 days; its creation stage change is written by the same statement.
BOARD_SQL = f"""
    WITH plan AS (
        SELECT n, cardinality(%(board_open)s::bigint[]) AS k,
               %(now)s::timestamptz - interval '1 day' * (1 + n %% {BOARD_DAYS})
                   - interval '1 minute' * (n %% 1440) AS created_at
        FROM generate_series(0, %(board_deals)s - 1) AS n
    ), deals AS (
        INSERT INTO "{Deal._meta.db_table}" (
            title, account_id, pipeline_id, stage_id, status, owner_id, value,
            expected_close_date, source_id, has_budget, has_authority, has_need, has_timeline,
            created_at, updated_at, stage_changed_at, last_activity_at, board_position,
            is_archived
        )
        SELECT 'Bench board deal ' || n,
               (%(account_ids)s::bigint[])[1 + (n * 17) %% %(accounts)s],
               %(board)s,
               (%(board_open)s::bigint[])[1 + n %% k],
               '{DealStatus.OPEN}',
               (%(reps)s::bigint[])[1 + (n * 7) %% {TEAMS * REPS_PER_TEAM}],
               1000 + (n * 53) %% 100 * 750,
               created_at::date + 30 + n %% 90,
               (%(sources)s::bigint[])[1 + n %% {len(SOURCES)}],
               n %% 2 = 0, n %% 3 = 0, n %% 4 = 0, n %% 5 = 0,
               created_at, created_at, created_at,
               LEAST(created_at + interval '1 hour' * (n %% 300), %(now)s::timestamptz),
               (n / k + 1) * {POSITION_GAP},
               false
        FROM plan
        RETURNING id, stage_id, owner_id, created_at
    )
    INSERT INTO "{StageChange._meta.db_table}" (deal_id, from_stage_id, to_stage_id, by_id,
                                                changed_at)
    SELECT id, NULL, stage_id, owner_id, created_at FROM deals
"""


def _truncate_if_empty() -> None:
    """Empty the deal tables for good when no row is left in them: their indexes then grow
    from the new set's inserts alone, as a real database's do. Deleted rows leave their
    index pages behind: after a full run, 1,000,000 deals had indexes 2.5 times the size
    they grow to, and the revenue dashboard took 0.79 s instead of 0.50."""
    tables: set[str] = set()
    models = [Deal, StageChange, Activity, Task]
    while models:  # with every table whose foreign keys point at them
        model = models.pop()
        if model._meta.db_table in tables:
            continue
        if model.objects.exists():
            return
        tables.add(model._meta.db_table)
        models += [
            rel.related_model
            for rel in model._meta.related_objects
            if not rel.many_to_many and rel.field.db_constraint
        ]
    names = ", ".join(connection.ops.quote_name(table) for table in sorted(tables))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names}")
    log(f"bench data: emptied {len(tables)} tables before generating")


def remove() -> int:
    """Delete everything `generate()` wrote (not the shared lead sources and lost reasons);
    the number of deals deleted."""
    removed = 0
    with transaction.atomic():
        for pipeline in Pipeline.objects.filter(name__in=(PIPELINE_NAME, BOARD_PIPELINE_NAME)):
            deals = Deal.objects.filter(pipeline=pipeline)
            Task.objects.filter(deal__in=deals).delete()
            Activity.objects.filter(deal__in=deals).delete()
            StageChange.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            ForecastChange.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            removed += deals._raw_delete(connection.alias)
            Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
            pipeline.stages.all().delete()
            pipeline.delete()
        Account.objects.filter(name__startswith=ACCOUNT_PREFIX).delete()
        users = User.objects.filter(username__startswith=USER_PREFIX)
        Team.objects.filter(name__startswith=TEAM_PREFIX).delete()
        users.delete()
    return removed


class _Shared:
    """The set `ensure()` built in this run: its sizes, or None."""

    sizes: tuple[int, int] | None = None
    cleanup_registered = False


def ensure(*, deals: int = DEALS, board_deals: int = BOARD_DEALS) -> tuple[User, Pipeline]:
    """The admin user and the board pipeline of the shared set, built on the first call of a
    run (see the module docstring) and removed after the run's last case."""
    if _Shared.sizes != (deals, board_deals):
        remove()
        generated = generate(deals=deals, board_deals=board_deals)
        log(
            f"bench data: {deals:,} deals and a {board_deals:,}-deal board built in "
            f"{generated.seconds:.1f} s"
        )
        _Shared.sizes = (deals, board_deals)
        if not _Shared.cleanup_registered:
            AFTER_ALL.append(drop)
            _Shared.cleanup_registered = True
    return (
        User.objects.get(username=ADMIN_USERNAME),
        Pipeline.objects.get(name=BOARD_PIPELINE_NAME),
    )


def drop() -> None:
    """Remove the shared set if `ensure()` built it; the next `ensure()` builds it again."""
    if _Shared.sizes is not None:
        remove()
        _Shared.sizes = None


@register
class GenerateData(Case):
    """`generate()` at the command's default size. Each run starts from an empty set: the
    shared set, if a case built it already, is dropped (the next `ensure()` rebuilds it)."""

    name = "generate"
    title = (
        "Generate 100,000 deals with 515,000 stage changes and 300,000 activities, "
        "and a 10,000-deal board"
    )
    target = 60.0
    runs = 3

    def setup(self) -> None:
        drop()
        remove()

    def before_run(self) -> None:
        remove()

    def run(self) -> Generated:
        return generate(deals=DEALS, board_deals=BOARD_DEALS)

    def check(self, outcome: Generated) -> list[str]:
        problems = []
        if outcome.counts["deals"] != DEALS:
            problems.append(f"{outcome.counts['deals']} deals written, not {DEALS}")
        if outcome.counts["board deals"] != BOARD_DEALS:
            problems.append(f"{outcome.counts['board deals']} board deals, not {BOARD_DEALS}")
        if outcome.counts["activities"] != DEALS * ACTIVITIES_PER_DEAL:
            problems.append(f"{outcome.counts['activities']} activities")
        if not 4 * DEALS <= outcome.counts["stage changes"] <= 6 * DEALS:
            problems.append(f"{outcome.counts['stage changes']} stage changes")
        return problems

    def teardown(self) -> None:
        remove()

    def details(self) -> dict:
        return {
            "deals": DEALS,
            "board deals": BOARD_DEALS,
            "activities": DEALS * ACTIVITIES_PER_DEAL,
            "accounts": DEALS // DEALS_PER_ACCOUNT,
        }
