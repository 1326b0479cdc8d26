from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.utils import timezone

from deals import imports
from deals.imports import COLUMNS, import_deals
from deals.models import Account, Contact, Deal, DealStatus, LeadSource, LostReason, StageChange
from deals.services import create_deals_with_history
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from pipeline_crm.models import Role, User
from pipeline_crm.tests.factories import UserFactory
from stages.tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db

HEADER = ",".join(COLUMNS)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def csv_file(*lines: str, header: str = HEADER, bom: bool = False) -> io.BytesIO:
    text = "\r\n".join([header, *lines]) + "\r\n"
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode())


def midnight(day: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(day))


def row_counts() -> dict[str, int]:
    models = (Deal, StageChange, Account, Contact, LeadSource, LostReason, User)
    return {model.__name__: model.objects.count() for model in models}


def history(deal: Deal) -> list[tuple[str | None, str, datetime]]:
    return [
        (change.from_stage and change.from_stage.name, change.to_stage.name, change.changed_at)
        for change in deal.stage_changes.select_related("from_stage", "to_stage")
    ]


GOOD_FILE = (
    "Acme rollout,Acme,alice,Qualified,1234.5,2025-01-10,,2025-03-31,Website,,Ann Lee,ann@acme.test",
    "Globex pilot,Globex,Bob Baker,Won,5000,2025-01-05,2025-02-01,,Referral,,,",
    "Initech seats,Initech,alice,Lost,,2025-01-02,2025-01-20,,,Price,,",
)


# A good file


