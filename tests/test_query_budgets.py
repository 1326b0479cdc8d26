"""The query budgets of issue 9 in one place: the busiest pages send at most so many queries,
and the same number with 5 deals as with 50.

This is the CI-sized guard of the benchmark suite (`bench/pages.py`, `bench/reports.py`
measure the times at 10,000 and 100,000 deals); counts exclude transaction control, like
`assert_max_queries`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.models import ActivityKind, Deal
from deals.tests.factories import ActivityFactory
from pipeline_crm.models import Role
from pipeline_crm.tests.factories import UserFactory
from reports.selectors.learned import learned_cache_key
from reports.tests.factories import at, deal_with_history
from stages.tests.factories import stage

pytestmark = pytest.mark.django_db

SIZES = (5, 50)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
NOW = "2026-05-15 12:00Z"  # the dashboards show Q2 2026 against Q1


@dataclass(frozen=True)
class Budget:
    page: str
    max_queries: int
    request: Callable  # (client, pipeline) -> the request to count, ready to send


def board(client, pipeline):
    return lambda: client.get(reverse("deals:board", args=[pipeline.pk]))


def load_more(client, pipeline):
    url = reverse("deals:column", args=[pipeline.pk, stage(pipeline, "Lead").pk])
    return lambda: client.get(url, {"offset": 1})


def move(client, pipeline):
    lead, contacted = stage(pipeline, "Lead"), stage(pipeline, "Contacted")
    deal = Deal.objects.filter(stage=lead).latest("pk")
    return lambda: client.post(
        reverse("deals:move", args=[deal.pk]),
        {"stage": contacted.pk, "from_stage": lead.pk, "position": 1},
        headers={"HX-Request": "true"},
    )


def revenue(client, pipeline):
    return lambda: client.get(reverse("reports:revenue"))


def team(client, pipeline):
    return lambda: client.get(reverse("reports:team"))


BUDGETS = [
    Budget("board", 8, board),
    Budget("load more", 5, load_more),
    Budget("move", 6, move),
    Budget("revenue dashboard", 15, revenue),
    Budget("team dashboard", 15, team),
]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def add_deals(pipeline, owners, count: int, numbers) -> None:
    """Won, lost and open deals (in Lead and Contacted) with an activity each, this quarter."""
    for n in itertools.islice(numbers, count):
        owner = owners[n % len(owners)]
        if n % 4 == 0:
            path = [("Lead", "2026-03-02"), ("Won", "2026-04-20")]
        elif n % 4 == 1:
            path = [("Lead", "2026-03-02"), ("Qualified", "2026-04-02"), ("Lost", "2026-05-02")]
        else:
            path = [("Lead", "2026-04-01")] + ([("Contacted", "2026-04-10")] if n % 4 == 3 else [])
        deal = deal_with_history(
            pipeline, owner, path, value=1000 + n, lost_reason="Price" if n % 4 == 1 else None
        )
        ActivityFactory(deal=deal, user=owner, kind=ActivityKind.CALL, occurred_at=at("2026-05-03"))


def count_queries(client, budget: Budget, pipeline) -> int:
    send = budget.request(client, pipeline)
    with CaptureQueriesContext(connection) as context:
        response = send()
    assert response.status_code == 200, f"{budget.page}: {response.status_code}"
    return sum(1 for q in context.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL))


@pytest.mark.parametrize("budget", BUDGETS, ids=[b.page for b in BUDGETS])
def test_the_page_keeps_its_query_budget_at_any_size(
    client, frozen, admin_user, rep, other_rep, pipeline, budget
):
    numbers = itertools.count()
    client.force_login(admin_user)
    counts = []
    for size in SIZES:
        add_deals(pipeline, [rep, other_rep], size - Deal.objects.count(), numbers)
        counts.append(count_queries(client, budget, pipeline))

    assert max(counts) <= budget.max_queries, f"{budget.page}: {counts}"
    assert counts[0] == counts[1], f"{budget.page}: {counts} queries at {SIZES} deals"


# The reports, as each kind of viewer opens them, with each period and filter: the budget of
# 15 holds for each as the deals grow, also before the learned probabilities are cached.

REPORT_QUERIES = {
    "default": {},
    "past period": {"period": "last_quarter"},
    "custom dates": {"period": "custom", "start": "2025-11-01", "end": "2026-02-10"},
    "filtered": "filters",  # pipeline, team and owner: filled in by the test
}
REPORT_CASES = [
    *(
        (report, query)
        for report in ("revenue", "forecast", "funnel", "team")
        for query in REPORT_QUERIES
    ),
    ("forecast", "learned"),
]
REPORT_SIZES = (4, 16)


@pytest.fixture
def team_lead(team_a):
    team_a.manager = UserFactory(username="frank", role=Role.MANAGER)
    team_a.save(update_fields=["manager"])
    return team_a.manager


def forget_learned_probabilities(pipeline) -> None:
    cache.delete_many([learned_cache_key(pipeline.pk)])


@pytest.mark.parametrize("viewer", ["admin_user", "team_lead", "rep"])
@pytest.mark.parametrize(("report", "query"), REPORT_CASES, ids="-".join)
def test_every_report_keeps_its_budget_for_every_viewer_period_and_filter(
    request, client, frozen, rep, other_rep, team_a, pipeline, report, query, viewer
):
    params = REPORT_QUERIES.get(query, {"probabilities": "learned"})
    if params == "filters":
        params = {"pipeline": pipeline.pk, "owner": rep.pk}
        if viewer != "rep":
            params["team"] = team_a.pk
    url = reverse(f"reports:{report}")
    budget = Budget(report, 15, lambda c, p: lambda: c.get(url, params))
    numbers = itertools.count()
    client.force_login(request.getfixturevalue(viewer))
    cold, warm = [], []
    for size in REPORT_SIZES:
        add_deals(pipeline, [rep, other_rep], size - Deal.objects.count(), numbers)
        forget_learned_probabilities(pipeline)
        cold.append(count_queries(client, budget, pipeline))
        warm.append(count_queries(client, budget, pipeline))

    assert max(cold) <= budget.max_queries, f"cold cache: {cold}"
    assert cold[0] == cold[1] and warm[0] == warm[1], f"{cold}, {warm} at {REPORT_SIZES} deals"
