"""The deal and account pages: the record, the timeline, the deals of an account."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.http import Http404
from django.utils.formats import date_format

from deals.models import (
    Account,
    Activity,
    ActivityKind,
    Deal,
    DealQuerySet,
    DealStatus,
    ForecastChange,
    StageChange,
)
from pipeline_crm.money import whole_money
from stages.models import StageKind
from tasks.models import Task, TaskStatus

if TYPE_CHECKING:
    from pipeline_crm.models import User


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

TIMELINE_VALUE = "Value {before} → {after}"
TIMELINE_EXPECTED_CLOSE = "Expected close {before} → {after}"
STAGE_ENTRY, ACTIVITY_ENTRY, TASK_ENTRY = "stage", "activity", "task"
FORECAST_ENTRY = "forecast"
_ENTRY_RANK = {STAGE_ENTRY: 0, ACTIVITY_ENTRY: 1, TASK_ENTRY: 2, FORECAST_ENTRY: 3}
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


def _forecast_changes(changes: QuerySet[ForecastChange]) -> QuerySet[ForecastChange]:
    """`changes` with what each edit set (`value_after`, `expected_close_date_after`): what
    the deal's next edit replaced, or, for its last edit, what the deal holds now."""
    later = ForecastChange.objects.filter(
        Q(changed_at__gt=OuterRef("changed_at"))
        | Q(changed_at=OuterRef("changed_at"), pk__gt=OuterRef("pk")),
        deal=OuterRef("deal"),
    ).order_by("changed_at", "pk")[:1]
    edited_again = Exists(later)
    return changes.annotate(
        value_after=Case(
            When(edited_again, then=Subquery(later.values("value_before"))),
            default=F("deal__value"),
        ),
        expected_close_date_after=Case(
            When(edited_again, then=Subquery(later.values("expected_close_date_before"))),
            default=F("deal__expected_close_date"),
        ),
    )


def _day(day: date | None) -> str:
    return date_format(day, "M j, Y") if day else "none"


def _forecast_entry(change: ForecastChange, *, with_deal: bool) -> TimelineEntry:
    edits = []
    if change.value_after != change.value_before:
        edits.append(
            TIMELINE_VALUE.format(
                before=whole_money(change.value_before), after=whole_money(change.value_after)
            )
        )
    if change.expected_close_date_after != change.expected_close_date_before:
        edits.append(
            TIMELINE_EXPECTED_CLOSE.format(
                before=_day(change.expected_close_date_before),
                after=_day(change.expected_close_date_after),
            )
        )
    return TimelineEntry(
        kind=FORECAST_ENTRY,
        at=change.changed_at,
        pk=change.pk,
        title=" · ".join(edits),
        icon="pencil",
        tone="edited",
        label="Edit",
        who=change.by,
        deal=change.deal if with_deal else None,
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
    stage changes, edits of the value or expected close date, and completed tasks, `limit`
    entries from `before` (default: the newest).

    For an account, `user` is required: only the deals `user` may see contribute, and each
    entry names its deal (None for the account's own activities and tasks). Four queries.
    """
    if deal is not None:
        activities = Activity.objects.filter(deal=deal)
        changes = StageChange.objects.filter(deal=deal)
        edits = ForecastChange.objects.filter(deal=deal)
        tasks = Task.objects.filter(deal=deal)
        joins: tuple[str, ...] = ()
    elif account is not None and user is not None:
        deal_ids = account_deals(account=account, user=user).values("pk")
        own = Q(deal__isnull=True, account=account)
        activities = Activity.objects.filter(own | Q(deal__in=deal_ids))
        changes = StageChange.objects.filter(deal__in=deal_ids)
        edits = ForecastChange.objects.filter(deal__in=deal_ids)
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
        (
            _forecast_changes(edits.select_related("by", *joins)),
            FORECAST_ENTRY,
            "changed_at",
            _forecast_entry,
        ),
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
