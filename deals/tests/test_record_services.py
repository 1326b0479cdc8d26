"""Editing, archiving and restoring deals, accounts and contacts, through the services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from deals.models import Account, Contact, Deal, DealStatus, StageChange
from deals.selectors import can_change_account
from deals.services import (
    DealError,
    archive_account,
    archive_accounts,
    archive_contact,
    archive_contacts,
    archive_deal,
    archive_deals,
    create_contact,
    move_deal,
    restore_account,
    restore_accounts,
    restore_contact,
    restore_contacts,
    restore_deal,
    restore_deals,
    update_account,
    update_contact,
    update_deal,
)
from deals.tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(rep):
    return AccountFactory(name="Acme", owner=rep)


@pytest.fixture
def deal(pipeline, rep, account):
    return DealFactory(title="Acme rollout", pipeline=pipeline, owner=rep, account=account)


def column(pipeline, name: str) -> list[str]:
    """Titles of the open, unarchived deals of a column, in board order."""
    return list(
        Deal.objects.filter(stage=stage(pipeline, name), status=DealStatus.OPEN, is_archived=False)
        .order_by("board_position", "pk")
        .values_list("title", flat=True)
    )


# update_deal


def test_update_deal_saves_the_plain_fields(deal, rep, account):
    contact = ContactFactory(account=account, name="Wile E.")
    source = LeadSourceFactory(name="Referral")

    update_deal(
        deal,
        by=rep,
        title="Acme renewal",
        value=Decimal("2500"),
        contact=contact,
        expected_close_date=date(2026, 9, 1),
        source=source,
        has_budget=True,
        has_need=True,
    )

    deal.refresh_from_db()
    assert (deal.title, deal.value, deal.contact, deal.expected_close_date, deal.source) == (
        "Acme renewal",
        Decimal("2500"),
        contact,
        date(2026, 9, 1),
        source,
    )
    assert (deal.has_budget, deal.has_authority, deal.has_need, deal.has_timeline) == (
        True,
        False,
        True,
        False,
    )


def forecast_history(deal) -> list[tuple]:
    return list(
        deal.forecast_changes.values_list(
            "value_before", "expected_close_date_before", "by__username"
        )
    )


def test_editing_the_value_or_expected_close_records_what_they_were(deal, rep, manager):
    update_deal(deal, by=rep, expected_close_date=date(2026, 9, 1))
    update_deal(deal, by=manager, value=Decimal("2500"), expected_close_date=date(2026, 12, 1))
    update_deal(deal, by=rep, title="Acme renewal", has_budget=True)  # no forecast figure

    assert forecast_history(deal) == [
        (Decimal("1000.00"), None, "alice"),
        (Decimal("1000.00"), date(2026, 9, 1), "dave"),
    ]
    deal.refresh_from_db()
    assert deal.forecast_changed_at == deal.forecast_changes.latest().changed_at


def test_a_refused_edit_records_no_forecast_change(deal, rep):
    with pytest.raises(ValidationError):
        update_deal(deal, by=rep, value=Decimal("-1"), expected_close_date=date(2026, 9, 1))

    assert forecast_history(deal) == []
    assert deal.forecast_changed_at is None
    deal.refresh_from_db()
    assert deal.forecast_changed_at is None


def test_update_deal_without_changes_writes_nothing(deal, rep, assert_max_queries):
    with assert_max_queries(0):
        update_deal(deal, by=rep, title=deal.title, value=deal.value, owner=rep)


@pytest.mark.parametrize("field", ["stage", "status", "pipeline", "lost_reason"])
def test_update_deal_refuses_what_only_a_move_changes(deal, rep, pipeline, field):
    value = {
        "stage": stage(pipeline, "Won"),
        "status": DealStatus.WON,
        "pipeline": pipeline,
        "lost_reason": LostReasonFactory(),
    }[field]
    message = f"A deal's {field.replace('_', ' ')} changes by moving the deal, not by editing it."
    with pytest.raises(DealError, match=message):
        update_deal(deal, by=rep, **{field: value})
    deal.refresh_from_db()
    assert (deal.stage.name, deal.status) == ("Lead", DealStatus.OPEN)


def test_update_deal_refuses_fields_that_are_not_editable(deal, rep):
    with pytest.raises(DealError, match="The deal's “board_position” cannot be changed by"):
        update_deal(deal, by=rep, board_position=-5)


def test_update_deal_refuses_a_negative_value_and_leaves_the_deal_as_it_was(deal, rep):
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, title="Changed", value=Decimal("-1"))
    assert exc.value.message_dict == {"value": ["A deal's value cannot be negative."]}
    assert (deal.title, deal.value) == ("Acme rollout", Decimal("1000.00"))
    deal.refresh_from_db()
    assert (deal.title, deal.value) == ("Acme rollout", Decimal("1000.00"))


def test_update_deal_refuses_a_contact_of_another_account(deal, rep):
    stranger = ContactFactory(account=AccountFactory(owner=rep), name="Stranger")
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, contact=stranger)
    assert exc.value.message_dict == {"contact": ["The contact must work at the deal's account."]}
    deal.refresh_from_db()
    assert deal.contact is None


def test_changing_the_account_keeps_the_contact_and_so_is_refused(deal, rep, account):
    contact = ContactFactory(account=account)
    update_deal(deal, by=rep, contact=contact)
    other = AccountFactory(owner=rep, name="Initech")

    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, account=other)
    assert exc.value.message_dict == {"contact": ["The contact must work at the deal's account."]}

    update_deal(deal, by=rep, account=other, contact=None)
    deal.refresh_from_db()
    assert (deal.account, deal.contact) == (other, None)


def test_update_deal_refuses_an_owner_the_user_may_not_assign(deal, rep, other_rep):
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, owner=other_rep)
    assert exc.value.message_dict == {"owner": ["You cannot make Bob Baker the owner."]}
    deal.refresh_from_db()
    assert deal.owner == rep


def test_a_manager_may_give_a_deal_to_a_member_of_their_team(pipeline, manager, outsider):
    deal = DealFactory(pipeline=pipeline, owner=manager)
    update_deal(deal, by=manager, owner=outsider)
    deal.refresh_from_db()
    assert deal.owner == outsider


def test_update_deal_refuses_an_account_the_user_cannot_see(deal, rep, outsider):
    hidden = AccountFactory(owner=outsider)
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, account=hidden)
    assert exc.value.message_dict == {"account": ["Choose one of the accounts you can see."]}


def test_update_deal_refuses_an_archived_account_or_contact(deal, rep, account):
    archived = AccountFactory(owner=rep, name="Gone Inc", is_archived=True)
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, account=archived)
    assert exc.value.message_dict == {
        "account": ["The account “Gone Inc” is archived; choose another one."]
    }
    old_contact = ContactFactory(account=account, name="Old Joe", is_archived=True)
    with pytest.raises(ValidationError) as exc:
        update_deal(deal, by=rep, contact=old_contact)
    assert exc.value.message_dict == {
        "contact": ["The contact “Old Joe” is archived; choose another one."]
    }


# update_account, create_contact, update_contact


def test_update_account_saves_its_fields(account, rep):
    update_account(
        account, by=rep, name="Acme Corp", industry="Anvils", website="https://acme.example"
    )
    account.refresh_from_db()
    assert (account.name, account.industry, account.website) == (
        "Acme Corp",
        "Anvils",
        "https://acme.example",
    )


def test_update_account_refuses_a_bad_website_and_an_unassignable_owner(account, rep, other_rep):
    with pytest.raises(ValidationError) as exc:
        update_account(account, by=rep, website="not a url")
    assert exc.value.message_dict == {"website": ["Enter a valid URL."]}
    with pytest.raises(ValidationError) as exc:
        update_account(account, by=rep, owner=other_rep)
    assert exc.value.message_dict == {"owner": ["You cannot make Bob Baker the owner."]}
    account.refresh_from_db()
    assert (account.website, account.owner) == ("", rep)


def test_update_account_refuses_other_fields(account, rep):
    with pytest.raises(DealError, match="The account's “is_archived” cannot be changed"):
        update_account(account, by=rep, is_archived=True)


def test_create_contact_adds_a_contact_to_the_account(account):
    contact = create_contact(account=account, name="  Wile E. ", email="wile@acme.example")
    assert (contact.account, contact.name, contact.email) == (
        account,
        "Wile E.",
        "wile@acme.example",
    )


def test_create_contact_refuses_a_bad_email_and_saves_nothing(account):
    with pytest.raises(ValidationError) as exc:
        create_contact(account=account, name="Wile", email="wile-at-acme")
    assert exc.value.message_dict == {"email": ["Enter a valid email address."]}
    assert not Contact.objects.exists()


def test_update_contact_saves_its_fields_but_never_its_account(account, rep):
    contact = ContactFactory(account=account, name="Wile")
    update_contact(contact, by=rep, name="Wile E. Coyote", title="Chief Engineer", phone="+1 555")
    contact.refresh_from_db()
    assert (contact.name, contact.title, contact.phone) == (
        "Wile E. Coyote",
        "Chief Engineer",
        "+1 555",
    )
    with pytest.raises(DealError, match="The contact's “account” cannot be changed"):
        update_contact(contact, by=rep, account=AccountFactory(owner=rep))


# archive and restore deals


def test_an_archived_deal_leaves_the_board_and_keeps_its_history(deal, rep, pipeline):
    move_deal(deal, stage(pipeline, "Contacted"), by=rep)

    archive_deal(deal, by=rep)

    deal.refresh_from_db()
    assert deal.is_archived
    assert column(pipeline, "Contacted") == []
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_archiving_twice_changes_nothing(deal, rep):
    archive_deal(deal, by=rep)
    assert archive_deals(Deal.objects.filter(pk=deal.pk), by=rep) == 0
    deal.refresh_from_db()
    assert deal.is_archived


def test_a_restored_open_deal_goes_to_the_end_of_its_column(deal, rep, pipeline, account):
    archive_deal(deal, by=rep)
    # Its old place is taken meanwhile.
    others = [DealFactory(title=f"Later {n}", pipeline=pipeline, owner=rep) for n in range(2)]
    Deal.objects.filter(pk=others[0].pk).update(board_position=deal.board_position)

    restored = restore_deal(deal, by=rep)

    assert not restored.is_archived
    assert column(pipeline, "Lead") == ["Later 0", "Later 1", "Acme rollout"]


def test_restoring_a_deal_that_is_not_archived_changes_nothing(deal, rep):
    position = deal.board_position
    restored = restore_deal(deal, by=rep)
    assert (restored.is_archived, restored.board_position) == (False, position)


def test_a_restored_closed_deal_stays_closed(deal, rep, pipeline):
    move_deal(deal, stage(pipeline, "Won"), by=rep)
    archive_deal(deal, by=rep)

    restored = restore_deal(deal, by=rep)

    assert (restored.is_archived, restored.status) == (False, DealStatus.WON)


def test_restoring_many_deals_keeps_them_in_order_after_the_column(rep, pipeline):
    old = [DealFactory(title=f"Old {n}", pipeline=pipeline, owner=rep) for n in range(3)]
    won = DealFactory(title="Won one", pipeline=pipeline, owner=rep, stage=stage(pipeline, "Won"))
    archive_deals(Deal.objects.filter(pk__in=[d.pk for d in [*old, won]]), by=rep)
    DealFactory(title="New", pipeline=pipeline, owner=rep)

    assert restore_deals(Deal.objects.all(), by=rep) == 4

    assert column(pipeline, "Lead") == ["New", "Old 0", "Old 1", "Old 2"]
    assert not Deal.objects.filter(is_archived=True).exists()
    assert Deal.objects.get(pk=won.pk).status == DealStatus.WON


# archive and restore accounts and contacts


def test_an_account_with_open_deals_cannot_be_archived(account, rep, pipeline):
    for _ in range(3):
        DealFactory(pipeline=pipeline, owner=rep, account=account)
    closed = DealFactory(pipeline=pipeline, owner=rep, account=account)
    move_deal(closed, stage(pipeline, "Won"), by=rep)

    with pytest.raises(
        DealError, match="“Acme” cannot be archived: archive or close its 3 open deals first."
    ):
        archive_account(account, by=rep)

    account.refresh_from_db()
    assert not account.is_archived


def test_an_account_with_one_open_deal_says_so_in_the_singular(deal, account, rep):
    with pytest.raises(DealError, match="archive or close its 1 open deal first."):
        archive_account(account, by=rep)


def test_an_account_whose_deals_are_closed_or_archived_is_archived(deal, account, rep, pipeline):
    archive_deal(deal, by=rep)
    won = DealFactory(pipeline=pipeline, owner=rep, account=account)
    move_deal(won, stage(pipeline, "Won"), by=rep)

    archive_account(account, by=rep)
    archive_account(account, by=rep)  # idempotent

    account.refresh_from_db()
    assert account.is_archived
    restore_account(account, by=rep)
    restore_account(account, by=rep)
    account.refresh_from_db()
    assert not account.is_archived


def test_an_open_deal_brings_its_archived_account_back(account, rep, pipeline):
    """Restored, reopened or restored in bulk: an open deal is never left in an archived
    account, which the lists hide; a closed one leaves the account archived."""
    won = DealFactory(pipeline=pipeline, owner=rep, account=account)
    move_deal(won, stage(pipeline, "Won"), by=rep)
    parked = DealFactory(pipeline=pipeline, owner=rep, account=account)
    archive_deal(parked, by=rep)

    def archived_again() -> None:
        archive_account(account, by=rep)
        account.refresh_from_db()
        assert account.is_archived

    def account_archived() -> bool:
        return Account.objects.get(pk=account.pk).is_archived

    archived_again()
    move_deal(won, stage(pipeline, "Lost"), by=rep, lost_reason=LostReasonFactory())
    assert account_archived()  # closed to closed
    move_deal(won, stage(pipeline, "Lead"), by=rep)
    assert not account_archived()  # reopened

    move_deal(won, stage(pipeline, "Won"), by=rep)
    archived_again()
    restore_deal(parked, by=rep)
    assert not account_archived()

    archive_deal(parked, by=rep)
    archived_again()
    restore_deals(Deal.objects.filter(pk=parked.pk), by=rep)
    assert not account_archived()

    archive_deal(parked, by=rep)
    archived_again()
    restore_deals(Deal.objects.filter(pk=won.pk), by=rep)  # closed, and not archived
    move_deal(parked, stage(pipeline, "Won"), by=rep)
    restore_deal(parked, by=rep)  # closed
    assert account_archived()


def test_archiving_accounts_in_bulk_is_all_or_nothing(rep, pipeline):
    empty = AccountFactory(name="Empty", owner=rep)
    busy = AccountFactory(name="Busy", owner=rep)
    DealFactory(pipeline=pipeline, owner=rep, account=busy)

    with pytest.raises(
        DealError, match="Nothing was archived: archive or close the open deals of “Busy” first."
    ):
        archive_accounts(Account.objects.all(), by=rep)
    assert not Account.objects.filter(is_archived=True).exists()

    assert archive_accounts(Account.objects.filter(pk=empty.pk), by=rep) == 1
    assert restore_accounts(Account.objects.all(), by=rep) == 1


def test_contacts_are_archived_and_restored(account, rep):
    contact = ContactFactory(account=account)
    archive_contact(contact, by=rep)
    contact.refresh_from_db()
    assert contact.is_archived
    restore_contact(contact, by=rep)
    contact.refresh_from_db()
    assert not contact.is_archived
    assert archive_contacts(Contact.objects.all(), by=rep) == 1
    assert restore_contacts(Contact.objects.all(), by=rep) == 1


# who may change an account


def test_account_change_rights_follow_the_deal_rule(rep, other_rep, manager, outsider, admin_user):
    account_a = AccountFactory(owner=rep)
    account_b = AccountFactory(owner=outsider)

    def changeable(user) -> set[Account]:
        return set(Account.objects.changeable_by(user))

    assert changeable(rep) == {account_a}
    assert changeable(other_rep) == set()
    assert changeable(manager) == {account_b}
    assert changeable(admin_user) == {account_a, account_b}
    with override_settings(TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS=True):
        assert changeable(other_rep) == {account_a}


@pytest.mark.parametrize("team_setting", [False, True])
def test_can_change_account_agrees_with_the_queryset_without_a_query(
    rep, other_rep, manager, outsider, admin_user, team_setting, django_assert_num_queries
):
    AccountFactory(owner=rep)
    AccountFactory(owner=outsider)
    accounts = list(Account.objects.select_related("owner__team"))
    with override_settings(TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS=team_setting):
        for user in (rep, other_rep, manager, outsider, admin_user):
            expected = set(Account.objects.changeable_by(user))
            with django_assert_num_queries(0):
                allowed = {a for a in accounts if can_change_account(user, a)}
            assert allowed == expected, user
