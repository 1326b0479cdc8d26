from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from stages.models import (
    DEFAULT_LOST_STAGE_INVALID,
    LOST_STAGE_PROBABILITY,
    PROBABILITY_OUT_OF_RANGE,
    WON_STAGE_PROBABILITY,
    Stage,
    StageKind,
)
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db


def messages(exc: ValidationError) -> list[str]:
    return [message for messages in exc.message_dict.values() for message in messages]


def test_probability_above_100_is_refused_with_a_clear_message(pipeline):
    candidate = Stage(pipeline=pipeline, name="Hot", probability=101, position=9)
    with pytest.raises(ValidationError) as exc:
        candidate.full_clean()
    assert messages(exc.value) == [PROBABILITY_OUT_OF_RANGE]


def test_probability_above_100_is_refused_by_the_database(pipeline):
    with pytest.raises(IntegrityError), transaction.atomic():
        Stage.objects.create(pipeline=pipeline, name="Hot", probability=101, position=9)


def test_won_stage_at_50_percent_is_refused(pipeline):
    candidate = Stage(
        pipeline=pipeline, name="Signed", probability=50, kind=StageKind.WON, position=9
    )
    with pytest.raises(ValidationError) as exc:
        candidate.full_clean()
    assert messages(exc.value) == [WON_STAGE_PROBABILITY]
    with pytest.raises(IntegrityError), transaction.atomic():
        candidate.save()


def test_lost_stage_above_0_percent_is_refused(pipeline):
    candidate = Stage(
        pipeline=pipeline, name="Gone", probability=5, kind=StageKind.LOST, position=9
    )
    with pytest.raises(ValidationError) as exc:
        candidate.full_clean()
    assert messages(exc.value) == [LOST_STAGE_PROBABILITY]
    with pytest.raises(IntegrityError), transaction.atomic():
        candidate.save()


def test_stage_names_are_unique_within_a_pipeline_ignoring_case(pipeline):
    candidate = Stage(pipeline=pipeline, name="qualified", probability=30, position=9)
    with pytest.raises(ValidationError) as exc:
        candidate.full_clean()
    assert messages(exc.value) == ["A stage with this name already exists in this pipeline."]


def test_the_same_stage_name_may_exist_in_two_pipelines(pipeline):
    other = PipelineFactory(name="Renewals")
    assert stage(pipeline, "Qualified").name == stage(other, "Qualified").name


def test_default_lost_stage_must_be_a_lost_stage_of_the_same_pipeline(pipeline):
    pipeline.default_lost_stage = stage(pipeline, "Won")
    with pytest.raises(ValidationError) as exc:
        pipeline.full_clean()
    assert exc.value.message_dict == {"default_lost_stage": [DEFAULT_LOST_STAGE_INVALID]}

    pipeline.default_lost_stage = stage(PipelineFactory(name="Other"), "Lost")
    with pytest.raises(ValidationError):
        pipeline.full_clean()

    pipeline.default_lost_stage = stage(pipeline, "Lost")
    pipeline.full_clean()
