"""Moving deals between stages, creating them (one at a time or in bulk with their
history) and keeping card positions in board columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from deals.models import (
    Account,
    Contact,
    Deal,
    DealStatus,
    LeadSource,
    LostReason,
    StageChange,
)
from stages.models import Pipeline, Stage, StageKind
from tasks.automation import notify_deal_closed

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


def lock_accounts(accounts: QuerySet[Account], *, archiving: bool = False) -> None:
    """Lock the rows of `accounts` (in key order, so two writers never deadlock) until
    the transaction ends: what archives an account and what opens a deal of it take turns.

    Archiving takes `FOR UPDATE`, which also waits for a deal being inserted on the account
    (its foreign key check holds a key-share lock); opening a deal takes `FOR NO KEY UPDATE`.
    Each then reads the account's state in a new statement, after the other committed:
    the archive sees the open deal and refuses, or the opening sees the archive and undoes
    it. Without the locks, each saw the other's rows as they were before it, and an account
    could end archived with an open deal."""
    # Any query of accounts (an admin action's may be DISTINCT, which FOR UPDATE refuses).
    rows = Account.objects.filter(pk__in=accounts.values("pk"))
    list(rows.select_for_update(no_key=not archiving).order_by("pk").values_list("pk"))


def bring_back_accounts(account_ids: Iterable[int] | QuerySet) -> int:
    """Restore the archived ones of `account_ids` (ids, or a query of them, kept in the
    database), the accounts of deals open again or newly: an open deal is live pipeline, so
    its account cannot stay out of the lists (the rule `archive_account` keeps from the
    other side). Call it after the deals are written, in their transaction. Returns how
    many came back."""
    ids = account_ids if isinstance(account_ids, QuerySet) else set(account_ids)
    if not isinstance(ids, QuerySet) and not ids:
        return 0
    accounts = Account.objects.filter(pk__in=ids)
    lock_accounts(accounts)
    return accounts.filter(is_archived=True).update(is_archived=False)


# Cards sit this far apart in a column, so a card dropped between two others takes the
# midpoint and nothing else moves. The unique index on (stage, board_position) arbitrates
# concurrent drops: the loser reads its neighbours again and retries.
POSITION_GAP = 1024
POSITION_ATTEMPTS = 12
COLUMN_BUSY = "The column “{stage}” is busy; try again."


def _column(stage_id: int, *, exclude_id: int | None = None):
    column = Deal.objects.filter(stage_id=stage_id, status=DealStatus.OPEN, is_archived=False)
    if exclude_id is not None:
        column = column.exclude(pk=exclude_id)
    return column


def _neighbour_sql(offset: str, *, last: bool = False) -> str:
    """SQL for the position of one card of the column of the stage (param 1) other than
    the deal (param 2): the card at `offset` in board order, or the `last` one."""
    deal = Deal._meta.db_table
    order = "board_position DESC, id DESC" if last else "board_position, id"
    return (
        f'(SELECT board_position FROM "{deal}" WHERE stage_id = %s AND id <> %s'
        f" AND status = '{DealStatus.OPEN}' AND NOT is_archived"
        f" ORDER BY {order} LIMIT 1 OFFSET {offset})"
    )


def _read_stages(
    *,
    pipeline_id: int,
    to_stage_id: int,
    from_stage_id: int | None,
    deal_id: int | None,
    index: int | None,
) -> tuple[Stage | None, Stage | None]:
    """The target stage and the deal's current one, in one query. The target carries the
    positions of the cards that will sit just before and after index `index` (None: the
    end of the column) as `before_position` and `after_position`.

    Written as SQL: it runs on every drag, and the ORM took three times longer to compile
    its two subqueries than PostgreSQL to run them."""
    column = [to_stage_id, deal_id or 0]
    if index is None:
        before, after, params = _neighbour_sql("0", last=True), "NULL", column
    elif index == 0:
        before, after, params = "NULL", _neighbour_sql("0"), column
    else:
        before, after = _neighbour_sql("%s"), _neighbour_sql("%s")
        params = [*column, index - 1, *column, index]
    stage = Stage._meta.db_table
    stages = Stage.objects.raw(
        f'SELECT "{stage}".*, {before} AS before_position, {after} AS after_position'
        f' FROM "{stage}" WHERE pipeline_id = %s AND id IN (%s, %s)',
        [*params, pipeline_id, to_stage_id, from_stage_id or to_stage_id],
    )
    by_pk = {stage.pk: stage for stage in stages}
    return by_pk.get(to_stage_id), by_pk.get(from_stage_id)


def _position_between(before: int | None, after: int | None) -> int | None:
    """A free position between two neighbours, or None when they leave no gap."""
    if before is None and after is None:
        return 0
    if after is None:
        return before + POSITION_GAP
    if before is None:
        return after - POSITION_GAP
    middle = (before + after) // 2
    return middle if before < middle < after else None


def _renumber_column(stage_id: int, *, exclude_id: int | None) -> None:
    """Spread a column's cards POSITION_GAP apart again, keeping their order. The new
    positions all lie above the old ones, so no card ever collides with another."""
    column = list(_column(stage_id, exclude_id=exclude_id).order_by("board_position", "pk"))
    if not column:
        return
    base = column[-1].board_position + POSITION_GAP
    for index, deal in enumerate(column):
        deal.board_position = base + index * POSITION_GAP
    Deal.objects.bulk_update(column, ["board_position"], batch_size=500)


def _free_position(stage: Stage, *, deal_id: int | None, index: int | None) -> int | None:
    """The board_position for a card at `index` of `stage`'s column (read by _read_stages);
    None when the neighbours leave no gap. Raises DealMoveError for an index past the end."""
    if index is not None and index > 0 and stage.before_position is None:
        last = _column(stage.pk, exclude_id=deal_id).count()
        raise DealMoveError(POSITION_OUT_OF_RANGE.format(position=index, last=last))
    return _position_between(stage.before_position, stage.after_position)


def _save_in_column(
    deal: Deal,
    *,
    stage_id: int,
    index: int | None,
    fields: list[str] | None,
    stage: Stage | None = None,
) -> None:
    """Save `deal` (insert when `fields` is None) at index `index` (None: the end) of the
    column of `stage_id`, retrying when a concurrent writer takes the place first. `stage`
    is that column as `_read_stages` read it, when the caller has it already."""

    def reread() -> Stage:
        return _read_stages(
            pipeline_id=deal.pipeline_id,
            to_stage_id=stage_id,
            from_stage_id=None,
            deal_id=deal.pk,
            index=index,
        )[0]

    stage = stage or reread()
    for _ in range(POSITION_ATTEMPTS):
        position = _free_position(stage, deal_id=deal.pk, index=index)
        if position is None:
            _renumber_column(stage.pk, exclude_id=deal.pk)
            stage = reread()
            continue
        deal.board_position = position
        try:
            with transaction.atomic():
                if fields is None:
                    deal.save()
                else:
                    deal.save(update_fields=fields)
            return
        except IntegrityError:
            stage = reread()
    raise DealMoveError(COLUMN_BUSY.format(stage=stage.name))


def _stage_name(stage_id: int) -> str:
    name = Stage.objects.filter(pk=stage_id).values_list("name", flat=True).first()
    return name or f"#{stage_id}"


def move_deal(
    deal: Deal,
    to_stage: Stage,
    *,
    by: User | None,
    position: int | None = None,
    lost_reason: LostReason | None = None,
    expected_stage: Stage | None = None,
    at: datetime | None = None,
    locked: bool = False,
) -> Deal:
    """Move `deal` to `to_stage`, at index `position` of its column (default: the end).

    Locks the deal row, checks the rules, records a StageChange and bumps activity.
    `to_stage` is read again, so only its pk must be right. With `expected_stage`, refuses
    with DealConflict when the deal has left that stage (someone else moved it). Pass
    `locked=True` when `deal` was read with select_for_update() in the caller's
    transaction: the move then takes no savepoint of its own, and after a refusal that
    transaction can only be rolled back (run no query in it once the error is caught).
    Returns the deal, moved, with the stage it left as `previous_stage`; raises
    DealMoveError with a user-facing message otherwise.
    """
    with transaction.atomic(savepoint=not locked):
        if not locked:
            # No join on the stage: a concurrent move changes it, and PostgreSQL's recheck
            # after the wait would then drop the row.
            deal = (
                Deal.objects.select_for_update(of=("self",))
                .select_related("pipeline")
                .get(pk=deal.pk)
            )
        return _move(
            deal,
            to_stage,
            by=by,
            position=position,
            lost_reason=lost_reason,
            expected_stage=expected_stage,
            at=at,
        )


def _move(
    deal: Deal,
    to_stage: Stage,
    *,
    by: User | None,
    position: int | None,
    lost_reason: LostReason | None,
    expected_stage: Stage | None,
    at: datetime | None,
) -> Deal:
    """`move_deal` once the deal row is locked."""
    if expected_stage is not None and deal.stage_id != expected_stage.pk:
        raise DealConflict(
            MOVED_MEANWHILE.format(deal=deal.title, stage=_stage_name(deal.stage_id)), deal=deal
        )

    target, previous = _read_stages(
        pipeline_id=deal.pipeline_id,
        to_stage_id=to_stage.pk,
        from_stage_id=deal.stage_id,
        deal_id=deal.pk,
        index=position,
    )
    if target is None:
        raise DealMoveError(
            MOVE_OTHER_PIPELINE.format(stage=_stage_name(to_stage.pk), pipeline=deal.pipeline.name)
        )
    deal.previous_stage = previous
    same_stage = deal.stage_id == target.pk
    if same_stage and position is None:
        deal.stage = target
        return deal
    fields = ["board_position", "updated_at"]
    if not same_stage:
        check_move(deal, target, lost_reason=lost_reason)
        _enter_stage(deal, target, lost_reason=lost_reason, at=at or timezone.now())
        fields += [
            "stage",
            "status",
            "stage_changed_at",
            "last_activity_at",
            "closed_at",
            "lost_reason",
        ]
    deal.stage = target
    if target.kind == StageKind.OPEN:
        _save_in_column(deal, stage_id=target.pk, index=position, fields=fields, stage=target)
    else:
        deal.save(update_fields=fields)
    if not same_stage:
        StageChange.objects.create(
            deal=deal, from_stage=previous, to_stage=target, by=by, changed_at=deal.stage_changed_at
        )
        if target.kind == StageKind.OPEN and previous is not None and previous.kind != target.kind:
            bring_back_accounts([deal.account_id])  # reopened
        if target.kind != StageKind.OPEN:
            # Won or lost by someone else: the owner hears of it (email queued on commit).
            notify_deal_closed(deal, by=by)
    return deal


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
    has_budget: bool = False,
    has_authority: bool = False,
    has_need: bool = False,
    has_timeline: bool = False,
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
        has_budget=has_budget,
        has_authority=has_authority,
        has_need=has_need,
        has_timeline=has_timeline,
    )
    check_move(deal, stage, lost_reason=lost_reason)
    _enter_stage(deal, stage, lost_reason=lost_reason, at=created_at)
    deal.full_clean(exclude=_RELATION_FIELDS)
    if stage.kind == StageKind.OPEN:
        _save_in_column(deal, stage_id=stage.pk, index=None, fields=None)
    else:
        deal.save()
    StageChange.objects.create(
        deal=deal, from_stage=None, to_stage=stage, by=by, changed_at=created_at
    )
    if stage.kind == StageKind.OPEN:
        bring_back_accounts([account.pk])  # archived while the deal was being added
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
    `move_deal` apply to every step. Call inside a transaction to make the batch atomic,
    and `bring_back_accounts` for open deals of archived accounts.
    """
    deals = []
    changes: list[tuple[int, StageChange]] = []
    for index, draft in enumerate(drafts):
        deal = draft.deal
        reason = deal.lost_reason
        start = deal.stage
        by_id = draft.by.pk if draft.by is not None else None
        check_move(deal, start, lost_reason=reason if start.kind == StageKind.LOST else None)
        # The model default is "now"; a deal made in the past was last active then.
        deal.last_activity_at = deal.created_at
        _enter_stage(deal, start, lost_reason=reason, at=deal.created_at)
        # History rows get ids, not instances: setting a relation costs more than the row.
        changes.append(
            (
                index,
                StageChange(to_stage_id=start.pk, by_id=by_id, changed_at=deal.created_at),
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
                    StageChange(
                        from_stage_id=previous.pk,
                        to_stage_id=to_stage.pk,
                        by_id=by_id,
                        changed_at=at,
                    ),
                )
            )
            previous, previous_at = to_stage, at
        # A deal has no unique field but its key: checking uniqueness would find nothing.
        deal.full_clean(exclude=_RELATION_FIELDS, validate_unique=False, validate_constraints=False)
        deals.append(deal)
    _append_to_columns(deals)
    created = Deal.objects.bulk_create(deals, batch_size=batch_size)
    for index, change in changes:
        change.deal_id = created[index].pk
    StageChange.objects.bulk_create([change for _, change in changes], batch_size=batch_size)
    return created


