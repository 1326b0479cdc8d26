"""An account archived while one of its deals opens, on real row locks: PostgreSQL only.

Each test holds one side's transaction open on its own connection and runs the other side
meanwhile; the held side commits half a second later. Whichever goes first, the account
must not end archived with an open deal. Last, the lock taken on any query of accounts."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from conftest import require_or_skip
from deals.models import Account
from deals.services import (
    DealError,
    archive_account,
    archive_accounts,
    create_deal,
    move_deal,
    update_deal,
)
from deals.tests.factories import AccountFactory, DealFactory
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db(transaction=True)

COMMIT_AFTER = 0.5


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        require_or_skip("needs PostgreSQL row locks: set DATABASE_URL (CI does)")


class Held:
    """`action` run in a transaction on a connection of its own, committed COMMIT_AFTER
    seconds after the block starts, while the block runs the other side."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.done = threading.Event()
        self.commit = threading.Event()
        self.errors: list[Exception] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.action()
                self.done.set()
                self.commit.wait(timeout=10)
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.errors.append(error)
        finally:
            self.done.set()
            connection.close()

    def __enter__(self) -> Held:
        self.thread.start()
        assert self.done.wait(timeout=10)
        threading.Timer(COMMIT_AFTER, self.commit.set).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.commit.set()
        self.thread.join(timeout=30)


@pytest.fixture
def won_deal(rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep, account=AccountFactory(owner=rep))
    return move_deal(deal, stage(pipeline, "Won"), by=rep)


def archived(account: Account) -> bool:
    return Account.objects.values_list("is_archived", flat=True).get(pk=account.pk)


def test_archiving_waits_for_a_deal_reopening_and_then_refuses(rep, pipeline, won_deal):
    account = won_deal.account

    reopen = Held(lambda: move_deal(won_deal, stage(pipeline, "Lead"), by=rep))
    refused = pytest.raises(DealError, match="archive or close its 1 open deal first")
    with reopen as reopening, refused:
        archive_account(account, by=rep)

    assert reopening.errors == []
    assert not archived(account)


def test_a_deal_reopened_while_its_account_is_being_archived_brings_it_back(
    rep, pipeline, won_deal
):
    account = won_deal.account

    with Held(lambda: archive_account(account, by=rep)) as archiving:
        move_deal(won_deal, stage(pipeline, "Lead"), by=rep)

    assert archiving.errors == []
    assert not archived(account)


def test_a_deal_added_while_its_account_is_being_archived_brings_it_back(rep, pipeline):
    account = AccountFactory(owner=rep)

    with Held(lambda: archive_account(account, by=rep)) as archiving:
        create_deal(title="Renewal", account=account, owner=rep, pipeline=pipeline, by=rep)

    assert archiving.errors == []
    assert not archived(account)


def test_a_deal_given_to_an_account_being_archived_brings_it_back(rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep, account=AccountFactory(owner=rep))
    account = AccountFactory(owner=rep)
    as_the_form_read_it = Account.objects.get(pk=account.pk)

    with Held(lambda: archive_account(account, by=rep)) as archiving:
        update_deal(deal, by=rep, account=as_the_form_read_it)

    assert archiving.errors == []
    assert not archived(account)


def test_accounts_chosen_by_any_query_can_be_archived(rep):
    accounts = [AccountFactory(owner=rep, name=name) for name in ("Acme", "Initech")]

    archived_now = archive_accounts(
        Account.objects.filter(name__in=["Acme", "Initech"]).distinct(), by=rep
    )

    assert archived_now == 2
    assert all(archived(account) for account in accounts)