def test_a_good_file_imports_deals_with_their_stages_values_owners_and_contacts(
    pipeline, rep, other_rep, admin_user
):
    result = import_deals(csv_file(*GOOD_FILE), pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    assert result.summary() == (
        "Imported 3 deals (3 new accounts, 1 new contact, 2 new lead sources, 1 new lost reason)"
    )
    deals = {deal.title: deal for deal in Deal.objects.select_related("stage", "owner", "contact")}
    acme, globex, initech = deals["Acme rollout"], deals["Globex pilot"], deals["Initech seats"]
    assert (acme.stage.name, acme.status, acme.value, acme.owner) == (
        "Qualified",
        DealStatus.OPEN,
        Decimal("1234.50"),
        rep,
    )
    assert acme.expected_close_date == date(2025, 3, 31)
    assert acme.account.name == "Acme" and acme.account.owner == rep
    assert (acme.contact.name, acme.contact.email, acme.contact.account) == (
        "Ann Lee",
        "ann@acme.test",
        acme.account,
    )
    assert acme.source.name == "Website"
    assert (globex.stage.name, globex.owner, globex.value) == ("Won", other_rep, Decimal("5000"))
    assert (initech.status, initech.lost_reason.name, initech.value) == ("lost", "Price", 0)


def test_imported_deals_have_their_history_at_created_at_and_closed_at(
    pipeline, rep, other_rep, admin_user
):
    import_deals(csv_file(*GOOD_FILE), pipeline=pipeline, by=admin_user)

    acme, globex, initech = (
        Deal.objects.get(title=title) for title in ("Acme rollout", "Globex pilot", "Initech seats")
    )
    assert history(acme) == [(None, "Qualified", midnight("2025-01-10"))]
    assert (acme.created_at, acme.closed_at) == (midnight("2025-01-10"), None)
    assert history(globex) == [
        (None, "Lead", midnight("2025-01-05")),
        ("Lead", "Won", midnight("2025-02-01")),
    ]
    assert globex.closed_at == midnight("2025-02-01")
    assert history(initech)[-1] == ("Lead", "Lost", midnight("2025-01-20"))
    assert initech.closed_at == midnight("2025-01-20")
    assert {change.by for change in StageChange.objects.all()} == {admin_user}


def test_an_empty_created_at_means_now_and_an_empty_value_zero(pipeline, rep, admin_user):
    with time_machine.travel(NOW, tick=False):
        import_deals(csv_file("Quick,Acme,alice,Lead,,,,,,,,"), pipeline=pipeline, by=admin_user)

    deal = Deal.objects.get()
    assert (deal.created_at, deal.value) == (NOW, 0)
    assert history(deal) == [(None, "Lead", NOW)]


def test_a_semicolon_separated_file_imports(pipeline, rep, admin_user):
    file = csv_file(
        "Acme rollout;Acme, Inc.;alice;Lead;99.90;2025-01-10;;;;;;",
        header=HEADER.replace(",", ";"),
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    deal = Deal.objects.get()
    assert (deal.title, deal.account.name, deal.value) == (
        "Acme rollout",
        "Acme, Inc.",
        Decimal("99.9"),
    )


def test_a_file_with_a_byte_order_mark_imports(pipeline, rep, admin_user):
    file = csv_file("Café déal,Société Générale,alice,Lead,1,,,,,,,", bom=True)

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    assert Deal.objects.get().title == "Café déal"


def test_header_names_are_trimmed_case_insensitive_and_in_any_order(pipeline, rep, admin_user):
    file = csv_file("Lead, Acme rollout , alice,Acme", header=" Stage ,TITLE,Owner,account ")

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    deal = Deal.objects.get()
    assert (deal.title, deal.stage.name, deal.owner, deal.account.name) == (
        "Acme rollout",
        "Lead",
        rep,
        "Acme",
    )


def test_owners_match_a_username_or_a_full_name_whatever_the_case(
    pipeline, rep, other_rep, admin_user
):
    file = csv_file(
        "One,Acme,ALICE,Lead", "Two,Acme,bob baker,Lead", header="title,account,owner,stage"
    )

    import_deals(file, pipeline=pipeline, by=admin_user)

    owners = dict(Deal.objects.values_list("title", "owner__username"))
    assert owners == {"One": "alice", "Two": "bob"}


def test_an_open_deal_brings_its_archived_account_back(pipeline, rep, admin_user):
    for name in ("Acme", "Globex"):
        AccountFactory(name=name, owner=rep, is_archived=True)
    lines = (
        "Acme renewal,Acme,alice,Qualified,100,,,,,,,",
        "Globex pilot,Globex,alice,Won,100,2025-01-05,2025-02-01,,,,,",
    )

    result = import_deals(csv_file(*lines), pipeline=pipeline, by=admin_user)

    assert result.summary() == "Imported 2 deals (1 restored account)"
    archived = dict(Account.objects.values_list("name", "is_archived"))
    assert archived == {"Acme": False, "Globex": True}
    assert Account.objects.count() == 2


def test_existing_accounts_contacts_sources_and_reasons_are_reused(pipeline, rep, admin_user):
    acme = AccountFactory(name="Acme", owner=rep)
    ann = ContactFactory(account=acme, name="Ann Lee", email="ann@acme.test")
    website = LeadSourceFactory(name="Website")
    price = LostReasonFactory(name="Price")
    before = row_counts()
    file = csv_file(
        "One,ACME,alice,Lead,,,,,website,,,ANN@acme.test",
        "Two,acme,alice,Lost,,2025-01-01,2025-01-02,,,price,ann lee,",
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert result.summary() == "Imported 2 deals"
    one, two = Deal.objects.get(title="One"), Deal.objects.get(title="Two")
    assert (one.account, one.contact, one.source) == (acme, ann, website)
    assert (two.account, two.contact, two.lost_reason) == (acme, ann, price)
    assert row_counts() == before | {"Deal": 2, "StageChange": 3}


def test_a_contact_named_twice_in_the_file_is_created_once(pipeline, rep, admin_user):
    file = csv_file(
        "One,Acme,alice,Lead,,,,,,,Ann Lee,ann@acme.test",
        "Two,Acme,alice,Lead,,,,,,,,ann@acme.test",
        "Three,Acme,alice,Lead,,,,,,,ann lee,",
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert (result.accounts, result.contacts) == (1, 1)
    assert Contact.objects.get().deals.count() == 3


def test_create_owners_creates_reps_who_cannot_log_in(pipeline, rep, admin_user):
    UserFactory(username="jane.doe", first_name="Janet", last_name="Dodd")
    file = csv_file(
        "One,Acme,Jane Doe,Lead",
        "Two,Acme,zoe,Lead",
        "Three,Acme,jane doe,Lead",
        header="title,account,owner,stage",
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user, create_owners=True)

    assert result.summary() == "Imported 3 deals (1 new account, 2 new owners)"
    jane = User.objects.get(first_name="Jane")
    assert (jane.username, jane.last_name, jane.role) == ("jane.doe2", "Doe", Role.REP)
    zoe = User.objects.get(username="zoe")
    assert not jane.has_usable_password() and not zoe.has_usable_password()
    owners = dict(Deal.objects.values_list("title", "owner__username"))
    assert owners == {"One": "jane.doe2", "Two": "zoe", "Three": "jane.doe2"}


def test_a_title_with_a_neutralised_formula_gets_its_apostrophe_removed(pipeline, rep, admin_user):
    file = csv_file(
        """"'=HYPERLINK(""x"")",Acme,alice,Lead""",
        "'-minus,Acme,alice,Lead",
        "'plain,Acme,alice,Lead",
        header="title,account,owner,stage",
    )

    import_deals(file, pipeline=pipeline, by=admin_user)

    titles = set(Deal.objects.values_list("title", flat=True))
    assert titles == {'=HYPERLINK("x")', "-minus", "'plain"}


def test_deals_are_saved_in_batches_with_distinct_board_positions(pipeline, rep, admin_user):
    lines = [f"Deal {n},Account {n % 7},alice,Lead" for n in range(1205)]

    result = import_deals(
        csv_file(*lines, header="title,account,owner,stage"), pipeline=pipeline, by=admin_user
    )

    assert result.deals == 1205
    positions = Deal.objects.values_list("board_position", flat=True)
    assert len(set(positions)) == 1205
    assert StageChange.objects.count() == 1205


@pytest.mark.parametrize("size", [5, 50])
def test_the_import_runs_a_constant_number_of_queries(
    pipeline, rep, admin_user, assert_max_queries, size
):
    AccountFactory(name="Account 0", owner=rep)
    stages = [("Lead", ""), ("Won", "2025-02-01"), ("Lost", "2025-02-01")]
    lines = [
        f"Deal {n},Account {n % 10},alice,{stages[n % 3][0]},10,2025-01-01,{stages[n % 3][1]},,"
        f"Source {n},{'Price' if n % 3 == 2 else ''},Person {n},p{n}@x.test"
        for n in range(size)
    ]
    # Reads: stages, owners, accounts, contacts, sources, reasons (6). Writes: accounts,
    # contacts, sources and reasons each inserted and read back (6). Per batch of deals:
    # the stage rows locked, column tops, deals, stage changes (4). The existing accounts
    # of open deals locked and brought back if archived (2). Plus 1 where SQLite splits
    # the deals insert to stay under its limit on parameters.
    with assert_max_queries(19):
        result = import_deals(csv_file(*lines), pipeline=pipeline, by=admin_user)
    assert result.deals == size


@pytest.mark.parametrize("batches", [1, 3])
def test_the_import_adds_a_few_queries_per_batch_of_deals_not_per_deal(
    pipeline, rep, admin_user, assert_max_queries, monkeypatch, batches
):
    # Batches of 10 rows: several batches in a small file, and no insert long enough for
    # SQLite to split it. `make bench` measures the real batches on 10,000 rows.
    monkeypatch.setattr("deals.imports.BATCH_SIZE", 10)
    AccountFactory(name="Account 0", owner=rep)
    stages = [("Lead", ""), ("Won", "2025-02-01"), ("Lost", "2025-02-01")]
    lines = [
        f"Deal {n},Account {n % 10},alice,{stages[n % 3][0]},10,2025-01-01,{stages[n % 3][1]},,"
        f"Source {n},{'Price' if n % 3 == 2 else ''},Person {n},p{n}@x.test"
        for n in range(10 * batches)
    ]
    # Once: reads of stages, owners, accounts, contacts, sources, reasons (6); the new
    # accounts inserted (1); sources and reasons each inserted and read back (4); the
    # existing accounts of open deals locked and brought back if archived (2). Per batch
    # of 10 rows: one insert of new contacts (a contact per row here), then the stage rows
    # locked, the column tops, the deals and their stage changes (5).
    with assert_max_queries(13 + 5 * batches):
        result = import_deals(csv_file(*lines), pipeline=pipeline, by=admin_user)
    assert result.deals == 10 * batches
    closed = sum(1 for n in range(10 * batches) if n % 3)
    assert StageChange.objects.count() == 10 * batches + closed


# Bad files: every problem is listed by line, and nothing is saved


BAD_ROWS = [
    (
        "Deal,Acme,alice,Negotiation,,,,,,,,",
        "line 3: stage “Negotiation” is not a stage of “Sales”.",
    ),
    (
        "Deal,Acme,alice,Lead,,2025-13-01,,,,,,",
        "line 3: created_at “2025-13-01” is not a date like 2024-03-31.",
    ),
    (
        "Deal,Acme,alice,Lead,,,,31/03/2025,,,,",
        "line 3: expected_close_date “31/03/2025” is not a date like 2024-03-31.",
    ),
    ("Deal,Acme,alice,Lead,-5,,,,,,,", "line 3: value “-5” is negative."),
    ("Deal,Acme,alice,Lead,abc,,,,,,,", "line 3: value “abc” is not an amount like 1234.50."),
    ("Deal,Acme,alice,Lead,1.234,,,,,,,", "line 3: value “1.234” has more than two decimals."),
    (",Acme,alice,Lead,,,,,,,,", "line 3: title is required."),
    ("Deal,,alice,Lead,,,,,,,,", "line 3: account is required."),
    ("Deal,Acme,,Lead,,,,,,,,", "line 3: owner is required."),
    ("Deal,Acme,alice,,,,,,,,,", "line 3: stage is required."),
    (
        "Deal,Acme,mallory,Lead,,,,,,,,",
        "line 3: owner “mallory” is not a user; create unknown owners to add them as reps.",
    ),
    (
        "Deal,Acme,alice,Lost,,2025-01-01,2025-01-02,,,,,",
        "line 3: lost_reason is required for a deal in the lost stage “Lost”.",
    ),
    (
        "Deal,Acme,alice,Won,,2025-02-01,2025-01-02,,,,,",
        "line 3: closed_at 2025-01-02 is before created_at 2025-02-01.",
    ),
    (
        "Deal,Acme,alice,Won,,2025-02-01,9999-12-31,,,,,",
        "line 3: closed_at 9999-12-31 is in the future; history only holds days up to today.",
    ),
    (
        "Deal,Acme,alice,Lead,,9999-12-31,,,,,,",
        "line 3: created_at 9999-12-31 is in the future; history only holds days up to today.",
    ),
    (
        "Deal,Acme,alice,Won,,2025-02-01,,,,,,",
        "line 3: closed_at is required for a deal in the won stage “Won”.",
    ),
    (
        "Deal,Acme,alice,Lead,,2025-02-01,2025-03-01,,,,,",
        "line 3: closed_at must be empty for a deal in the open stage “Lead”.",
    ),
    (
        "Deal,Acme,alice,Lead,,,,,,Price,,",
        "line 3: lost_reason is only for lost deals, and “Lead” is not a lost stage.",
    ),
    (
        "Deal,Acme,alice,Lead,,,,,,,Ann,not-an-email",
        "line 3: contact_email “not-an-email” is not an email address.",
    ),
    ("Deal,Acme,alice,Lead", "line 3: 4 cells where the header has 12."),
]


@pytest.mark.parametrize(("line", "error"), BAD_ROWS)
def test_a_bad_row_rejects_the_file_with_its_line_number(pipeline, rep, admin_user, line, error):
    before = row_counts()
    file = csv_file("Good one,Newco,alice,Lead,10,,,,Website,,Ann,ann@newco.test", line)

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(e) for e in result.errors] == [error]
    assert row_counts() == before


def test_a_failure_half_way_through_saving_leaves_nothing_saved(
    pipeline, rep, admin_user, monkeypatch
):
    """The database refusing the second batch of deals (a concurrent change, a full disk):
    the first batch and everything created before it go back with the file."""
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    saved_batches = []

    def second_batch_refused(drafts):
        if saved_batches:
            raise IntegrityError("duplicate key value violates a unique constraint")
        saved_batches.append(create_deals_with_history(drafts))

    monkeypatch.setattr(imports, "create_deals_with_history", second_batch_refused)
    before = row_counts()
    file = csv_file(
        *GOOD_FILE, "New owner's deal,Hooli,Newt Owner,Lead,5,2025-01-03,,,Fair,,Ned,ned@hooli.test"
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user, create_owners=True)

    assert len(saved_batches) == 1 and len(saved_batches[0]) == 2  # really saved, then undone
    assert [str(error) for error in result.errors] == [
        "the database refused the import (duplicate key value violates a unique constraint); "
        "nothing was saved."
    ]
    assert row_counts() == before


def test_every_bad_row_is_listed_in_line_order(pipeline, rep, admin_user):
    file = csv_file(
        "One,Acme,alice,Negotiation,abc,,,,,,,",
        "Two,Acme,alice,Lead,,,,,,,,",
        "",
        "Three,Acme,nobody,Lead,-1,,,,,,,",
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 2: value “abc” is not an amount like 1234.50.",
        "line 2: stage “Negotiation” is not a stage of “Sales”.",
        "line 5: value “-1” is negative.",
        "line 5: owner “nobody” is not a user; create unknown owners to add them as reps.",
    ]
    assert not Deal.objects.exists()


def test_an_ambiguous_full_name_is_an_error(pipeline, rep, admin_user):
    UserFactory(username="alice2", first_name="Alice", last_name="Archer")
    file = csv_file("Deal,Acme,Alice Archer,Lead", header="title,account,owner,stage")

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 2: owner “Alice Archer” matches several users (alice, alice2); use a username."
    ]


def test_an_unknown_column_rejects_the_file(pipeline, rep, admin_user):
    before = row_counts()
    file = csv_file("Deal,Acme,alice,Lead,x", header="title,account,owner,stage,priority")

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        f"line 1: unknown column “priority”; the columns are {', '.join(COLUMNS)}."
    ]
    assert row_counts() == before


def test_a_missing_required_column_rejects_the_file(pipeline, rep, admin_user):
    result = import_deals(
        csv_file("Deal,Acme,Lead", header="title,account,stage"), pipeline=pipeline, by=admin_user
    )
    assert [str(error) for error in result.errors] == ["line 1: the column “owner” is missing."]


def test_a_file_that_is_not_utf8_is_refused_at_its_line(pipeline, rep, admin_user):
    file = io.BytesIO("title,account,owner,stage\nCafé,Acme,alice,Lead\n".encode("latin-1"))

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 2: the file is not UTF-8 text; save it as “CSV UTF-8”."
    ]


