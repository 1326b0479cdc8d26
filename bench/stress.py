"""Stress: the board and the report pages with 1,000,000 deals in the database.

The set is the shared one of `bench.generate` at ten times its size: 1,000,000 deals in the
"Bench reports" pipeline created over two years with about 5,000,000 stage changes and
3,000,000 activities; a third of its deals are still open, 338,000 of them on that
pipeline's board. It replaces the 100,000-deal set for the cases below (so this module runs
last) and is removed after the run. Building it takes a few minutes.

Targets: board median ≤ 100 ms, dashboards (revenue, team) ≤ 500 ms; the forecast and the
funnel are measured without one.
"""

from __future__ import annotations

from typing import ClassVar

from django.urls import reverse

from bench import generate
from bench.generate import BOARD_DEALS, PIPELINE_NAME
from bench.pages import CARD, PageData
from bench.runner import register
from bench.web import PageCase
from deals.models import Deal, DealStatus
from deals.selectors import BOARD_PAGE_SIZE
from pipeline_crm.models import User
from stages.models import Pipeline, StageKind

DEALS = 1_000_000


class Stress(PageCase):
    """One page for an admin (every deal in scope)."""

    runs = 20
    max_queries: ClassVar[int | None] = 15

    def prepare(self) -> User:
        # The page cases are done with their sets (this module runs last). Removed first,
        # they leave the deal tables empty, so that the million deals' indexes grow from
        # their own inserts (generate._truncate_if_empty), not over the pages of the sets
        # built and removed before: with 110,000 page deals kept, the revenue dashboard
        # took 0.53 s in a full run and 0.36 s on the same set built alone.
        PageData.drop()
        admin, _ = generate.ensure(deals=DEALS, board_deals=BOARD_DEALS)
        self.pipeline = Pipeline.objects.get(name=PIPELINE_NAME)
        return admin

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

    def check_page(self, html: str) -> list[str]:
        expected = BOARD_PAGE_SIZE * self.pipeline.stages.filter(kind=StageKind.OPEN).count()
        cards = html.count(CARD)
        return [] if cards == expected else [f"{cards} cards on the board, expected {expected}"]


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


@register
class StressForecast(Stress):
    """No target: the issue's stress target names the dashboards, revenue and team; the
    forecast and funnel are measured at this size to show how they hold up."""

    name = "stress_forecast"
    title = "Stress: forecast and forecast accuracy, 1,000,000 deals"
    target = None

    def page_url(self) -> str:
        return reverse("reports:forecast")


@register
class StressFunnel(Stress):
    """No target (as the forecast above); learned probabilities cached, as the beat job
    keeps them."""

    name = "stress_funnel"
    title = "Stress: stage funnel of the 1,000,000-deal pipeline"
    target = None

    def page_url(self) -> str:
        return f"{reverse('reports:funnel')}?pipeline={self.pipeline.pk}"
