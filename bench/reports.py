"""The report dashboards at 100,000 deals with 500,000 stage changes (target 200 ms each).

The data set is written by PostgreSQL itself (INSERT … SELECT over generate_series, no Python
loop), in its own pipeline of the "Sales cycle in 8 phases" template: 50 reps in five teams
with a manager each, 2,000 accounts, 100,000 deals created evenly over the last two years,
each entering its stages one after another (a step of 3 to 13 days), 40 % won and 30 % lost
once their last step is behind them, and 300,000 activities. It is built once for all the
report cases and removed after the last one (`bench.runner.AFTER_ALL`).

Each run renders one dashboard for an admin (every deal in scope) through the Django test
client, for this quarter against the last.
"""

from __future__ import annotations

import time

from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bench.runner import AFTER_ALL, Case, log, register
from deals.models import Account, Activity, Deal, DealStatus, LeadSource, LostReason, StageChange
from pipeline_crm.models import Role, Team, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template
from tasks.models import Task

DEALS = 100_000
ACTIVITIES = 300_000
TEAMS = 5
REPS_PER_TEAM = 10
ACCOUNTS = 2_000
DAYS = 730
PIPELINE_NAME = "Bench reports"
USERNAME = "bench.report.{role}{number:02d}"
ADMIN_USERNAME = "bench.report.admin"
ACCOUNT_PREFIX = "Bench report account"
TEAM_PREFIX = "Bench report team"
SOURCES = ("Website", "Referral", "Trade show", "Cold call", "LinkedIn", "Partner")
LOST_REASONS = ("Price", "Went with a competitor", "No budget", "No decision", "Timing")
TARGET = 0.2


class ReportData:
    """The shared data set: built by the first report case, removed after the run."""

    built = False

    @classmethod
    def ensure(cls) -> User:
        if not cls.built:
            remove()
            started = time.perf_counter()
            build()
            log(f"reports: data set built in {time.perf_counter() - started:.1f} s")
            cls.built = True
            AFTER_ALL.append(cls.drop)
        return User.objects.get(username=ADMIN_USERNAME)

    @classmethod
    def drop(cls) -> None:
        if cls.built:
            remove()
            cls.built = False


def _users() -> tuple[list[int], User]:
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


def build() -> None:
    now = timezone.now()
    with transaction.atomic():
        rep_ids, _ = _users()
        pipeline = create_pipeline_from_template("sales-cycle-8", name=PIPELINE_NAME)
        stages = list(pipeline.stages.order_by("position"))
        open_ids = [s.pk for s in stages if s.kind == StageKind.OPEN]
        won_id = next(s.pk for s in stages if s.kind == StageKind.WON)
        lost_id = next(s.pk for s in stages if s.kind == StageKind.LOST)
        accounts = Account.objects.bulk_create(
            Account(name=f"{ACCOUNT_PREFIX} {n}", owner_id=rep_ids[n % len(rep_ids)])
            for n in range(ACCOUNTS)
        )
        sources = [LeadSource.objects.get_or_create(name=name)[0].pk for name in SOURCES]
        reasons = [LostReason.objects.get_or_create(name=name)[0].pk for name in LOST_REASONS]
        params = {
            "now": now,
            "pipeline": pipeline.pk,
            "open": open_ids,
            "won": won_id,
            "lost": lost_id,
            "reps": rep_ids,
            "accounts": [a.pk for a in accounts],
            "sources": sources,
            "reasons": reasons,
        }
        with connection.cursor() as cursor:
            cursor.execute(PLAN_SQL, params)
            cursor.execute(DEALS_SQL, params)
            cursor.execute(CHANGES_SQL, params)
            cursor.execute(ACTIVITIES_SQL, params)
            cursor.execute("DROP TABLE bench_report_plan")
    with connection.cursor() as cursor:
        for model in (Deal, StageChange, Activity, Account, User):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')


# Deal n: created n × 2 years / 100,000 after two years ago; won (n % 20 < 8), lost (< 14) or
# open; steps: how many open stages it goes through (won deals 4–7, the others 1–7), each
# lasting `step`. `entered`: the steps begun by now; `closed`: its close is in the past.
PLAN_SQL = f"""
    CREATE TEMPORARY TABLE bench_report_plan AS
    SELECT n, created_at, outcome, steps, step,
           LEAST(steps, FLOOR(EXTRACT(EPOCH FROM %(now)s::timestamptz - created_at)
                              / EXTRACT(EPOCH FROM step))::int + 1) AS entered,
           outcome <> 'open' AND created_at + steps * step < %(now)s::timestamptz AS closed
    FROM (
        SELECT n,
               %(now)s::timestamptz - interval '{DAYS} days'
                   + n * interval '{DAYS} days' / {DEALS} AS created_at,
               CASE WHEN n %% 20 < 8 THEN 'won' WHEN n %% 20 < 14 THEN 'lost' ELSE 'open' END
                   AS outcome,
               CASE WHEN n %% 20 < 8 THEN 4 + n %% 4 ELSE 1 + (n * 7919) %% 7 END AS steps,
               interval '1 day' * (3 + n %% 11) + interval '1 minute' * (n %% 600) AS step
        FROM generate_series(1, {DEALS}) AS n
    ) AS plan
"""

