from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from simple_history.utils import bulk_create_with_history

from stages.models import Pipeline, Stage, StageKind
from stages.pipeline_templates import LOST, TEMPLATES_BY_KEY, WON

PIPELINE_NEEDS_WON_AND_LOST = "A pipeline needs at least one won stage and one lost stage."
PIPELINE_NAME_TAKEN = "A pipeline named “{name}” already exists."
UNKNOWN_TEMPLATE = "Unknown pipeline template “{key}”."
STAGE_HOLDS_DEALS = "Cannot delete stage “{stage}”: it holds {count} deal{plural}. Move them first."
STAGE_KIND_HOLDS_DEALS = (
    "Cannot change the kind of stage “{stage}”: it holds {count} deal{plural}. Move them first."
)
STAGE_HAS_HISTORY = (
    "Cannot delete stage “{stage}”: {count} stage change{plural} in deal history refer to it."
)


def check_stage_kinds(kinds: Iterable[str]) -> None:
    """Raise ValidationError unless the kinds include a won and a lost stage."""
    kinds = set(kinds)
    if StageKind.WON not in kinds or StageKind.LOST not in kinds:
        raise ValidationError(PIPELINE_NEEDS_WON_AND_LOST, code="missing_closed_stage")


def stage_deletion_error(stage: Stage) -> str | None:
    """The reason `stage` may not be deleted, or None when it may."""
    from deals.models import Deal, StageChange

    count = Deal.objects.filter(stage=stage).count()
    if count:
        return STAGE_HOLDS_DEALS.format(
            stage=stage.name, count=count, plural="" if count == 1 else "s"
        )
    history = StageChange.objects.filter(Q(to_stage=stage) | Q(from_stage=stage)).count()
    if history:
        return STAGE_HAS_HISTORY.format(
            stage=stage.name, count=history, plural="" if history == 1 else "s"
        )
    return None


def stage_kind_change_error(stage: Stage, kind: str, *, held: int | None = None) -> str | None:
    """The reason `stage` may not become `kind`, or None when it may.

    Deals mirror their stage's kind in `status`, so a stage holding deals keeps its kind.
    Pass `held` when the deal count is already known (e.g. annotated).
    """
    if stage.pk is None or kind == stage.kind:
        return None
    if held is None:
        held = stage.deals.count()
    if not held:
        return None
    return STAGE_KIND_HOLDS_DEALS.format(
        stage=stage.name, count=held, plural="" if held == 1 else "s"
    )


@transaction.atomic
def create_pipeline_from_template(key: str, *, name: str = "", position: int = 0) -> Pipeline:
    """Create a pipeline with the stages of template `key`; its first lost stage becomes
    the default lost stage."""
    template = TEMPLATES_BY_KEY.get(key)
    if template is None:
        raise ValidationError(UNKNOWN_TEMPLATE.format(key=key), code="unknown_template")
    name = name.strip() or template.label
    if Pipeline.objects.filter(name__iexact=name).exists():
        raise ValidationError(PIPELINE_NAME_TAKEN.format(name=name), code="name_taken")
    pipeline = Pipeline.objects.create(name=name, position=position)
    stages = []
    for index, (stage_name, spec) in enumerate(template.stages):
        if spec == WON:
            kind, probability = StageKind.WON, 100
        elif spec == LOST:
            kind, probability = StageKind.LOST, 0
        else:
            kind, probability = StageKind.OPEN, int(spec)
        stages.append(
            Stage(
                pipeline=pipeline,
                name=stage_name,
                position=index,
                probability=probability,
                kind=kind,
            )
        )
    bulk_create_with_history(stages, Stage)
    pipeline.default_lost_stage = (
        pipeline.stages.filter(kind=StageKind.LOST).order_by("position").first()
    )
    pipeline.save(update_fields=["default_lost_stage"])
    return pipeline
