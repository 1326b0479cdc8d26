"""The count, total and weighted value of a set of deals, in one aggregate: what the deal
list, the flush preview and the report pages add up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from deals.models import Deal

# Sums of money: wide enough for any pipeline, and a Decimal zero for empty sets.
MONEY = DecimalField(max_digits=20, decimal_places=2)
ZERO = Value(Decimal(0), output_field=MONEY)


@dataclass(frozen=True)
class DealTotals:
    count: int
    total: Decimal
    weighted: Decimal


def deal_totals(deals: QuerySet[Deal]) -> DealTotals:
    """Count, total and weighted value (value × stage probability) of `deals`. One query."""
    sums = deals.order_by().aggregate(
        count=Count("pk"),
        total=Coalesce(Sum("value"), ZERO),
        # value × probability summed, divided once: no integer division on SQLite.
        weighted=Coalesce(Sum(F("value") * F("stage__probability"), output_field=MONEY), ZERO),
    )
    return DealTotals(
        count=sums["count"], total=Decimal(sums["total"]), weighted=Decimal(sums["weighted"]) / 100
    )
