from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from deals.models import CONTACT_OF_OTHER_ACCOUNT, NEGATIVE_VALUE, Activity, ActivityKind, Deal
from deals.services import move_deal
from deals.tests.factories import AccountFactory, ContactFactory, DealFactory
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db


def test_a_negative_value_is_refused_with_a_clear_message(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    deal.value = Decimal("-1")
    with pytest.raises(ValidationError) as exc:
        deal.full_clean()
    assert exc.value.message_dict["value"] == [NEGATIVE_VALUE]


def test_a_negative_value_is_refused_by_the_database(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(value=Decimal("-5"))


def test_the_contact_must_work_at_the_deal_account(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    deal.contact = ContactFactory()
    with pytest.raises(ValidationError) as exc:
        deal.full_clean()
    assert exc.value.message_dict == {"contact": [CONTACT_OF_OTHER_ACCOUNT]}

    deal.contact = ContactFactory(account=deal.account)
    deal.full_clean()


def test_an_open_deal_cannot_have_a_close_date(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(closed_at=timezone.now())


def test_an_activity_needs_a_deal_or_an_account(rep):
    with pytest.raises(IntegrityError), transaction.atomic():
        Activity.objects.create(kind=ActivityKind.NOTE, subject="Orphan", user=rep)


def test_weighted_value_is_value_times_stage_probability(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep, value=Decimal("100000"))  # Lead, 10 %
    assert deal.weighted_value == Decimal("10000")
    annotated = Deal.objects.with_weighted_value().get(pk=deal.pk)
    assert annotated.weighted == Decimal("10000")


def test_the_worked_example_of_the_domain_holds(pipeline, rep):
    """Ten $100,000 deals at 60 % and five won: closed $500k, open $1M, weighted $600k."""
    account = AccountFactory(owner=rep)
    proposal, won = stage(pipeline, "Proposal made"), stage(pipeline, "Won")
    common = {"pipeline": pipeline, "owner": rep, "account": account, "value": 100_000}
    DealFactory.create_batch(10, stage=proposal, **common)
    for deal in DealFactory.create_batch(5, **common):
        move_deal(deal, won, by=rep)

    closed = Deal.objects.won().aggregate(total=Sum("value"))["total"]
    open_total = Deal.objects.open().aggregate(total=Sum("value"))["total"]
    weighted = Deal.objects.open().with_weighted_value().aggregate(total=Sum("weighted"))
    assert closed == Decimal("500000")
    assert open_total == Decimal("1000000")
    assert weighted["total"] == Decimal("600000")
