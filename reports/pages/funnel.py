"""The funnel report: for the deals created in the period, how many reached each open stage
of one pipeline, how they converted and how long they stayed, beside each stage's configured
and learned probability."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from reports.forms import ReportFilterForm
from reports.links import DealLinks
from reports.scope import report_deals
from reports.selectors.funnel import stage_funnel
from reports.selectors.learned import recent_learned_probabilities
from reports.tables import COUNT, DAYS, PERCENT, Chart, Column, Link, Table, ratio
from stages.models import Pipeline

FIRST_PIPELINE = (
    "No pipeline chosen: this is the funnel of {pipeline}, the first active pipeline. "
    "Choose another with the Pipeline filter."
)
NO_PIPELINE = "There is no active pipeline to show a funnel for."
FUNNEL_NOTE = (
    "Deals created in the period. A deal reached a stage if it entered it or a later stage, "
    "or was won. Learned probability: of all the pipeline's deals closed in the last "
    "{months} months that entered the stage (everyone's, not only the deals above), the "
    "share won; the admin applies it only where at least {min_sample} closed deals entered "
    "the stage."
)


def build(request: HttpRequest, form: ReportFilterForm, links: DealLinks) -> dict:
    filters = form.filters
    # two at most: the first, and whether there is a choice to mention
    active = list(Pipeline.objects.active()[:2])
    pipeline = filters["pipeline"] or (active[0] if active else None)
    if pipeline is None:
        return {"tables": [], "no_pipeline": NO_PIPELINE}
    period = form.chosen_period
    deals = report_deals(request.user, **(filters | {"pipeline": pipeline})).filter(
        created_at__gte=period.start_at, created_at__lt=period.end_at
    )
    stages = list(pipeline.stages.open().order_by("position", "pk"))
    learned_by_stage = recent_learned_probabilities([pipeline.pk], now=timezone.now())
    funnel = stage_funnel(deals, stages=stages)
    min_sample = settings.LEARNED_PROBABILITY_MIN_SAMPLE

    table = Table(
        "funnel",
        f"Funnel of {pipeline.name}",
        [
            Column("Stage"),
            Column("Reached", COUNT),
            Column("Conversion to next stage", PERCENT),
            Column("Conversion to won", PERCENT),
            Column("Avg days in stage", DAYS),
            Column("Configured probability", PERCENT),
            Column("Learned probability", PERCENT),
            Column("Sample (closed deals)", COUNT),
        ],
        chart=Chart(series=(1,)),
        note=FUNNEL_NOTE.format(months=settings.LEARNED_PROBABILITY_MONTHS, min_sample=min_sample),
    )
    following = [row.reached for row in funnel.stages[1:]] + [funnel.won]
    for row, next_reached in zip(funnel.stages, following, strict=True):
        stage = row.stage
        learned = learned_by_stage[stage.pk]
        table.add(
            stage.name,
            Link(row.reached, links.created(period, pipeline=pipeline.pk, reached=stage.pk)),
            ratio(next_reached, row.reached),
            ratio(funnel.won, row.reached),
            row.avg_days,
            stage.probability,
            learned.rate,
            learned.sample,
        )
    table.add(
        "Won",
        Link(funnel.won, links.created(period, pipeline=pipeline.pk, status="won")),
        *[None] * (len(table.columns) - 2),
    )
    context: dict = {"tables": [table], "pipeline": pipeline}
    if filters["pipeline"] is None and len(active) > 1:
        context["first_pipeline"] = FIRST_PIPELINE.format(pipeline=pipeline.name)
    return context
