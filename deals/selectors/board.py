"""The board: columns with totals, their first cards, "load more" and the place of a drop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Count, F, Q, Sum, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils import timezone

from deals.models import (
    Deal,
    DealQuerySet,
)
from pipeline_crm.models import display_name, initials
from stages.models import Pipeline, Stage, StageKind
from tasks.models import Task, TaskStatus

if TYPE_CHECKING:
    from pipeline_crm.models import User

BOARD_PAGE_SIZE = 50


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows, as parsed from its URL by `BoardFilterForm`."""

    owner_id: int | None = None
    q: str = ""
    close_from: date | None = None
    close_to: date | None = None
    rotting: bool = False


@dataclass
class BoardColumn:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal(0)
    cards: list[Card] = field(default_factory=list)

    @property
    def weighted(self) -> Decimal:
        return self.total * self.stage.probability / 100

    @property
    def next_offset(self) -> int | None:
        shown = len(self.cards)
        return shown if self.count > shown else None


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[BoardColumn]
    closed_stages: list[Stage]

    @property
    def count(self) -> int:
        return sum(column.count for column in self.columns)

    def column(self, stage_id: int) -> BoardColumn | None:
        return next((c for c in self.columns if c.stage.pk == stage_id), None)

    @property
    def total(self) -> Decimal:
        return sum((column.total for column in self.columns), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((column.weighted for column in self.columns), Decimal(0))


def _rotting_q(stages: list[Stage], now: datetime) -> Q:
    rotting = Q(pk__in=[])
    for stage in stages:
        if stage.rotting_days:
            cutoff = now - timedelta(days=stage.rotting_days)
            rotting |= Q(stage=stage, last_activity_at__lt=cutoff)
    return rotting


def board_deals(
    *, pipeline: Pipeline, stages: list[Stage], user: User, filters: BoardFilters, now: datetime
) -> DealQuerySet:
    """The open, unarchived deals of `pipeline` that `user` sees under `filters`."""
    deals = Deal.objects.visible_to(user).active().open().filter(pipeline=pipeline)
    if filters.owner_id is not None:
        deals = deals.filter(owner_id=filters.owner_id)
    if filters.q:
        deals = deals.filter(Q(title__icontains=filters.q) | Q(account__name__icontains=filters.q))
    if filters.close_from:
        deals = deals.filter(expected_close_date__gte=filters.close_from)
    if filters.close_to:
        deals = deals.filter(expected_close_date__lte=filters.close_to)
    if filters.rotting:
        deals = deals.filter(_rotting_q(stages, now))
    return deals


def _task_exists_sql(condition: str = "") -> str:
    """EXISTS over the open tasks (aliased `t`) of the deal of the outer query's row, plus
    `condition`."""
    return (
        f'EXISTS (SELECT 1 FROM "{Task._meta.db_table}" t'
        f' WHERE t.deal_id = "{Deal._meta.db_table}".id AND t.status = %s{condition})'
    )


_HAS_OPEN_TASK = _task_exists_sql()
_HAS_OVERDUE_TASK = _task_exists_sql(
    " AND t.due_at < %s AND (t.snoozed_until IS NULL OR t.snoozed_until < %s)"
)


def with_task_flags(deals: DealQuerySet, *, now: datetime) -> DealQuerySet:
    """Flag deals without an open task (`has_open_task`) or with an overdue one.

    Written as SQL: the card move reads them with the deal it locks, and the ORM took
    longer to build two correlated subqueries than PostgreSQL to run them. `deals` must be
    the outer query, not a subquery (the SQL names its table)."""
    return deals.annotate(
        has_open_task=RawSQL(_HAS_OPEN_TASK, [TaskStatus.OPEN], output_field=BooleanField()),
        has_overdue_task=RawSQL(
            _HAS_OVERDUE_TASK, [TaskStatus.OPEN, now, now], output_field=BooleanField()
        ),
    )


# What a card shows, as the columns `card_rows` reads, in `Card`'s order.
CARD_COLUMNS = (
    "pk",
    "title",
    "value",
    "stage_id",
    "expected_close_date",
    "stage_changed_at",
    "last_activity_at",
    "board_position",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
    "account__name",
    "has_open_task",
    "has_overdue_task",
)


@dataclass(slots=True)
class Card:
    """A board card: a row rather than a deal with its owner and account as model
    instances, which cost a board of 350 cards about 10 ms to build."""

    pk: int
    title: str
    value: Decimal
    stage_id: int
    expected_close_date: date | None
    stage_changed_at: datetime
    last_activity_at: datetime
    board_position: int
    owner_name: str
    owner_initials: str
    account_name: str
    has_open_task: bool
    has_overdue_task: bool
    # Set by `decorate_cards`, from the clock and the column's stage.
    days_in_stage: int = 0
    is_rotting: bool = False
    rotting_days: int | None = None

    @classmethod
    def from_row(cls, row: tuple) -> Card:
        """From a row of CARD_COLUMNS."""
        first, last, username = row[8:11]
        return cls(
            *row[:8],
            display_name(first, last, username),
            initials(first, last, username),
            *row[11:],
        )

    @classmethod
    def from_deal(cls, deal: Deal) -> Card:
        """From a deal loaded with its owner and account and annotated by `with_task_flags`."""
        owner = deal.owner
        return cls(
            deal.pk,
            deal.title,
            deal.value,
            deal.stage_id,
            deal.expected_close_date,
            deal.stage_changed_at,
            deal.last_activity_at,
            deal.board_position,
            str(owner),
            owner.initials,
            deal.account.name,
            deal.has_open_task,
            deal.has_overdue_task,
        )


def card_rows(deals: DealQuerySet, *, now: datetime):
    """`deals` as rows of CARD_COLUMNS."""
    return with_task_flags(deals, now=now).values_list(*CARD_COLUMNS)


def column_totals(deals: DealQuerySet, *, stages: list[Stage]) -> list[BoardColumn]:
    """The headers (count and value of `deals`) of the columns of `stages`, in one query;
    filter `deals` to those stages when they are not all the open ones (the board's deals
    are in open stages already: a needless filter on the stage made PostgreSQL expect a
    third of the rows and hash them, 50 → 60 ms at 338,000 open deals).

    The weighted value is each column's total times its stage's probability, so PostgreSQL
    sums the columns from the `deal_open_board_totals_idx` index alone (pipeline and stage,
    with value and owner), in its order: 338,000 open deals in 50 ms instead of 160 ms when
    it also read the table. COUNT(*), not COUNT(id): the id is not in the index."""
    rows = deals.order_by().values_list("stage").annotate(count=Count("*"), total=Sum("value"))
    by_stage = {stage_id: (count, total) for stage_id, count, total in rows}
    columns = []
    for stage in stages:
        count, total = by_stage.get(stage.pk, (0, None))
        columns.append(BoardColumn(stage=stage, count=count, total=total or Decimal(0)))
    return columns


def decorate_cards(cards: list[Card], *, stage: Stage, now: datetime) -> None:
    """Set what a card shows that depends on the clock and its column: days in stage,
    rotting."""
    for card in cards:
        card.rotting_days = stage.rotting_days
        card.days_in_stage = (now - card.stage_changed_at).days
        idle_days = (now - card.last_activity_at).days
        card.is_rotting = bool(stage.rotting_days) and idle_days > stage.rotting_days


def index_in_column(
    *, deal: Deal, stage: Stage, user: User, filters: BoardFilters, index: int
) -> int:
    """Translate an index among the cards shown under `filters` into one over the whole
    column: the new place is just before the card now shown at `index`."""
    now = timezone.now()
    shown = (
        board_deals(pipeline=deal.pipeline, stages=[stage], user=user, filters=filters, now=now)
        .filter(stage=stage)
        .exclude(pk=deal.pk)
    )
    anchor = shown.order_by("board_position", "pk").values("board_position", "pk")[
        index : index + 1
    ]
    column = Deal.objects.active().open().filter(stage=stage).exclude(pk=deal.pk)
    if not anchor:
        return column.count()
    anchor = anchor[0]
    return column.filter(
        Q(board_position__lt=anchor["board_position"])
        | Q(board_position=anchor["board_position"], pk__lt=anchor["pk"])
    ).count()


def build_board(
    *,
    pipeline: Pipeline,
    user: User,
    filters: BoardFilters,
    now: datetime | None = None,
) -> Board:
    """Columns of open stages with totals over all matching deals and their first cards.

    Three queries whatever the number of deals: stages (from the prefetch when present),
    totals per stage, and the first BOARD_PAGE_SIZE cards of every column in one query.
    """
    now = now or timezone.now()
    stages = sorted(pipeline.stages.all(), key=lambda s: (s.position, s.pk))
    deals = board_deals(pipeline=pipeline, stages=stages, user=user, filters=filters, now=now)
    open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
    columns = column_totals(deals, stages=open_stages)
    open_ids = [stage.pk for stage in open_stages]
    cards = _first_cards(deals, now=now, stage_ids=open_ids)
    for column in columns:
        column.cards = cards.get(column.stage.pk, [])
        decorate_cards(column.cards, stage=column.stage, now=now)
    closed = [stage for stage in stages if stage.kind != StageKind.OPEN]
    return Board(pipeline=pipeline, columns=columns, closed_stages=closed)


def _first_cards(
    deals: DealQuerySet, *, now: datetime, stage_ids: list[int]
) -> dict[int, list[Card]]:
    """The first BOARD_PAGE_SIZE cards of every column (`stage_ids`), in one query."""
    cards: dict[int, list[Card]] = {}
    for row in _first_card_rows(card_rows(deals, now=now), stage_ids=stage_ids):
        card = Card.from_row(row)
        cards.setdefault(card.stage_id, []).append(card)
    for column in cards.values():
        # UNION ALL keeps no order between its parts' rows.
        column.sort(key=lambda card: (card.board_position, card.pk))
    return cards


# Stands for a stage id in the SQL of one column, compiled once for all the columns.
_STAGE_SLOT = -2_147_483_647


def _first_card_rows(rows, *, stage_ids: list[int]) -> list[tuple]:
    """On PostgreSQL, one `ORDER BY board_position LIMIT n` per column joined by UNION ALL:
    each reads its column in the order of the unique (stage, board_position) index and stops
    after n cards, however long the column (a window over all open deals sorts them all:
    0.44 s at 100,000 deals). The ORM would compile the same part once per column (about
    1 ms each), so it is compiled once and repeated with each column's stage id. Other
    databases, which cannot order the parts of a UNION, number the cards per column with
    a window."""
    order = ("board_position", "pk")
    if not stage_ids:
        return []
    if not connection.features.supports_slicing_ordering_in_compound:
        ranked = rows.annotate(
            rank=Window(RowNumber(), partition_by=F("stage"), order_by=[F(name) for name in order])
        )
        return list(ranked.filter(rank__lte=BOARD_PAGE_SIZE).order_by("stage", *order))
    part = rows.filter(stage_id=_STAGE_SLOT).order_by(*order)[:BOARD_PAGE_SIZE]
    query = part.query
    try:
        sql, params = query.sql_with_params()
    except EmptyResultSet:  # a filter nothing can match: rotting where no stage rots
        return []
    slots = [index for index, param in enumerate(params) if param == _STAGE_SLOT]
    # The rows' columns in the order the SQL selects them, which values_list() reorders.
    selected = [*query.extra_select, *query.values_select, *query.annotation_select]
    if len(slots) != 1 or selected != list(CARD_COLUMNS):
        raise AssertionError(f"unexpected SQL for a board column: {sql}")
    [slot] = slots
    union = " UNION ALL ".join([f"({sql})"] * len(stage_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            union,
            [
                stage_id if index == slot else param
                for stage_id in stage_ids
                for index, param in enumerate(params)
            ],
        )
        return cursor.fetchall()


def column_page(
    *,
    pipeline: Pipeline,
    stage: Stage,
    user: User,
    filters: BoardFilters,
    offset: int,
    now: datetime | None = None,
) -> list[Card]:
    """The next BOARD_PAGE_SIZE cards of one column, for "load more"."""
    now = now or timezone.now()
    stages = [stage]
    deals = board_deals(pipeline=pipeline, stages=stages, user=user, filters=filters, now=now)
    rows = card_rows(deals.filter(stage=stage), now=now).order_by("board_position", "pk")
    page = [Card.from_row(row) for row in rows[offset : offset + BOARD_PAGE_SIZE]]
    decorate_cards(page, stage=stage, now=now)
    return page