DEALS_SQL = f"""
    INSERT INTO "{Deal._meta.db_table}" (
        title, account_id, pipeline_id, stage_id, status, owner_id, value, expected_close_date,
        source_id, lost_reason_id, has_budget, has_authority, has_need, has_timeline,
        created_at, updated_at, stage_changed_at, closed_at, last_activity_at, board_position,
        is_archived
    )
    SELECT 'Bench report deal ' || n,
           (%(accounts)s::bigint[])[1 + (n * 13) %% {ACCOUNTS}],
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
           false
    FROM bench_report_plan
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
    FROM bench_report_plan AS p
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
    CROSS JOIN LATERAL generate_series(1, p.entered) AS i
    UNION ALL
    SELECT d.id, (%(open)s::bigint[])[p.steps], d.stage_id, d.owner_id, d.closed_at
    FROM bench_report_plan AS p
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
    WHERE p.closed
"""

# Activity a: on deal 1 + a % 100,000 by its owner, between its creation and now.
ACTIVITIES_SQL = f"""
    INSERT INTO "{Activity._meta.db_table}" (kind, subject, body, occurred_at, user_id, deal_id,
                                             account_id, created_at)
    SELECT (ARRAY['email', 'call', 'meeting', 'note'])[1 + a %% 4],
           'Bench activity ' || a, '',
           LEAST(p.created_at + interval '1 hour' * (a %% 2000), %(now)s::timestamptz),
           d.owner_id, d.id, d.account_id, %(now)s::timestamptz
    FROM generate_series(1, {ACTIVITIES}) AS a
    JOIN bench_report_plan AS p ON p.n = 1 + a %% {DEALS}
    JOIN "{Deal._meta.db_table}" AS d ON d.pipeline_id = %(pipeline)s AND d.board_position = p.n
"""


def remove() -> None:
    with transaction.atomic():
        pipeline = Pipeline.objects.filter(name=PIPELINE_NAME).first()
        if pipeline is not None:
            deals = Deal.objects.filter(pipeline=pipeline)
            Task.objects.filter(deal__in=deals).delete()
            Activity.objects.filter(deal__in=deals).delete()
            StageChange.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            deals._raw_delete(connection.alias)
            Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
            pipeline.stages.all().delete()
            pipeline.delete()
        Account.objects.filter(name__startswith=ACCOUNT_PREFIX).delete()
        users = User.objects.filter(username__startswith="bench.report.")
        Team.objects.filter(name__startswith=TEAM_PREFIX).delete()
        users.delete()


class Dashboard(Case):
    """One report page for an admin, this quarter against the last."""

    url: str
    target = TARGET

    def setup(self) -> None:
        admin = ReportData.ensure()
        self.url = self.page_url()
        self.client = Client()
        self.client.force_login(admin)
        self.client.get(self.url, secure=True)  # the session in the cache

    def page_url(self) -> str:
        return self.url

    def run(self):
        # secure: the settings run with DEBUG off, which redirects plain HTTP to HTTPS.
        return self.client.get(self.url, secure=True)

    def check(self, response) -> list[str]:
        if response.status_code != 200:
            return [f"{self.url} answered {response.status_code}"]
        return []

    def details(self) -> dict:
        return {
            "deals": Deal.objects.count(),
            "stage changes": StageChange.objects.count(),
            "activities": Activity.objects.count(),
        }


@register
class RevenueDashboard(Dashboard):
    """The revenue dashboard: headline figures of this quarter and the last, the pipeline now
    and rebuilt from stage history at the end of the last quarter, the top lists."""

    name = "reports_revenue"
    title = "Revenue dashboard, 100,000 deals, 500,000 stage changes"
    url = "/reports/revenue/"


@register
class TeamDashboard(Dashboard):
    """The team dashboard: 55 people in five teams, their activity, deals and stale deals."""

    name = "reports_team"
    title = "Team dashboard, 100,000 deals, 300,000 activities, 55 people"
    url = "/reports/team/"


@register
class ForecastReport(Dashboard):
    """The forecast of the coming six months and the accuracy of the last four quarters'
    forecasts, rebuilt from stage history."""

    name = "reports_forecast"
    title = "Forecast and forecast accuracy, 100,000 deals"
    url = "/reports/forecast/"


@register
class FunnelReport(Dashboard):
    """The funnel of the bench pipeline's deals created this quarter, with the learned
    probabilities as the half-hourly beat job leaves them (cached)."""

    name = "reports_funnel"
    title = "Stage funnel with learned probabilities, 100,000 deals"
    url = "/reports/funnel/"

    def page_url(self) -> str:
        return f"{self.url}?pipeline={Pipeline.objects.get(name=PIPELINE_NAME).pk}"


@register
class FunnelReportCold(FunnelReport):
    """The funnel when the learned probabilities are not in the cache, which the half-hourly
    beat job keeps filled: the worst case, when no worker runs (no target: the page's target
    is the case above)."""

    name = "reports_funnel_cold"
    title = "Stage funnel, learned probabilities counted by the page (no beat job), 100,000 deals"
    target = None

    def before_run(self) -> None:
        cache.clear()
