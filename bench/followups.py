"""The daily follow-up scan over 100,000 open deals, 30,000 of them quiet (target 2 s).

The deals are generated in PostgreSQL with one INSERT … SELECT over generate_series (no
Python loop), in their own pipeline, and removed again at the end. Each run starts from the
same state: `before_run` deletes the suggested tasks the previous run made.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from bench.runner import Case, register
from deals.models import Account, Deal, DealStatus
from pipeline_crm.models import Role, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template
from tasks.automation import followup_thresholds, stale_deals, suggest_followups
from tasks.models import Task, TaskKind

DEALS = 100_000
STALE_EVERY = 10  # deal n is quiet when n % 10 < 3: 30 %
STALE_SHARE = 3
OWNERS = 50
ACCOUNTS = 1_000
PIPELINE_NAME = "Bench follow-ups"
OWNER_USERNAME = "bench.followup{number:02d}"


@register
class SuggestFollowups(Case):
    """`suggest_followups()` — the beat job — over every pipeline of the bench database,
    with 100,000 open deals in the bench pipeline, 30 % of them without activity for 20
    days and the rest active 2 days ago. Checks one suggested task per quiet deal."""

    name = "followups"
    title = "Suggest follow-ups over 100,000 open deals (30,000 quiet)"
    target = 2.0

    def setup(self) -> None:
        self.now = timezone.now()
        self._remove()
        owners = User.objects.bulk_create(
            [
                User(
                    username=OWNER_USERNAME.format(number=n),
                    first_name="Bench",
                    last_name=f"Rep {n}",
                    role=Role.REP,
                    password=make_password(None),
                )
                for n in range(OWNERS)
            ],
            ignore_conflicts=True,
        )
        owner_ids = list(
            User.objects.filter(username__in=[o.username for o in owners]).values_list(
                "pk", flat=True
            )
        )
        self.pipeline = create_pipeline_from_template("simple", name=PIPELINE_NAME)
        accounts = Account.objects.bulk_create(
            [
                Account(name=f"Bench follow-up account {n}", owner_id=owner_ids[n % OWNERS])
                for n in range(ACCOUNTS)
            ]
        )
        stage_ids = list(
            self.pipeline.stages.filter(kind=StageKind.OPEN)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        self._insert_deals(owner_ids, [a.pk for a in accounts], stage_ids)
        with connection.cursor() as cursor:
            for model in (Deal, Task, Account):
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        self.expected = sum(
            stale_deals(now=self.now, days=days, pipeline_ids=ids).count()
            for days, ids in followup_thresholds().items()
        )
        self.quiet_here = DEALS * STALE_SHARE // STALE_EVERY

    def _insert_deals(self, owner_ids: list[int], account_ids: list[int], stage_ids: list[int]):
        """One statement: deal n gets owner n % 50, account n % 1000 (owned by that owner),
        stage n % 4 and a last activity 20 days ago for 3 in 10 deals, 2 days ago else."""
        quiet, active = self.now - timedelta(days=20), self.now - timedelta(days=2)
        sql = f"""
            INSERT INTO "{Deal._meta.db_table}" (
                title, account_id, pipeline_id, stage_id, status, owner_id, value,
                has_budget, has_authority, has_need, has_timeline, created_at, updated_at,
                stage_changed_at, last_activity_at, board_position, is_archived
            )
            SELECT 'Bench deal ' || n,
                   (%(accounts)s::bigint[])[1 + n %% {ACCOUNTS}],
                   %(pipeline)s,
                   (%(stages)s::bigint[])[1 + n %% %(stage_count)s],
                   %(open)s,
                   (%(owners)s::bigint[])[1 + n %% {OWNERS}],
                   1000 + n %% 50000,
                   false, false, false, false, %(created)s, %(created)s, %(created)s,
                   CASE WHEN n %% {STALE_EVERY} < {STALE_SHARE}
                        THEN %(quiet)s::timestamptz ELSE %(active)s::timestamptz END,
                   n,
                   false
            FROM generate_series(0, {DEALS - 1}) AS n
        """
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql,
                {
                    # account i is owned by owner i % 50, as is deal n (1000 % 50 == 0)
                    "accounts": account_ids,
                    "owners": owner_ids,
                    "stages": stage_ids,
                    "stage_count": len(stage_ids),
                    "pipeline": self.pipeline.pk,
                    "open": DealStatus.OPEN,
                    "created": self.now - timedelta(days=60),
                    "quiet": quiet,
                    "active": active,
                },
            )

    def details(self) -> dict:
        return {
            "open deals": DEALS,
            "quiet deals": self.quiet_here,
            "tasks expected (all pipelines)": self.expected,
        }

    def before_run(self) -> None:
        Task.objects.filter(kind=TaskKind.SUGGESTED).delete()
        # The same starting state each run: no dead rows from the last run's tasks.
        with connection.cursor() as cursor:
            cursor.execute(f'VACUUM ANALYZE "{Task._meta.db_table}"')

    def run(self) -> int:
        return suggest_followups(now=self.now)

    def check(self, outcome: int) -> list[str]:
        problems = []
        if outcome != self.expected:
            problems.append(f"{outcome} tasks created, expected {self.expected}")
        suggested = Task.objects.filter(kind=TaskKind.SUGGESTED, deal__pipeline=self.pipeline)
        tasks, deals = suggested.count(), suggested.values("deal").distinct().count()
        if tasks != self.quiet_here or deals != self.quiet_here:
            problems.append(
                f"{tasks} tasks for {deals} deals in the bench pipeline, "
                f"expected one for each of {self.quiet_here} quiet deals"
            )
        return problems

    def teardown(self) -> None:
        self._remove()

    def _remove(self) -> None:
        with transaction.atomic():
            Task.objects.filter(kind=TaskKind.SUGGESTED).delete()
            pipeline = Pipeline.objects.filter(name=PIPELINE_NAME).first()
            if pipeline is not None:
                Task.objects.filter(deal__pipeline=pipeline).delete()
                Deal.objects.filter(pipeline=pipeline).delete()
                Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
                pipeline.stages.all().delete()
                pipeline.delete()
            Account.objects.filter(name__startswith="Bench follow-up account").delete()
            # Left behind, they would be listed by the team report the cases after measure.
            User.objects.filter(
                username__in=[OWNER_USERNAME.format(number=n) for n in range(OWNERS)]
            ).delete()
