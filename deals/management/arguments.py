"""Reading the command-line arguments the deals commands share."""

from __future__ import annotations

from django.core.management.base import CommandError

from stages.models import Pipeline

NO_SUCH_PIPELINE = "No pipeline is called “{name}”. Pipelines: {names}."


def pipeline_named(name: str) -> Pipeline:
    """The pipeline called `name` (case and surrounding spaces ignored), or a CommandError
    that lists the pipelines there are."""
    pipeline = Pipeline.objects.filter(name__iexact=name.strip()).first()
    if pipeline is None:
        names = ", ".join(Pipeline.objects.values_list("name", flat=True)) or "none"
        raise CommandError(NO_SUCH_PIPELINE.format(name=name, names=names))
    return pipeline
