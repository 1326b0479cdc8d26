from __future__ import annotations

import re
from decimal import Decimal

import factory

from deals.models import Account, Activity, ActivityKind, Contact, Deal, LeadSource, LostReason
from deals.services import create_deal
from pipeline_crm.tests.factories import UserFactory
from stages.tests.factories import PipelineFactory


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Faker("company")
    industry = "Software"
    owner = factory.SubFactory(UserFactory)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    name = factory.Faker("name")
    # The person's own address, as on a real contact card (a screenshot shows it by the name).
    email = factory.LazyAttribute(
        lambda contact: ".".join(re.findall("[a-z]+", contact.name.lower())) + "@example.com"
    )


class LostReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LostReason
        django_get_or_create = ("name",)

    name = "Price"


class LeadSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ("name",)

    name = "Website"


class DealFactory(factory.django.DjangoModelFactory):
    """Creates deals through `create_deal`, so every deal has its creation history row."""

    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    pipeline = factory.SubFactory(PipelineFactory)
    stage = None
    value = Decimal("1000.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("by", kwargs["owner"])
        return create_deal(**kwargs)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    kind = ActivityKind.CALL
    subject = factory.Sequence(lambda n: f"Call {n}")
    deal = factory.SubFactory(DealFactory)
    account = factory.SelfAttribute("deal.account")
    user = factory.SelfAttribute("deal.owner")
