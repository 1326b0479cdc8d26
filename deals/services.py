"""Business rules for deals. Every entry point (board, forms, admin, import, jobs) calls these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealStatus,
    LeadSource,
    LostReason,
    StageChange,
)
from stages.models import Pipeline, Stage, StageKind

if TYPE_CHECKING:
    from pipeline_crm.models import User

MOVE_OTHER_PIPELINE = "Stage “{stage}” is not part of the pipeline “{pipeline}”."
LOST_REASON_REQUIRED = "Choose a lost reason to move “{deal}” to “{stage}”."
POSITION_OUT_OF_RANGE = "Position {position} is outside the column (0 to {last})."
NO_OPEN_STAGE = "The pipeline “{pipeline}” has no open stage to start a deal in."
HISTORY_OUT_OF_ORDER = "The stage history of “{deal}” goes back in time."
MOVED_MEANWHILE = "Someone moved “{deal}” to “{stage}” in the meantime; nothing was changed."

# Deal fields whose validation would cost a query each; callers pass checked instances.
_RELATION_FIELDS = ["account", "contact", "pipeline", "stage", "owner", "source", "lost_reason"]


class DealError(Exception):
    """A business rule refused the change; the message is meant for the user."""


class DealMoveError(DealError):
    pass


class DealConflict(DealMoveError):
    """The deal is no longer where the caller saw it; `deal` holds its current state."""

    def __init__(self, message: str, *, deal: Deal) -> None:
        super().__init__(message)
        self.deal = deal


def check_move(deal: Deal, to_stage: Stage, *, lost_reason: LostReason | None) -> None:
    """The rules every stage change obeys, for single moves and bulk writers alike."""
    if to_stage.pipeline_id != deal.pipeline_id:
        raise DealMoveError(
            MOVE_OTHER_PIPELINE.format(stage=to_stage.name, pipeline=deal.pipeline.name)
        )
    if to_stage.kind == StageKind.LOST and lost_reason is None:
        raise DealMoveError(LOST_REASON_REQUIRED.format(deal=deal.title, stage=to_stage.name))


def _enter_stage(
    deal: Deal, to_stage: Stage, *, lost_reason: LostReason | None, at: datetime
) -> None:
    """Set the fields that follow from being in `to_stage` (in memory only)."""
    deal.stage = to_stage
    deal.status = DealStatus(to_stage.kind)
    deal.stage_changed_at = at
    deal.last_activity_at = max(deal.last_activity_at or at, at)
    if to_stage.kind == StageKind.OPEN:
        deal.closed_at = None
        deal.lost_reason = None
    else:
        deal.closed_at = at
        deal.lost_reason = lost_reason if to_stage.kind == StageKind.LOST else None


def _column(stage: Stage, *, exclude: Deal | None = None):
    column = Deal.objects.filter(stage=stage, status=DealStatus.OPEN, is_archived=False)
    if exclude is not None:
        column = column.exclude(pk=exclude.pk)
    return column


def _lock_column(stage: Stage) -> None:
    """Serialise writers of one column's card order by locking its stage row."""
    list(Stage.objects.select_for_update().filter(pk=stage.pk).values_list("pk"))


def _end_of_column(stage: Stage) -> int:
    _lock_column(stage)
    last = _column(stage).aggregate(last=Max("board_position"))["last"]
    return 0 if last is None else last + 1


def _place_in_column(deal: Deal, stage: Stage, position: int) -> int:
    """Make room at index `position` of the column and return the board_position to use."""
    _lock_column(stage)
    others = _column(stage, exclude=deal).order_by("board_position", "pk")
    count = others.count()
    if not 0 <= position <= count:
        raise DealMoveError(POSITION_OUT_OF_RANGE.format(position=position, last=count))
    if position == count:
        last = others.aggregate(last=Max("board_position"))["last"]
        return 0 if last is None else last + 1
    target = others.values_list("board_position", flat=True)[position]
    others.filter(board_position__gte=target).update(board_position=F("board_position") + 1)
    return target


@transaction.atomic
def move_deal(
    deal: Deal,
    to_stage: Stage,
    *,
    by: User | None,
    position: int | None = None,
    lost_reason: LostReason | None = None,
    expected_stage: Stage | None = None,
    at: datetime | None = None,
) -> Deal:
    """Move `deal` to `to_stage` (and to index `position` of its column, when given).

    Locks the deal row, checks the rules, records a StageChange and bumps activity.
    With `expected_stage`, refuses with DealConflict when the deal has left that stage
    (someone else moved it). Returns the fresh deal; raises DealMoveError otherwise.
    """
    deal = Deal.objects.select_for_update().select_related("pipeline").get(pk=deal.pk)
    if expected_stage is not None and deal.stage_id != expected_stage.pk:
        current = Deal.objects.select_related("stage").get(pk=deal.pk)
        raise DealConflict(
            MOVED_MEANWHILE.format(deal=deal.title, stage=current.stage.name), deal=current
        )
    check_move(deal, to_stage, lost_reason=lost_reason)
    at = at or timezone.now()
    from_stage_id = deal.stage_id
    fields = ["board_position", "updated_at"]
    if to_stage.kind == StageKind.OPEN:
        if position is None:
            if from_stage_id != to_stage.pk:
                deal.board_position = _end_of_column(to_stage)
        else:
            deal.board_position = _place_in_column(deal, to_stage, position)
    if from_stage_id != to_stage.pk:
        _enter_stage(deal, to_stage, lost_reason=lost_reason, at=at)
        fields += [
            "stage",
            "status",
            "stage_changed_at",
            "last_activity_at",
            "closed_at",
            "lost_reason",
        ]
        StageChange.objects.create(
            deal=deal, from_stage_id=from_stage_id, to_stage=to_stage, by=by, changed_at=at
        )
    deal.save(update_fields=fields)
    return deal