def test_a_nul_byte_is_refused_at_its_line(pipeline, rep, admin_user):
    file = io.BytesIO(
        b"title,account,owner,stage\nBig deal,Acme,alice,Lead\nBig\x00deal,Acme,alice,Lead\n"
    )

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 3: the file holds a NUL byte, which text does not; save it as “CSV UTF-8”."
    ]
    assert not Deal.objects.exists()


def test_a_utf16_file_is_refused(pipeline, rep, admin_user):
    file = io.BytesIO("title,account,owner,stage\nDeal,Acme,alice,Lead\n".encode("utf-16-le"))

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 1: the file holds a NUL byte, which text does not; save it as “CSV UTF-8”."
    ]


def test_an_empty_file_is_refused(pipeline, admin_user):
    result = import_deals(io.BytesIO(b""), pipeline=pipeline, by=admin_user)
    assert [str(error) for error in result.errors] == [
        "line 1: the file is empty; its first line must name the columns."
    ]


def test_a_closed_deal_needs_an_open_stage_to_start_in(rep, admin_user):
    pipeline = PipelineFactory(name="Closed only")
    pipeline.stages.filter(kind="open").delete()
    file = csv_file("Deal,Acme,alice,Won,,2025-01-01,2025-01-02,,,,,")

    result = import_deals(file, pipeline=pipeline, by=admin_user)

    assert [str(error) for error in result.errors] == [
        "line 2: “Closed only” has no open stage to create a closed deal in."
    ]


