"""CSV import and export of deals. The import takes a whole file or nothing; the export
writes the same columns, so that a file exported here imports back as the same deals."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat, Lower, Trim
from django.utils import timezone

from deals.models import Account, Contact, Deal, DealQuerySet, LeadSource, LostReason
from deals.services import (
    DealDraft,
    DealError,
    bring_back_accounts,
    create_deals_with_history,
)
from pipeline_crm.csv_export import unescape_cell
from pipeline_crm.models import Role, User
from stages.models import Pipeline, Stage, StageKind

COLUMNS = (
    "title",
    "account",
    "owner",
    "stage",
    "value",
    "created_at",
    "closed_at",
    "expected_close_date",
    "source",
    "lost_reason",
    "contact_name",
    "contact_email",
)
REQUIRED_COLUMNS = ("title", "account", "owner", "stage")
# The longest text each column takes (the model fields' max_length).
MAX_LENGTHS = {
    "title": 200,
    "account": 200,
    "owner": 150,
    "stage": 100,
    "source": 100,
    "lost_reason": 100,
    "contact_name": 200,
    "contact_email": 254,
}
BATCH_SIZE = 1000
PREVIEW_SIZE = 10
# Lookups by name go out in slices: SQLite refuses statements with too many parameters.
LOOKUP_SLICE = 500

NOT_UTF8 = "the file is not UTF-8 text; save it as “CSV UTF-8”."
NOT_CSV = "the file is not valid CSV ({error})."
# Text holds no NUL byte (PostgreSQL refuses to store one); a UTF-16 file has one in every
# ASCII character.
NUL_BYTE = "the file holds a NUL byte, which text does not; save it as “CSV UTF-8”."
EMPTY_FILE = "the file is empty; its first line must name the columns."
UNKNOWN_COLUMN = "unknown column “{name}”; the columns are {columns}."
UNNAMED_COLUMN = "column {number} has no name."
DUPLICATE_COLUMN = "the column “{name}” appears twice."
MISSING_COLUMN = "the column “{name}” is missing."
NO_ROWS = "the file has no deals after its header line."
CELL_COUNT = "{found} cells where the header has {expected}."
VALUE_REQUIRED = "{column} is required."
TOO_LONG = "{column} is longer than {limit} characters."
BAD_DATE = "{column} “{value}” is not a date like 2024-03-31."
BAD_AMOUNT = "value “{value}” is not an amount like 1234.50."
NEGATIVE_AMOUNT = "value “{value}” is negative."
AMOUNT_TOO_PRECISE = "value “{value}” has more than two decimals."
AMOUNT_TOO_LARGE = "value “{value}” is too large."
BAD_EMAIL = "contact_email “{value}” is not an email address."
UNKNOWN_STAGE = "stage “{stage}” is not a stage of “{pipeline}”."
UNKNOWN_OWNER = "owner “{owner}” is not a user; create unknown owners to add them as reps."
OWNER_NOT_YOURS = "owner “{owner}” is not someone you may give deals to."
OWNERS_ADMIN_ONLY = "owner “{owner}” is not a user, and only admins create users."
AMBIGUOUS_OWNER = "owner “{owner}” matches several users ({usernames}); use a username."
CLOSED_AT_REQUIRED = "closed_at is required for a deal in the {kind} stage “{stage}”."
CLOSED_AT_ON_OPEN = "closed_at must be empty for a deal in the open stage “{stage}”."
LOST_REASON_REQUIRED = "lost_reason is required for a deal in the lost stage “{stage}”."
LOST_REASON_NOT_LOST = "lost_reason is only for lost deals, and “{stage}” is not a lost stage."
CLOSED_BEFORE_CREATED = "closed_at {closed} is before created_at {created}."
IN_THE_FUTURE = "{column} {day} is in the future; history only holds days up to today."
NO_START_STAGE = "“{pipeline}” has no open stage to create a closed deal in."
REFUSED_BY_DATABASE = "the database refused the import ({error}); nothing was saved."

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_AMOUNT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]+")

Fail = Callable[[str], None]  # reports a problem of the line being read


@dataclass(frozen=True)
class LineError:
    """A reason to refuse the file; `line` counts physical lines, the header being 1."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass
