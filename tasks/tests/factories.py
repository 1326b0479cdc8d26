from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from pipeline_crm.tests.factories import UserFactory
from tasks.models import Task


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    assignee = factory.SubFactory(UserFactory)
    created_by = factory.SelfAttribute("assignee")
