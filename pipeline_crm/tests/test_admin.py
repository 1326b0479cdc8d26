from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline_crm.models import Role, User
from pipeline_crm.tests.factories import TeamFactory, UserFactory
from stages.tests.test_admin import change_form_data

pytestmark = pytest.mark.django_db

ADMIN_NEEDS_STAFF = "Admins must have staff status."


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_rep_is_redirected_away_from_the_admin(client, rep):
    client.force_login(rep)

    response = client.get(reverse("admin:stages_pipeline_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_adding_a_user_sets_role_and_team(admin_client, team_a):
    response = admin_client.get(reverse("admin:pipeline_crm_user_add"))
    data = change_form_data(response) | {
        "username": "frank",
        "password1": "a-long-pass-phrase-9",
        "password2": "a-long-pass-phrase-9",
        "role": Role.MANAGER,
        "team": team_a.pk,
    }

    response = admin_client.post(reverse("admin:pipeline_crm_user_add"), data)

    assert response.status_code == 302
    user = User.objects.get(username="frank")
    assert (user.role, user.team, user.is_staff) == (Role.MANAGER, team_a, False)


def test_adding_an_admin_without_staff_status_shows_the_constraint_message(admin_client):
    response = admin_client.get(reverse("admin:pipeline_crm_user_add"))
    data = change_form_data(response) | {
        "username": "frank",
        "password1": "a-long-pass-phrase-9",
        "password2": "a-long-pass-phrase-9",
        "role": Role.ADMIN,
    }

    response = admin_client.post(reverse("admin:pipeline_crm_user_add"), data)

    assert response.status_code == 200
    assert ADMIN_NEEDS_STAFF in response.content.decode()
    assert not User.objects.filter(username="frank").exists()


def test_taking_staff_status_from_an_admin_shows_the_constraint_message(admin_client):
    other = UserFactory(username="gina", role=Role.ADMIN)
    url = reverse("admin:pipeline_crm_user_change", args=[other.pk])
    data = change_form_data(admin_client.get(url))
    del data["is_staff"]

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert ADMIN_NEEDS_STAFF in response.content.decode()
    other.refresh_from_db()
    assert other.is_staff


def test_the_team_page_lists_its_members_read_only(admin_client, rep, other_rep, team_a):
    response = admin_client.get(reverse("admin:pipeline_crm_team_change", args=[team_a.pk]))

    content = response.content.decode()
    assert "members" not in response.context["adminform"].form.fields
    for member in (rep, other_rep):
        url = reverse("admin:pipeline_crm_user_change", args=[member.pk])
        assert f'<a href="{url}">{member}</a>' in content


def test_the_team_changelist_counts_members(admin_client, rep, other_rep, outsider, manager):
    response = admin_client.get(reverse("admin:pipeline_crm_team_changelist"))

    counts = {team.name: team.num_members for team in response.context["cl"].result_list}
    assert counts == {"Team A": 2, "Team B": 1}


@pytest.mark.parametrize("rows", [3, 30])
def test_the_user_changelist_query_count_is_constant(
    admin_client, django_assert_max_num_queries, rows
):
    for team in TeamFactory.create_batch(rows):
        UserFactory(team=team)
    # session, user, 2 counts, users with team, choices of the team and groups filters
    with django_assert_max_num_queries(7):
        response = admin_client.get(reverse("admin:pipeline_crm_user_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows + 1


@pytest.mark.parametrize("rows", [3, 30])
def test_the_team_changelist_query_count_is_constant(
    admin_client, django_assert_max_num_queries, rows
):
    for team in TeamFactory.create_batch(rows):
        UserFactory.create_batch(2, team=team)
        team.manager = UserFactory(role=Role.MANAGER)
        team.save(update_fields=["manager"])
    # session, user, 2 counts, teams with manager and member count
    with django_assert_max_num_queries(5):
        response = admin_client.get(reverse("admin:pipeline_crm_team_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows
