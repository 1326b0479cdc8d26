"""The deal, account and contact lists: what each filter, sort and page shows, to whom."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deals.list_views import LIST_PAGE_SIZE
from deals.models import Account, Contact, Deal
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from pipeline_crm.tests.factories import UserFactory
from stages.models import Visibility
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db


def deal_titles(client, **params) -> list[str]:
    response = client.get(reverse("deals:list"), params)
    assert response.status_code == 200
    return [deal.title for deal in response.context["page_obj"]]


def account_names(client, **params) -> list[str]:
    response = client.get(reverse("deals:accounts"), params)
    assert response.status_code == 200
    return [account.name for account in response.context["page_obj"]]


def contact_names(client, **params) -> list[str]:
    response = client.get(reverse("deals:contacts"), params)
    assert response.status_code == 200
    return [contact.name for contact in response.context["page_obj"]]


def choices(response, name: str) -> list[str]:
    """The labels a filter offers, after its "any" choice."""
    return [label for _, label in response.context["form"].fields[name].choices][1:]


def owner_choices(response) -> list[str]:
    return choices(response, "owner")


# Deals: who sees what


def test_a_rep_never_sees_another_teams_deals_in_a_team_pipeline(
    client, rep, other_rep, outsider, pipeline
):
    shared = PipelineFactory(name="Shared", visibility=Visibility.EVERYONE)
    DealFactory(title="Mine", pipeline=pipeline, owner=rep)
    DealFactory(title="My teammate's", pipeline=pipeline, owner=other_rep)
    DealFactory(title="Other team's", pipeline=pipeline, owner=outsider)
    DealFactory(title="Other team's, shared", pipeline=shared, owner=outsider)
    client.force_login(rep)

    response = client.get(reverse("deals:list"))

    assert sorted(deal.title for deal in response.context["page_obj"]) == [
        "Mine",
        "My teammate's",
        "Other team's, shared",
    ]
    assert "Other team’s" not in response.content.decode()
    assert "Other team&#x27;s</a>" not in response.content.decode()


def test_the_owner_filter_offers_only_the_people_the_user_may_filter_by(
    client, rep, other_rep, outsider, pipeline
):
    client.force_login(rep)
    response = client.get(reverse("deals:list"))
    assert owner_choices(response) == ["Alice Archer", "Bob Baker"]

    response = client.get(reverse("deals:list"), {"owner": outsider.pk})

    assert response.status_code == 200
    assert list(response.context["page_obj"]) == []
    assert "Select a valid choice." in response.content.decode()


def test_a_manager_filters_by_the_members_of_their_teams(client, manager, outsider, pipeline):
    DealFactory(title="Carol's", pipeline=pipeline, owner=outsider)
    DealFactory(title="Dave's", pipeline=pipeline, owner=manager)
    client.force_login(manager)

    assert owner_choices(client.get(reverse("deals:list"))) == ["Carol Clark", "Dave Dunn"]
    assert deal_titles(client, owner=outsider.pk) == ["Carol's"]


# Deals: each filter


def test_search_finds_deals_by_title_or_account_name(client, rep, pipeline):
    DealFactory(title="Rollout", pipeline=pipeline, owner=rep)
    DealFactory(
        title="Pilot", pipeline=pipeline, owner=rep, account=AccountFactory(name="Rollout Corp")
    )
    DealFactory(title="Other", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    assert sorted(deal_titles(client, q="rollout")) == ["Pilot", "Rollout"]
    assert deal_titles(client, q="pilot") == ["Pilot"]


def test_the_pipeline_filter_keeps_one_pipeline(client, rep, pipeline):
    renewals = PipelineFactory(name="Renewals")
    DealFactory(title="Sale", pipeline=pipeline, owner=rep)
    DealFactory(title="Renewal", pipeline=renewals, owner=rep)
    client.force_login(rep)

    assert deal_titles(client, pipeline=renewals.pk) == ["Renewal"]


def test_the_stage_filter_keeps_one_stage(client, rep, pipeline):
    DealFactory(title="Lead", pipeline=pipeline, owner=rep)
    DealFactory(title="Qualified", pipeline=pipeline, owner=rep, stage=stage(pipeline, "Qualified"))
    client.force_login(rep)

    assert deal_titles(client, stage=stage(pipeline, "Qualified").pk) == ["Qualified"]


def test_stages_are_offered_grouped_by_pipeline(client, rep, pipeline):
    PipelineFactory(name="Renewals")
    client.force_login(rep)

    response = client.get(reverse("deals:list"))

    groups = [group for group, _ in list(response.context["form"].fields["stage"].choices)[1:]]
    assert groups == ["Renewals", "Sales"]
    html = response.content.decode()
    assert '<optgroup label="Sales">' in html and '<optgroup label="Renewals">' in html


def test_a_retired_pipeline_is_offered_only_while_it_holds_a_deal_the_user_sees(
    client, rep, outsider, pipeline
):
    retired = PipelineFactory(name="Retired", is_active=False)
    PipelineFactory(name="Retired, empty", is_active=False)
    DealFactory(title="Old", pipeline=retired, owner=rep)
    client.force_login(rep)
    assert choices(client.get(reverse("deals:list")), "pipeline") == ["Retired", "Sales"]

    client.force_login(outsider)
    assert choices(client.get(reverse("deals:list")), "pipeline") == ["Sales"]


def test_the_owner_filter_keeps_one_owners_deals(client, rep, other_rep, pipeline):
    DealFactory(title="Alice's", pipeline=pipeline, owner=rep)
    DealFactory(title="Bob's", pipeline=pipeline, owner=other_rep)
    client.force_login(rep)

    assert deal_titles(client, owner=other_rep.pk) == ["Bob's"]


def test_the_status_filter_keeps_open_won_or_lost_deals(client, rep, pipeline):
    DealFactory(title="Open", pipeline=pipeline, owner=rep)
    DealFactory(title="Won", pipeline=pipeline, owner=rep, stage=stage(pipeline, "Won"))
    DealFactory(
        title="Lost",
        pipeline=pipeline,
        owner=rep,
        stage=stage(pipeline, "Lost"),
        lost_reason=LostReasonFactory(),
    )
    client.force_login(rep)

    assert deal_titles(client, status="open") == ["Open"]
    assert deal_titles(client, status="won") == ["Won"]
    assert deal_titles(client, status="lost") == ["Lost"]


def test_the_expected_close_range_includes_both_ends(client, rep, pipeline):
    for day in (1, 10, 20, 30):
        DealFactory(
            title=f"Closes on the {day}",
            pipeline=pipeline,
            owner=rep,
            expected_close_date=date(2025, 6, day),
        )
    DealFactory(title="No date", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    titles = deal_titles(client, close_from="2025-06-10", close_to="2025-06-20", sort="close")

    assert titles == ["Closes on the 10", "Closes on the 20"]
    assert deal_titles(client, close_from="2025-06-25") == ["Closes on the 30"]


def test_the_stale_filter_keeps_open_deals_quiet_for_longer_than_their_stage_allows(
    client, rep, pipeline, settings
):
    settings.FOLLOWUP_INACTIVE_DAYS = 10
    pipeline.stages.filter(name="Contacted").update(rotting_days=3)
    now = timezone.now()
    for title, stage_name, idle in [
        ("Quiet 11 days in Lead", "Lead", 11),
        ("Quiet 9 days in Lead", "Lead", 9),
        ("Quiet 4 days in Contacted", "Contacted", 4),  # rots after 3
        ("Won long ago", "Won", 100),
    ]:
        deal = DealFactory(
            title=title, pipeline=pipeline, owner=rep, stage=stage(pipeline, stage_name)
        )
        Deal.objects.filter(pk=deal.pk).update(last_activity_at=now - timedelta(days=idle))
    client.force_login(rep)

    titles = deal_titles(client, stale="1", sort="title")

    assert titles == ["Quiet 11 days in Lead", "Quiet 4 days in Contacted"]
    assert len(deal_titles(client)) == 4


def test_the_created_range_includes_both_days(client, rep, pipeline):
    for day in (1, 10, 20):
        DealFactory(
            title=f"Created on the {day}",
            pipeline=pipeline,
            owner=rep,
            created_at=datetime(2025, 3, day, 23, 30, tzinfo=UTC),
        )
    client.force_login(rep)

    titles = deal_titles(client, created_from="2025-03-10", created_to="2025-03-20")

    assert titles == ["Created on the 20", "Created on the 10"]


def test_the_lead_source_filter_keeps_one_source(client, rep, pipeline):
    DealFactory(title="Web", pipeline=pipeline, owner=rep, source=LeadSourceFactory(name="Web"))
    DealFactory(title="Fair", pipeline=pipeline, owner=rep, source=LeadSourceFactory(name="Fair"))
    DealFactory(title="Unknown", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    source = LeadSourceFactory(name="Fair")
    assert deal_titles(client, source=source.pk) == ["Fair"]


def test_filters_combine(client, rep, other_rep, pipeline):
    DealFactory(title="Match", pipeline=pipeline, owner=rep, value=Decimal("5"))
    DealFactory(title="Wrong owner", pipeline=pipeline, owner=other_rep)
    DealFactory(title="Wrong status", pipeline=pipeline, owner=rep, stage=stage(pipeline, "Won"))
    client.force_login(rep)

    assert deal_titles(client, owner=rep.pk, status="open", pipeline=pipeline.pk) == ["Match"]


def test_bad_filter_values_show_the_errors_and_no_deals(client, rep, pipeline):
    DealFactory(title="Deal", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    response = client.get(
        reverse("deals:list"),
        {"stage": "x", "close_from": "not a date", "status": "maybe", "sort": "bogus"},
    )

    assert response.status_code == 200
    assert list(response.context["page_obj"]) == []
    html = response.content.decode()
    assert "Nothing is listed: some filters are not valid." in html
    assert "Expected close from: Enter a valid date." in html
    assert "Stage: Select a valid choice. x is not one of the available choices." in html
    assert "Status: Select a valid choice. maybe is not one of the available choices." in html
    assert response.context["totals"].count == 0


# Deals: totals


def test_the_totals_are_those_of_the_filtered_deals(client, rep, other_rep, pipeline):
    DealFactory(pipeline=pipeline, owner=rep, value=Decimal("1234.50"))  # Lead 10 %
    DealFactory(
        pipeline=pipeline,
        owner=rep,
        value=Decimal("1000.05"),
        stage=stage(pipeline, "Contacted"),  # 20 %
    )
    DealFactory(
        pipeline=pipeline, owner=rep, value=Decimal("999"), stage=stage(pipeline, "Won")
    )  # 100 %
    DealFactory(pipeline=pipeline, owner=other_rep, value=Decimal("50000"))  # filtered out
    client.force_login(rep)

    response = client.get(reverse("deals:list"), {"owner": rep.pk})

    totals = response.context["totals"]
    # 1234.50 + 1000.05 + 999 = 3233.55; weighted 123.45 + 200.01 + 999 = 1322.46
    assert totals.count == 3
    assert totals.total == Decimal("3233.55")
    assert totals.weighted == Decimal("1322.46")
    html = response.content.decode()
    assert "<strong>3</strong> deals" in html
    assert "Total <strong>$3,234</strong>" in html
    assert "Weighted <strong>$1,322</strong>" in html


def test_an_empty_list_totals_zero(client, rep, pipeline):
    client.force_login(rep)
    totals = client.get(reverse("deals:list")).context["totals"]
    assert (totals.count, totals.total, totals.weighted) == (0, 0, 0)


# Deals: sort and pages


def test_clicking_a_header_sorts_ascending_then_descending(client, rep, pipeline):
    for value in (300, 100, 200):
        DealFactory(title=f"Worth {value}", pipeline=pipeline, owner=rep, value=Decimal(value))
    client.force_login(rep)

    response = client.get(reverse("deals:list"))
    link = response.context["sort_links"]["value"]
    assert link.direction == ""
    assert link.url == "/deals/?sort=value"

    response = client.get(link.url)
    assert [d.title for d in response.context["page_obj"]] == [
        "Worth 100",
        "Worth 200",
        "Worth 300",
    ]
    html = response.content.decode()
    assert 'aria-sort="ascending"' in html and "bi-arrow-up" in html
    link = response.context["sort_links"]["value"]
    assert link.url == "/deals/?sort=-value"

    response = client.get(link.url)
    assert [d.title for d in response.context["page_obj"]] == [
        "Worth 300",
        "Worth 200",
        "Worth 100",
    ]
    html = response.content.decode()
    assert 'aria-sort="descending"' in html and "bi-arrow-down" in html


def test_deals_are_newest_first_by_default_and_undated_closes_sort_last(client, rep, pipeline):
    DealFactory(
        title="Old", pipeline=pipeline, owner=rep, created_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    DealFactory(
        title="New", pipeline=pipeline, owner=rep, created_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    DealFactory(title="Soon", pipeline=pipeline, owner=rep, expected_close_date=date(2025, 1, 1))
    client.force_login(rep)

    assert deal_titles(client)[-2:] == ["New", "Old"]
    assert deal_titles(client, sort="close")[0] == "Soon"
    assert deal_titles(client, sort="-close")[0] == "Soon"


def test_sorting_keeps_the_filters_and_goes_back_to_the_first_page(client, rep, pipeline):
    client.force_login(rep)

    response = client.get(reverse("deals:list"), {"status": "open", "page": "2", "sort": "title"})

    assert response.context["sort_links"]["title"].url == "/deals/?status=open&sort=-title"


def test_pages_hold_fifty_deals_and_their_links_keep_the_filters(client, rep, other_rep, pipeline):
    for number in range(LIST_PAGE_SIZE + 2):
        DealFactory(title=f"Deal {number:03}", pipeline=pipeline, owner=rep)
    DealFactory(title="Bob's", pipeline=pipeline, owner=other_rep)
    client.force_login(rep)
    params = {"owner": rep.pk, "sort": "title"}

    first = client.get(reverse("deals:list"), params)
    second = client.get(reverse("deals:list"), params | {"page": 2})

    assert len(first.context["page_obj"]) == LIST_PAGE_SIZE
    assert [d.title for d in second.context["page_obj"]] == ["Deal 050", "Deal 051"]
    html = first.content.decode()
    assert f'href="/deals/?owner={rep.pk}&amp;sort=title&amp;page=2"' in html
    assert 'class="pagination pagination-sm mb-0"' in html
    assert "1–50 of 52" in html
    assert "51–52 of 52" in second.content.decode()


def test_a_bad_page_number_shows_a_page_rather_than_an_error(client, rep, pipeline):
    DealFactory(title="Only", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    assert deal_titles(client, page="x") == ["Only"]
    assert deal_titles(client, page="99") == ["Only"]


# Deals: archived, htmx, the page


def test_archived_deals_are_hidden_and_reps_cannot_ask_for_them(client, rep, pipeline):
    DealFactory(title="Live", pipeline=pipeline, owner=rep)
    archived = DealFactory(title="Archived", pipeline=pipeline, owner=rep)
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    client.force_login(rep)

    response = client.get(reverse("deals:list"), {"archived": "on"})

    assert [deal.title for deal in response.context["page_obj"]] == ["Live"]
    assert "archived" not in response.context["form"].fields


def test_an_admin_finds_archived_deals_with_the_archived_filter(client, admin_user, rep, pipeline):
    DealFactory(title="Live", pipeline=pipeline, owner=rep)
    archived = DealFactory(title="Archived", pipeline=pipeline, owner=rep)
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    client.force_login(admin_user)

    assert deal_titles(client) == ["Live"]
    response = client.get(reverse("deals:list"), {"archived": "on"})
    assert [deal.title for deal in response.context["page_obj"]] == ["Archived"]
    assert "Archived only" in response.content.decode()
    assert response.context["totals"].count == 1


def test_the_list_shows_each_deals_columns(client, rep, pipeline):
    account = AccountFactory(name="Acme", owner=rep)
    deal = DealFactory(
        title="Acme rollout",
        pipeline=pipeline,
        owner=rep,
        account=account,
        value=Decimal("12500"),
        stage=stage(pipeline, "Qualified"),
        expected_close_date=date(2020, 1, 31),
        created_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    client.force_login(rep)

    html = client.get(reverse("deals:list")).content.decode()

    assert f'href="{reverse("deals:detail", args=[deal.pk])}">Acme rollout</a>' in html
    assert f'href="{reverse("deals:account-detail", args=[account.pk])}">Acme</a>' in html
    assert "Sales /</span> Qualified" in html
    assert "Alice Archer" in html
    assert "$12,500" in html
    # Open and past its expected close date: in red.
    assert (
        'class="text-danger fw-semibold" title="Past its expected close date">Jan 31, 2020' in html
    )
    assert "status-open" in html and ">Open</span>" in html
    assert "Dec 1, 2019" in html


def test_a_closed_deal_past_its_expected_close_is_not_red(client, rep, pipeline):
    DealFactory(
        pipeline=pipeline,
        owner=rep,
        stage=stage(pipeline, "Won"),
        expected_close_date=date(2020, 1, 31),
    )
    client.force_login(rep)

    html = client.get(reverse("deals:list")).content.decode()

    assert "Past its expected close date" not in html
    assert "status-won" in html


def test_the_header_offers_import_to_managers_and_export_of_the_current_filters(
    client, rep, manager, pipeline
):
    client.force_login(rep)
    html = client.get(reverse("deals:list"), {"status": "won", "page": "1"}).content.decode()
    assert reverse("deals:import") not in html
    assert f'href="{reverse("deals:create")}"' in html
    assert f'href="{reverse("deals:export")}?status=won"' in html

    client.force_login(manager)
    assert reverse("deals:import") in client.get(reverse("deals:list")).content.decode()


def test_an_htmx_request_gets_only_the_results_and_the_new_export_link(client, rep, pipeline):
    DealFactory(title="Deal", pipeline=pipeline, owner=rep)
    client.force_login(rep)

    response = client.get(
        reverse("deals:list"), {"status": "open", "stage": "", "q": ""}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="list-filters"' not in html
    assert html.strip().startswith('<div id="list-results"')
    assert 'id="list-export"' in html and 'hx-swap-oob="true"' in html
    assert f'href="{reverse("deals:export")}?status=open"' in html
    assert "HX-Request" in response["Vary"]
    # The address bar gets the filters without the empty fields the form sends.
    assert response["HX-Push-Url"] == "/deals/?status=open"


def test_an_htmx_history_restore_gets_the_whole_page(client, rep, pipeline):
    client.force_login(rep)

    response = client.get(
        reverse("deals:list"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert '<form id="list-filters"' in response.content.decode()


def test_without_javascript_the_filter_form_submits_to_the_list(client, rep, pipeline):
    client.force_login(rep)

    html = client.get(reverse("deals:list")).content.decode()

    assert '<form id="list-filters"' in html
    assert 'method="get" action="/deals/"' in html
    assert 'hx-get="/deals/"' in html and 'hx-push-url="true"' in html


# Accounts


def test_accounts_filter_by_industry_owner_and_search(client, rep, other_rep):
    AccountFactory(name="Acme", industry="Software", owner=rep, website="https://acme.test")
    AccountFactory(name="Globex", industry="Energy", owner=rep)
    AccountFactory(name="Initech", industry="Software", owner=other_rep)
    client.force_login(rep)

    assert account_names(client, industry="Software") == ["Acme", "Initech"]
    assert account_names(client, owner=other_rep.pk) == ["Initech"]
    assert account_names(client, q="glo") == ["Globex"]
    assert account_names(client, q="acme.test") == ["Acme"]
    response = client.get(reverse("deals:accounts"))
    industries = [label for _, label in response.context["form"].fields["industry"].choices]
    assert industries == ["Any industry", "Energy", "Software"]


def test_accounts_show_their_open_and_won_deals_counted_in_the_database(client, rep, pipeline):
    acme = AccountFactory(name="Acme", owner=rep)
    for value in ("100", "250.50"):
        DealFactory(pipeline=pipeline, owner=rep, account=acme, value=Decimal(value))
    DealFactory(
        pipeline=pipeline,
        owner=rep,
        account=acme,
        value=Decimal("999"),
        stage=stage(pipeline, "Won"),
    )
    archived = DealFactory(pipeline=pipeline, owner=rep, account=acme, value=Decimal("5000"))
    Deal.objects.filter(pk=archived.pk).update(is_archived=True)
    AccountFactory(name="Empty", owner=rep)
    client.force_login(rep)

    response = client.get(reverse("deals:accounts"))

    rows = {a.name: (a.open_deals, a.open_value, a.won_value) for a in response.context["page_obj"]}
    assert rows == {
        "Acme": (2, Decimal("350.50"), Decimal("999")),
        "Empty": (0, Decimal("0"), Decimal("0")),
    }
    html = response.content.decode()
    assert "$351" in html and "$999" in html
    assert f'href="{reverse("deals:account-detail", args=[acme.pk])}">Acme</a>' in html


def test_account_figures_count_only_the_deals_the_user_sees(client, rep, outsider, pipeline):
    shared = PipelineFactory(name="Shared", visibility=Visibility.EVERYONE)
    initech = AccountFactory(name="Initech", owner=outsider)
    DealFactory(pipeline=shared, owner=outsider, account=initech, value=Decimal("10"))
    DealFactory(pipeline=pipeline, owner=outsider, account=initech, value=Decimal("90000"))
    client.force_login(rep)

    [account] = client.get(reverse("deals:accounts")).context["page_obj"]

    assert (account.name, account.open_deals, account.open_value) == ("Initech", 1, Decimal("10"))


def test_accounts_sort_by_open_value(client, rep, pipeline):
    for name, value in (("Small", 10), ("Big", 1000), ("Middle", 100)):
        DealFactory(
            pipeline=pipeline, owner=rep, account=AccountFactory(name=name, owner=rep), value=value
        )
    client.force_login(rep)

    assert account_names(client, sort="-open_value") == ["Big", "Middle", "Small"]
    assert account_names(client, sort="open_value") == ["Small", "Middle", "Big"]


def test_a_rep_never_sees_another_teams_accounts(client, rep, outsider, pipeline):
    AccountFactory(name="Mine", owner=rep)
    DealFactory(
        pipeline=pipeline, owner=outsider, account=AccountFactory(name="Theirs", owner=outsider)
    )
    client.force_login(rep)

    assert account_names(client) == ["Mine"]


def test_archived_accounts_are_hidden_and_an_admin_finds_them(client, rep, admin_user):
    AccountFactory(name="Live", owner=rep)
    AccountFactory(name="Gone", owner=rep, is_archived=True)
    client.force_login(rep)
    assert account_names(client, archived="on") == ["Live"]

    client.force_login(admin_user)
    assert account_names(client) == ["Live"]
    assert account_names(client, archived="on") == ["Gone"]


def test_the_accounts_page_has_its_tabs_and_exports_its_filters(client, rep):
    client.force_login(rep)

    response = client.get(reverse("deals:accounts"), {"industry": "Software"})

    html = response.content.decode()
    assert response.context["active_section"] == "Accounts"
    assert 'class="nav-link active" aria-current="page" href="/accounts/"' in html
    assert 'href="/contacts/"' in html
    assert f'href="{reverse("deals:accounts-export")}?industry=Software"' in html
    assert f'href="{reverse("deals:account-create")}"' in html


# Contacts


@pytest.fixture
def contacts(rep, other_rep, outsider, pipeline):
    acme = AccountFactory(name="Acme", owner=rep)
    globex = AccountFactory(name="Globex", owner=other_rep)
    hidden = AccountFactory(name="Hidden", owner=outsider)
    ContactFactory(account=acme, name="Ann Lee", title="CTO", email="ann@acme.test", phone="+1 555")
    ContactFactory(account=globex, name="Gus Grant", title="Buyer", email="gus@globex.test")
    ContactFactory(account=hidden, name="Hal Hide")
    ContactFactory(account=acme, name="Old Contact", is_archived=True)
    ContactFactory(account=AccountFactory(name="Closed", owner=rep, is_archived=True), name="Cleo")
    return {"acme": acme, "globex": globex}


def test_contacts_of_visible_unarchived_accounts_are_listed(client, rep, contacts):
    client.force_login(rep)

    response = client.get(reverse("deals:contacts"))

    assert [c.name for c in response.context["page_obj"]] == ["Ann Lee", "Gus Grant"]
    html = response.content.decode()
    assert '<a href="mailto:ann@acme.test">ann@acme.test</a>' in html
    assert '<a href="tel:+1 555">+1 555</a>' in html
    assert "CTO" in html
    assert f'href="{reverse("deals:account-detail", args=[contacts["acme"].pk])}">Acme</a>' in html
    assert response.context["active_section"] == "Accounts"
    assert 'class="nav-link active" aria-current="page" href="/contacts/"' in html


def test_contacts_filter_by_account_account_owner_and_search(client, rep, other_rep, contacts):
    client.force_login(rep)

    assert contact_names(client, account=contacts["globex"].pk) == ["Gus Grant"]
    assert contact_names(client, owner=rep.pk) == ["Ann Lee"]
    assert contact_names(client, q="globex") == ["Gus Grant"]
    assert contact_names(client, q="cto") == ["Ann Lee"]
    assert contact_names(client, sort="-name") == ["Gus Grant", "Ann Lee"]


def test_the_contact_filters_offer_only_visible_accounts(client, rep, contacts):
    client.force_login(rep)

    response = client.get(reverse("deals:contacts"))

    accounts = [label for _, label in response.context["form"].fields["account"].choices]
    assert accounts == ["Any account", "Acme", "Globex"]
    hidden = Account.objects.get(name="Hidden")
    assert contact_names(client, account=hidden.pk) == []


def test_an_admin_finds_archived_contacts_and_those_of_archived_accounts(
    client, admin_user, contacts
):
    client.force_login(admin_user)

    assert contact_names(client) == ["Ann Lee", "Gus Grant", "Hal Hide"]
    assert contact_names(client, archived="on") == ["Cleo", "Old Contact"]
    assert Contact.objects.count() == 5


# Query counts


def populate(size: int, owners, pipelines) -> None:
    """`size` deals over several owners, accounts (with a contact each), stages and sources."""
    sources = [LeadSourceFactory(name=name) for name in ("Web", "Fair", "Referral")]
    stages = [stage(pipelines[0], name) for name in ("Lead", "Contacted", "Qualified", "Won")]
    accounts = []
    for number in range(max(size // 3, 1)):
        owner = owners[number % len(owners)]
        account = AccountFactory(owner=owner)
        ContactFactory(account=account)
        accounts.append(account)
    for number in range(size):
        account = accounts[number % len(accounts)]
        DealFactory(
            pipeline=pipelines[number % len(pipelines)] if number % 4 else pipelines[0],
            stage=stages[number % len(stages)] if not number % 4 else None,
            owner=account.owner,
            account=account,
            source=sources[number % len(sources)],
            value=Decimal(100 + number),
        )


@pytest.fixture
def world(rep, other_rep, pipeline):
    return {"owners": [rep, other_rep], "pipelines": [pipeline, PipelineFactory(name="Renewals")]}


@pytest.mark.parametrize("size", [3, 60])
def test_the_deal_list_query_count_does_not_grow(client, assert_max_queries, rep, world, size):
    populate(size, **world)
    client.force_login(rep)
    params = {"owner": rep.pk, "stage": "", "status": "open", "q": "", "sort": "account"}

    # the user (the session is cached), the stages with their pipelines, the owners, the
    # lead sources and the teams (for the filter's choices), the totals (count included),
    # the page of deals, the overdue-tasks badge of the navigation
    with assert_max_queries(8):
        response = client.get(reverse("deals:list"), params)

    assert response.status_code == 200
    assert response.context["totals"].count > 0


@pytest.mark.parametrize("size", [3, 60])
def test_the_stale_deals_behind_a_report_figure_take_one_query_more(
    client, assert_max_queries, rep, world, size
):
    populate(size, **world)
    Deal.objects.update(last_activity_at=timezone.now() - timedelta(days=30))
    client.force_login(rep)

    # as the list above, and the stages' thresholds of the stale filter
    with assert_max_queries(9):
        response = client.get(reverse("deals:list"), {"stale": "1", "status": "open"})

    assert response.status_code == 200
    assert response.context["totals"].count > 0


@pytest.mark.parametrize("size", [3, 60])
def test_the_account_list_query_count_does_not_grow(client, assert_max_queries, rep, world, size):
    populate(size, **world)
    client.force_login(rep)

    # the user, the owners and the industries (choices), the count, the page of accounts
    # with their owners and deal figures, the overdue-tasks badge
    with assert_max_queries(6):
        response = client.get(reverse("deals:accounts"), {"sort": "-open_value"})

    assert response.status_code == 200
    assert len(response.context["page_obj"]) == max(size // 3, 1)


@pytest.mark.parametrize("size", [3, 60])
def test_the_contact_list_query_count_does_not_grow(client, assert_max_queries, rep, world, size):
    populate(size, **world)
    client.force_login(rep)

    # the user, the accounts and the owners (choices), the count, the page of contacts
    # with their accounts, the overdue-tasks badge
    with assert_max_queries(6):
        response = client.get(reverse("deals:contacts"), {"owner": rep.pk})

    assert response.status_code == 200
    assert len(response.context["page_obj"]) > 0


text = st.text(max_size=30)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "pipeline",
                "stage",
                "owner",
                "status",
                "source",
                "close_from",
                "close_to",
                "created_from",
                "created_to",
                "archived",
                "sort",
                "page",
                "industry",
                "account",
                "lost_reason",
                "reached",
                "mine",
                "team",
                "expected",
            ]
        ),
        st.one_of(
            text,
            st.integers(min_value=-5, max_value=10**12).map(str),
            st.sampled_from([str(2**63), "9" * 20]),
        ),
    ),
    htmx=st.booleans(),
)
def test_the_lists_and_exports_survive_any_query_string(client, admin_user, params, htmx):
    client.force_login(admin_user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for name in ("deals:list", "deals:accounts", "deals:contacts"):
        assert client.get(reverse(name), params, **headers).status_code == 200
    for name in ("deals:export", "deals:accounts-export"):
        response = client.get(reverse(name), params)
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            b"".join(response.streaming_content)  # the rows are read while streaming


def test_an_admin_sees_everyones_deals(client, admin_user, rep, outsider, pipeline):
    DealFactory(title="Alice's", pipeline=pipeline, owner=rep)
    DealFactory(title="Carol's", pipeline=pipeline, owner=outsider)
    UserFactory(username="zed", first_name="Zed", last_name="Zane")
    client.force_login(admin_user)

    response = client.get(reverse("deals:list"))

    assert sorted(d.title for d in response.context["page_obj"]) == ["Alice's", "Carol's"]
    assert "Zed Zane" in owner_choices(response)
