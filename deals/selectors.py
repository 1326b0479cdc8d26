"""Reads that span relations: the board and the deals a user may see or change."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    ActivityKind,
    Deal,
    DealQuerySet,
    DealStatus,
    LostReason,
    StageChange,
)
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
    cards: list[Deal] = field(default_factory=list)

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


def can_change_deal(user: User, deal: Deal) -> bool:
    """`DealQuerySet.changeable_by` for one deal already loaded, without a query.

    Needs `deal.owner.team` loaded (select_related("owner__team")).
    """
    if user.is_crm_admin or deal.owner_id == user.pk:
        return True
    team = deal.owner.team
    if team is None:
        return False
    if team.manager_id == user.pk:
        return True
    return settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS and team.pk == user.team_id


def can_change_account(user: User, account: Account) -> bool:
    """`AccountQuerySet.changeable_by` for one account already loaded, without a query
    when `account.owner.team` is loaded (select_related("owner__team")). Contacts follow
    their account."""
    if user.is_crm_admin or account.owner_id == user.pk:
        return True
    team = account.owner.team
    if team is None:
        return False
    if team.manager_id == user.pk:
        return True
    return settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS and team.pk == user.team_id


def get_deal_for_user_or_404(user: User, deal_id: int, *, lock: bool = False) -> Deal:
    """The deal if `user` may see it, else 404. With `lock`, the row is locked
    (select_for_update) and carries the task flags a board card shows."""
    deals = Deal.objects.visible_to(user).select_related("owner__team", "account", "pipeline")
    if lock:
        # No join on the stage: a concurrent move changes it, and PostgreSQL's recheck
        # after waiting for the lock would then drop the row (a false 404).
        deals = with_task_flags(deals.select_for_update(of=("self",)), now=timezone.now())
    else:
        deals = deals.select_related("stage")
    try:
        return deals.get(pk=deal_id)
    except Deal.DoesNotExist:
        raise Http404("No such deal.") from None


def visible_pipelines(user: User) -> list[Pipeline]:
    """Active pipelines for the switcher, each with its stages prefetched."""
    return list(Pipeline.objects.active().prefetch_related("stages"))


def default_pipeline(user: User) -> Pipeline | None:
    return Pipeline.objects.active().first()


def board_owners(user: User):
    """The people whose deals `user` may filter the board by."""
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name")
    if user.is_crm_admin:
        return people
    if user.is_manager:
        return people.filter(Q(pk=user.pk) | Q(team__manager=user))
    if user.team_id:
        return people.filter(Q(pk=user.pk) | Q(team_id=user.team_id))
    return people.filter(pk=user.pk)


def active_lost_reasons():
    return LostReason.objects.filter(is_active=True)


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


def with_task_flags(deals: DealQuerySet, *, now: datetime) -> DealQuerySet:
    """Flag deals without an open task (`has_open_task`) or with an overdue one."""
    open_tasks = Task.objects.filter(deal=OuterRef("pk"), status=TaskStatus.OPEN)
    overdue = open_tasks.filter(due_at__lt=now).filter(
        Q(snoozed_until__isnull=True) | Q(snoozed_until__lt=now)
    )
    return deals.annotate(has_open_task=Exists(open_tasks), has_overdue_task=Exists(overdue))


def with_card_details(deals: DealQuerySet, *, now: datetime) -> DealQuerySet:
    """Join and flag what a board card shows, loading only the fields it needs."""
    return with_task_flags(
        deals.select_related("owner", "account").only(
            "title",
            "value",
            "stage_id",
            "pipeline_id",
            "expected_close_date",
            "stage_changed_at",
            "last_activity_at",
            "board_position",
            "owner__first_name",
            "owner__last_name",
            "owner__username",
            "owner__team_id",
            "account__name",
        ),
        now=now,
    )


@dataclass
class BoardSummary:
    count: int
    total: Decimal
    weighted: Decimal


def board_summary_and_columns(
    deals: DealQuerySet, *, stages: list[Stage]
) -> tuple[BoardSummary, list[BoardColumn]]:
    """The board's totals and the headers of `stages`, in one aggregate query."""
    rows = (
        deals.order_by()
        .values("stage")
        .annotate(
            count=Count("pk"),
            total=Sum("value"),
            weighted=Sum(F("value") * F("stage__probability") / 100),
        )
    )
    by_stage = {row["stage"]: row for row in rows}
    summary = BoardSummary(
        count=sum(row["count"] for row in rows),
        total=sum((row["total"] or Decimal(0) for row in rows), Decimal(0)),
        weighted=sum((row["weighted"] or Decimal(0) for row in rows), Decimal(0)),
    )
    columns = []
    for stage in stages:
        row = by_stage.get(stage.pk, {})
        columns.append(
            BoardColumn(
                stage=stage, count=row.get("count", 0), total=row.get("total") or Decimal(0)
            )
        )
    return summary, columns


def visible_accounts(user: User):
    """Accounts `user` may attach a deal to."""
    from deals.models import Account

    return Account.objects.visible_to(user).filter(is_archived=False).order_by("name")


def assignable_owners(user: User):
    """Who `user` may make the owner of a deal: themselves; a manager their teams'
    members; an admin anyone (teammates too with TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS)."""
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name")
    if user.is_crm_admin:
        return people
    rule = Q(pk=user.pk) | Q(team__manager=user)
    if user.team_id and settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS:
        rule |= Q(team_id=user.team_id)
    return people.filter(rule)


def decorate_cards(cards: list[Deal], *, stage: Stage, now: datetime) -> None:
    """Set what a card shows that depends on the clock: days in stage, rotting."""
    for deal in cards:
        deal.stage = stage
        deal.days_in_stage = (now - deal.stage_changed_at).days
        idle_days = (now - deal.last_activity_at).days
        deal.is_rotting = bool(stage.rotting_days) and idle_days > stage.rotting_days


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
    totals_only: bool = False,
) -> Board:
    """Columns of open stages with totals over all matching deals and their first cards.

    Three queries whatever the number of deals: stages (from the prefetch when present),
    totals per stage, and the first BOARD_PAGE_SIZE cards of every column in one window
    query. With `totals_only`, no cards (for re-rendering the headers after a move).
    """
    now = now or timezone.now()
    stages = sorted(pipeline.stages.all(), key=lambda s: (s.position, s.pk))
    deals = board_deals(pipeline=pipeline, stages=stages, user=user, filters=filters, now=now)
    open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
    _, columns = board_summary_and_columns(deals, stages=open_stages)
    cards = {} if totals_only else _first_cards(deals, now=now)
    for column in columns:
        column.cards = cards.get(column.stage.pk, [])
        decorate_cards(column.cards, stage=column.stage, now=now)
    closed = [stage for stage in stages if stage.kind != StageKind.OPEN]
    return Board(pipeline=pipeline, columns=columns, closed_stages=closed)


def _first_cards(deals: DealQuerySet, *, now: datetime) -> dict[int, list[Deal]]:
    ranked = with_card_details(deals, now=now).annotate(
        rank=Window(RowNumber(), partition_by=F("stage"), order_by=[F("board_position"), F("pk")])
    )
    cards: dict[int, list[Deal]] = {}
    for deal in ranked.filter(rank__lte=BOARD_PAGE_SIZE).order_by("stage", "board_position", "pk"):
        cards.setdefault(deal.stage_id, []).append(deal)
    return cards


def column_page(
    *,
    pipeline: Pipeline,
    stage: Stage,
    user: User,
    filters: BoardFilters,
    offset: int,
    now: datetime | None = None,
) -> list[Deal]:
    """The next BOARD_PAGE_SIZE cards of one column, for "load more"."""
    now = now or timezone.now()
    stages = [stage]
    deals = board_deals(pipeline=pipeline, stages=stages, user=user, filters=filters, now=now)
    page = list(
        with_card_details(deals.filter(stage=stage), now=now).order_by("board_position", "pk")[
            offset : offset + BOARD_PAGE_SIZE
        ]
    )
    decorate_cards(page, stage=stage, now=now)
    return page


# --- Deal and account pages: the record, the timeline, the deals of an account -------------


def get_deal_record_or_404(user: User, deal_id: int) -> Deal:
    """The deal if `user` may see it, else 404, with everything its page shows joined:
    owner and team (for `can_change_deal`), account, contact, pipeline, stage, lead source
    and lost reason. One query."""
    deals = Deal.objects.visible_to(user).select_related(
        "owner__team", "account", "contact", "pipeline", "stage", "source", "lost_reason"
    )
    try:
        return deals.get(pk=deal_id)
    except Deal.DoesNotExist:
        raise Http404("No such deal.") from None


