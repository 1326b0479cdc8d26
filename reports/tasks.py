"""Celery tasks of the reports: thin adapters around reports/selectors."""

from __future__ import annotations

from celery import shared_task


@shared_task
def refresh_learned_probabilities_task() -> int:
    """Every half hour (beat): count the learned stage probabilities of the active pipelines
    again, so that the funnel and the forecast find them in the cache. Returns how many
    pipelines were counted."""
    from django.utils import timezone

    from reports.selectors.learned import store_learned_probabilities
    from stages.models import Pipeline

    pipeline_ids = list(Pipeline.objects.active().values_list("pk", flat=True))
    store_learned_probabilities(pipeline_ids, now=timezone.now())
    return len(pipeline_ids)