def test_a_dry_run_reports_what_it_would_create_and_saves_nothing(pipeline, rep, admin_user):
    before = row_counts()
    file = csv_file(*GOOD_FILE, "Extra,Newco,Nina New,Lead,,,,,,,,")

    result = import_deals(file, pipeline=pipeline, by=admin_user, create_owners=True, dry_run=True)

    assert result.ok
    assert result.summary() == (
        "Would import 4 deals (4 new accounts, 2 new owners, 1 new contact, "
        "2 new lead sources, 1 new lost reason)"
    )
    assert [row.title for row in result.preview] == [
        "Acme rollout",
        "Globex pilot",
        "Initech seats",
        "Extra",
    ]
    assert result.preview[0].value == Decimal("1234.5")
    assert result.preview[1].new_owner and not result.preview[0].new_owner
    assert row_counts() == before


# The command


def write(tmp_path, *lines: str, header: str = HEADER):
    path = tmp_path / "deals.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return str(path)


def test_the_command_imports_and_prints_a_summary(tmp_path, pipeline, rep, other_rep, admin_user):
    out = io.StringIO()

    call_command("import_deals", write(tmp_path, *GOOD_FILE), pipeline="sales", stdout=out)

    assert out.getvalue().strip() == (
        "Imported 3 deals (3 new accounts, 1 new contact, 2 new lead sources, 1 new lost reason)"
    )
    assert Deal.objects.count() == 3
    assert {change.by for change in StageChange.objects.all()} == {admin_user}


