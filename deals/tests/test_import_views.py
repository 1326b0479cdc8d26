from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from deals.import_views import PENDING_IMPORT
from deals.imports import COLUMNS, import_deals
from deals.models import Account, Contact, Deal, LeadSource, LostReason, StageChange
from deals.services import move_deal
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from pipeline_crm.models import User
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

HEADER = "title,account,owner,stage"
START = datetime(2025, 1, 6, tzinfo=UTC)


def upload(client, pipeline, *lines: str, header: str = HEADER, **options):
    content = "\n".join([header, *lines]).encode()
    data = {"pipeline": pipeline.pk, "file": SimpleUploadedFile("deals.csv", content)} | options
    return client.post(reverse("deals:import"), data)


def row_counts() -> dict[str, int]:
    models = (Deal, StageChange, Account, Contact, LeadSource, LostReason, User)
    return {model.__name__: model.objects.count() for model in models}


def download(client, **params) -> list[list[str]]:
    response = client.get(reverse("deals:export"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeff")
    return list(csv.reader(io.StringIO(content[1:], newline="")))


# The upload page


def test_reps_may_not_import(client, rep, pipeline):
    client.force_login(rep)
    assert client.get(reverse("deals:import")).status_code == 403
    response = upload(client, pipeline, "Deal,Acme,alice,Lead")
    assert response.status_code == 403
    assert not Deal.objects.exists()


def test_the_page_offers_the_active_pipelines_only(client, manager, pipeline):
    PipelineFactory(name="Retired", is_active=False)
    client.force_login(manager)

    response = client.get(reverse("deals:import"))

    assert response.status_code == 200
    assert list(response.context["form"].fields["pipeline"].queryset) == [pipeline]


def test_a_manager_sees_a_preview_of_the_first_ten_rows_and_nothing_is_saved(
    client, manager, outsider, pipeline
):
    client.force_login(manager)
    before = row_counts()

    response = upload(client, pipeline, *(f"Deal {n},Acme,carol,Lead" for n in range(1, 13)))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Would import 12 deals (1 new account) into “Sales”." in html
    assert [row.title for row in response.context["result"].preview] == [
        f"Deal {n}" for n in range(1, 11)
    ]
    assert "<td>Deal 10</td>" in html and "<td>Deal 11</td>" not in html
    assert "Confirm import" in html
    assert row_counts() == before


def test_a_manager_sees_every_error_with_its_line_number(client, manager, outsider, pipeline):
    client.force_login(manager)

    response = upload(
        client,
        pipeline,
        "Good,Acme,carol,Lead",
        "Bad stage,Acme,carol,Negotiation",
        "Bad owner,Acme,<b>zed</b>,Lead",
    )

    html = response.content.decode()
    assert "2 problems: nothing was imported" in html
    assert "line 3: stage “Negotiation” is not a stage of “Sales”." in html
    assert "line 4: owner “&lt;b&gt;zed&lt;/b&gt;” is not a user" in html
    assert "Confirm import" not in html
    assert PENDING_IMPORT not in client.session
    assert not Deal.objects.exists()


def test_confirming_imports_the_checked_file_and_goes_to_the_board(
    client, admin_user, rep, pipeline
):
    client.force_login(admin_user)
    checked = upload(
        client, pipeline, "One,Acme,alice,Lead", "Two,Acme,Nina New,Qualified", create_owners="on"
    )

    response = client.post(reverse("deals:import"), {"confirm": checked.context["token"]})

    assert response.status_code == 302
    assert response["Location"] == reverse("deals:board", args=[pipeline.pk])
    assert dict(Deal.objects.values_list("title", "owner__first_name")) == {
        "One": "Alice",
        "Two": "Nina",
    }
    assert {change.by for change in StageChange.objects.all()} == {admin_user}
    page = client.get(response["Location"])
    assert "Imported 2 deals (1 new account, 1 new owner) into “Sales”." in page.content.decode()
    assert PENDING_IMPORT not in client.session


def test_a_file_is_imported_once_only(client, manager, outsider, pipeline):
    client.force_login(manager)
    token = upload(client, pipeline, "One,Acme,carol,Lead").context["token"]
    client.post(reverse("deals:import"), {"confirm": token})

    response = client.post(reverse("deals:import"), {"confirm": token}, follow=True)

    assert "The checked file is no longer waiting to be imported" in response.content.decode()
    assert Deal.objects.count() == 1


def test_confirming_another_file_than_the_checked_one_imports_nothing(
    client, manager, rep, pipeline
):
    client.force_login(manager)
    upload(client, pipeline, "One,Acme,alice,Lead")

    response = client.post(reverse("deals:import"), {"confirm": "0" * 64})

    assert response["Location"] == reverse("deals:import")
    assert not Deal.objects.exists()


def test_a_file_over_5_mb_is_refused(client, admin_user, pipeline):
    client.force_login(admin_user)
    line = "Deal,Acme,alice,Lead\n"
    content = (HEADER + "\n" + line * (5 * 1024 * 1024 // len(line) + 1)).encode()

    response = client.post(
        reverse("deals:import"),
        {"pipeline": pipeline.pk, "file": SimpleUploadedFile("big.csv", content)},
    )

    assert "The file has 5.0 MB; the page takes up to 5 MB." in response.content.decode()
    assert "result" not in response.context
    assert PENDING_IMPORT not in client.session


# The export


def exported_deal(pipeline, owner, **kwargs) -> Deal:
    return DealFactory(pipeline=pipeline, owner=owner, created_at=START, **kwargs)


def test_the_export_has_the_import_columns_and_each_deal(client, rep, pipeline):
    account = AccountFactory(name="Acme", owner=rep)
    open_deal = exported_deal(
        pipeline,
        rep,
        title="Acme rollout",
        account=account,
        stage=stage(pipeline, "Qualified"),
        value=Decimal("1234.50"),
        contact=ContactFactory(account=account, name="Ann Lee", email="ann@acme.test"),
        source=LeadSourceFactory(name="Website"),
        expected_close_date=START.date() + timedelta(days=60),
    )
    lost = exported_deal(pipeline, rep, title="Acme lost", account=account)
    move_deal(
        lost,
        stage(pipeline, "Lost"),
        by=rep,
        lost_reason=LostReasonFactory(name="Price"),
        at=START + timedelta(days=3),
    )
    client.force_login(rep)

    rows = download(client)

    assert rows == [
        list(COLUMNS),
        [
            open_deal.title,
            "Acme",
            "alice",
            "Qualified",
            "1234.50",
            "2025-01-06",
            "",
            "2025-03-07",
            "Website",
            "",
            "Ann Lee",
            "ann@acme.test",
        ],
        [
            "Acme lost",
            "Acme",
            "alice",
            "Lost",
            "1000.00",
            "2025-01-06",
            "2025-01-09",
            "",
            "",
            "Price",
            "",
            "",
        ],
    ]


def test_the_export_only_has_the_deals_the_user_may_see(client, rep, other_rep, outsider, pipeline):
    exported_deal(pipeline, rep, title="Mine")
    exported_deal(pipeline, other_rep, title="My teammate's")
    exported_deal(pipeline, outsider, title="Other team's")
    client.force_login(rep)

    titles = [row[0] for row in download(client)[1:]]

    assert titles == ["Mine", "My teammate's"]


def test_the_export_can_be_narrowed_to_one_pipeline(client, rep, pipeline):
    exported_deal(pipeline, rep, title="Sales deal")
    exported_deal(PipelineFactory(name="Renewals"), rep, title="Renewal")
    client.force_login(rep)

    response = client.get(reverse("deals:export"), {"pipeline": pipeline.pk})

    assert response["Content-Disposition"].startswith('attachment; filename="deals-sales-')
    assert [row[0] for row in download(client, pipeline=pipeline.pk)[1:]] == ["Sales deal"]
    assert client.get(reverse("deals:export"), {"pipeline": "x"}).status_code == 400
    # An unknown pipeline is a bad filter value, as on the list.
    assert client.get(reverse("deals:export"), {"pipeline": "999999"}).status_code == 400


@pytest.mark.parametrize("size", [5, 50])
def test_the_export_query_count_does_not_grow_with_deals(
    client, django_assert_max_num_queries, rep, pipeline, size
):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account)
    for _ in range(size):
        exported_deal(pipeline, rep, account=account, contact=contact)
    client.force_login(rep)

    # the user, the pipeline, the deals with all their joins
    with django_assert_max_num_queries(3):
        rows = download(client, pipeline=pipeline.pk)

    assert len(rows) == size + 1


def test_a_formula_title_is_exported_neutralised_and_imports_back(
    client, rep, admin_user, pipeline
):
    exported_deal(pipeline, rep, title='=HYPERLINK("x")')
    client.force_login(rep)
    response = client.get(reverse("deals:export"))
    content = b"".join(response.streaming_content)
    assert '"\'=HYPERLINK(""x"")"' in content.decode()
    assert download(client)[1][0] == '\'=HYPERLINK("x")'
    Deal.objects.all().delete()

    result = import_deals(io.BytesIO(content), pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    assert Deal.objects.get().title == '=HYPERLINK("x")'


@pytest.mark.parametrize(
    "title", ["'=quoted formula", "''@twice quoted", "'plain quote", "- dash first", "Rock'n'roll"]
)
def test_titles_with_apostrophes_and_formula_characters_come_back_as_they_were(
    client, rep, admin_user, pipeline, title
):
    exported_deal(pipeline, rep, title=title)
    client.force_login(rep)
    content = b"".join(client.get(reverse("deals:export")).streaming_content)
    assert not download(client)[1][0].startswith(("=", "+", "-", "@"))
    Deal.objects.all().delete()

    result = import_deals(io.BytesIO(content), pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    assert Deal.objects.get().title == title


def snapshot() -> list[tuple]:
    deals = Deal.objects.select_related(
        "account", "owner", "stage", "source", "lost_reason", "contact"
    ).order_by("title")
    return [
        (
            deal.title,
            deal.account.name,
            deal.owner.username,
            deal.stage.name,
            deal.status,
            deal.value,
            timezone.localdate(deal.created_at),
            deal.closed_at and timezone.localdate(deal.closed_at),
            deal.expected_close_date,
            deal.source and deal.source.name,
            deal.lost_reason and deal.lost_reason.name,
            deal.contact and (deal.contact.name, deal.contact.email),
        )
        for deal in deals
    ]


def test_export_then_import_gives_back_the_same_deals(client, rep, other_rep, admin_user, pipeline):
    acme = AccountFactory(name="Acme", owner=rep)
    exported_deal(
        pipeline,
        rep,
        title="Open",
        account=acme,
        stage=stage(pipeline, "Proposal made"),
        value=Decimal("99.90"),
        contact=ContactFactory(account=acme, name="Ann Lee", email="ann@acme.test"),
        source=LeadSourceFactory(name="Website"),
        expected_close_date=START.date() + timedelta(days=30),
    )
    won = exported_deal(pipeline, other_rep, title="Won, at last", value=Decimal("5000"))
    move_deal(won, stage(pipeline, "Won"), by=other_rep, at=START + timedelta(days=12))
    lost = exported_deal(pipeline, rep, title="Lost", account=acme)
    move_deal(
        lost,
        stage(pipeline, "Lost"),
        by=rep,
        lost_reason=LostReasonFactory(name="Timing"),
        at=START + timedelta(days=2),
    )
    before = snapshot()
    client.force_login(admin_user)
    content = b"".join(client.get(reverse("deals:export")).streaming_content)
    Deal.objects.all().delete()
    for model in (Account, LeadSource, LostReason):
        model.objects.all().delete()

    result = import_deals(io.BytesIO(content), pipeline=pipeline, by=admin_user)

    assert result.ok, result.errors
    assert result.summary() == (
        "Imported 3 deals (2 new accounts, 1 new contact, 1 new lead source, 1 new lost reason)"
    )
    assert snapshot() == before


def test_a_manager_imports_only_for_the_people_they_may_give_deals_to(
    client, manager, rep, outsider, pipeline
):
    client.force_login(manager)
    response = upload(
        client,
        pipeline,
        "Theirs,Acme,carol,Lead",
        "Not theirs,Acme,alice,Lead",
        "Nobody yet,Acme,Nina New,Lead",
        create_owners="on",
    )
    errors = [str(error) for error in response.context["result"].errors]
    assert errors == [
        "line 3: owner “alice” is not someone you may give deals to.",
        "line 4: owner “Nina New” is not a user, and only admins create users.",
    ]
    assert response.context["token"] is None
