"""The task list at /tasks/ and the row actions, with and without htmx: what each role
sees and may do, the "what's next?" prompt, the navigation's overdue count, query counts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from deals.tests.factories import AccountFactory, DealFactory
from pipeline_crm.tests.factories import UserFactory
from tasks.forms import PICK_A_DATE
from tasks.models import Task, TaskKind, TaskStatus
from tasks.tests.factories import TaskFactory
from tasks.views import (
    NEXT_TASK_ADDED,
    NO_SUCH_PERSON,
    TASK_COMPLETED,
    TASK_DISMISSED,
    TASKS_CHANGED,
)

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2025, 3, 12, 15, 0))  # a Wednesday
HTMX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("tasks:list")


def local(*args: int) -> datetime:
    return timezone.make_aware(datetime(*args))


def url(name: str, task: Task) -> str:
    return reverse(f"tasks:{name}", args=[task.pk])


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def group(html: str, key: str) -> str:
    return html.split(f'id="group-{key}"')[1].split("</section>")[0]


def row_titles(html: str) -> list[str]:
    return re.findall(r'class="task-title">([^<]+)<', html)


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(title="Fleet rollout", pipeline=pipeline, owner=rep)


@pytest.fixture
def task(deal, rep):
    return TaskFactory(
        deal=deal,
        account=deal.account,
        assignee=rep,
        title="Call back",
        due_at=local(2025, 3, 13, 10, 0),
    )


# The list


@time_machine.travel(NOW, tick=False)
def test_the_list_groups_the_users_open_tasks(client, rep, deal):
    account = AccountFactory(name="Initech", owner=rep)
    TaskFactory(deal=deal, assignee=rep, title="Send quote", due_at=local(2025, 3, 11, 9, 0))
    TaskFactory(account=account, assignee=rep, title="Review", due_at=local(2025, 3, 12, 17, 0))
    TaskFactory(
        deal=deal,
        assignee=rep,
        title="Follow up",
        due_at=NOW,
        kind=TaskKind.SUGGESTED,
        snoozed_until=local(2025, 3, 14, 9, 0),
    )
    TaskFactory(assignee=UserFactory(), title="Someone else's", due_at=NOW)
    client.force_login(rep)

    html = client.get(LIST).content.decode()

    assert row_titles(group(html, "overdue")) == ["Send quote"]
    assert "is-overdue" in group(html, "overdue")
    assert f'href="{deal.get_absolute_url()}"' in group(html, "overdue")
    assert row_titles(group(html, "today")) == ["Review"]
    assert f'href="{account.get_absolute_url()}"' in group(html, "today")
    assert "Nothing planned after today." in group(html, "upcoming")
    snoozed = group(html, "snoozed")
    assert row_titles(snoozed) == ["Follow up"]
    assert ">Suggested</span>" in snoozed and "Snoozed until Fri Mar 14, 09:00" in text(snoozed)
    assert "Someone else" not in html
    assert "Alice Archer</span>" not in html.split('id="task-counts"')[1]  # the viewer's own
    assert "task-person" not in html  # no switch for a rep


def test_a_manager_switches_to_a_member_and_to_the_whole_team(
    client, manager, outsider, rep, pipeline
):
    TaskFactory(assignee=outsider, title="Carol's task")
    TaskFactory(assignee=rep, title="Alice's task")
    TaskFactory(assignee=manager, title="Dave's task")
    client.force_login(manager)

    html = client.get(LIST, {"person": outsider.pk}).content.decode()
    assert "Carol&#x27;s task" in html and "Dave&#x27;s task" not in html
    assert "Carol Clark</span>" in html  # the assignee shows when it is not the viewer
    assert f'<option value="{outsider.pk}" selected>Carol Clark</option>' in html
    assert f'<option value="{rep.pk}"' not in html  # not one of the manager's people

    html = client.get(LIST, {"person": "all"}).content.decode()
    assert "Carol&#x27;s task" in html and "Dave&#x27;s task" in html
    assert "Alice" not in html

    response = client.get(LIST, {"person": rep.pk})
    assert response.status_code == 404


def test_a_rep_asking_for_someone_elses_tasks_gets_404(client, rep, other_rep):
    client.force_login(rep)
    for value in (other_rep.pk, "all", "abc", 999999):
        response = client.get(LIST, {"person": value})
        assert response.status_code == 404
    assert client.get(LIST, {"person": rep.pk}).status_code == 200
    assert NO_SUCH_PERSON == "No such person among those whose tasks you may list."


def test_an_admin_may_list_anyone_and_everyone(client, admin_user, rep, outsider):
    TaskFactory(assignee=rep, title="Alice's task")
    TaskFactory(assignee=outsider, title="Carol's task")
    client.force_login(admin_user)
    html = client.get(LIST, {"person": "all"}).content.decode()
    assert "Alice&#x27;s task" in html and "Carol&#x27;s task" in html and "Everyone" in html
    assert "Alice&#x27;s task" in client.get(LIST, {"person": rep.pk}).content.decode()


@pytest.mark.parametrize("size", [1, 25])
def test_the_list_query_count_is_constant(
    client, manager, outsider, pipeline, assert_max_queries, size
):
    now = timezone.now()
    for index in range(size):
        deal = DealFactory(pipeline=pipeline, owner=outsider)
        account = AccountFactory(owner=UserFactory(team=outsider.team))
        TaskFactory(
            deal=deal,
            account=deal.account,
            assignee=outsider,
            due_at=now - timedelta(hours=index + 1),
        )
        TaskFactory(account=account, assignee=outsider, due_at=now + timedelta(days=index + 1))
        TaskFactory(deal=deal, assignee=manager, due_at=now, snoozed_until=now + timedelta(days=1))
    client.force_login(manager)
    # user; the four groups with deals, accounts, owners, teams and assignees (one window
    # query); who the tasks may go to; the people of the switch; the overdue badge
    with assert_max_queries(5):
        response = client.get(LIST, {"person": "all"})
    assert response.status_code == 200
    assert response.content.decode().count("data-task-row") == 3 * size


def test_the_counts_reload_alone_with_out_of_band_group_badges(client, rep, deal):
    TaskFactory(deal=deal, assignee=rep, due_at=timezone.now() - timedelta(hours=1))
    client.force_login(rep)
    html = client.get(LIST, {"part": "counts"}, **HTMX).content.decode()
    assert "<strong>1</strong> overdue" in html
    assert (
        '<span id="group-count-overdue" class="badge rounded-pill group-count group-count-overdue" hx-swap-oob="true">1</span>'
        in html
    )


# The navigation's overdue count


def test_the_navigation_shows_the_overdue_count_in_red(client, rep, deal):
    now = timezone.now()
    TaskFactory.create_batch(2, deal=deal, assignee=rep, due_at=now - timedelta(hours=1))
    TaskFactory(
        deal=deal,
        assignee=rep,
        due_at=now - timedelta(hours=1),
        snoozed_until=now + timedelta(hours=1),
    )
    TaskFactory(deal=deal, assignee=rep, due_at=now + timedelta(hours=1))
    client.force_login(rep)
    html = client.get(reverse("deals:list")).content.decode()
    assert re.search(
        r'text-bg-danger[^"]*nav-badge">2<span class="visually-hidden"> overdue</span>', html
    )
    badge = client.get(reverse("tasks:badge"), **HTMX).content.decode()
    assert 'hx-trigger="tasks-changed from:body"' in badge and ">2<" in badge


def test_no_badge_without_overdue_tasks(client, rep):
    client.force_login(rep)
    assert "nav-badge" not in client.get(reverse("deals:list")).content.decode()


def test_fragments_pay_nothing_for_the_badge(
    client, rep, deal, task, django_assert_max_num_queries
):
    client.force_login(rep)
    # user, the task with its joins, who it may go to (no overdue count)
    with django_assert_max_num_queries(3):
        client.get(url("edit", task) + "?cancel", **HTMX)


# Complete, then "what's next?"


@time_machine.travel(NOW, tick=False)
def test_completing_with_htmx_offers_the_next_task(client, rep, task, deal):
    client.force_login(rep)
    response = client.post(url("complete", task), {"next": LIST, "place": "list"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert TASKS_CHANGED in response["HX-Trigger"]
    assert html.strip().startswith(f'<li id="task-{task.pk}" class="list-group-item task-next"')
    assert "What&#x27;s next for Fleet rollout?" in html
    assert 'name="due" value="2025-03-14"' in html  # two working days on
    assert f'<option value="{rep.pk}" selected>' in html
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE

    response = client.post(
        url("next", task),
        {"title": "Send contract", "due": "2025-03-14", "assignee": rep.pk, "next": LIST},
        **HTMX,
    )
    new = Task.objects.get(title="Send contract")
    assert (new.deal, new.account, new.due_at, new.status) == (
        deal,
        deal.account,
        local(2025, 3, 14, 9, 0),
        TaskStatus.OPEN,
    )
    assert response.content.decode().strip().startswith(f'<li id="task-{new.pk}"')
    assert TASKS_CHANGED in response["HX-Trigger"]


@time_machine.travel(NOW, tick=False)
def test_completing_without_javascript_leads_to_the_prompt_page(client, rep, task, deal):
    client.force_login(rep)
    back = deal.get_absolute_url()
    response = client.post(url("complete", task), {"next": back, "place": "deal"}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[0][0].startswith(url("next", task) + "?next=")
    assert TASK_COMPLETED.format(title="Call back") in html
    assert "What&#x27;s next for Fleet rollout?" in html and "No next step" in html

    response = client.post(
        url("next", task), {"title": "Demo", "due": "2025-03-20", "assignee": rep.pk, "next": back}
    )
    assert response.status_code == 302 and response.url == back
    assert Task.objects.filter(title="Demo", deal=deal).exists()
    assert NEXT_TASK_ADDED == "Added the task “{title}”."


def test_the_next_task_form_shows_its_errors(client, rep, task):
    client.force_login(rep)
    response = client.post(
        url("next", task), {"title": "", "due": "2000-01-01", "assignee": rep.pk}, **HTMX
    )
    html = response.content.decode()
    assert "Title: This field is required." in html
    assert "Due: The due date cannot be in the past." in html
    assert Task.objects.count() == 1


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "-1", "tasks"])
def test_next_must_be_a_path_of_this_site(client, rep, task, target):
    client.force_login(rep)
    response = client.post(url("dismiss", task), {"next": target})
    assert response.url == LIST


# Each action


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("when", "day", "expected"),
    [
        ("tomorrow", "", (2025, 3, 13, 9, 0)),
        ("3days", "", (2025, 3, 15, 9, 0)),
        ("next_week", "", (2025, 3, 17, 9, 0)),
        ("date", "2025-04-02", (2025, 4, 2, 9, 0)),
    ],
)
def test_snoozing_from_the_row(client, rep, task, when, day, expected):
    client.force_login(rep)
    response = client.post(url("snooze", task), {"when": when, "day": day, "next": LIST}, **HTMX)
    task.refresh_from_db()
    assert task.snoozed_until == local(*expected)
    assert "Snoozed until" in text(response.content.decode())
    assert TASKS_CHANGED in response["HX-Trigger"]


@time_machine.travel(NOW, tick=False)
def test_a_bad_snooze_shows_the_error_in_the_row(client, rep, task):
    client.force_login(rep)
    html = client.post(url("snooze", task), {"when": "date", "day": ""}, **HTMX).content.decode()
    assert PICK_A_DATE in html and '<details class="task-menu" open>' in html
    html = client.post(url("snooze", task), {"when": "date", "day": "2025-03-01"}).content.decode()
    assert "Snooze until a time in the future." in html  # the form's own page
    html = client.post(url("snooze", task), {"when": "someday"}, **HTMX).content.decode()
    assert "Select a valid choice." in html
    assert Task.objects.get(pk=task.pk).snoozed_until is None


def test_reassigning_from_the_row(client, manager, outsider, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=outsider)
    task = TaskFactory(deal=deal, assignee=outsider)
    client.force_login(manager)
    list_html = client.get(LIST, {"person": outsider.pk}).content.decode()
    assert f'<option value="{manager.pk}">Dave Dunn</option>' in list_html

    response = client.post(url("reassign", task), {"assignee": manager.pk, "next": LIST}, **HTMX)

    assert Task.objects.get(pk=task.pk).assignee == manager
    assert TASKS_CHANGED in response["HX-Trigger"]


def test_reassigning_to_someone_not_allowed_is_a_form_error(client, rep, other_rep, task):
    client.force_login(rep)
    html = client.post(url("reassign", task), {"assignee": other_rep.pk}, **HTMX).content.decode()
    assert "Select a valid choice." in html
    assert Task.objects.get(pk=task.pk).assignee == rep


@time_machine.travel(NOW, tick=False)
def test_editing_inline(client, rep, task):
    client.force_login(rep)
    form = client.get(url("edit", task), {"next": LIST}, **HTMX).content.decode()
    assert 'value="2025-03-13T10:00"' in form and "data-task-edit" in form

    response = client.post(
        url("edit", task),
        {"title": "Call Sam", "notes": "After lunch", "due_at": "2025-03-14T14:00", "next": LIST},
        **HTMX,
    )

    task.refresh_from_db()
    assert (task.title, task.notes, task.due_at) == (
        "Call Sam",
        "After lunch",
        local(2025, 3, 14, 14, 0),
    )
    assert 'class="task-title">Call Sam<' in response.content.decode()
    cancel = client.get(url("edit", task), {"cancel": ""}, **HTMX).content.decode()
    assert cancel.strip().startswith(f'<li id="task-{task.pk}" class="list-group-item task-item')


@time_machine.travel(NOW, tick=False)
def test_editing_refuses_a_due_time_in_the_past_but_keeps_an_overdue_one(client, rep, deal):
    late = TaskFactory(deal=deal, assignee=rep, title="Late", due_at=local(2025, 3, 10, 9, 0))
    client.force_login(rep)
    data = {"title": "Late", "notes": "", "due_at": "2025-03-11T09:00"}
    html = client.post(url("edit", late), data, **HTMX).content.decode()
    assert "The due date cannot be in the past." in html
    data["due_at"] = "2025-03-10T09:00"
    client.post(url("edit", late), data | {"title": "Still late"}, **HTMX)
    late.refresh_from_db()
    assert (late.title, late.due_at) == ("Still late", local(2025, 3, 10, 9, 0))


def test_dismissing_removes_the_row(client, rep, task):
    client.force_login(rep)
    response = client.post(url("dismiss", task), **HTMX)
    assert (response.status_code, response.content) == (200, b"")
    assert TASKS_CHANGED in response["HX-Trigger"]
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DISMISSED
    response = client.post(
        url("dismiss", Task.objects.get(pk=task.pk)), {"next": LIST}, follow=True
    )
    assert response.status_code == 409


def test_without_javascript_an_action_redirects_back_with_a_message(client, rep, task, deal):
    client.force_login(rep)
    back = deal.get_absolute_url()
    response = client.post(url("dismiss", task), {"next": back}, follow=True)
    assert response.redirect_chain == [(back, 302)]
    assert TASK_DISMISSED.format(title="Call back") in response.content.decode()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("complete", {}),
        ("snooze", {"when": "tomorrow"}),
        ("reassign", {"assignee": "me"}),
        ("edit", {"title": "x", "notes": "", "due_at": "2999-01-01T10:00"}),
        ("dismiss", {}),
    ],
)
def test_a_closed_task_answers_409_with_the_reason(client, rep, task, name, data):
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.DONE, completed_at=timezone.now())
    client.force_login(rep)
    data = {key: rep.pk if value == "me" else value for key, value in data.items()}
    message = "“Call back” is already done: it can no longer be changed."
    for headers in ({}, HTMX):
        response = client.post(url(name, task), data, **headers)
        assert response.status_code == 409
        assert message in response.content.decode()


@pytest.mark.parametrize("name", ["complete", "snooze", "reassign", "edit", "dismiss", "next"])
def test_actions_are_404_outside_visibility_and_403_read_only(
    client, other_rep, outsider, task, name
):
    for user, status in [(outsider, 404), (other_rep, 403)]:
        client.force_login(user)
        assert client.post(url(name, task), {"when": "tomorrow"}).status_code == status
    assert Task.objects.get(pk=task.pk).snoozed_until is None
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN


def test_a_manager_completes_a_members_task(client, manager, outsider, pipeline):
    task = TaskFactory(deal=DealFactory(pipeline=pipeline, owner=outsider), assignee=outsider)
    client.force_login(manager)
    assert client.post(url("complete", task), **HTMX).status_code == 200
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE


# The same rows on deal and account pages


def test_the_deal_page_rows_have_the_actions(client, rep, other_rep, task, deal):
    client.force_login(rep)
    html = client.get(deal.get_absolute_url()).content.decode()
    assert f'action="{url("complete", task)}"' in html
    assert '<input type="hidden" name="place" value="deal">' in html
    client.force_login(other_rep)  # a teammate reads the deal but may not act
    html = client.get(deal.get_absolute_url()).content.decode()
    assert 'class="task-title">Call back<' in html and url("complete", task) not in html


def test_the_account_page_rows_have_the_same_actions(client, rep, other_rep, admin_user, deal):
    on_account = TaskFactory(account=deal.account, assignee=rep, title="Quarterly review")
    client.force_login(admin_user)  # who may also give the task to someone else
    html = client.get(deal.account.get_absolute_url()).content.decode()
    for action in ("complete", "snooze", "reassign", "edit", "dismiss"):
        assert url(action, on_account) in html, action
    assert '<input type="hidden" name="place" value="account">' in html

    response = client.post(url("complete", on_account), {"place": "account"}, **HTMX)

    assert response.status_code == 200
    assert "What&#x27;s next for" in response.content.decode()
    assert Task.objects.get(pk=on_account.pk).status == TaskStatus.DONE
    client.force_login(other_rep)  # a teammate reads the account but may not act
    html = client.get(deal.account.get_absolute_url()).content.decode()
    assert "Quarterly review" in html and url("complete", on_account) not in html


def test_task_pages_satisfy_the_content_security_policy(client, rep, task):
    client.force_login(rep)
    for page in [LIST, url("edit", task), url("next", task)]:
        html = client.get(page).content.decode()
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), page
        assert not re.search(r"\son[a-z]+=", html) and " style=" not in html, page


def test_the_edit_form_works_without_javascript(client, rep, task):
    client.force_login(rep)
    html = client.get(url("edit", task), {"next": LIST}).content.decode()
    assert "Edit “Call back”" in html and f'action="{url("edit", task)}"' in html
    data = {"title": "Call Sam", "notes": "", "due_at": "2999-01-01T10:00", "next": LIST}
    response = client.post(url("edit", task), data, follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Saved the task “Call Sam”." in response.content.decode()
