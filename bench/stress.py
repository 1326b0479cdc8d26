"""Stress: the board and the dashboards with 1,000,000 deals in the database.

The set is the shared one of `bench.generate` at ten times its size: 1,000,000 deals in the
"Bench reports" pipeline created over two years with about 5,000,000 stage changes and
3,000,000 activities; a third of its deals are still open, 338,000 of them on that
pipeline's board. It replaces the 100,000-deal set for the cases below (so this module runs
last) and is removed after the run. Building it takes a few minutes.

Targets: board median ≤ 100 ms, dashboards ≤ 500 ms.
"""

from __future__ import annotations

from typing import ClassVar

from django.test import Client, override_settings
from django.urls import reverse

from bench import generate
from bench.generate import BOARD_DEALS, PIPELINE_NAME
from bench.runner import SESSION_ENGINE, Case, register
from deals.models import Deal, DealStatus
from deals.selectors import BOARD_PAGE_SIZE
from stages.models import Pipeline, StageKind

DEALS = 1_000_000
CARD = '<article id="deal-'


class Stress(Case):
    """One page for an admin (every deal in scope) through the test client."""

    runs = 20
    max_queries: ClassVar[int | None] = 15

    def setup(self) -> None:
        self.sessions = override_settings(SESSION_ENGINE=SESSION_ENGINE)
        self.sessions.enable()
        admin, _ = generate.ensure(deals=DEALS, board_deals=BOARD_DEALS)
        self.pipeline = Pipeline.objects.get(name=PIPELINE_NAME)
        self.url = self.page_url()
        self.client = Client()
        self.client.force_login(admin)

    def teardown(self) -> None:
        self.sessions.disable()

    def page_url(self) -> str:
        raise NotImplementedError

    def run(self):
        return self.client.get(self.url, secure=True)

    def check(self, response) -> list[str]:
        if response.status_code != 200:
            return [f"{self.url} answered {response.status_code}"]
        return []

    def details(self) -> dict:
        return {
            "deals": Deal.objects.count(),
            "open deals in the pipeline": Deal.objects.filter(
                pipeline=self.pipeline, status=DealStatus.OPEN
            ).count(),
            "url": self.url,
        }


@register
class StressBoard(Stress):
    """The board of the 1,000,000-deal pipeline: 338,000 open deals in 7 columns."""

    name = "stress_board"
    title = "Stress: board of a pipeline of 1,000,000 deals (338,000 open)"
    target = 0.1
    max_queries = 8

    def page_url(self) -> str:
        return reverse("deals:board", args=[self.pipeline.pk])

    def check(self, response) -> list[str]:
        problems = super().check(response)
        columns = self.pipeline.stages.filter(kind=StageKind.OPEN).count()
        cards = response.content.decode().count(CARD)
        if not problems and cards != BOARD_PAGE_SIZE * columns:
            problems.append(f"{cards} cards, expected {BOARD_PAGE_SIZE * columns}")
        return problems


@register
class StressRevenue(Stress):
    name = "stress_revenue"
    title = "Stress: revenue dashboard, 1,000,000 deals, 5,000,000 stage changes"
    target = 0.5

    def page_url(self) -> str:
        return reverse("reports:revenue")


@register
class StressTeam(Stress):
    name = "stress_team"
    title = "Stress: team dashboard, 1,000,000 deals, 3,000,000 activities"
    target = 0.5

    def page_url(self) -> str:
        return reverse("reports:team")
