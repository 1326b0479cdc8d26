"""Creating, editing, archiving and restoring accounts, contacts and deals, and logging
activities. Stage, pipeline and status change only through `moves`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealStatus,
    ForecastChange,
)

if TYPE_CHECKING:
    from pipeline_crm.models import User


from deals.services.moves import (
    _RELATION_FIELDS,
    DealError,
    _append_to_columns,
    _save_in_column,
    bring_back_accounts,
    create_deal,
    lock_accounts,
)


def create_account(
    *,
    name: str,
    owner: User,
    industry: str = "",
    website: str = "",
    linkedin_url: str = "",
    twitter_url: str = "",
) -> Account:
    account = Account(
        name=name.strip(),
        owner=owner,
        industry=industry,
        website=website,
        linkedin_url=linkedin_url,
        twitter_url=twitter_url,
    )
    account.full_clean(exclude=["owner"])
    account.save()
    return account


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


# Editing records. Stage, pipeline and status change only through move_deal.

DEAL_EDITABLE_FIELDS = frozenset(
    {
        "title",
        "account",
        "contact",
        "owner",
        "value",
        "expected_close_date",
        "source",
        "has_budget",
        "has_authority",
        "has_need",
        "has_timeline",
    }
)
ACCOUNT_EDITABLE_FIELDS = frozenset(
    {"name", "industry", "website", "owner", "linkedin_url", "twitter_url"}
)
CONTACT_EDITABLE_FIELDS = frozenset(
    {"name", "email", "phone", "title", "linkedin_url", "twitter_url"}
)
_MOVE_FIELDS = frozenset({"pipeline", "stage", "status", "lost_reason", "closed_at"})
# The fields a forecast weighs a deal by: editing either records what they were before.
FORECAST_FIELDS = frozenset({"value", "expected_close_date"})

FIELD_NOT_EDITABLE = "The {record}'s “{field}” cannot be changed by editing it."
CHANGED_BY_MOVE = "A deal's {field} changes by moving the deal, not by editing it."
OWNER_NOT_ASSIGNABLE = "You cannot make {owner} the owner."
ACCOUNT_NOT_VISIBLE = "Choose one of the accounts you can see."
ACCOUNT_IS_ARCHIVED = "The account “{account}” is archived; choose another one."
CONTACT_IS_ARCHIVED = "The contact “{contact}” is archived; choose another one."
ACCOUNT_HAS_OPEN_DEALS = (
    "“{account}” cannot be archived: archive or close its {count} open deal{plural} first."
)
ACCOUNTS_HAVE_OPEN_DEALS = (
    "Nothing was archived: archive or close the open deals of {accounts} first."
)


def _changed(
    record: Account | Contact | Deal,
    changes: dict[str, object],
    *,
    editable: frozenset[str],
    record_name: str,
) -> dict[str, object]:
    """The entries of `changes` that differ from `record`, without touching the database;
    DealError for a field outside `editable`."""
    for name in changes:
        if record_name == "deal" and name in _MOVE_FIELDS:
            raise DealError(CHANGED_BY_MOVE.format(field=name.replace("_", " ")))
        if name not in editable:
            raise DealError(FIELD_NOT_EDITABLE.format(record=record_name, field=name))
    changed = {}
    for name, value in changes.items():
        model_field = record._meta.get_field(name)
        if model_field.is_relation:
            differs = getattr(record, model_field.attname) != getattr(value, "pk", value)
        else:
            differs = getattr(record, name) != value
        if differs:
            changed[name] = value
    return changed


def _save_changes(
    record: Account | Contact | Deal, changed: dict[str, object], *, exclude: list[str]
) -> None:
    """Set `changed` on `record`, validate it with full_clean (the model's clean() included)
    and save only those fields. On ValidationError, `record` is left as it was."""
    attnames = [record._meta.get_field(name).attname for name in changed]
    before = {attname: getattr(record, attname) for attname in attnames}
    for name, value in changed.items():
        setattr(record, name, value)
    try:
        # The constraints concern fields an edit does not touch, or have a field validator.
        record.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError:
        for attname, value in before.items():
            setattr(record, attname, value)  # also drops a cached related object
        raise
    fields = list(changed)
    if isinstance(record, Deal):
        fields.append("updated_at")
    record.save(update_fields=fields)


def record_forecast_edit(
    deal: Deal,
    fields: Collection[str],
    *,
    value_before: Decimal,
    expected_close_date_before: date | None,
    by: User | None,
) -> ForecastChange | None:
    """After an edit of `fields` of `deal` was saved: when it touched the value or the
    expected close date (FORECAST_FIELDS), record what they were before it and when
    (`deal.forecast_changed_at`). Reports rebuild past forecasts from these records.
    Call it in the edit's transaction."""
    if not FORECAST_FIELDS & set(fields):
        return None
    change = ForecastChange.objects.create(
        deal=deal,
        value_before=value_before,
        expected_close_date_before=expected_close_date_before,
        by=by,
        changed_at=timezone.now(),
    )
    Deal.objects.filter(pk=deal.pk).update(forecast_changed_at=change.changed_at)
    deal.forecast_changed_at = change.changed_at
    return change


def _check_owner(by: User, owner: User) -> None:
    from deals.selectors import assignable_owners

    if not assignable_owners(by).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": OWNER_NOT_ASSIGNABLE.format(owner=owner)})


@transaction.atomic
def update_deal(deal: Deal, *, by: User, **changes: object) -> Deal:
    """Change plain fields of `deal` (DEAL_EDITABLE_FIELDS) and save only those that differ.

    Naming stage, pipeline, status or any other field raises DealError: stages change
    through move_deal. Raises ValidationError, by field, for bad values, an owner `by` may
    not assign, an account `by` cannot see, an archived account or contact, and a contact
    of another account (the model's rule: changing the account keeps the contact, so pass
    `contact=None` or one of the new account's contacts). On error `deal` is left as it was.
    """
    changed = _changed(deal, changes, editable=DEAL_EDITABLE_FIELDS, record_name="deal")
    if not changed:
        return deal
    if "owner" in changed:
        _check_owner(by, changed["owner"])
    account = changed.get("account")
    if account is not None:
        if account.is_archived:
            raise ValidationError({"account": ACCOUNT_IS_ARCHIVED.format(account=account)})
        if not Account.objects.visible_to(by).filter(pk=account.pk).exists():
            raise ValidationError({"account": ACCOUNT_NOT_VISIBLE})
    contact = changed.get("contact")
    if contact is not None and contact.is_archived:
        raise ValidationError({"contact": CONTACT_IS_ARCHIVED.format(contact=contact)})
    value_before, expected_close_date_before = deal.value, deal.expected_close_date
    _save_changes(deal, changed, exclude=_RELATION_FIELDS)
    record_forecast_edit(
        deal,
        changed,
        value_before=value_before,
        expected_close_date_before=expected_close_date_before,
        by=by,
    )
    if account is not None and deal.status == DealStatus.OPEN and not deal.is_archived:
        bring_back_accounts([account.pk])  # archived after the check above
    return deal


@transaction.atomic
def update_account(account: Account, *, by: User, **changes: object) -> Account:
    """Change fields of `account` (ACCOUNT_EDITABLE_FIELDS); like update_deal, refuses an
    owner `by` may not assign. On error `account` is left as it was."""
    changed = _changed(account, changes, editable=ACCOUNT_EDITABLE_FIELDS, record_name="account")
    if not changed:
        return account
    if "owner" in changed:
        _check_owner(by, changed["owner"])
    _save_changes(account, changed, exclude=["owner"])
    return account


def create_contact(
    *,
    account: Account,
    name: str,
    email: str = "",
    phone: str = "",
    title: str = "",
    linkedin_url: str = "",
    twitter_url: str = "",
) -> Contact:
    """A new contact at `account`. Raises ValidationError for bad values."""
    contact = Contact(
        account=account,
        name=name.strip(),
        email=email,
        phone=phone,
        title=title,
        linkedin_url=linkedin_url,
        twitter_url=twitter_url,
    )
    contact.full_clean(exclude=["account"])
    contact.save()
    return contact


@transaction.atomic
def update_contact(contact: Contact, *, by: User, **changes: object) -> Contact:
    """Change fields of `contact` (CONTACT_EDITABLE_FIELDS). A contact never changes
    account: its deals rely on it working there. On error `contact` is left as it was."""
    changed = _changed(contact, changes, editable=CONTACT_EDITABLE_FIELDS, record_name="contact")
    if changed:
        _save_changes(contact, changed, exclude=["account"])
    return contact


# Archiving. Archived records leave the board and the lists but keep their history
# (stage changes, activities, tasks) and stay reachable by URL. Archiving and restoring
# are idempotent; who may do which is the callers' check (views: changers archive,
# admins restore).


def archive_deal(deal: Deal, *, by: User | None) -> Deal:
    """Take `deal` off the board and out of lists. Its board position is kept but no
    longer reserved (the unique index covers unarchived open deals only)."""
    archive_deals(Deal.objects.filter(pk=deal.pk), by=by)
    deal.is_archived = True
    return deal


def archive_deals(deals: QuerySet[Deal], *, by: User | None) -> int:
    """Archive `deals` in one UPDATE; returns how many were not archived yet."""
    return deals.filter(is_archived=False).update(is_archived=True, updated_at=timezone.now())


@transaction.atomic
def restore_deal(deal: Deal, *, by: User | None) -> Deal:
    """Bring `deal` back. An open deal goes to the end of its stage's column, since its
    old place may have been taken meanwhile, and brings its account back if archived.
    Returns the deal as saved (a new instance)."""
    deal = Deal.objects.select_for_update(of=("self",)).get(pk=deal.pk)
    if not deal.is_archived:
        return deal
    deal.is_archived = False
    fields = ["is_archived", "updated_at"]
    if deal.status != DealStatus.OPEN:
        deal.save(update_fields=fields)
        return deal
    _save_in_column(deal, stage_id=deal.stage_id, index=None, fields=[*fields, "board_position"])
    bring_back_accounts([deal.account_id])
    return deal


@transaction.atomic
def restore_deals(deals: QuerySet[Deal], *, by: User | None) -> int:
    """Restore `deals` in a few queries, open ones after the cards of their columns (in
    their old order) and with their accounts; returns how many were archived."""
    archived = list(
        Deal.objects.filter(pk__in=deals.values("pk"), is_archived=True)
        .order_by("stage_id", "board_position", "pk")
        .only("pk", "stage_id", "status", "is_archived", "board_position", "account_id")
    )
    now = timezone.now()
    for deal in archived:
        deal.is_archived = False
        deal.updated_at = now
    _append_to_columns(archived)
    Deal.objects.bulk_update(
        archived, ["is_archived", "board_position", "updated_at"], batch_size=500
    )
    bring_back_accounts(deal.account_id for deal in archived if deal.status == DealStatus.OPEN)
    return len(archived)


def _has_open_deals() -> Exists:
    return Exists(
        Deal.objects.filter(account=OuterRef("pk"), status=DealStatus.OPEN, is_archived=False)
    )


@transaction.atomic
def archive_account(account: Account, *, by: User | None) -> Account:
    """Archive `account`, refused (DealError) while it has open, unarchived deals.

    Refused rather than archiving them along: an open deal is live pipeline that managers
    forecast with, so its owner decides its fate (close it, archive it, or give it to
    another account). Closed deals stay as they are and keep counting in reports. The
    contacts keep their own flag; lists hide them with their account. A deal that opens
    again later (restored, reopened, imported), or is added or given to it while this runs,
    brings the account back (`lock_accounts`).
    """
    lock_accounts(Account.objects.filter(pk=account.pk), archiving=True)
    updated = (
        Account.objects.filter(pk=account.pk, is_archived=False)
        .exclude(_has_open_deals())
        .update(is_archived=True)
    )
    if not updated:
        count = account.deals.filter(status=DealStatus.OPEN, is_archived=False).count()
        already = Account.objects.filter(pk=account.pk, is_archived=True).exists()
        if count and not already:
            raise DealError(
                ACCOUNT_HAS_OPEN_DEALS.format(
                    account=account.name, count=count, plural="" if count == 1 else "s"
                )
            )
    account.is_archived = True
    return account


@transaction.atomic
def archive_accounts(accounts: QuerySet[Account], *, by: User | None) -> int:
    """Archive `accounts` in one UPDATE, or none of them (DealError naming the accounts)
    when some still have open deals; returns how many were not archived yet."""
    pending = accounts.filter(is_archived=False)
    lock_accounts(pending, archiving=True)
    blocked = list(
        pending.filter(_has_open_deals()).order_by("name").values_list("name", flat=True)
    )
    if blocked:
        names = ", ".join(f"“{name}”" for name in blocked[:5])
        if len(blocked) > 5:
            names += f" and {len(blocked) - 5} more"
        raise DealError(ACCOUNTS_HAVE_OPEN_DEALS.format(accounts=names))
    return pending.update(is_archived=True)


def restore_account(account: Account, *, by: User | None) -> Account:
    restore_accounts(Account.objects.filter(pk=account.pk), by=by)
    account.is_archived = False
    return account


def restore_accounts(accounts: QuerySet[Account], *, by: User | None) -> int:
    return accounts.filter(is_archived=True).update(is_archived=False)


def archive_contact(contact: Contact, *, by: User | None) -> Contact:
    """Archive `contact`; deals that name it keep it."""
    archive_contacts(Contact.objects.filter(pk=contact.pk), by=by)
    contact.is_archived = True
    return contact


def archive_contacts(contacts: QuerySet[Contact], *, by: User | None) -> int:
    return contacts.filter(is_archived=False).update(is_archived=True)


def restore_contact(contact: Contact, *, by: User | None) -> Contact:
    restore_contacts(Contact.objects.filter(pk=contact.pk), by=by)
    contact.is_archived = False
    return contact


def restore_contacts(contacts: QuerySet[Contact], *, by: User | None) -> int:
    return contacts.filter(is_archived=True).update(is_archived=False)


@transaction.atomic
def create_deal_with_account(
    *,
    account: Account | None,
    new_account_name: str = "",
    owner: User,
    by: User | None,
    **fields: Any,
) -> Deal:
    """`create_deal` on `account`, or on a new account named `new_account_name` and owned
    by the deal's owner. One transaction: a refused deal leaves no new account behind."""
    if account is None:
        account = create_account(name=new_account_name, owner=owner)
    return create_deal(account=account, owner=owner, by=by, **fields)


# Correcting the timeline. A mistaken activity is edited or removed, never archived: it
# is what happened (or did not), not a record with a life of its own.


@transaction.atomic
def update_activity(
    activity: Activity,
    *,
    by: User,
    subject: str | None = None,
    body: str | None = None,
    occurred_at: datetime | None = None,
    kind: str | None = None,
) -> Activity:
    """Change what `activity` says and when it happened (a field left None is kept).

    Validates like `log_activity` (full_clean; "not in the future" is the form's rule, as
    for logging) and saves only the fields that differ; on ValidationError `activity` is
    left as it was. A new time moves `last_activity_at` of the deal and the account as
    `_refresh_last_activity` says, so the board's "Rotting" mark follows the correction.
    """
    changes = {"subject": subject, "body": body, "occurred_at": occurred_at, "kind": kind}
    changed = {
        name: value
        for name, value in changes.items()
        if value is not None and getattr(activity, name) != value
    }
    if not changed:
        return activity
    before = activity.occurred_at
    _save_changes(activity, changed, exclude=["user", "deal", "account"])
    if "occurred_at" in changed:
        _refresh_last_activity(activity, touched=max(before, activity.occurred_at))
    return activity


@transaction.atomic
def delete_activity(activity: Activity, *, by: User) -> None:
    """Remove a mistaken `activity`, and recompute `last_activity_at` of its deal and
    account as `_refresh_last_activity` says."""
    Activity.objects.filter(pk=activity.pk).delete()
    _refresh_last_activity(activity, touched=activity.occurred_at)


def _refresh_last_activity(activity: Activity, *, touched: datetime) -> None:
    """Set `last_activity_at` of `activity`'s deal and account to what their history says,
    after `activity` changed time or was removed; `touched` is the latest time it had.

    The rule is the one `log_activity`, `move_deal` and `create_deal` keep: a deal was last
    active at its newest activity, task completion or stage change (creation being the
    first), an account at its newest activity or task completion (None without any). So
    removing the newest activity, or moving it earlier, takes the record back to the newest
    thing that really happened rather than leaving it fresh and hiding a rotting deal. Only a record whose value is
    not newer than `touched` can have moved; the others are filtered out in the UPDATE,
    which computes the new value in the database (one query per record).
    """
    may_move = Q(last_activity_at__isnull=True) | Q(last_activity_at__lte=touched)
    if activity.deal_id is not None:
        changed = F("stage_changed_at")
        activity_at = Coalesce(_newest_activity(deal=OuterRef("pk")), changed)
        completion_at = Coalesce(_newest_completion(deal=OuterRef("pk")), changed)
        Deal.objects.filter(may_move, pk=activity.deal_id).update(
            last_activity_at=Greatest(changed, activity_at, completion_at)
        )
    if activity.account_id is not None:
        activity_at = _newest_activity(account=OuterRef("pk"))
        completion_at = _newest_completion(account=OuterRef("pk"))
        # Greatest of two that may each be NULL: NULL only when both are.
        Account.objects.filter(may_move, pk=activity.account_id).update(
            last_activity_at=Greatest(
                Coalesce(activity_at, completion_at), Coalesce(completion_at, activity_at)
            )
        )


def _newest_activity(**related: OuterRef) -> Subquery:
    newest = Activity.objects.filter(**related).order_by("-occurred_at").values("occurred_at")
    return Subquery(newest[:1])


def _newest_completion(**related: OuterRef) -> Subquery:
    """When a task of the record was last completed (completing one counts as activity)."""
    from tasks.models import Task, TaskStatus

    done = Task.objects.filter(status=TaskStatus.DONE, **related).order_by("-completed_at")
    return Subquery(done.values("completed_at")[:1])
