"""The report pages. Each reads its filters, builds its tables (reports/pages/) and shows
them, or with `?format=csv&table=<key>` downloads one of them under the same filters."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from pipeline_crm.csv_export import csv_response
from reports.forms import ReportFilterForm
from reports.links import DealLinks
from reports.pages import forecast as forecast_page
from reports.pages import funnel as funnel_page
from reports.pages import revenue as revenue_page
from reports.pages import team as team_page
from reports.tables import find

BAD_FILTERS = "The report's filters are not valid: {errors}"
NO_SUCH_TABLE = "This report has no table {key!r}; it has: {keys}."
# (label, url name, icon) of the report tabs.
REPORT_TABS = (
    ("Revenue", "reports:revenue", "cash-stack"),
    ("Forecast", "reports:forecast", "calendar3"),
    ("Funnel", "reports:funnel", "funnel"),
    ("Team", "reports:team", "people"),
)

Builder = Callable[[HttpRequest, ReportFilterForm, DealLinks], dict]


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return redirect("reports:revenue")


def _report(request: HttpRequest, template: str, build: Builder) -> HttpResponse:
    form = ReportFilterForm(request.GET, user=request.user)
    wants_csv = request.GET.get("format") == "csv"
    context = {"form": form, "tabs": REPORT_TABS, "active_section": "Reports", "tables": []}
    if not form.is_valid():
        if wants_csv:
            errors = "; ".join(" ".join(messages) for messages in form.errors.values())
            return HttpResponseBadRequest(
                BAD_FILTERS.format(errors=errors), content_type="text/plain; charset=utf-8"
            )
        return render(request, template, context | {"invalid": True}, status=400)
    links = DealLinks(request.user, form.filters)
    context |= build(request, form, links)
    if wants_csv:
        key = request.GET.get("table", "")
        table = find(context["tables"], key)
        if table is None:
            keys = ", ".join(table.key for table in context["tables"])
            return HttpResponseBadRequest(
                NO_SUCH_TABLE.format(key=key, keys=keys), content_type="text/plain; charset=utf-8"
            )
        period = form.chosen_period
        filename = f"{table.key}-{period.start:%Y-%m-%d}-{period.end:%Y-%m-%d}.csv"
        return csv_response(filename, [c.label for c in table.columns], table.csv_rows())
    query = request.GET.copy()
    for name in ("format", "table"):
        query.pop(name, None)
    context["csv_url"] = f"{request.path}?{query.urlencode()}&format=csv&table="
    context["period"] = form.chosen_period
    return render(request, template, context)


@login_required
@require_GET
def revenue(request: HttpRequest) -> HttpResponse:
    return _report(request, "reports/revenue.html", revenue_page.build)


@login_required
@require_GET
def forecast(request: HttpRequest) -> HttpResponse:
    return _report(request, "reports/forecast.html", forecast_page.build)


@login_required
@require_GET
def funnel(request: HttpRequest) -> HttpResponse:
    return _report(request, "reports/funnel.html", funnel_page.build)


@login_required
@require_GET
def team(request: HttpRequest) -> HttpResponse:
    return _report(request, "reports/team.html", team_page.build)
