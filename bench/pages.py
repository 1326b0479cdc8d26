"""The pages people open all day: the board at 10,000 and 100,000 open deals, "load more",
a drag between columns, the deal list, a deal page and an account page.

The data is written by PostgreSQL itself (INSERT … SELECT over generate_series), in
pipelines of the "Sales cycle in 8 phases" template (7 open stages, won, lost): deal n sits
in open stage n % 7 at board position (n / 7 + 1) × 1024, so positions are unique in each
column and spaced as the board spaces them; it has one stage change (its creation). The
10,000-deal pipeline is built once for every case that needs it, the 100,000-deal one only
when `board_100k` runs; both are removed after the last case (`bench.runner.AFTER_ALL`).

Each run is one request through the Django test client, over HTTPS, as an admin (every deal
in scope). Sessions are read from the cache (`cached_db`), as in production with its shared
cache (CACHE_URL): the bench has none, and would otherwise count a session query per request
that production does not send. The move posts as the board's script does (HX-Request), without the CSRF token:
the client does not enforce CSRF checks, which costs no query either way.
"""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlencode

from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from bench.runner import AFTER_ALL, log, register
from bench.web import PageCase
from deals.models import Account, Activity, Deal, DealStatus, StageChange
from deals.selectors import BOARD_PAGE_SIZE
from deals.services.moves import POSITION_GAP
from pipeline_crm.models import Role, User
from stages.models import Pipeline, StageKind
from stages.services import create_pipeline_from_template
from tasks.models import Task

PIPELINE_NAME = "Bench pages {size}"
USER_PREFIX = "bench.pages."
ADMIN_USERNAME = "bench.pages.admin"
ACCOUNT_PREFIX = "Bench pages account"
REPS = 20
ACCOUNTS = 500
ACTIVITIES_PER_DEAL = 12  # on the deals of the first account, the one the pages open
MOVE_INDEX = 3  # where the moved card is dropped in the other column
CARD = '<article id="deal-'
# How the board's script posts a move (URLSearchParams).
FORM_ENCODED = "application/x-www-form-urlencoded"

DEALS_SQL = f"""
    INSERT INTO "{Deal._meta.db_table}" (
        title, account_id, pipeline_id, stage_id, status, owner_id, value, expected_close_date,
        has_budget, has_authority, has_need, has_timeline, created_at, updated_at,
        stage_changed_at, last_activity_at, board_position, is_archived
    )
    SELECT 'Bench page deal ' || n,
           (%(accounts)s::bigint[])[1 + n %% {ACCOUNTS}],
           %(pipeline)s,
           (%(stages)s::bigint[])[1 + n %% %(stage_count)s],
           '{DealStatus.OPEN}',
           (%(owners)s::bigint[])[1 + n %% {REPS}],
           1000 + (n * 37) %% 200 * 500,
           %(now)s::date + (n %% 120 - 30),
           n %% 2 = 0, n %% 3 = 0, n %% 5 = 0, n %% 7 = 0,
           %(now)s::timestamptz - interval '1 hour' * (n %% 4000),
           %(now)s::timestamptz,
           %(now)s::timestamptz - interval '1 hour' * (n %% 2000),
           %(now)s::timestamptz - interval '1 hour' * (n %% 1000),
           (n / %(stage_count)s + 1) * {POSITION_GAP},
           false
    FROM generate_series(0, %(deals)s - 1) AS n
"""

CHANGES_SQL = f"""
    INSERT INTO "{StageChange._meta.db_table}" (deal_id, from_stage_id, to_stage_id, by_id,
                                                changed_at)
    SELECT id, NULL, stage_id, owner_id, created_at
    FROM "{Deal._meta.db_table}"
    WHERE pipeline_id = %(pipeline)s
"""

ACTIVITIES_SQL = f"""
    INSERT INTO "{Activity._meta.db_table}" (kind, subject, body, occurred_at, user_id, deal_id,
                                             account_id, created_at)
    SELECT (ARRAY['email', 'call', 'meeting', 'note'])[1 + a %% 4],
           'Bench page activity ' || a, 'Notes of the conversation.',
           d.created_at + interval '1 hour' * a, d.owner_id, d.id, d.account_id,
           %(now)s::timestamptz
    FROM "{Deal._meta.db_table}" AS d
    CROSS JOIN generate_series(1, {ACTIVITIES_PER_DEAL}) AS a
    WHERE d.pipeline_id = %(pipeline)s AND d.account_id = %(account)s
"""


