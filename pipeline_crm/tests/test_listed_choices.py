"""ListedModelChoiceField: a menu of records that checks the choice and renders from one read."""

from __future__ import annotations

import pytest
from django import forms

from pipeline_crm.forms import ListedModelChoiceField
from pipeline_crm.models import Team
from pipeline_crm.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


class TeamForm(forms.Form):
    team = ListedModelChoiceField(Team.objects.order_by("name"), empty_label="All teams")


@pytest.fixture
def teams():
    return [TeamFactory(name="North"), TeamFactory(name="South")]


def test_a_choice_is_checked_and_the_menu_shown_with_one_query(teams, django_assert_num_queries):
    with django_assert_num_queries(1):
        form = TeamForm({"team": str(teams[1].pk)})
        assert form.is_valid()
        html = str(form["team"])

    assert form.cleaned_data["team"] == teams[1]
    assert f'<option value="{teams[1].pk}" selected>South</option>' in html
    assert html.index("All teams") < html.index("North") < html.index("South")


@pytest.mark.parametrize("value", ["999999", "abc", "1.5", " "])
def test_a_choice_not_in_the_menu_is_refused_as_django_refuses_it(teams, value):
    form = TeamForm({"team": value})

    assert not form.is_valid()
    assert form.errors["team"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]


def test_each_form_reads_the_menu_afresh(teams):
    assert TeamForm({"team": str(teams[0].pk)}).is_valid()
    TeamFactory(name="West")

    assert len(TeamForm(None).fields["team"].choices) == 4  # the empty label and three teams
