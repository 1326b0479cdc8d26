from __future__ import annotations

import pytest
from django.urls import reverse

from deals.tests.factories import DealFactory
from stages.tests.test_admin import change_form_data
from tasks.models import Task, TaskStatus
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("rows", [3, 30])
def test_the_task_changelist_query_count_is_constant(
    admin_client, django_assert_max_num_queries, pipeline, rows
):
    for _ in range(rows):
        deal = DealFactory(pipeline=pipeline)
        TaskFactory(deal=deal, account=deal.account, assignee=deal.owner)
    # session, user, assignee filter choices, 2 counts, tasks with assignee/deal/account,
    # 2 for the date hierarchy
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:tasks_task_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows


def test_the_task_changelist_searches_titles_and_deals(admin_client, pipeline):
    TaskFactory(title="Send the proposal", deal=DealFactory(title="Acme", pipeline=pipeline))
    TaskFactory(title="Call back")

    response = admin_client.get(reverse("admin:tasks_task_changelist"), {"q": "acme"})

    assert [task.title for task in response.context["cl"].result_list] == ["Send the proposal"]


def test_a_done_task_without_a_completion_time_is_refused_with_the_constraint_message(
    admin_client, rep
):
    task = TaskFactory(title="Call back", assignee=rep)
    url = reverse("admin:tasks_task_change", args=[task.pk])
    data = change_form_data(admin_client.get(url)) | {"status": TaskStatus.DONE}

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert (
        "Done and dismissed tasks have a completion time; open tasks do not."
        in response.content.decode()
    )
    assert Task.objects.get().status == TaskStatus.OPEN
