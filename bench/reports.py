"""The report dashboards at 100,000 deals with 500,000 stage changes (target 200 ms each).

The data set is the shared benchmark set of `bench.generate` (INSERT … SELECT over
generate_series, no Python loop): in the "Bench reports" pipeline, 50 reps in five teams with
a manager each, 2,000 accounts, 100,000 deals created evenly over the last two years with
their stage history and 300,000 activities, next to a 10,000-deal "Bench board" pipeline. It is
built once per run by the first case that needs it (`ReportData.ensure()`, or any other
module's `bench.generate.ensure()`) and removed after the last one (`bench.runner.AFTER_ALL`).

Each run renders one dashboard for an admin (every deal in scope) through the Django test
client, for this quarter against the last.
"""

from __future__ import annotations

from django.core.cache import cache

from bench import generate
from bench.generate import ADMIN_USERNAME, PIPELINE_NAME
from bench.runner import register
from bench.web import PageCase
from deals.models import Activity, Deal, StageChange
from pipeline_crm.models import User
from stages.models import Pipeline

__all__ = ["ADMIN_USERNAME", "PIPELINE_NAME", "ReportData"]

TARGET = 0.2


class ReportData:
    """The shared data set of `bench.generate`, at its default size."""

    @classmethod
    def ensure(cls) -> User:
        admin, _ = generate.ensure()
        return admin

    @classmethod
    def drop(cls) -> None:
        generate.drop()


class Dashboard(PageCase):
    """One report page for an admin, this quarter against the last."""

    url: str
    target = TARGET
    max_queries = 15

    def prepare(self) -> User:
        return ReportData.ensure()

    def page_url(self) -> str:
        return self.url

    def details(self) -> dict:
        return {
            "deals": Deal.objects.count(),
            "stage changes": StageChange.objects.count(),
            "activities": Activity.objects.count(),
        }


@register
class RevenueDashboard(Dashboard):
    """The revenue dashboard: headline figures of this quarter and the last, the pipeline now
    and rebuilt from stage history at the end of the last quarter, the top lists."""

    name = "reports_revenue"
    title = "Revenue dashboard, 100,000 deals, 500,000 stage changes"
    url = "/reports/revenue/"


@register
class TeamDashboard(Dashboard):
    """The team dashboard: 55 people in five teams, their activity, deals and stale deals."""

    name = "reports_team"
    title = "Team dashboard, 100,000 deals, 300,000 activities, 55 people"
    url = "/reports/team/"


@register
class ForecastReport(Dashboard):
    """The forecast of the coming six months and the accuracy of the last four quarters'
    forecasts, rebuilt from stage history."""

    name = "reports_forecast"
    title = "Forecast and forecast accuracy, 100,000 deals"
    url = "/reports/forecast/"


@register
class FunnelReport(Dashboard):
    """The funnel of the bench pipeline's deals created this quarter, with the learned
    probabilities as the half-hourly beat job leaves them (cached)."""

    name = "reports_funnel"
    title = "Stage funnel with learned probabilities, 100,000 deals"
    url = "/reports/funnel/"

    def page_url(self) -> str:
        return f"{self.url}?pipeline={Pipeline.objects.get(name=PIPELINE_NAME).pk}"


@register
class FunnelReportCold(FunnelReport):
    """The funnel when the learned probabilities are not in the cache, which the half-hourly
    beat job keeps filled: the worst case, when no worker runs (no target: the page's target
    is the case above)."""

    name = "reports_funnel_cold"
    title = "Stage funnel, learned probabilities counted by the page (no beat job), 100,000 deals"
    target = None

    def before_run(self) -> None:
        cache.clear()
