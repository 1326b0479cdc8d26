from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from deals.services import move_deal
from deals.tests.factories import DealFactory
from stages.models import Pipeline, StageKind
from stages.pipeline_templates import LOST, TEMPLATES, WON
from stages.services import (
    PIPELINE_NEEDS_WON_AND_LOST,
    check_stage_kinds,
    create_pipeline_from_template,
    stage_deletion_error,
)
from stages.tests.factories import StageFactory, stage

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_pipeline_from_template_has_the_template_stages_in_order(template):
    pipeline = create_pipeline_from_template(template.key)

    expected = [
        (name, {WON: 100, LOST: 0}.get(spec, spec), spec if spec in (WON, LOST) else "open")
        for name, spec in template.stages
    ]
    stages = pipeline.stages.order_by("position")
    assert [(s.name, s.probability, s.kind) for s in stages] == expected
    assert pipeline.name == template.label
    assert pipeline.default_lost_stage.kind == StageKind.LOST
    assert pipeline.default_lost_stage.pipeline == pipeline


def test_the_six_domain_templates_are_offered():
    assert [t.label for t in TEMPLATES] == [
        "Simple",
        "Classic 7 + churn",
        "Sales cycle in 8 phases",
        "Real estate",
        "Financial services",
        "Startup",
    ]


def test_template_pipeline_takes_the_given_name():
    assert create_pipeline_from_template("startup", name="Self-serve").name == "Self-serve"


def test_template_pipeline_refuses_a_taken_name(pipeline):
    with pytest.raises(ValidationError, match="A pipeline named “sales” already exists."):
        create_pipeline_from_template("simple", name="sales")
    assert Pipeline.objects.count() == 1


def test_unknown_template_is_refused():
    with pytest.raises(ValidationError, match="Unknown pipeline template “crm9000”."):
        create_pipeline_from_template("crm9000")


@pytest.mark.parametrize(
    "kinds",
    [["open", "won"], ["open", "lost"], ["open"], []],
    ids=["no lost", "no won", "open only", "empty"],
)
def test_a_pipeline_without_a_won_and_a_lost_stage_is_refused(kinds):
    with pytest.raises(ValidationError, match=PIPELINE_NEEDS_WON_AND_LOST):
        check_stage_kinds(kinds)


def test_a_pipeline_with_won_and_lost_stages_is_accepted():
    check_stage_kinds(["open", "won", "lost"])


def test_a_stage_holding_deals_may_not_be_deleted(pipeline, rep):
    lead = stage(pipeline, "Lead")
    DealFactory.create_batch(3, pipeline=pipeline, owner=rep)

    assert stage_deletion_error(lead) == (
        "Cannot delete stage “Lead”: it holds 3 deals. Move them first."
    )


def test_a_stage_in_deal_history_may_not_be_deleted(pipeline, rep):
    deal = DealFactory(pipeline=pipeline, owner=rep)
    move_deal(deal, stage(pipeline, "Qualified"), by=rep)

    assert stage_deletion_error(stage(pipeline, "Lead")) == (
        "Cannot delete stage “Lead”: 2 stage changes in deal history refer to it."
    )


def test_an_unused_stage_may_be_deleted(pipeline):
    assert stage_deletion_error(StageFactory(pipeline=pipeline)) is None