def test_the_command_prints_every_error_and_exits_non_zero(tmp_path, pipeline, rep):
    path = write(tmp_path, "One,Acme,alice,Negotiation,,,,,,,,", "Two,Acme,zed,Lead,,,,,,,,")
    err = io.StringIO()

    # manage.py turns a CommandError into its message on stderr and exit status 1.
    with pytest.raises(CommandError, match=re.escape(f"2 problems in {path}; nothing")):
        call_command("import_deals", path, "--pipeline", "Sales", stderr=err)

    assert err.getvalue().splitlines() == [
        "line 2: stage “Negotiation” is not a stage of “Sales”.",
        "line 3: owner “zed” is not a user; create unknown owners to add them as reps.",
    ]
    assert not Deal.objects.exists()


def test_the_command_creates_owners_when_asked(tmp_path, pipeline, admin_user):
    out = io.StringIO()
    path = write(tmp_path, "One,Acme,Nina New,Lead", header="title,account,owner,stage")

    call_command("import_deals", path, pipeline="Sales", create_owners=True, by="erin", stdout=out)

    assert out.getvalue().strip() == "Imported 1 deal (1 new account, 1 new owner)"
    assert User.objects.get(username="nina.new").role == Role.REP


def test_the_command_dry_run_saves_nothing(tmp_path, pipeline, rep):
    out = io.StringIO()
    path = write(tmp_path, "One,Acme,alice,Lead", header="title,account,owner,stage")

    call_command("import_deals", path, pipeline="Sales", dry_run=True, stdout=out)

    assert out.getvalue().strip() == (
        "Would import 1 deal (1 new account); nothing was saved (dry run)."
    )
    assert not Deal.objects.exists() and not Account.objects.exists()


def test_the_command_refuses_an_unknown_pipeline(tmp_path, pipeline):
    path = write(tmp_path, "One,Acme,alice,Lead", header="title,account,owner,stage")
    with pytest.raises(CommandError, match="No pipeline is called “Nope”. Pipelines: Sales."):
        call_command("import_deals", path, pipeline="Nope")