def create_account(*, name: str, owner: User, industry: str = "", website: str = "") -> Account:
    account = Account(name=name.strip(), owner=owner, industry=industry, website=website)
    account.full_clean(exclude=["owner"])
    account.save()
    return account


def first_open_stage(pipeline: Pipeline) -> Stage:
    stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("position", "pk").first()
    if stage is None:
        raise DealError(NO_OPEN_STAGE.format(pipeline=pipeline.name))
    return stage


@transaction.atomic
def create_deal(
    *,
    title: str,
    account: Account,
    owner: User,
    pipeline: Pipeline,
    by: User | None,
    stage: Stage | None = None,
    value: Decimal | int = 0,
    contact: Contact | None = None,
    expected_close_date=None,
    source: LeadSource | None = None,
    lost_reason: LostReason | None = None,
    created_at: datetime | None = None,
) -> Deal:
    """Create a deal in `stage` (default: the pipeline's first open stage) with its first
    StageChange. Raises ValidationError for bad field values, DealMoveError for bad stages."""
    stage = stage or first_open_stage(pipeline)
    created_at = created_at or timezone.now()
    deal = Deal(
        title=title,
        account=account,
        contact=contact,
        owner=owner,
        pipeline=pipeline,
        value=Decimal(value),
        expected_close_date=expected_close_date,
        source=source,
        created_at=created_at,
        last_activity_at=created_at,
    )
    check_move(deal, stage, lost_reason=lost_reason)
    _enter_stage(deal, stage, lost_reason=lost_reason, at=created_at)
    if stage.kind == StageKind.OPEN:
        deal.board_position = _end_of_column(stage)
    deal.full_clean(exclude=_RELATION_FIELDS)
    deal.save()
    StageChange.objects.create(
        deal=deal, from_stage=None, to_stage=stage, by=by, changed_at=created_at
    )
    return deal


@dataclass
class DealDraft:
    """A deal to create with its whole stage history, for bulk writers (demo data, import).

    `moves` are (stage, when) after creation, in time order; the last one is where the
    deal ends up. A move to a lost stage uses `lost_reason`.
    """

    deal: Deal
    moves: Sequence[tuple[Stage, datetime]] = field(default_factory=list)
    by: User | None = None


def create_deals_with_history(drafts: Sequence[DealDraft], *, batch_size: int = 1000) -> list[Deal]:
    """Create many deals and their StageChange history in a few set-based queries.

    Each deal's `stage` is where it was created, `created_at` when. The same rules as
    `move_deal` apply to every step. Call inside a transaction to make the batch atomic.
    """
    deals = []
    changes: list[tuple[int, StageChange]] = []
    for index, draft in enumerate(drafts):
        deal = draft.deal
        reason = deal.lost_reason
        start = deal.stage
        check_move(deal, start, lost_reason=reason if start.kind == StageKind.LOST else None)
        # The model default is "now"; a deal made in the past was last active then.
        deal.last_activity_at = deal.created_at
        _enter_stage(deal, start, lost_reason=reason, at=deal.created_at)
        changes.append(
            (
                index,
                StageChange(
                    from_stage=None, to_stage=start, by=draft.by, changed_at=deal.created_at
                ),
            )
        )
        previous, previous_at = start, deal.created_at
        for to_stage, at in draft.moves:
            if at < previous_at:
                raise DealMoveError(HISTORY_OUT_OF_ORDER.format(deal=deal.title))
            check_move(
                deal, to_stage, lost_reason=reason if to_stage.kind == StageKind.LOST else None
            )
            _enter_stage(deal, to_stage, lost_reason=reason, at=at)
            changes.append(
                (
                    index,
                    StageChange(from_stage=previous, to_stage=to_stage, by=draft.by, changed_at=at),
                )
            )
            previous, previous_at = to_stage, at
        deal.full_clean(exclude=_RELATION_FIELDS, validate_constraints=False)
        deals.append(deal)
    created = Deal.objects.bulk_create(deals, batch_size=batch_size)
    for index, change in changes:
        change.deal = created[index]
    StageChange.objects.bulk_create([change for _, change in changes], batch_size=batch_size)
    return created


@transaction.atomic
def log_activity(
    *,
    kind: str,
    subject: str,
    user: User | None,
    deal: Deal | None = None,
    account: Account | None = None,
    body: str = "",
    occurred_at: datetime | None = None,
) -> Activity:
    """Record an email, call, meeting or note and bump the deal's and account's activity."""
    occurred_at = occurred_at or timezone.now()
    if deal is not None and account is None:
        account = deal.account
    activity = Activity(
        kind=kind,
        subject=subject,
        body=body,
        user=user,
        deal=deal,
        account=account,
        occurred_at=occurred_at,
    )
    activity.full_clean(exclude=["user", "deal", "account"])
    activity.save()
    # The guard keeps the newest time when an older activity is logged late.
    newer = Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=occurred_at)
    if deal is not None:
        Deal.objects.filter(newer, pk=deal.pk).update(last_activity_at=occurred_at)
    if account is not None:
        Account.objects.filter(newer, pk=account.pk).update(last_activity_at=occurred_at)
    return activity