def get_account_record_or_404(user: User, account_id: int) -> Account:
    """The account if `user` may see it, else 404, with its owner and the owner's team
    (for `can_change_account`). One query."""
    accounts = Account.objects.visible_to(user).select_related("owner__team")
    try:
        return accounts.get(pk=account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


def account_deals(*, account: Account, user: User) -> DealQuerySet:
    """The deals of `account` that `user` may see, archived ones included."""
    return Deal.objects.visible_to(user).filter(account=account)


ACCOUNT_DEALS_SHOWN = 25


@dataclass
class DealGroup:
    status: str
    label: str
    count: int = 0
    total: Decimal = Decimal(0)
    deals: list[Deal] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.deals)


def account_deal_groups(
    *, account: Account, user: User, per_group: int = ACCOUNT_DEALS_SHOWN
) -> list[DealGroup]:
    """The unarchived deals of `account` that `user` sees, grouped open / won / lost, each
    group with its count and total value (one aggregate) and its newest `per_group` deals
    (one window query)."""
    deals = account_deals(account=account, user=user).active()
    groups = {status: DealGroup(status=status, label=label) for status, label in DealStatus.choices}
    for row in deals.order_by().values("status").annotate(count=Count("pk"), total=Sum("value")):
        group = groups[row["status"]]
        group.count, group.total = row["count"], row["total"] or Decimal(0)
    ranked = deals.select_related("stage", "owner").annotate(
        rank=Window(
            RowNumber(), partition_by=F("status"), order_by=[F("created_at").desc(), F("pk").desc()]
        )
    )
    for deal in ranked.filter(rank__lte=per_group).order_by("-created_at", "-pk"):
        groups[deal.status].deals.append(deal)
    return list(groups.values())


# The timeline merges three sources, each read newest first and cut in the database, so a
# page costs three queries however long the history. Entries at the same instant are
# ordered by source (completed task, then activity, then stage change) and then by pk.

TIMELINE_LIMIT = 50
TIMELINE_CREATED = "Created in {stage}"
TIMELINE_MOVED = "Moved from {from_stage} to {to_stage}"
TIMELINE_COMPLETED = "Completed: {task}"
BAD_TIMELINE_CURSOR = "“before” must be a position in the timeline, as given by “Show older”."

STAGE_ENTRY, ACTIVITY_ENTRY, TASK_ENTRY = "stage", "activity", "task"
_ENTRY_RANK = {STAGE_ENTRY: 0, ACTIVITY_ENTRY: 1, TASK_ENTRY: 2}
ACTIVITY_ICONS = {
    ActivityKind.CALL: "telephone",
    ActivityKind.EMAIL: "envelope",
    ActivityKind.MEETING: "people",
    ActivityKind.NOTE: "sticky",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimelineCursor:
    """A place in the timeline: entries strictly older than it come next."""

    at: datetime
    rank: int
    pk: int

    @classmethod
    def parse(cls, text: str) -> TimelineCursor:
        """Read what `str()` wrote; ValueError (with BAD_TIMELINE_CURSOR) for anything else."""
        try:
            micros, rank, pk = (int(part) for part in text.split("_"))
            at = _EPOCH + timedelta(microseconds=micros)
        except (ValueError, OverflowError):
            raise ValueError(BAD_TIMELINE_CURSOR) from None
        if rank not in _ENTRY_RANK.values() or pk < 0:
            raise ValueError(BAD_TIMELINE_CURSOR)
        return cls(at=at, rank=rank, pk=pk)

    def __str__(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}_{self.rank}_{self.pk}"

    def older(self, kind: str, at_field: str) -> Q:
        """Rows of source `kind` that come after this cursor, newest first."""
        rank = _ENTRY_RANK[kind]
        if rank < self.rank:
            return Q(**{f"{at_field}__lte": self.at})
        if rank > self.rank:
            return Q(**{f"{at_field}__lt": self.at})
        return Q(**{f"{at_field}__lt": self.at}) | Q(**{at_field: self.at, "pk__lt": self.pk})


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # STAGE_ENTRY, ACTIVITY_ENTRY or TASK_ENTRY
    at: datetime
    pk: int
    title: str
    icon: str
    tone: str  # the activity kind, or created / moved / won / lost / done
    label: str  # "Call", "Stage", "Task"…
    body: str = ""
    who: User | None = None
    deal: Deal | None = None

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.at, _ENTRY_RANK[self.kind], self.pk)

    @property
    def cursor(self) -> TimelineCursor:
        return TimelineCursor(at=self.at, rank=_ENTRY_RANK[self.kind], pk=self.pk)


