"""The CSV exports of the filtered deal and account lists."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from deals.imports import COLUMNS, import_deals
from deals.list_views import ACCOUNT_COLUMNS
from deals.models import Deal
from deals.tests.factories import AccountFactory, DealFactory, LeadSourceFactory
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, tzinfo=UTC)


def download(client, name: str, **params) -> list[list[str]]:
    response = client.get(reverse(name), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(content.removeprefix("\ufeff"), newline="")))


def listed(client, **params) -> list[str]:
    response = client.get(reverse("deals:list"), params)
    return sorted(deal.title for deal in response.context["page_obj"])


# Deals


def test_the_export_has_exactly_the_deals_of_the_filtered_list(
    client, rep, other_rep, outsider, pipeline
):
    web = LeadSourceFactory(name="Web")
    DealFactory(title="Match 1", pipeline=pipeline, owner=rep, source=web)
    DealFactory(title="Match 2", pipeline=pipeline, owner=rep, source=web, value=Decimal("5"))
    DealFactory(title="Other source", pipeline=pipeline, owner=rep)
    DealFactory(title="Won", pipeline=pipeline, owner=rep, source=web, stage=stage(pipeline, "Won"))
    DealFactory(title="Teammate's", pipeline=pipeline, owner=other_rep, source=web)
    DealFactory(title="Other team's", pipeline=pipeline, owner=outsider, source=web)
    client.force_login(rep)
    params = {"source": web.pk, "status": "open", "owner": rep.pk, "q": "match", "sort": "-value"}

    rows = download(client, "deals:export", **params)

    assert rows[0] == list(COLUMNS)
    assert sorted(row[0] for row in rows[1:]) == listed(client, **params) == ["Match 1", "Match 2"]


def test_the_export_of_a_stage_and_close_range_matches_the_list(client, rep, pipeline):
    qualified = stage(pipeline, "Qualified")
    for day in (1, 15, 28):
        DealFactory(
            title=f"Qualified {day}",
            pipeline=pipeline,
            owner=rep,
            stage=qualified,
            expected_close_date=datetime(2025, 2, day).date(),
        )
    DealFactory(title="Lead", pipeline=pipeline, owner=rep)
    client.force_login(rep)
    params = {"stage": qualified.pk, "close_from": "2025-02-10", "close_to": "2025-02-28"}

    titles = sorted(row[0] for row in download(client, "deals:export", **params)[1:])

    assert titles == listed(client, **params) == ["Qualified 15", "Qualified 28"]


def test_the_export_leaves_archived_deals_out_unless_an_admin_asks_for_them(
    client, rep, admin_user, pipeline
):
    DealFactory(title="Live", pipeline=pipeline, owner=rep)
    archived = DealFactory(title="Archived", pipeline=pipeline, owner=rep)
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)

    client.force_login(rep)
    assert [row[0] for row in download(client, "deals:export", archived="on")[1:]] == ["Live"]
    client.force_login(admin_user)
    assert [row[0] for row in download(client, "deals:export")[1:]] == ["Live"]
    assert [row[0] for row in download(client, "deals:export", archived="on")[1:]] == ["Archived"]


def test_bad_filters_are_refused_with_their_reason_as_plain_text(client, rep, pipeline):
    client.force_login(rep)

    response = client.get(reverse("deals:export"), {"stage": "<b>x</b>", "close_to": "2025-13-01"})

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == (
        "The filters are not valid: stage: Select a valid choice. <b>x</b> is not one of the "
        "available choices.; close_to: Enter a valid date."
    )


def test_a_filtered_export_imports_back_as_the_same_deals(client, rep, admin_user, pipeline):
    DealFactory(
        title='=HYPERLINK("x")',
        pipeline=pipeline,
        owner=rep,
        value=Decimal("1234.50"),
        stage=stage(pipeline, "Proposal made"),
        created_at=START,
    )
    DealFactory(title="Left out", pipeline=pipeline, owner=rep, created_at=START)
    client.force_login(rep)

    response = client.get(reverse("deals:export"), {"q": "hyperlink"})
    content = b"".join(response.streaming_content)

    assert '"\'=HYPERLINK(""x"")"' in content.decode()
    renewals = PipelineFactory(name="Renewals")
    result = import_deals(io.BytesIO(content), pipeline=renewals, by=admin_user)
    assert result.ok, result.errors
    copy = Deal.objects.select_related("stage").get(pipeline=renewals)
    assert (copy.title, copy.value, copy.stage.name, copy.owner) == (
        '=HYPERLINK("x")',
        Decimal("1234.50"),
        "Proposal made",
        rep,
    )


@pytest.mark.parametrize("size", [3, 60])
def test_the_deal_export_query_count_does_not_grow(
    client, assert_max_queries, rep, other_rep, pipeline, size
):
    web = LeadSourceFactory(name="Web")
    accounts = [AccountFactory(owner=owner) for owner in (rep, other_rep, rep)]
    stages = [stage(pipeline, name) for name in ("Lead", "Contacted", "Qualified")]
    for number in range(size):
        account = accounts[number % 3]
        DealFactory(
            pipeline=pipeline,
            owner=account.owner,
            account=account,
            stage=stages[number % 3],
            source=web,
        )
    client.force_login(rep)
    params = {"pipeline": pipeline.pk, "owner": rep.pk, "source": web.pk, "status": "open"}

    # the user, the stages with their pipelines, the owners and the lead sources (to check
    # the values asked for), the deals with all their joins
    with assert_max_queries(5):
        rows = download(client, "deals:export", **params)

    assert len(rows) == 1 + len([n for n in range(size) if n % 3 != 1])


# Accounts


def test_the_account_export_has_the_filtered_accounts_with_their_figures(
    client, rep, other_rep, pipeline
):
    acme = AccountFactory(
        name="Acme",
        industry="Software",
        owner=rep,
        website="https://acme.test",
        linkedin_url="https://linkedin.test/acme",
        twitter_url="https://twitter.test/acme",
        created_at=START,
        last_activity_at=datetime(2025, 3, 1, 12, tzinfo=UTC),
    )
    DealFactory(pipeline=pipeline, owner=rep, account=acme, value=Decimal("100.50"))
    DealFactory(pipeline=pipeline, owner=rep, account=acme, value=Decimal("20"))
    DealFactory(
        pipeline=pipeline,
        owner=rep,
        account=acme,
        value=Decimal("999"),
        stage=stage(pipeline, "Won"),
    )
    AccountFactory(name="Globex", industry="Energy", owner=rep)
    AccountFactory(name="Initech", industry="Software", owner=other_rep)
    client.force_login(rep)

    rows = download(client, "deals:accounts-export", industry="Software", owner=rep.pk)

    assert rows == [
        list(ACCOUNT_COLUMNS),
        [
            "Acme",
            "Software",
            "https://acme.test",
            "alice",
            "https://linkedin.test/acme",
            "https://twitter.test/acme",
            "2025-01-06",
            "2025-03-01",
            "2",
            "120.50",
            "999.00",
        ],
    ]


def test_the_account_export_neutralises_formulas_and_hides_what_the_list_hides(
    client, rep, outsider, admin_user
):
    AccountFactory(name='=HYPERLINK("x")', owner=rep)
    AccountFactory(name="Archived", owner=rep, is_archived=True)
    AccountFactory(name="Other team's", owner=outsider)
    client.force_login(rep)

    assert [row[0] for row in download(client, "deals:accounts-export")[1:]] == [
        '\'=HYPERLINK("x")'
    ]
    client.force_login(admin_user)
    names = [row[0] for row in download(client, "deals:accounts-export", archived="on")[1:]]
    assert names == ["Archived"]


def test_the_account_export_refuses_bad_filters(client, rep):
    client.force_login(rep)

    response = client.get(reverse("deals:accounts-export"), {"owner": "nobody"})

    assert response.status_code == 400
    assert response.content.decode() == (
        "The filters are not valid: owner: Select a valid choice. nobody is not one of the "
        "available choices."
    )


@pytest.mark.parametrize("size", [3, 60])
def test_the_account_export_query_count_does_not_grow(
    client, assert_max_queries, rep, other_rep, pipeline, size
):
    for number in range(size):
        account = AccountFactory(owner=(rep, other_rep)[number % 2], industry="Software")
        DealFactory(pipeline=pipeline, owner=account.owner, account=account)
    client.force_login(rep)

    # the user, the industries (to check the one asked for), the accounts with their owners
    # and deal figures
    with assert_max_queries(3):
        rows = download(client, "deals:accounts-export", industry="Software", sort="-open_value")

    assert len(rows) == size + 1
