from __future__ import annotations

import factory

from stages.models import Pipeline, Stage, StageKind
from stages.services import create_pipeline_from_template


class PipelineFactory(factory.django.DjangoModelFactory):
    """A pipeline with the stages of a template (default: Simple)."""

    class Meta:
        model = Pipeline

    name = factory.Sequence(lambda n: f"Pipeline {n}")
    template = "simple"

    @classmethod
    def _create(cls, model_class, *args, template: str, name: str, **kwargs):
        pipeline = create_pipeline_from_template(template, name=name)
        if kwargs:
            Pipeline.objects.filter(pk=pipeline.pk).update(**kwargs)
            pipeline.refresh_from_db()
        return pipeline


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    position = factory.Sequence(lambda n: 100 + n)
    probability = 50
    kind = StageKind.OPEN


def stage(pipeline: Pipeline, name: str) -> Stage:
    """The stage called `name` in `pipeline`."""
    return pipeline.stages.get(name=name)