class PageData:
    """The shared users and accounts, and one pipeline per size, built when first needed."""

    pipelines: ClassVar[dict[int, int]] = {}
    admin_id: ClassVar[int | None] = None
    account_ids: ClassVar[list[int]] = []
    owner_ids: ClassVar[list[int]] = []

    @classmethod
    def ensure(cls, deals: int) -> tuple[User, Pipeline]:
        if cls.admin_id is None:
            remove()
            cls._people()
            AFTER_ALL.append(cls.drop)
        if deals not in cls.pipelines:
            started = time.perf_counter()
            cls.pipelines[deals] = _build_pipeline(
                deals, owner_ids=cls.owner_ids, account_ids=cls.account_ids
            )
            log(f"pages: {deals} deals built in {time.perf_counter() - started:.1f} s")
        return User.objects.get(pk=cls.admin_id), Pipeline.objects.get(pk=cls.pipelines[deals])

    @classmethod
    def _people(cls) -> None:
        password = make_password(None)
        with transaction.atomic():
            admin = User.objects.create(
                username=ADMIN_USERNAME, role=Role.ADMIN, is_staff=True, password=password
            )
            reps = User.objects.bulk_create(
                User(
                    username=f"{USER_PREFIX}rep{n:02d}",
                    first_name="Page",
                    last_name=f"Rep {n:02d}",
                    role=Role.REP,
                    password=password,
                )
                for n in range(REPS)
            )
            accounts = Account.objects.bulk_create(
                Account(name=f"{ACCOUNT_PREFIX} {n:03d}", owner_id=reps[n % REPS].pk)
                for n in range(ACCOUNTS)
            )
        cls.admin_id = admin.pk
        cls.owner_ids = [rep.pk for rep in reps]
        cls.account_ids = [account.pk for account in accounts]

    @classmethod
    def drop(cls) -> None:
        if cls.admin_id is not None:
            remove()
            cls.admin_id = None
            cls.pipelines.clear()


def _build_pipeline(deals: int, *, owner_ids: list[int], account_ids: list[int]) -> int:
    now = timezone.now()
    with transaction.atomic():
        pipeline = create_pipeline_from_template(
            "sales-cycle-8", name=PIPELINE_NAME.format(size=deals)
        )
        open_ids = list(
            pipeline.stages.filter(kind=StageKind.OPEN)
            .order_by("position")
            .values_list("pk", flat=True)
        )
        params = {
            "now": now,
            "pipeline": pipeline.pk,
            "stages": open_ids,
            "stage_count": len(open_ids),
            "owners": owner_ids,
            "accounts": account_ids,
            "account": account_ids[0],
            "deals": deals,
        }
        with connection.cursor() as cursor:
            cursor.execute(DEALS_SQL, params)
            cursor.execute(CHANGES_SQL, params)
            cursor.execute(ACTIVITIES_SQL, params)
    with connection.cursor() as cursor:
        for model in (Deal, StageChange, Activity, Account, User):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    return pipeline.pk


def remove() -> None:
    with transaction.atomic():
        for pipeline in Pipeline.objects.filter(name__startswith=PIPELINE_NAME.format(size="")):
            deals = Deal.objects.filter(pipeline=pipeline)
            Task.objects.filter(deal__in=deals).delete()
            Activity.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            StageChange.objects.filter(deal__in=deals)._raw_delete(connection.alias)
            deals._raw_delete(connection.alias)
            Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
            pipeline.stages.all().delete()
            pipeline.delete()
        Account.objects.filter(name__startswith=ACCOUNT_PREFIX).delete()
        User.objects.filter(username__startswith=USER_PREFIX).delete()


class Page(PageCase):
    """One page for an admin; `deals`: the open deals of the pipeline it shows."""

    deals: ClassVar[int] = 10_000
    runs = 50

    def prepare(self) -> User:
        self.admin, self.pipeline = PageData.ensure(self.deals)
        self.stages = list(self.pipeline.stages.filter(kind=StageKind.OPEN).order_by("position"))
        cache.clear()
        return self.admin

    def details(self) -> dict:
        return {"open deals in the pipeline": self.deals, "url": self.url}


