from __future__ import annotations

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.urls import reverse

from deals.models import Deal
from deals.tests.factories import DealFactory
from pipeline_crm.tests.factories import UserFactory
from stages.models import (
    DEFAULT_LOST_STAGE_INVALID,
    LOST_STAGE_PROBABILITY,
    PROBABILITY_OUT_OF_RANGE,
    WON_STAGE_PROBABILITY,
    Pipeline,
    Stage,
    StageKind,
)
from stages.pipeline_templates import LOST, TEMPLATES, WON
from stages.services import PIPELINE_NEEDS_WON_AND_LOST
from stages.tests.factories import PipelineFactory, StageFactory, stage

pytestmark = pytest.mark.django_db

NAME_TAKEN = "A stage with this name already exists in this pipeline."
SIMPLE_STAGES = ["Lead", "Contacted", "Qualified", "Proposal made", "Won", "Lost"]


def _form_values(form: forms.BaseForm) -> dict[str, object]:
    data = {}
    for bound in form:
        value = bound.value()
        widget = bound.field.widget
        if isinstance(widget, forms.CheckboxInput):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(widget, forms.MultiWidget):
            parts = widget.decompress(value)
            names = [bound.html_name + suffix for suffix in widget.widgets_names]
            data |= {n: p for n, p in zip(names, parts, strict=True) if p is not None}
        elif value is not None:
            data[bound.html_name] = value
    return data


def change_form_data(response) -> dict[str, object]:
    """What an admin change page posts when submitted unchanged: the main form's values and,
    for every inline, its management form and existing rows (the empty extra rows left out)."""
    data = _form_values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= _form_values(formset.management_form)
        data[f"{formset.prefix}-TOTAL_FORMS"] = formset.initial_form_count()
        for form in formset.initial_forms:
            data |= _form_values(form)
    return data


def row(response, name: str) -> str:
    """The form prefix of the stage row called `name` on a pipeline change page."""
    (inline,) = response.context["inline_admin_formsets"]
    return next(f.prefix for f in inline.formset.initial_forms if f.instance.name == name)


def add_row(data: dict[str, object], prefix: str, **values: object) -> None:
    index = data[f"{prefix}-TOTAL_FORMS"]
    data[f"{prefix}-TOTAL_FORMS"] = index + 1
    data |= {f"{prefix}-{index}-{name}": value for name, value in values.items()}


def change_url(pipeline: Pipeline) -> str:
    return reverse("admin:stages_pipeline_change", args=[pipeline.pk])


def stages_of(pipeline: Pipeline) -> list[tuple[str, int, str]]:
    return [(s.name, s.probability, s.kind) for s in pipeline.stages.order_by("position", "pk")]


@pytest.fixture
def edit(client, admin_user, pipeline):
    """The pipeline's change page as (response, POST data of the unchanged form)."""
    client.force_login(admin_user)
    response = client.get(change_url(pipeline))
    assert response.status_code == 200
    return response, change_form_data(response)


# The stage inline


def test_the_change_page_lists_the_stages_with_their_deal_counts(client, edit, pipeline):
    DealFactory(pipeline=pipeline, stage=stage(pipeline, "Qualified"))
    response = client.get(change_url(pipeline))

    (inline,) = response.context["inline_admin_formsets"]
    counts = {f.instance.name: f.instance.num_deals for f in inline.formset.initial_forms}
    assert counts == dict.fromkeys(SIMPLE_STAGES, 0) | {"Qualified": 1}
    assert "sortable" in inline.classes


def test_the_default_lost_stage_offers_only_lost_stages_of_the_pipeline(edit, pipeline):
    PipelineFactory(name="Renewals")
    StageFactory(pipeline=pipeline, name="No budget", kind=StageKind.LOST, probability=0)
    response, _ = edit

    offered = response.context["adminform"].form.fields["default_lost_stage"].queryset
    assert sorted(s.name for s in offered) == ["Lost", "No budget"]
    assert {s.pipeline_id for s in offered} == {pipeline.pk}