@dataclass
class Timeline:
    entries: list[TimelineEntry]
    has_more: bool

    @property
    def next_cursor(self) -> TimelineCursor | None:
        return self.entries[-1].cursor if self.has_more and self.entries else None


def _activity_entry(activity: Activity, *, with_deal: bool) -> TimelineEntry:
    return TimelineEntry(
        kind=ACTIVITY_ENTRY,
        at=activity.occurred_at,
        pk=activity.pk,
        title=activity.subject,
        icon=ACTIVITY_ICONS.get(activity.kind, "chat"),
        tone=activity.kind,
        label=activity.get_kind_display(),
        body=activity.body,
        who=activity.user,
        deal=activity.deal if with_deal else None,
    )


def _stage_entry(change: StageChange, *, with_deal: bool) -> TimelineEntry:
    to_stage = change.to_stage
    if change.from_stage_id is None:
        title, tone, icon = TIMELINE_CREATED.format(stage=to_stage.name), "created", "plus-lg"
    else:
        title = TIMELINE_MOVED.format(from_stage=change.from_stage.name, to_stage=to_stage.name)
        tone = to_stage.kind if to_stage.kind != StageKind.OPEN else "moved"
        icon = {"won": "trophy", "lost": "x-lg"}.get(tone, "arrow-right")
    return TimelineEntry(
        kind=STAGE_ENTRY,
        at=change.changed_at,
        pk=change.pk,
        title=title,
        icon=icon,
        tone=tone,
        label="Stage",
        who=change.by,
        deal=change.deal if with_deal else None,
    )


def _task_entry(task: Task, *, with_deal: bool) -> TimelineEntry:
    return TimelineEntry(
        kind=TASK_ENTRY,
        at=task.completed_at,
        pk=task.pk,
        title=TIMELINE_COMPLETED.format(task=task.title),
        icon="check2",
        tone="done",
        label="Task",
        body=task.notes,
        who=task.assignee,
        deal=task.deal if with_deal else None,
    )


def timeline(
    *,
    deal: Deal | None = None,
    account: Account | None = None,
    user: User | None = None,
    limit: int = TIMELINE_LIMIT,
    before: TimelineCursor | None = None,
) -> Timeline:
    """What happened to a deal, or to an account and its deals, newest first: activities,
    stage changes and completed tasks, `limit` entries from `before` (default: the newest).

    For an account, `user` is required: only the deals `user` may see contribute, and each
    entry names its deal (None for the account's own activities and tasks). Three queries.
    """
    if deal is not None:
        activities = Activity.objects.filter(deal=deal)
        changes = StageChange.objects.filter(deal=deal)
        tasks = Task.objects.filter(deal=deal)
        joins: tuple[str, ...] = ()
    elif account is not None and user is not None:
        deal_ids = account_deals(account=account, user=user).values("pk")
        own = Q(deal__isnull=True, account=account)
        activities = Activity.objects.filter(own | Q(deal__in=deal_ids))
        changes = StageChange.objects.filter(deal__in=deal_ids)
        tasks = Task.objects.filter(own | Q(deal__in=deal_ids))
        joins = ("deal",)
    else:
        raise ValueError("timeline needs a deal, or an account and a user.")
    tasks = tasks.filter(status=TaskStatus.DONE)
    sources = [
        (activities.select_related("user", *joins), ACTIVITY_ENTRY, "occurred_at", _activity_entry),
        (
            changes.select_related("from_stage", "to_stage", "by", *joins),
            STAGE_ENTRY,
            "changed_at",
            _stage_entry,
        ),
        (tasks.select_related("assignee", *joins), TASK_ENTRY, "completed_at", _task_entry),
    ]
    streams = []
    for rows, kind, at_field, to_entry in sources:
        if before is not None:
            rows = rows.filter(before.older(kind, at_field))
        # One more than asked: tells whether anything older is left.
        newest = rows.order_by(f"-{at_field}", "-pk")[: limit + 1]
        streams.append([to_entry(row, with_deal=bool(joins)) for row in newest])
    merged = list(heapq.merge(*streams, key=lambda entry: entry.sort_key, reverse=True))
    return Timeline(entries=merged[:limit], has_more=len(merged) > limit)