class ImportRow:
    """One deal line, parsed. Empty dates are None; `new_*` say what the import creates."""

    line: int
    title: str
    account: str
    owner: str
    stage: str
    value: Decimal
    created_at: date | None
    closed_at: date | None
    expected_close_date: date | None
    source: str
    lost_reason: str
    contact_name: str
    contact_email: str
    new_account: bool = False
    new_owner: bool = False


@dataclass
class ImportResult:
    """What an import did, or with `dry_run` would do; with errors, nothing was saved."""

    dry_run: bool
    deals: int = 0
    accounts: int = 0
    owners: int = 0
    contacts: int = 0
    sources: int = 0
    reasons: int = 0
    restored_accounts: int = 0
    errors: list[LineError] = field(default_factory=list)
    preview: list[ImportRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """ "Imported 120 deals (3 new accounts, 1 new owner)"; "Would import…" for a dry run."""
        created = [
            _count(number, noun)
            for number, noun in (
                (self.accounts, "new account"),
                (self.owners, "new owner"),
                (self.contacts, "new contact"),
                (self.sources, "new lead source"),
                (self.reasons, "new lost reason"),
                (self.restored_accounts, "restored account"),
            )
            if number
        ]
        text = f"{'Would import' if self.dry_run else 'Imported'} {_count(self.deals, 'deal')}"
        return f"{text} ({', '.join(created)})" if created else text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def import_deals(
    file: IO[bytes],
    *,
    pipeline: Pipeline,
    by: User | None,
    create_owners: bool = False,
    dry_run: bool = False,
    owners: QuerySet[User] | None = None,
) -> ImportResult:
    """Import the deals of a CSV file (see COLUMNS) into `pipeline`, all or none.

    Every bad line is reported in `errors`, and then nothing is saved. Owners, accounts,
    contacts, lead sources and lost reasons are matched by name (case-insensitively);
    missing ones are created, owners only with `create_owners`. Each deal gets its stage
    history, recorded as made by `by`. With `owners`, every owner must be one of them and
    none is created (the upload page passes `assignable_owners(user)` for non-admins). Queries do not grow with the number of lines beyond
    one lookup per LOOKUP_SLICE names and a few inserts per BATCH_SIZE deals.
    """
    result = ImportResult(dry_run=dry_run)
    rows = _parse(file, result.errors)
    if not rows:
        return result
    allowed = None if owners is None else set(owners.values_list("pk", flat=True))
    plan = _Plan(
        pipeline=pipeline,
        rows=rows,
        create_owners=create_owners and allowed is None,
        errors=result.errors,
        allowed_owner_ids=allowed,
    )
    plan.resolve()
    result.preview = rows[:PREVIEW_SIZE]
    if result.errors:
        result.errors.sort(key=lambda error: error.line or 0)
        return result
    result.deals = len(rows)
    result.accounts = len(plan.new_accounts)
    result.owners = len(plan.new_owners)
    result.contacts = len(plan.new_contacts)
    result.sources = len(plan.new_sources)
    result.reasons = len(plan.new_reasons)
    result.restored_accounts = len(plan.archived_accounts_of_open_deals())
    if not dry_run:
        try:
            plan.save(by=by)
        except (DatabaseError, DealError, ValidationError) as error:
            # Checked above, so only a concurrent change (a name taken meanwhile) gets here.
            result.errors.append(LineError(None, REFUSED_BY_DATABASE.format(error=error)))
    return result


# Reading


def _parse(file: IO[bytes], errors: list[LineError]) -> list[ImportRow]:
    """The rows of the file; none when it cannot be read or its header is wrong. Bad
    values are reported in `errors` and left empty in the row."""
    records = _read_records(file, errors)
    if errors:
        return []
    if not records:
        errors.append(LineError(1, EMPTY_FILE))
        return []
    (_, header), *lines = records
    columns = _read_header(header, errors)
    if errors:
        return []
    if not lines:
        errors.append(LineError(2, NO_ROWS))
        return []
    return [_parse_row(line, cells, columns, errors) for line, cells in lines]


def _read_records(file: IO[bytes], errors: list[LineError]) -> list[tuple[int, list[str]]]:
    """The file's non-blank records, each with the line it starts on."""
    raw = file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        errors.append(LineError(raw[: error.start].count(b"\n") + 1, NOT_UTF8))
        return []
    if "\x00" in text:
        errors.append(LineError(text[: text.index("\x00")].count("\n") + 1, NUL_BYTE))
        return []
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as error:
        errors.append(LineError(line, NOT_CSV.format(error=error)))
    return records


def _read_header(cells: list[str], errors: list[LineError]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = cell.strip().lower()
        if not name:
            errors.append(LineError(1, UNNAMED_COLUMN.format(number=index + 1)))
        elif name not in COLUMNS:
            known = ", ".join(COLUMNS)
            errors.append(LineError(1, UNKNOWN_COLUMN.format(name=cell.strip(), columns=known)))
        elif name in columns:
            errors.append(LineError(1, DUPLICATE_COLUMN.format(name=name)))
        else:
            columns[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            errors.append(LineError(1, MISSING_COLUMN.format(name=name)))
    return columns


def _parse_row(
    line: int, cells: list[str], columns: dict[str, int], errors: list[LineError]
) -> ImportRow:
    def fail(message: str) -> None:
        errors.append(LineError(line, message))

    if len(cells) != len(columns):
        fail(CELL_COUNT.format(found=len(cells), expected=len(columns)))
        cells = (cells + [""] * len(columns))[: len(columns)]

    def text(name: str) -> str:
        index = columns.get(name)
        value = unescape_cell(cells[index].strip()) if index is not None else ""
        if not value and name in REQUIRED_COLUMNS:
            fail(VALUE_REQUIRED.format(column=name))
        if len(value) > MAX_LENGTHS[name]:
            fail(TOO_LONG.format(column=name, limit=MAX_LENGTHS[name]))
        return value

    def day(name: str) -> date | None:
        index = columns.get(name)
        value = cells[index].strip() if index is not None else ""
        if not value:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            fail(BAD_DATE.format(column=name, value=value))
            return None

    row = ImportRow(
        line=line,
        title=text("title"),
        account=text("account"),
        owner=text("owner"),
        stage=text("stage"),
        value=Decimal(0),
        created_at=day("created_at"),
        closed_at=day("closed_at"),
        expected_close_date=day("expected_close_date"),
        source=text("source"),
        lost_reason=text("lost_reason"),
        contact_name=text("contact_name"),
        contact_email=text("contact_email"),
    )
    if "value" in columns:
        row.value = _parse_amount(cells[columns["value"]].strip(), fail)
    if row.contact_email:
        try:
            validate_email(row.contact_email)
        except ValidationError:
            fail(BAD_EMAIL.format(value=row.contact_email))
    return row


def _parse_amount(value: str, fail: Fail) -> Decimal:
    if not value:
        return Decimal(0)
    if not _AMOUNT.fullmatch(value):
        fail(BAD_AMOUNT.format(value=value))
        return Decimal(0)
    amount = Decimal(value)
    if amount < 0:
        fail(NEGATIVE_AMOUNT.format(value=value))
    elif amount != amount.quantize(Decimal("0.01")):
        fail(AMOUNT_TOO_PRECISE.format(value=value))
    elif amount >= 10**12:  # Deal.value: 14 digits, 2 of them decimals
        fail(AMOUNT_TOO_LARGE.format(value=value))
    return amount


# Matching and saving


def _slices(keys: set[str]) -> Iterator[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_SLICE):
        yield ordered[start : start + LOOKUP_SLICE]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass
class _Deal:
    """A checked row with everything it points to, saved or still to be created."""

    row: ImportRow
    stage: Stage
    owner: User
    account: Account
    contact: Contact | None
    created_at: datetime
    closed_at: datetime | None


@dataclass
class _ContactBook:
    """An account's contacts by lower-cased email and name, new ones included."""

    by_email: dict[str, Contact] = field(default_factory=dict)
    by_name: dict[str, Contact] = field(default_factory=dict)

    def add(self, contact: Contact) -> None:
        if contact.email:
            self.by_email.setdefault(contact.email.lower(), contact)
        self.by_name.setdefault(contact.name.lower(), contact)


@dataclass
class _Plan:
    """Resolves the parsed rows against the database (reads only), then saves them."""

    pipeline: Pipeline
    rows: list[ImportRow]
    create_owners: bool
    errors: list[LineError]
    allowed_owner_ids: set[int] | None = None  # None: anyone
    deals: list[_Deal] = field(default_factory=list)
    new_owners: list[User] = field(default_factory=list)
    new_accounts: list[Account] = field(default_factory=list)
    new_contacts: list[Contact] = field(default_factory=list)
    new_sources: dict[str, str] = field(default_factory=dict)  # lower-cased name → name
    new_reasons: dict[str, str] = field(default_factory=dict)
    # What the database holds, read by resolve(); keys are lower-cased names.
    stages: dict[str, Stage] = field(init=False)
    first_open: Stage | None = field(init=False)
    owners: dict[str, list[User]] = field(init=False)
    accounts: dict[str, Account] = field(init=False)
    contacts: dict[str, _ContactBook] = field(init=False)
    sources: dict[str, LeadSource] = field(init=False)
    reasons: dict[str, LostReason] = field(init=False)
    now: datetime = field(init=False)

    def resolve(self) -> None:
        self.now = timezone.now()
        self.stages = {stage.name.lower(): stage for stage in self.pipeline.stages.all()}
        open_stages = [s for s in self.stages.values() if s.kind == StageKind.OPEN]
        self.first_open = min(open_stages, key=lambda s: (s.position, s.pk), default=None)
        self.owners = self._load_owners()
        self.accounts = self._load_accounts()
        self.contacts = self._load_contacts()
        self.sources = {item.name.lower(): item for item in LeadSource.objects.all()}
        self.reasons = {item.name.lower(): item for item in LostReason.objects.all()}
        for row in self.rows:
            self._resolve_row(row)

    def _load_owners(self) -> dict[str, list[User]]:
        """Candidates per lower-cased owner cell: users with that username, else that name."""
        keys = {row.owner.lower() for row in self.rows if row.owner}
        full_name = Lower(Trim(Concat("first_name", Value(" "), "last_name")))
        users = User.objects.annotate(lower_username=Lower("username"), lower_name=full_name)
        by_username: dict[str, list[User]] = {}
        by_name: dict[str, list[User]] = {}
        for keys_slice in _slices(keys):
            found = users.filter(Q(lower_username__in=keys_slice) | Q(lower_name__in=keys_slice))
            for user in found.order_by("pk"):
                by_username.setdefault(user.lower_username, []).append(user)
                by_name.setdefault(user.lower_name, []).append(user)
        return {key: by_username.get(key) or by_name.get(key, []) for key in keys}

    def _load_accounts(self) -> dict[str, Account]:
        keys = {row.account.lower() for row in self.rows if row.account}
        accounts: dict[str, Account] = {}
        for keys_slice in _slices(keys):
            found = Account.objects.annotate(lower_name=Lower("name"))
            # Several accounts may share a name: take the oldest active one.
            for account in found.filter(lower_name__in=keys_slice).order_by("is_archived", "pk"):
                accounts.setdefault(account.lower_name, account)
        return accounts

    def _load_contacts(self) -> dict[str, _ContactBook]:
        """The contacts of the existing accounts that rows name a contact of, by the
        lower-cased account name (as accounts are matched)."""
        names = {
            row.account.lower()
            for row in self.rows
            if (row.contact_name or row.contact_email) and row.account.lower() in self.accounts
        }
        name_of = {self.accounts[name].pk: name for name in names}
        books: dict[str, _ContactBook] = {}
        ordered = sorted(name_of)
        for start in range(0, len(ordered), LOOKUP_SLICE):
            ids = ordered[start : start + LOOKUP_SLICE]
            for contact in Contact.objects.filter(account_id__in=ids).order_by("pk"):
                books.setdefault(name_of[contact.account_id], _ContactBook()).add(contact)
        return books

    def _resolve_row(self, row: ImportRow) -> None:
        errors_before = len(self.errors)

        def fail(message: str) -> None:
            self.errors.append(LineError(row.line, message))

        stage = self.stages.get(row.stage.lower())
        if row.stage and stage is None:
            fail(UNKNOWN_STAGE.format(stage=row.stage, pipeline=self.pipeline.name))
        owner = self._owner(row, fail)
        created_at = closed_at = None
        if stage is not None:
            created_at, closed_at = self._check_closing(row, stage, fail)
        if len(self.errors) > errors_before or stage is None or owner is None:
            return
        account = self._account(row, owner)
        self.deals.append(
            _Deal(
                row=row,
                stage=stage,
                owner=owner,
                account=account,
                contact=self._contact(row, account),
                created_at=created_at,
                closed_at=closed_at,
            )
        )
        if row.source and row.source.lower() not in self.sources:
            self.new_sources.setdefault(row.source.lower(), row.source)
        if row.lost_reason and row.lost_reason.lower() not in self.reasons:
            self.new_reasons.setdefault(row.lost_reason.lower(), row.lost_reason)

    def _owner(self, row: ImportRow, fail: Fail) -> User | None:
        if not row.owner:
            return None
        candidates = self.owners.get(row.owner.lower(), [])
        if len(candidates) > 1:
            usernames = ", ".join(user.username for user in candidates)
            fail(AMBIGUOUS_OWNER.format(owner=row.owner, usernames=usernames))
            return None
        if candidates:
            owner = candidates[0]
            if (
                owner.pk is not None
                and self.allowed_owner_ids is not None
                and owner.pk not in self.allowed_owner_ids
            ):
                fail(OWNER_NOT_YOURS.format(owner=row.owner))
                return None
            row.new_owner = owner.pk is None
            return owner
        if self.allowed_owner_ids is not None:
            fail(OWNERS_ADMIN_ONLY.format(owner=row.owner))
            return None
        if not self.create_owners:
            fail(UNKNOWN_OWNER.format(owner=row.owner))
            return None
        owner = _new_owner(row.owner)
        self.new_owners.append(owner)
        self.owners[row.owner.lower()] = [owner]
        row.new_owner = True
        return owner

    def _check_closing(
        self, row: ImportRow, stage: Stage, fail: Fail
    ) -> tuple[datetime | None, datetime | None]:
        """When the deal was created and closed, and whether the stage allows it."""
        today = timezone.localdate(self.now)
        for column, day in (("created_at", row.created_at), ("closed_at", row.closed_at)):
            if day and day > today:
                fail(IN_THE_FUTURE.format(column=column, day=day))
        closed_at = _midnight(row.closed_at) if row.closed_at else None
        if stage.kind == StageKind.OPEN:
            if row.closed_at:
                fail(CLOSED_AT_ON_OPEN.format(stage=stage.name))
        elif not row.closed_at:
            fail(CLOSED_AT_REQUIRED.format(kind=stage.get_kind_display().lower(), stage=stage.name))
        elif self.first_open is None:
            fail(NO_START_STAGE.format(pipeline=self.pipeline.name))
        if stage.kind == StageKind.LOST and not row.lost_reason:
            fail(LOST_REASON_REQUIRED.format(stage=stage.name))
        if stage.kind != StageKind.LOST and row.lost_reason:
            fail(LOST_REASON_NOT_LOST.format(stage=stage.name))
        if row.created_at:
            created_at = _midnight(row.created_at)
        else:
            # "Now" by default, but a deal closed in the past was created by then.
            created_at = min(self.now, closed_at) if closed_at else self.now
        if closed_at and closed_at < created_at:
            fail(CLOSED_BEFORE_CREATED.format(closed=row.closed_at, created=row.created_at))
        return created_at, closed_at

    def _account(self, row: ImportRow, owner: User) -> Account:
        account = self.accounts.get(row.account.lower())
        if account is None:
            account = Account(name=row.account, owner=owner)
            self.accounts[row.account.lower()] = account
            self.new_accounts.append(account)
        row.new_account = account.pk is None
        return account

    def _contact(self, row: ImportRow, account: Account) -> Contact | None:
        if not (row.contact_name or row.contact_email):
            return None
        book = self.contacts.setdefault(row.account.lower(), _ContactBook())
        email, name = row.contact_email.lower(), row.contact_name.lower()
        contact = (email and book.by_email.get(email)) or (name and book.by_name.get(name))
        if not contact:
            contact = Contact(
                account=account,
                name=row.contact_name or row.contact_email,
                email=row.contact_email,
            )
            book.add(contact)
            self.new_contacts.append(contact)
        return contact

    @transaction.atomic
    def save(self, *, by: User | None) -> None:
        if self.new_owners:
            _pick_usernames(self.new_owners)
            User.objects.bulk_create(self.new_owners)
        # bulk_create fills in the keys of related rows saved before it.
        Account.objects.bulk_create(self.new_accounts, batch_size=BATCH_SIZE)
        Contact.objects.bulk_create(self.new_contacts, batch_size=BATCH_SIZE)
        _create_pick_list_items(LeadSource, self.new_sources, self.sources)
        _create_pick_list_items(LostReason, self.new_reasons, self.reasons)
        for start in range(0, len(self.deals), BATCH_SIZE):
            batch = self.deals[start : start + BATCH_SIZE]
            create_deals_with_history([self._draft(deal, by=by) for deal in batch])
        # Every existing account of an open deal, not only those archived when the file
        # was read: one archived meanwhile comes back too (`bring_back_accounts` locks).
        new_accounts = {account.pk for account in self.new_accounts}
        bring_back_accounts(
            planned.account.pk
            for planned in self.deals
            if planned.stage.kind == StageKind.OPEN and planned.account.pk not in new_accounts
        )

    def archived_accounts_of_open_deals(self) -> set[int]:
        """The archived accounts that open deals of the file bring back."""
        return {
            planned.account.pk
            for planned in self.deals
            if planned.account.is_archived and planned.stage.kind == StageKind.OPEN
        }

    def _draft(self, planned: _Deal, *, by: User | None) -> DealDraft:
        row, stage = planned.row, planned.stage
        closes = stage.kind != StageKind.OPEN
        source = self.sources[row.source.lower()] if row.source else None
        # Ids where the services never follow the relation: assigning an instance costs
        # more than the rest of the deal. They follow stage, contact and lost reason.
        deal = Deal(
            title=row.title,
            account_id=planned.account.pk,
            contact=planned.contact,
            owner_id=planned.owner.pk,
            pipeline_id=self.pipeline.pk,
            # A closed deal starts in the first open stage and moves to its final one.
            stage=self.first_open if closes else stage,
            value=row.value,
            expected_close_date=row.expected_close_date,
            source_id=source.pk if source else None,
            lost_reason=self.reasons[row.lost_reason.lower()] if row.lost_reason else None,
            created_at=planned.created_at,
        )
        moves = [(stage, planned.closed_at)] if closes else []
        return DealDraft(deal=deal, moves=moves, by=by)


def _new_owner(cell: str) -> User:
    """A rep who cannot log in until given a password; a cell with a space is a full name."""
    first_name, _, last_name = cell.partition(" ")
    if not last_name:
        first_name = ""
    owner = User(username=cell, first_name=first_name, last_name=last_name.strip(), role=Role.REP)
    owner.set_unusable_password()
    return owner


def _pick_usernames(owners: list[User]) -> None:
    """Turn the new owners' cells into free usernames: "Jane Doe" becomes "jane.doe", or
    "jane.doe2" when that is taken (usernames compared case-insensitively)."""
    pending = []
    for owner in owners:
        base = _USERNAME_UNSAFE.sub(".", owner.username.strip()).strip(".")[:140] or "owner"
        pending.append((owner, base.lower() if owner.last_name else base))
    chosen: set[str] = set()
    number = 1
    while pending:
        wanted = [(base if number == 1 else f"{base}{number}") for _, base in pending]
        taken = _taken_usernames({name.lower() for name in wanted})
        still_pending = []
        for (owner, base), username in zip(pending, wanted, strict=True):
            if username.lower() in taken or username.lower() in chosen:
                still_pending.append((owner, base))
            else:
                owner.username = username
                chosen.add(username.lower())
        pending, number = still_pending, number + 1


def _taken_usernames(lowered: set[str]) -> set[str]:
    taken = set()
    for names in _slices(lowered):
        users = User.objects.annotate(lower_username=Lower("username"))
        taken |= set(
            users.filter(lower_username__in=names).values_list("lower_username", flat=True)
        )
    return taken


def _create_pick_list_items(model, names: dict[str, str], known: dict) -> None:
    """Create the lead sources or lost reasons named in `names` and add them to `known`."""
    if not names:
        return
    # Names are unique: one created meanwhile by someone else is simply used.
    model.objects.bulk_create([model(name=name) for name in names.values()], ignore_conflicts=True)
    for item in model.objects.filter(name__in=list(names.values())):
        known[item.name.lower()] = item


# Export


def export_rows(deals: DealQuerySet) -> Iterator[Sequence[object]]:
    """`deals` as rows of COLUMNS, read in one query and streamed."""
    deals = deals.select_related(
        "account", "owner", "stage", "source", "lost_reason", "contact"
    ).order_by("created_at", "pk")
    for deal in deals.iterator(chunk_size=2000):
        yield (
            deal.title,
            deal.account.name,
            deal.owner.username,
            deal.stage.name,
            deal.value,
            timezone.localdate(deal.created_at),
            timezone.localdate(deal.closed_at) if deal.closed_at else None,
            deal.expected_close_date,
            deal.source.name if deal.source else None,
            deal.lost_reason.name if deal.lost_reason else None,
            deal.contact.name if deal.contact else None,
            deal.contact.email if deal.contact else None,
        )
