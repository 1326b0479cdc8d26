"""The create and edit forms of deals, accounts and contacts; archiving and restoring them
from the pages and from the admin."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from deals.models import Account, Contact, Deal, DealStatus, StageChange
from deals.services import archive_account, archive_contact, archive_deal, move_deal
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
)
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

SELECT_A_VALID_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def counts() -> tuple[int, int, int, int]:
    return (
        Deal.objects.count(),
        Account.objects.count(),
        Contact.objects.count(),
        StageChange.objects.count(),
    )


@pytest.fixture
def account(rep):
    return AccountFactory(name="Acme", owner=rep, website="https://acme.example")


@pytest.fixture
def contact(account):
    return ContactFactory(account=account, name="Wile E. Coyote", email="wile@acme.example")


@pytest.fixture
def deal(pipeline, rep, account):
    return DealFactory(title="Acme rollout", pipeline=pipeline, owner=rep, account=account)


def new_deal_data(pipeline, rep, **changes) -> dict:
    return {
        "title": "Anvil fleet",
        "pipeline": pipeline.pk,
        "stage": "",
        "account": "",
        "new_account": "",
        "contact": "",
        "owner": rep.pk,
        "value": "12000",
        "expected_close_date": "",
        "source": "",
    } | changes


def edit_data(deal: Deal, **changes) -> dict:
    data = {
        "title": deal.title,
        "account": deal.account_id,
        "contact": deal.contact_id or "",
        "owner": deal.owner_id,
        "value": str(deal.value),
        "expected_close_date": deal.expected_close_date or "",
        "source": deal.source_id or "",
    }
    return data | changes


# Creating a deal


def test_the_new_deal_form_creates_the_deal_and_opens_its_page(
    client, rep, pipeline, account, contact
):
    source = LeadSourceFactory(name="Referral")
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"),
        new_deal_data(
            pipeline,
            rep,
            account=account.pk,
            contact=contact.pk,
            stage=stage(pipeline, "Qualified").pk,
            expected_close_date="2026-09-30",
            source=source.pk,
            has_budget="on",
            has_need="on",
        ),
    )

    deal = Deal.objects.get(title="Anvil fleet")
    assert response.status_code == 302
    assert response["Location"] == deal.get_absolute_url()
    assert messages_of(response) == ["Created the deal “Anvil fleet”."]
    assert (deal.account, deal.contact, deal.owner, deal.stage.name, deal.value) == (
        account,
        contact,
        rep,
        "Qualified",
        Decimal("12000"),
    )
    assert (deal.expected_close_date, deal.source) == (date(2026, 9, 30), source)
    assert (deal.has_budget, deal.has_authority, deal.has_need, deal.has_timeline) == (
        True,
        False,
        True,
        False,
    )
    assert list(deal.stage_changes.values_list("from_stage", "to_stage__name", "by")) == [
        (None, "Qualified", rep.pk)
    ]


def test_a_new_deal_starts_in_the_first_stage_and_may_create_its_account(client, rep, pipeline):
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"), new_deal_data(pipeline, rep, new_account="Initech")
    )

    deal = Deal.objects.get(title="Anvil fleet")
    assert response.status_code == 302
    assert (deal.account.name, deal.account.owner, deal.stage.name) == ("Initech", rep, "Lead")


def test_the_new_deal_form_preselects_the_pipeline_and_the_account_with_its_contacts(
    client, rep, pipeline, account, contact
):
    other = PipelineFactory(name="Renewals")
    ContactFactory(account=AccountFactory(owner=rep), name="Somebody Else")
    client.force_login(rep)

    response = client.get(reverse("deals:create"), {"pipeline": other.pk, "account": account.pk})

    html = response.content.decode()
    assert f'<option value="{other.pk}" selected>Renewals</option>' in html
    assert f'<option value="{account.pk}" selected>Acme</option>' in html
    assert "Wile E. Coyote" in html
    assert "Somebody Else" not in html
    # The stages of both pipelines, grouped under their names.
    assert '<optgroup label="Sales">' in html and '<optgroup label="Renewals">' in html


def test_choosing_another_account_reloads_its_contacts(client, rep, account, contact):
    other = AccountFactory(owner=rep, name="Initech")
    ContactFactory(account=other, name="Bill Lumbergh")
    client.force_login(rep)

    response = client.get(reverse("deals:create"), {"account": other.pk}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.strip().startswith('<div id="contact-field">')
    assert "Bill Lumbergh" in html
    assert "Wile E. Coyote" not in html
    assert "<html" not in html


def test_a_negative_value_shows_the_error_and_saves_nothing(client, rep, pipeline):
    client.force_login(rep)
    before = counts()

    response = client.post(
        reverse("deals:create"), new_deal_data(pipeline, rep, new_account="Initech", value="-5")
    )

    assert response.status_code == 200
    assert "A deal&#x27;s value cannot be negative." in response.content.decode()
    assert counts() == before


def test_a_new_deal_needs_one_account(client, rep, pipeline, account):
    client.force_login(rep)

    neither = client.post(reverse("deals:create"), new_deal_data(pipeline, rep))
    both = client.post(
        reverse("deals:create"), new_deal_data(pipeline, rep, account=account.pk, new_account="X")
    )

    assert "Choose an account or name a new one." in neither.content.decode()
    assert "Choose an account or name a new one, not both." in both.content.decode()
    assert not Deal.objects.exists()


def test_a_contact_of_another_account_is_refused_on_a_new_deal(client, rep, pipeline, account):
    stranger = ContactFactory(account=AccountFactory(owner=rep), name="Stranger")
    client.force_login(rep)
    before = counts()

    response = client.post(
        reverse("deals:create"),
        new_deal_data(pipeline, rep, account=account.pk, contact=stranger.pk),
    )

    assert response.status_code == 200
    assert "The contact must work at the deal&#x27;s account." in response.content.decode()
    assert counts() == before


def test_a_contact_the_user_cannot_see_is_not_a_choice(client, rep, outsider, pipeline, account):
    hidden = ContactFactory(account=AccountFactory(owner=outsider))
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"), new_deal_data(pipeline, rep, account=account.pk, contact=hidden.pk)
    )

    assert SELECT_A_VALID_CHOICE in response.content.decode()
    assert not Deal.objects.exists()


def test_a_stage_of_another_pipeline_is_refused(client, rep, pipeline, account):
    other = PipelineFactory(name="Renewals")
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"),
        new_deal_data(pipeline, rep, account=account.pk, stage=stage(other, "Lead").pk),
    )

    assert "Choose a stage of the pipeline “Sales”." in response.content.decode()
    assert not Deal.objects.exists()


def test_a_closed_stage_is_not_offered_for_a_new_deal(client, rep, pipeline, account):
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"),
        new_deal_data(pipeline, rep, account=account.pk, stage=stage(pipeline, "Won").pk),
    )

    assert SELECT_A_VALID_CHOICE in response.content.decode()
    assert not Deal.objects.exists()


def test_an_owner_the_user_may_not_assign_is_refused_on_a_new_deal(
    client, rep, other_rep, pipeline
):
    client.force_login(rep)

    response = client.post(
        reverse("deals:create"), new_deal_data(pipeline, other_rep, new_account="Initech")
    )

    assert SELECT_A_VALID_CHOICE in response.content.decode()
    assert counts() == (0, 0, 0, 0)


def test_a_manager_may_create_a_deal_for_a_member_of_their_team(
    client, manager, outsider, pipeline
):
    client.force_login(manager)

    client.post(reverse("deals:create"), new_deal_data(pipeline, outsider, new_account="Initech"))

    assert Deal.objects.get().owner == outsider


@pytest.mark.parametrize("accounts", [1, 15])
def test_the_new_deal_page_query_count_is_constant(
    client, rep, pipeline, assert_max_queries, accounts
):
    for n in range(accounts):
        account = AccountFactory(owner=rep)
        ContactFactory.create_batch(2, account=account)
        LeadSourceFactory(name=f"Source {n}")
    PipelineFactory.create_batch(accounts // 5 + 1)
    client.force_login(rep)
    first = Account.objects.first()
    # The user (sessions live in the cache), then one query per choice list: pipelines,
    # stages with their pipelines, accounts, the preselected account's contacts, owners,
    # lead sources; the overdue-tasks badge of the navigation.
    with assert_max_queries(8):
        response = client.get(reverse("deals:create"), {"account": first.pk})
    assert response.status_code == 200


# Editing a deal


def test_the_edit_form_saves_the_plain_fields_and_leaves_the_stage(
    client, rep, deal, contact, pipeline
):
    client.force_login(rep)

    response = client.post(
        reverse("deals:edit", args=[deal.pk]),
        edit_data(
            deal,
            title="Acme renewal",
            contact=contact.pk,
            value="2500",
            has_timeline="on",
            stage=stage(pipeline, "Won").pk,
            status="won",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == deal.get_absolute_url()
    assert messages_of(response) == ["Saved “Acme renewal”."]
    deal.refresh_from_db()
    assert (deal.title, deal.contact, deal.value, deal.has_timeline) == (
        "Acme renewal",
        contact,
        Decimal("2500"),
        True,
    )
    assert (deal.stage.name, deal.status, deal.stage_changes.count()) == ("Lead", "open", 1)


def test_the_edit_page_sends_stage_changes_to_the_move_form(client, rep, deal):
    client.force_login(rep)

    html = client.get(reverse("deals:edit", args=[deal.pk])).content.decode()

    assert reverse("deals:move-form", args=[deal.pk]) in html
    assert "Move to…" in html
    assert 'name="stage"' not in html and 'name="pipeline"' not in html


def test_a_bad_value_on_edit_shows_the_error_and_saves_nothing(client, rep, deal):
    client.force_login(rep)

    response = client.post(
        reverse("deals:edit", args=[deal.pk]), edit_data(deal, title="Changed", value="-1")
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "A deal&#x27;s value cannot be negative." in html
    assert "Edit “Acme rollout”" in html
    deal.refresh_from_db()
    assert (deal.title, deal.value) == ("Acme rollout", Decimal("1000.00"))


def test_a_contact_of_another_account_is_refused_on_edit(client, rep, deal):
    stranger = ContactFactory(account=AccountFactory(owner=rep), name="Stranger")
    client.force_login(rep)

    response = client.post(
        reverse("deals:edit", args=[deal.pk]), edit_data(deal, contact=stranger.pk)
    )

    assert "The contact must work at the deal&#x27;s account." in response.content.decode()
    deal.refresh_from_db()
    assert deal.contact is None


def test_moving_a_deal_to_another_account_needs_one_of_its_contacts(client, rep, deal, contact):
    deal.contact = contact
    deal.save()
    other = AccountFactory(owner=rep, name="Initech")
    client.force_login(rep)

    kept = client.post(reverse("deals:edit", args=[deal.pk]), edit_data(deal, account=other.pk))
    assert "The contact must work at the deal&#x27;s account." in kept.content.decode()

    dropped = client.post(
        reverse("deals:edit", args=[deal.pk]), edit_data(deal, account=other.pk, contact="")
    )
    assert dropped.status_code == 302
    deal.refresh_from_db()
    assert (deal.account, deal.contact) == (other, None)


def test_an_owner_the_user_may_not_assign_is_refused_on_edit(client, rep, other_rep, deal):
    client.force_login(rep)

    response = client.post(
        reverse("deals:edit", args=[deal.pk]), edit_data(deal, owner=other_rep.pk)
    )

    assert SELECT_A_VALID_CHOICE in response.content.decode()
    deal.refresh_from_db()
    assert deal.owner == rep


def test_an_inactive_lead_source_stays_on_the_deal_it_is_on(client, rep, deal):
    old = LeadSourceFactory(name="Trade fair 2019", is_active=False)
    Deal.objects.filter(pk=deal.pk).update(source=old)
    deal.refresh_from_db()
    client.force_login(rep)

    response = client.post(reverse("deals:edit", args=[deal.pk]), edit_data(deal, title="New"))

    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.title, deal.source) == ("New", old)


def test_a_read_only_teammate_cannot_edit_and_an_outsider_does_not_see_the_deal(
    client, other_rep, outsider, deal
):
    client.force_login(other_rep)
    assert client.get(reverse("deals:edit", args=[deal.pk])).status_code == 403
    assert (
        client.post(reverse("deals:edit", args=[deal.pk]), edit_data(deal, title="X")).status_code
        == 403
    )
    client.force_login(outsider)
    assert client.get(reverse("deals:edit", args=[deal.pk])).status_code == 404
    deal.refresh_from_db()
    assert deal.title == "Acme rollout"


@pytest.mark.parametrize("contacts", [1, 30])
def test_the_edit_page_query_count_is_constant(
    client, rep, deal, account, assert_max_queries, contacts
):
    ContactFactory.create_batch(contacts, account=account)
    AccountFactory.create_batch(contacts, owner=rep)
    client.force_login(rep)
    # The user, the deal with its owner, team, account, pipeline and stage, then one query
    # per choice list: accounts, the account's contacts, owners, lead sources; the
    # overdue-tasks badge.
    with assert_max_queries(7):
        response = client.get(reverse("deals:edit", args=[deal.pk]))
    assert response.status_code == 200


# Accounts


def test_creating_an_account_opens_its_page(client, rep):
    client.force_login(rep)

    response = client.post(
        reverse("deals:account-create"),
        {
            "name": "Initech",
            "industry": "Software",
            "website": "initech.example",
            "owner": rep.pk,
            "linkedin_url": "https://www.linkedin.com/company/initech",
            "twitter_url": "",
        },
    )

    account = Account.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == reverse("deals:account-detail", args=[account.pk])
    assert messages_of(response) == ["Created the account “Initech”."]
    assert (account.owner, account.website, account.linkedin_url) == (
        rep,
        "https://initech.example",
        "https://www.linkedin.com/company/initech",
    )


def test_a_bad_website_shows_the_error_and_saves_no_account(client, rep):
    client.force_login(rep)

    response = client.post(
        reverse("deals:account-create"),
        {"name": "Initech", "website": "not a url", "owner": rep.pk},
    )

    assert response.status_code == 200
    assert "Enter a valid URL." in response.content.decode()
    assert not Account.objects.exists()


def test_an_account_owner_the_user_may_not_assign_is_refused(client, rep, other_rep, account):
    client.force_login(rep)

    created = client.post(reverse("deals:account-create"), {"name": "X", "owner": other_rep.pk})
    edited = client.post(
        reverse("deals:account-edit", args=[account.pk]), {"name": "Acme", "owner": other_rep.pk}
    )

    assert SELECT_A_VALID_CHOICE in created.content.decode()
    assert SELECT_A_VALID_CHOICE in edited.content.decode()
    assert list(Account.objects.values_list("name", "owner")) == [("Acme", rep.pk)]


def test_editing_an_account_saves_it(client, rep, account):
    client.force_login(rep)

    response = client.post(
        reverse("deals:account-edit", args=[account.pk]),
        {"name": "Acme Corp", "industry": "Anvils", "website": "", "owner": rep.pk},
    )

    assert response.status_code == 302
    assert response["Location"] == account.get_absolute_url()
    assert messages_of(response) == ["Saved “Acme Corp”."]
    account.refresh_from_db()
    assert (account.name, account.industry, account.website) == ("Acme Corp", "Anvils", "")


def test_a_bad_value_on_an_account_shows_the_error_and_saves_nothing(client, rep, account):
    client.force_login(rep)

    response = client.post(
        reverse("deals:account-edit", args=[account.pk]),
        {"name": "", "twitter_url": "javascript:alert(1)", "owner": rep.pk},
    )

    html = response.content.decode()
    assert "This field is required." in html and "Enter a valid URL." in html
    account.refresh_from_db()
    assert (account.name, account.twitter_url) == ("Acme", "")


def test_only_those_who_may_change_an_account_edit_it(
    client, other_rep, outsider, manager, account
):
    url = reverse("deals:account-edit", args=[account.pk])
    client.force_login(other_rep)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    managed = AccountFactory(owner=outsider)
    client.force_login(manager)
    assert client.get(reverse("deals:account-edit", args=[managed.pk])).status_code == 200


@pytest.mark.parametrize("accounts", [1, 20])
def test_the_account_pages_query_counts_are_constant(
    client, rep, team_a, assert_max_queries, accounts
):
    AccountFactory.create_batch(accounts, owner=rep)
    account = Account.objects.first()
    client.force_login(rep)
    # The user, the owners to choose from, the overdue-tasks badge.
    with assert_max_queries(3):
        assert client.get(reverse("deals:account-create")).status_code == 200
    # The user, the account with its owner and team, the owners to choose from, the
    # overdue-tasks badge.
    with assert_max_queries(4):
        assert client.get(reverse("deals:account-edit", args=[account.pk])).status_code == 200


# Contacts


def test_adding_a_contact_goes_back_to_the_account(client, rep, account):
    client.force_login(rep)

    response = client.post(
        reverse("deals:contact-create", args=[account.pk]),
        {"name": "Road Runner", "title": "Head of Speed", "email": "rr@acme.example"},
    )

    assert response.status_code == 302
    assert response["Location"] == account.get_absolute_url()
    assert messages_of(response) == ["Added Road Runner to “Acme”."]
    assert list(account.contacts.values_list("name", "title", "email")) == [
        ("Road Runner", "Head of Speed", "rr@acme.example")
    ]


def test_a_bad_email_shows_the_error_and_saves_no_contact(client, rep, account):
    client.force_login(rep)

    response = client.post(
        reverse("deals:contact-create", args=[account.pk]), {"name": "Road Runner", "email": "beep"}
    )

    assert "Enter a valid email address." in response.content.decode()
    assert not Contact.objects.exists()


def test_editing_a_contact_saves_it(client, rep, account, contact):
    client.force_login(rep)

    response = client.post(
        reverse("deals:contact-edit", args=[contact.pk]),
        {"name": "Wile E. Coyote", "title": "Genius", "phone": "+1 555 0100", "account": 999},
    )

    assert response.status_code == 302
    assert response["Location"] == account.get_absolute_url()
    contact.refresh_from_db()
    assert (contact.title, contact.phone, contact.email, contact.account) == (
        "Genius",
        "+1 555 0100",
        "",
        account,
    )


def test_contacts_follow_their_account_for_access(client, other_rep, outsider, account, contact):
    client.force_login(other_rep)
    assert client.get(reverse("deals:contact-edit", args=[contact.pk])).status_code == 403
    assert client.get(reverse("deals:contact-create", args=[account.pk])).status_code == 403
    client.force_login(outsider)
    assert client.get(reverse("deals:contact-edit", args=[contact.pk])).status_code == 404
    assert client.get(reverse("deals:contact-create", args=[account.pk])).status_code == 404


@pytest.mark.parametrize("contacts", [1, 20])
def test_the_contact_pages_query_counts_are_constant(
    client, rep, account, assert_max_queries, contacts
):
    ContactFactory.create_batch(contacts, account=account)
    contact = account.contacts.first()
    client.force_login(rep)
    # The user, the account with its owner and team, the overdue-tasks badge.
    with assert_max_queries(3):
        assert client.get(reverse("deals:contact-create", args=[account.pk])).status_code == 200
    # The user, the contact with its account, the account's owner and team, the
    # overdue-tasks badge.
    with assert_max_queries(3):
        assert client.get(reverse("deals:contact-edit", args=[contact.pk])).status_code == 200


# Archiving and restoring deals


def test_an_archived_deal_leaves_the_board_and_keeps_its_history(client, rep, deal, pipeline):
    move_deal(deal, stage(pipeline, "Contacted"), by=rep)
    client.force_login(rep)
    board = reverse("deals:board", args=[pipeline.pk])
    card = f'href="{deal.get_absolute_url()}"'
    assert card in client.get(board).content.decode()

    response = client.post(reverse("deals:archive", args=[deal.pk]))

    assert response.status_code == 302
    assert response["Location"] == board
    assert messages_of(response) == ["Archived “Acme rollout”. An admin can restore it."]
    assert card not in client.get(board).content.decode()
    assert deal.stage_changes.count() == 2
    assert client.get(deal.get_absolute_url()).status_code == 200


def test_archiving_from_an_htmx_button_redirects_the_whole_page(client, rep, deal, pipeline):
    client.force_login(rep)

    response = client.post(reverse("deals:archive", args=[deal.pk]), HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == reverse("deals:board", args=[pipeline.pk])
    assert Deal.objects.get(pk=deal.pk).is_archived


def test_an_admin_restores_an_open_deal_to_a_free_place_on_the_board(
    client, admin_user, rep, deal, pipeline
):
    archive_deal(deal, by=rep)
    later = DealFactory(title="Later", pipeline=pipeline, owner=rep)
    Deal.objects.filter(pk=later.pk).update(board_position=deal.board_position)
    client.force_login(admin_user)

    response = client.post(reverse("deals:restore", args=[deal.pk]))

    assert response.status_code == 302
    assert response["Location"] == deal.get_absolute_url()
    assert messages_of(response) == ["Restored “Acme rollout”."]
    column = Deal.objects.filter(stage=deal.stage, status=DealStatus.OPEN, is_archived=False)
    assert list(column.order_by("board_position").values_list("title", flat=True)) == [
        "Later",
        "Acme rollout",
    ]
    html = client.get(reverse("deals:board", args=[pipeline.pk])).content.decode()
    assert f'href="{deal.get_absolute_url()}"' in html


def test_a_rep_cannot_restore_a_deal(client, rep, deal):
    archive_deal(deal, by=rep)
    client.force_login(rep)

    assert client.post(reverse("deals:restore", args=[deal.pk])).status_code == 403
    assert Deal.objects.get(pk=deal.pk).is_archived


def test_a_read_only_teammate_cannot_archive_and_an_outsider_gets_404(
    client, other_rep, outsider, deal
):
    client.force_login(other_rep)
    assert client.post(reverse("deals:archive", args=[deal.pk])).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("deals:archive", args=[deal.pk])).status_code == 404
    assert client.post(reverse("deals:restore", args=[deal.pk])).status_code == 404
    assert not Deal.objects.get(pk=deal.pk).is_archived


def test_archive_and_restore_only_take_posts(client, admin_user, deal):
    client.force_login(admin_user)
    assert client.get(reverse("deals:archive", args=[deal.pk])).status_code == 405
    assert client.get(reverse("deals:restore", args=[deal.pk])).status_code == 405


def test_the_edit_page_offers_archive_to_changers_and_restore_to_admins(
    client, rep, admin_user, deal
):
    url = reverse("deals:edit", args=[deal.pk])
    client.force_login(rep)
    html = client.get(url).content.decode()
    assert f'action="{reverse("deals:archive", args=[deal.pk])}"' in html

    archive_deal(deal, by=rep)
    html = client.get(url).content.decode()
    assert "Archived" in html
    assert reverse("deals:restore", args=[deal.pk]) not in html

    client.force_login(admin_user)
    html = client.get(url).content.decode()
    assert f'action="{reverse("deals:restore", args=[deal.pk])}"' in html


# Archiving and restoring accounts and contacts


def test_an_account_with_open_deals_is_not_archived(client, rep, account, deal, pipeline):
    DealFactory(pipeline=pipeline, owner=rep, account=account)
    client.force_login(rep)

    response = client.post(reverse("deals:account-archive", args=[account.pk]))

    assert response["Location"] == account.get_absolute_url()
    assert messages_of(response) == [
        "“Acme” cannot be archived: archive or close its 2 open deals first."
    ]
    assert not Account.objects.get(pk=account.pk).is_archived


def test_an_archived_account_leaves_the_list_and_an_admin_restores_it(
    client, rep, admin_user, account
):
    client.force_login(rep)

    response = client.post(reverse("deals:account-archive", args=[account.pk]))

    assert response["Location"] == reverse("deals:accounts")
    assert messages_of(response) == ["Archived “Acme”. An admin can restore it."]
    assert Account.objects.get(pk=account.pk).is_archived
    assert client.post(reverse("deals:account-restore", args=[account.pk])).status_code == 403

    client.force_login(admin_user)
    response = client.post(reverse("deals:account-restore", args=[account.pk]))
    assert response["Location"] == account.get_absolute_url()
    assert not Account.objects.get(pk=account.pk).is_archived


def test_account_archiving_is_for_those_who_may_change_it(client, other_rep, outsider, account):
    client.force_login(other_rep)
    assert client.post(reverse("deals:account-archive", args=[account.pk])).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("deals:account-archive", args=[account.pk])).status_code == 404
    assert not Account.objects.get(pk=account.pk).is_archived


def test_an_archived_contact_goes_back_to_its_account_page(
    client, rep, admin_user, account, contact
):
    client.force_login(rep)

    response = client.post(reverse("deals:contact-archive", args=[contact.pk]))

    assert response["Location"] == account.get_absolute_url()
    assert messages_of(response) == ["Archived “Wile E. Coyote”. An admin can restore it."]
    assert Contact.objects.get(pk=contact.pk).is_archived
    assert client.post(reverse("deals:contact-restore", args=[contact.pk])).status_code == 403
    client.force_login(admin_user)
    assert client.post(reverse("deals:contact-restore", args=[contact.pk])).status_code == 302
    assert not Contact.objects.get(pk=contact.pk).is_archived


def test_contact_archiving_is_for_those_who_may_change_the_account(
    client, other_rep, outsider, contact
):
    client.force_login(other_rep)
    assert client.post(reverse("deals:contact-archive", args=[contact.pk])).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("deals:contact-archive", args=[contact.pk])).status_code == 404
    assert not Contact.objects.get(pk=contact.pk).is_archived


def test_an_archived_contact_is_no_longer_offered_for_a_deal(client, rep, deal, account, contact):
    archive_contact(contact, by=rep)
    client.force_login(rep)

    html = client.get(reverse("deals:edit", args=[deal.pk])).content.decode()
    assert "Wile E. Coyote" not in html
    response = client.post(
        reverse("deals:edit", args=[deal.pk]), edit_data(deal, contact=contact.pk)
    )
    assert SELECT_A_VALID_CHOICE in response.content.decode()


def test_the_account_and_contact_edit_pages_show_the_archive_controls(
    client, rep, admin_user, account, contact
):
    client.force_login(rep)
    html = client.get(reverse("deals:account-edit", args=[account.pk])).content.decode()
    assert f'action="{reverse("deals:account-archive", args=[account.pk])}"' in html
    html = client.get(reverse("deals:contact-edit", args=[contact.pk])).content.decode()
    assert f'action="{reverse("deals:contact-archive", args=[contact.pk])}"' in html

    archive_account(account, by=rep)
    client.force_login(admin_user)
    html = client.get(reverse("deals:account-edit", args=[account.pk])).content.decode()
    assert f'action="{reverse("deals:account-restore", args=[account.pk])}"' in html


# The admin's bulk actions


def changelist_action(admin_client, model: str, action: str, objects) -> list[str]:
    response = admin_client.post(
        reverse(f"admin:deals_{model}_changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_the_admin_archives_and_restores_deals(admin_client, rep, pipeline):
    deals = [DealFactory(title=f"Deal {n}", pipeline=pipeline, owner=rep) for n in range(3)]

    assert changelist_action(admin_client, "deal", "archive_selected", deals[:2]) == [
        "Archived 2 deals."
    ]
    assert set(Deal.objects.filter(is_archived=True)) == set(deals[:2])
    assert changelist_action(admin_client, "deal", "restore_selected", deals) == [
        "Restored 2 deals."
    ]
    column = Deal.objects.filter(stage=stage(pipeline, "Lead"), is_archived=False)
    assert list(column.order_by("board_position").values_list("title", flat=True)) == [
        "Deal 2",
        "Deal 0",
        "Deal 1",
    ]


def test_the_admin_archives_accounts_only_without_open_deals(admin_client, rep, pipeline):
    busy = AccountFactory(name="Busy", owner=rep)
    DealFactory(pipeline=pipeline, owner=rep, account=busy)
    idle = AccountFactory(name="Idle", owner=rep)

    assert changelist_action(admin_client, "account", "archive_selected", [busy, idle]) == [
        "Nothing was archived: archive or close the open deals of “Busy” first."
    ]
    assert not Account.objects.filter(is_archived=True).exists()
    assert changelist_action(admin_client, "account", "archive_selected", [idle]) == [
        "Archived 1 account."
    ]
    assert changelist_action(admin_client, "account", "restore_selected", [busy, idle]) == [
        "Restored 1 account."
    ]


def test_the_admin_archives_and_restores_contacts(admin_client, contact):
    assert changelist_action(admin_client, "contact", "archive_selected", [contact]) == [
        "Archived 1 contact."
    ]
    assert Contact.objects.get().is_archived
    response = admin_client.get(
        reverse("admin:deals_contact_changelist"), {"is_archived__exact": "1"}
    )
    assert "Wile E. Coyote" in response.content.decode()
    assert changelist_action(admin_client, "contact", "restore_selected", [contact]) == [
        "Restored 1 contact."
    ]
