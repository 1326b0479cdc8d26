"""The fixed cast of every test: two teams, their reps and managers, an outsider, an admin."""

from __future__ import annotations

import pytest

from pipeline_crm.models import Role
from pipeline_crm.tests.factories import TeamFactory, UserFactory
from stages.tests.factories import PipelineFactory


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Team A")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Team B")


@pytest.fixture
def rep(team_a):
    return UserFactory(username="alice", first_name="Alice", last_name="Archer", team=team_a)


@pytest.fixture
def other_rep(team_a):
    return UserFactory(username="bob", first_name="Bob", last_name="Baker", team=team_a)


@pytest.fixture
def outsider(team_b):
    return UserFactory(username="carol", first_name="Carol", last_name="Clark", team=team_b)


@pytest.fixture
def manager(team_b):
    user = UserFactory(username="dave", first_name="Dave", last_name="Dunn", role=Role.MANAGER)
    team_b.manager = user
    team_b.save(update_fields=["manager"])
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="erin", first_name="Erin", last_name="Evans", role=Role.ADMIN)


@pytest.fixture
def pipeline(db):
    """Simple template: Lead 10, Contacted 20, Qualified 40, Proposal made 60, Won, Lost."""
    return PipelineFactory(name="Sales")
