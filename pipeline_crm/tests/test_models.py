from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pipeline_crm.models import Role, User
from pipeline_crm.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_admin_must_be_staff():
    user = User(username="root", role=Role.ADMIN, is_staff=False)
    user.set_unusable_password()
    with pytest.raises(ValidationError, match="Admins must have staff status."):
        user.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()


def test_createsuperuser_makes_an_admin():
    user = User.objects.create_superuser("root", "root@example.com", "x-Very-long-pass-1")
    assert (user.role, user.is_staff, user.is_crm_admin) == (Role.ADMIN, True, True)


def test_a_manager_leads_teams_and_reps_belong_to_one(rep, other_rep, manager, team_a, team_b):
    assert list(team_a.members.order_by("username")) == [rep, other_rep]
    assert list(manager.managed_teams.all()) == [team_b]
    assert manager.is_manager and not rep.is_manager


def test_initials_come_from_the_full_name_or_the_username():
    assert UserFactory.build(first_name="Ana", last_name="Lima").initials == "AL"
    assert UserFactory.build(username="zed", first_name="", last_name="").initials == "ZE"
