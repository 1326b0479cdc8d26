"""Learned probabilities in the pipeline admin: shown beside the configured ones, and
applied by the changelist action."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from pipeline_crm.tests.factories import UserFactory
from reports.tests.factories import at, deal_with_history
from stages.tests.factories import PipelineFactory, stage

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:stages_pipeline_changelist")


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.LEARNED_PROBABILITY_MIN_SAMPLE = 2
    with time_machine.travel(at("2026-04-15"), tick=False):
        yield


def closed_deals(pipeline, owner, path: list[str], *, won: int, lost: int) -> None:
    steps = [(name, f"2026-02-{day + 1:02d}") for day, name in enumerate(path)]
    for _ in range(won):
        deal_with_history(pipeline, owner, [*steps, ("Won", "2026-03-01")])
    for _ in range(lost):
        deal_with_history(pipeline, owner, [*steps, ("Lost", "2026-03-01")])


@pytest.fixture
def history(pipeline, rep):
    """Lead and Contacted: 3 won of 4 (75 %); Qualified: 2 won of 5 (40 %, as configured);
    Proposal made: nobody."""
    closed_deals(pipeline, rep, ["Lead", "Contacted"], won=3, lost=1)
    closed_deals(pipeline, rep, ["Qualified"], won=2, lost=3)


def readonly_cells(response, field: str) -> list[str]:
    """The read-only `field` of each stage row (not the blank row copied to add a stage)."""
    html = response.content.decode()
    html = html[: html.index('id="stages-empty"')]
    return re.findall(rf'<td class="field-{field}">\s*<p>(.*?)</p>\s*</td>', html)


def run_action(client, *pipelines):
    return client.post(
        CHANGELIST,
        {
            "action": "apply_learned",
            "index": 0,
            "_selected_action": [p.pk for p in pipelines],
        },
        follow=True,
    )


def offered_actions(response) -> set[str]:
    form = response.context["action_form"]
    return {name for name, _ in form.fields["action"].choices} if form else set()


def staff(*codenames: str):
    user = UserFactory(username="clerk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


# The stage inline


def test_the_stage_inline_shows_the_learned_probability_and_its_sample(
    client, admin_user, pipeline, history
):
    client.force_login(admin_user)

    response = client.get(reverse("admin:stages_pipeline_change", args=[pipeline.pk]))

    # Lead, Contacted, Qualified, Proposal made, Won, Lost
    assert readonly_cells(response, "learned_probability") == [
        "75.0 %",
        "75.0 %",
        "40.0 %",
        "–",
        "–",
        "–",
    ]
    assert readonly_cells(response, "learned_sample") == ["4", "4", "5", "0 (too few)", "–", "–"]


# The action


def test_the_action_applies_usable_rates_and_reports_each_pipeline(
    client, admin_user, pipeline, history
):
    renewals = PipelineFactory(name="Renewals", template="financial-services", position=1)
    client.force_login(admin_user)

    response = run_action(client, pipeline, renewals)

    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Sales: applied the learned probability to Lead (10 → 75 %), Contacted (20 → 75 %).",
        "Sales: already at the learned probability: Qualified.",
        "Sales: skipped, fewer than 2 deals closed in the last 12 months entered the stage: "
        "Proposal made (0).",
        "Renewals: skipped, fewer than 2 deals closed in the last 12 months entered the "
        "stage: First meeting (0), Proposal submitted (0), Fee negotiation (0).",
    ]
    assert dict(pipeline.stages.values_list("name", "probability")) == {
        "Lead": 75,
        "Contacted": 75,
        "Qualified": 40,
        "Proposal made": 60,
        "Won": 100,
        "Lost": 0,
    }
    latest = stage(pipeline, "Lead").history.latest()
    assert (latest.probability, latest.history_user) == (75, admin_user)


def test_the_action_needs_the_change_permission_on_stages(client, pipeline, history):
    client.force_login(staff("view_pipeline", "change_pipeline"))

    listed = client.get(CHANGELIST)
    response = run_action(client, pipeline)

    assert "apply_learned" not in offered_actions(listed)
    assert response.status_code == 200
    assert stage(pipeline, "Lead").probability == 10


def test_the_action_is_offered_with_change_permission_on_pipelines_and_stages(
    client, pipeline, history
):
    client.force_login(staff("view_pipeline", "change_pipeline", "change_stage"))

    listed = client.get(CHANGELIST)
    run_action(client, pipeline)

    assert "apply_learned" in offered_actions(listed)
    assert stage(pipeline, "Lead").probability == 75


def test_a_view_only_user_cannot_apply(client, pipeline, history):
    client.force_login(staff("view_pipeline", "view_stage", "change_stage"))
    run_action(client, pipeline)
    assert stage(pipeline, "Lead").probability == 10
