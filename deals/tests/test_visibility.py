"""Who sees and changes which deals and accounts: the rules in one place."""

from __future__ import annotations

import pytest

from deals.models import Account, Deal
from deals.selectors import assignable_owners, can_change_deal
from deals.tests.factories import AccountFactory, DealFactory
from stages.models import Visibility
from stages.tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(db):
    return PipelineFactory(name="Shared", visibility=Visibility.EVERYONE)


@pytest.fixture
def deals(pipeline, shared, rep, other_rep, outsider):
    """One deal per owner in the team pipeline, and one of alice's in the shared one."""
    return {
        "alice": DealFactory(title="alice", pipeline=pipeline, owner=rep),
        "bob": DealFactory(title="bob", pipeline=pipeline, owner=other_rep),
        "carol": DealFactory(title="carol", pipeline=pipeline, owner=outsider),
        "alice-shared": DealFactory(title="alice-shared", pipeline=shared, owner=rep),
    }


def seen(user) -> set[str]:
    return set(Deal.objects.visible_to(user).values_list("title", flat=True))


def changeable(user) -> set[str]:
    return set(Deal.objects.changeable_by(user).values_list("title", flat=True))


def test_a_rep_sees_their_team_and_everyone_pipelines(deals, rep, outsider):
    assert seen(rep) == {"alice", "bob", "alice-shared"}
    assert seen(outsider) == {"carol", "alice-shared"}


def test_a_rep_changes_only_their_own_deals(deals, rep, other_rep):
    assert changeable(rep) == {"alice", "alice-shared"}
    assert changeable(other_rep) == {"bob"}


def test_a_setting_lets_team_members_change_each_others_deals(deals, rep, settings):
    settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS = True
    assert changeable(rep) == {"alice", "bob", "alice-shared"}
    bob = Deal.objects.select_related("owner__team").get(title="bob")
    assert can_change_deal(rep, bob)


def test_a_manager_sees_and_changes_everything_of_their_teams(deals, manager):
    # manager leads Team B (carol); alice's shared deal is visible to all, not theirs to change
    assert seen(manager) == {"carol", "alice-shared"}
    assert changeable(manager) == {"carol"}


def test_an_admin_sees_and_changes_everything(deals, admin_user):
    assert seen(admin_user) == changeable(admin_user) == set(deals)


def test_can_change_deal_agrees_with_the_queryset(
    deals, rep, other_rep, outsider, manager, admin_user
):
    for user in (rep, other_rep, outsider, manager, admin_user):
        loaded = Deal.objects.select_related("owner__team")
        assert {d.title for d in loaded if can_change_deal(user, d)} == changeable(user)


def test_accounts_follow_their_owners_and_deals(deals, rep, outsider):
    AccountFactory(name="Bob's prospect", owner=deals["bob"].owner)
    visible = set(Account.objects.visible_to(outsider).values_list("name", flat=True))
    # carol's own account, and alice's account through the shared deal
    assert visible == {deals["carol"].account.name, deals["alice-shared"].account.name}
    assert "Bob's prospect" in set(Account.objects.visible_to(rep).values_list("name", flat=True))


def test_reps_assign_deals_only_to_themselves(rep, other_rep, manager, outsider, admin_user):
    assert list(assignable_owners(rep)) == [rep]
    assert set(assignable_owners(manager)) == {manager, outsider}
    assert set(assignable_owners(admin_user)) == {rep, other_rep, manager, outsider, admin_user}