def _append_to_columns(deals: list[Deal]) -> None:
    """Give new open deals distinct positions after the cards already in their columns.

    The stage rows are locked, so two bulk writers take turns. The positions sit half a gap
    off the usual grid: a card dropped at the end of a column meanwhile takes the top plus a
    whole gap and so never collides with them.
    """
    stage_ids = {d.stage_id for d in deals if d.status == DealStatus.OPEN and not d.is_archived}
    if not stage_ids:
        return
    # NO KEY: foreign-key checks of concurrent moves into these stages need not wait.
    list(Stage.objects.select_for_update(no_key=True).filter(pk__in=stage_ids).values_list("pk"))
    tops = _column_tops(stage_ids)
    next_position = {
        stage_id: (top if top is not None else 0) + POSITION_GAP // 2
        for stage_id, top in ((sid, tops.get(sid)) for sid in stage_ids)
    }
    for deal in deals:
        if deal.stage_id in stage_ids:
            deal.board_position = next_position[deal.stage_id]
            next_position[deal.stage_id] += POSITION_GAP


def _column_tops(stage_ids: set[int]) -> dict[int, int | None]:
    rows = (
        Deal.objects.filter(stage_id__in=stage_ids, status=DealStatus.OPEN, is_archived=False)
        .order_by()
        .values("stage")
        .annotate(top=Max("board_position"))
    )
    return {row["stage"]: row["top"] for row in rows}