def test_the_admin_refuses_deleting_a_stage_that_holds_deals(client, edit, pipeline):
    qualified = stage(pipeline, "Qualified")
    DealFactory.create_batch(3, pipeline=pipeline, stage=qualified)
    response, data = edit
    data[f"{row(response, 'Qualified')}-DELETE"] = "on"

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert "Cannot delete stage “Qualified”: it holds 3 deals. Move them first." in (
        response.content.decode()
    )
    assert Stage.objects.filter(pk=qualified.pk).exists()
    assert Deal.objects.filter(stage=qualified).count() == 3


def test_the_admin_refuses_deleting_a_stage_that_deal_history_refers_to(client, edit, pipeline):
    lead = stage(pipeline, "Lead")
    deal = DealFactory(pipeline=pipeline, stage=lead)
    Deal.objects.filter(pk=deal.pk).update(stage=stage(pipeline, "Contacted"))
    response, data = edit
    data[f"{row(response, 'Lead')}-DELETE"] = "on"

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert "Cannot delete stage “Lead”: 1 stage change in deal history refer to it." in (
        response.content.decode()
    )
    assert Stage.objects.filter(pk=lead.pk).exists()


def test_a_stage_without_deals_or_history_can_be_deleted(client, admin_user, pipeline):
    StageFactory(pipeline=pipeline, name="Nurture", probability=5)
    client.force_login(admin_user)
    response = client.get(change_url(pipeline))
    data = change_form_data(response)
    data[f"{row(response, 'Nurture')}-DELETE"] = "on"

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 302
    assert [name for name, _, _ in stages_of(pipeline)] == SIMPLE_STAGES


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("Qualified", {"probability": 101}, PROBABILITY_OUT_OF_RANGE),
        ("Won", {"probability": 50}, WON_STAGE_PROBABILITY),
        ("Proposal made", {"kind": StageKind.WON}, WON_STAGE_PROBABILITY),
        ("Lead", {"kind": StageKind.LOST}, LOST_STAGE_PROBABILITY),
        ("Contacted", {"name": "lead"}, NAME_TAKEN),
    ],
    ids=["probability-101", "won-at-50", "kind-won-at-60", "kind-lost-at-10", "duplicate"],
)
def test_an_inconsistent_stage_is_refused_with_its_message(
    client, edit, pipeline, name, changes, message
):
    before = stages_of(pipeline)
    response, data = edit
    prefix = row(response, name)
    data |= {f"{prefix}-{field}": value for field, value in changes.items()}

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.is_bound
    assert message in response.content.decode()
    assert stages_of(pipeline) == before


def test_two_new_stages_with_the_same_name_are_refused(client, edit, pipeline):
    response, data = edit
    prefix = response.context["inline_admin_formsets"][0].formset.prefix
    add_row(data, prefix, name="Demo", probability=30, kind=StageKind.OPEN)
    add_row(data, prefix, name="DEMO", probability=35, kind=StageKind.OPEN)

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert NAME_TAKEN in response.content.decode()
    assert pipeline.stages.count() == 6


def test_a_pipeline_left_without_a_lost_stage_is_refused(client, edit, pipeline):
    response, data = edit
    data[f"{row(response, 'Lost')}-kind"] = StageKind.OPEN

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    content = response.content.decode()
    assert PIPELINE_NEEDS_WON_AND_LOST in content
    assert DEFAULT_LOST_STAGE_INVALID in content
    assert stage(pipeline, "Lost").kind == StageKind.LOST


def test_deleting_the_only_won_stage_is_refused(client, edit, pipeline):
    response, data = edit
    data[f"{row(response, 'Won')}-DELETE"] = "on"

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert PIPELINE_NEEDS_WON_AND_LOST in response.content.decode()
    assert pipeline.stages.filter(name="Won").exists()


def test_the_kind_of_a_stage_holding_deals_cannot_change(client, edit, pipeline):
    DealFactory(pipeline=pipeline, stage=stage(pipeline, "Proposal made"))
    response, data = edit
    prefix = row(response, "Proposal made")
    data |= {f"{prefix}-kind": StageKind.WON, f"{prefix}-probability": 100}

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 200
    assert (
        "Cannot change the kind of stage “Proposal made”: it holds 1 deal. Move them first."
        in response.content.decode()
    )
    assert stage(pipeline, "Proposal made").kind == StageKind.OPEN