class Board(Page):
    def page_url(self) -> str:
        return reverse("deals:board", args=[self.pipeline.pk])

    def check_page(self, html: str) -> list[str]:
        expected = BOARD_PAGE_SIZE * len(self.stages)
        cards = html.count(CARD)
        return [] if cards == expected else [f"{cards} cards on the board, expected {expected}"]


@register
class Board10k(Board):
    """The board of a pipeline with 10,000 open deals in 7 columns, first 50 cards each."""

    name = "board_10k"
    title = "Board page, 10,000 open deals"
    target = 0.05
    p99_target = 0.08
    max_queries = 8


@register
class Board100k(Board):
    """The board of a pipeline with 100,000 open deals in 7 columns, first 50 cards each."""

    name = "board_100k"
    title = "Board page, 100,000 open deals"
    target = 0.08
    max_queries = 8
    deals = 100_000


@register
class BoardLoadMore(Page):
    """ "Load more" in the first column of the 10,000-deal board: cards 51 to 100."""

    name = "board_load_more"
    title = "Board: load more of one column, 10,000 open deals"
    target = 0.025
    max_queries = 5

    def page_url(self) -> str:
        url = reverse("deals:column", args=[self.pipeline.pk, self.stages[0].pk])
        return f"{url}?offset={BOARD_PAGE_SIZE}"

    def check_page(self, html: str) -> list[str]:
        cards = html.count(CARD)
        return [] if cards == BOARD_PAGE_SIZE else [f"{cards} cards, expected {BOARD_PAGE_SIZE}"]


@register
class MoveCard(Page):
    """A card dragged between the first two columns of the 10,000-deal board, dropped 4th,
    as the board's script posts it; runs alternate the direction, so each one moves."""

    name = "move_card"
    title = "Board: move a card between columns, 10,000 open deals"
    target = 0.008
    p99_target = 0.02
    max_queries = 6

    def page_url(self) -> str:
        self.deal = Deal.objects.filter(pipeline=self.pipeline, stage=self.stages[0]).latest("pk")
        return reverse("deals:move", args=[self.deal.pk])

    def before_run(self) -> None:
        current = Deal.objects.values_list("stage_id", flat=True).get(pk=self.deal.pk)
        self.from_stage, self.to_stage = (
            (self.stages[0], self.stages[1])
            if current == self.stages[0].pk
            else (self.stages[1], self.stages[0])
        )

    def run(self) -> HttpResponse:
        fields = {
            "stage": self.to_stage.pk,
            "from_stage": self.from_stage.pk,
            "position": MOVE_INDEX,
        }
        return self.client.post(
            self.url,
            urlencode(fields),
            content_type=FORM_ENCODED,
            headers={"HX-Request": "true"},
            secure=True,
        )

    def check(self, outcome: HttpResponse) -> list[str]:
        if outcome.status_code != 200:
            return [f"the move answered {outcome.status_code}: {outcome.content[:200]!r}"]
        column = Deal.objects.filter(
            stage=self.to_stage, status=DealStatus.OPEN, is_archived=False
        ).order_by("board_position", "pk")
        landed = list(column.values_list("pk", flat=True)[: MOVE_INDEX + 1])
        if landed[-1:] != [self.deal.pk]:
            return [f"deal {self.deal.pk} is not 4th in {self.to_stage.name}: {landed}"]
        return []


@register
class DealList(Page):
    """The deal list as it opens, first page, every deal of the bench database in scope."""

    name = "deal_list"
    title = "Deal list, first page"

    def page_url(self) -> str:
        return reverse("deals:list")


@register
class DealPage(Page):
    """A deal page: its timeline of 12 activities and its history, BANT, tasks."""

    name = "deal_page"
    title = "Deal page with 12 activities"

    def page_url(self) -> str:
        deal = Deal.objects.filter(
            pipeline=self.pipeline, account_id=PageData.account_ids[0]
        ).latest("pk")
        return reverse("deals:detail", args=[deal.pk])


@register
class AccountPage(Page):
    """An account page: its 20 deals and their 240 activities."""

    name = "account_page"
    title = "Account page with 20 deals"

    def page_url(self) -> str:
        return reverse("deals:account-detail", args=[PageData.account_ids[0]])