def test_reordering_stages_through_the_inline_positions_persists(client, edit, pipeline):
    response, data = edit
    new_order = ["Qualified", "Lead", "Contacted", "Proposal made", "Lost", "Won"]
    for position, name in enumerate(new_order, start=1):
        data[f"{row(response, name)}-position"] = position

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 302
    assert [name for name, _, _ in stages_of(pipeline)] == new_order


def test_adding_a_stage_through_the_inline_puts_it_last(client, edit, pipeline):
    response, data = edit
    prefix = response.context["inline_admin_formsets"][0].formset.prefix
    add_row(data, prefix, name="Negotiation", probability=80, kind=StageKind.OPEN)

    response = client.post(change_url(pipeline), data)

    assert response.status_code == 302
    assert stages_of(pipeline)[-1] == ("Negotiation", 80, StageKind.OPEN)


def test_a_pipeline_added_with_its_stages_gets_a_default_lost_stage(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:stages_pipeline_add"))
    data = change_form_data(response) | {"name": "Partners"}
    prefix = response.context["inline_admin_formsets"][0].formset.prefix
    add_row(data, prefix, name="Intro", probability=20, kind=StageKind.OPEN)
    add_row(data, prefix, name="Signed", probability=100, kind=StageKind.WON)
    add_row(data, prefix, name="Dropped", probability=0, kind=StageKind.LOST)

    response = client.post(reverse("admin:stages_pipeline_add"), data)

    assert response.status_code == 302
    pipeline = Pipeline.objects.get(name="Partners")
    assert stages_of(pipeline) == [
        ("Intro", 20, StageKind.OPEN),
        ("Signed", 100, StageKind.WON),
        ("Dropped", 0, StageKind.LOST),
    ]
    assert pipeline.default_lost_stage == stage(pipeline, "Dropped")


def test_a_pipeline_added_without_stages_is_refused(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:stages_pipeline_add"))
    data = change_form_data(response) | {"name": "Partners"}

    response = client.post(reverse("admin:stages_pipeline_add"), data)

    assert response.status_code == 200
    assert PIPELINE_NEEDS_WON_AND_LOST in response.content.decode()
    assert not Pipeline.objects.filter(name="Partners").exists()


# Deleting a pipeline


def test_deleting_a_pipeline_with_deals_shows_what_protects_it(client, admin_user, pipeline):
    DealFactory(title="Acme rollout", pipeline=pipeline)
    client.force_login(admin_user)
    url = reverse("admin:stages_pipeline_delete", args=[pipeline.pk])

    response = client.post(url, {"post": "yes"})

    assert response.status_code == 200
    assert "Cannot delete pipeline" in response.content.decode()
    assert "Acme rollout" in response.content.decode()
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_a_pipeline_without_deals_can_be_deleted(client, admin_user, pipeline):
    client.force_login(admin_user)
    url = reverse("admin:stages_pipeline_delete", args=[pipeline.pk])

    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Pipeline.objects.exists()
    assert not Stage.objects.exists()


# New pipeline from template

FROM_TEMPLATE_URL = "admin:stages_pipeline_from_template"


def test_the_changelist_links_to_new_pipeline_from_template(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:stages_pipeline_changelist"))
    assert f'href="{reverse(FROM_TEMPLATE_URL)}"' in response.content.decode()


def test_the_template_form_shows_each_template_with_its_stages(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse(FROM_TEMPLATE_URL))

    assert response.status_code == 200
    content = response.content.decode()
    assert "csrfmiddlewaretoken" in content
    assert '<a href="/admin/stages/pipeline/">Pipelines</a>' in content
    assert "Simple: Lead 10 % → Contacted 20 % → Qualified 40 % → Proposal made 60 %" in content
    assert "Negotiation and commitment 70 % → Opportunity won (won)" in content
    for template in TEMPLATES:
        assert f'value="{template.key}"' in content


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_new_pipeline_from_template_has_exactly_the_template_stages(client, admin_user, template):
    client.force_login(admin_user)

    response = client.post(reverse(FROM_TEMPLATE_URL), {"template": template.key, "name": ""})

    pipeline = Pipeline.objects.get()
    assert response.status_code == 302
    assert response.url == change_url(pipeline)
    assert pipeline.name == template.label
    assert stages_of(pipeline) == [
        (name, {WON: 100, LOST: 0}.get(spec, spec), spec if spec in (WON, LOST) else "open")
        for name, spec in template.stages
    ]
    assert pipeline.default_lost_stage.kind == StageKind.LOST
    assert pipeline.default_lost_stage.pipeline == pipeline
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"The pipeline “{template.label}” was created."
    ]


def test_new_pipeline_from_template_takes_the_given_name(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse(FROM_TEMPLATE_URL), {"template": "startup", "name": " Self-serve "})
    assert Pipeline.objects.get().name == "Self-serve"


def test_new_pipeline_from_template_with_a_taken_name_shows_a_form_error(
    client, admin_user, pipeline
):
    client.force_login(admin_user)

    response = client.post(reverse(FROM_TEMPLATE_URL), {"template": "simple", "name": "sales"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["A pipeline named “sales” already exists."]}
    assert "A pipeline named “sales” already exists." in response.content.decode()
    assert Pipeline.objects.count() == 1


def test_new_pipeline_from_an_unknown_template_is_refused(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(FROM_TEMPLATE_URL), {"template": "crm9000"})
    assert response.status_code == 200
    assert "template" in response.context["form"].errors
    assert not Pipeline.objects.exists()


def test_new_pipeline_from_template_is_for_staff_only(client, rep):
    client.force_login(rep)
    response = client.post(reverse(FROM_TEMPLATE_URL), {"template": "simple"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert not Pipeline.objects.exists()


def test_new_pipeline_from_template_needs_the_add_permission(client):
    clerk = UserFactory(username="staffer", is_staff=True)
    client.force_login(clerk)
    response = client.post(reverse(FROM_TEMPLATE_URL), {"template": "simple"})
    assert response.status_code == 403
    assert not Pipeline.objects.exists()


# Query counts


def test_the_pipeline_changelist_counts_stages_and_open_deals(client, admin_user, pipeline):
    DealFactory.create_batch(2, pipeline=pipeline)
    DealFactory(pipeline=pipeline, stage=stage(pipeline, "Won"))
    client.force_login(admin_user)

    response = client.get(reverse("admin:stages_pipeline_changelist"))

    (row_,) = response.context["cl"].result_list
    assert (row_.num_stages, row_.num_open_deals) == (6, 2)


@pytest.mark.parametrize("pipelines", [3, 30])
def test_the_pipeline_changelist_query_count_is_constant(
    client, admin_user, django_assert_max_num_queries, pipelines
):
    for pipeline in PipelineFactory.create_batch(pipelines):
        DealFactory(pipeline=pipeline)
    client.force_login(admin_user)
    # session, user, filtered count, total count, pipelines with their counts
    with django_assert_max_num_queries(5):
        response = client.get(reverse("admin:stages_pipeline_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == pipelines


@pytest.mark.parametrize("template", ["simple", "sales-cycle-8"])
def test_the_pipeline_change_page_query_count_does_not_grow_with_stages(
    client, admin_user, django_assert_max_num_queries, template
):
    pipeline = PipelineFactory(template=template)
    client.force_login(admin_user)
    # session, user, pipeline, its lost stages (for the default lost stage), its stages with
    # their deal counts (the inline), the content type (the history link) when not cached
    with django_assert_max_num_queries(6):
        response = client.get(change_url(pipeline))
    assert response.status_code == 200


# Audit


def test_probability_changes_are_recorded_with_who_and_when(client, edit, pipeline, admin_user):
    response, data = edit
    data[f"{row(response, 'Qualified')}-probability"] = 45

    assert client.post(change_url(pipeline), data).status_code == 302

    latest = pipeline.stages.get(name="Qualified").history.latest()
    assert (latest.probability, latest.history_user, latest.history_type) == (45, admin_user, "~")
    history = client.get(reverse("admin:stages_historicalstage_changelist"))
    assert history.status_code == 200
    assert "Qualified" in history.content.decode()
    pipeline_history = client.get(reverse("admin:stages_pipeline_history", args=[pipeline.pk]))
    assert pipeline_history.status_code == 200
