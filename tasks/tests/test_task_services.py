"""Acting on tasks (complete, snooze, reassign, edit, dismiss), the snooze times, and the
reads behind the task list: groups, visibility, rights and the overdue count."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from deals.models import Account, Deal
from deals.tests.factories import AccountFactory, DealFactory
from tasks.models import Task, TaskKind, TaskStatus
from tasks.selectors import (
    can_change_task,
    get_task_for_user_or_404,
    overdue_count,
    task_counts,
    task_groups,
    visible_tasks,
)
from tasks.services import (
    REASSIGN_NOT_ALLOWED,
    SNOOZE_IN_THE_PAST,
    TaskClosed,
    TaskError,
    complete_task,
    dismiss_task,
    next_task_due,
    reassign_task,
    snooze_task,
    snooze_time,
    update_task,
)
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

# A Wednesday afternoon, local time.
NOW = timezone.make_aware(datetime(2025, 3, 12, 15, 0))


def local(*args: int) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(title="Fleet rollout", pipeline=pipeline, owner=rep)


@pytest.fixture
def task(deal, rep):
    return TaskFactory(deal=deal, account=deal.account, assignee=rep, title="Call back")


# Snooze times: 09:00 local of the day each option names


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("tomorrow", (2025, 3, 13, 9, 0)),
        ("3days", (2025, 3, 15, 9, 0)),
        ("next_week", (2025, 3, 17, 9, 0)),
    ],
)
def test_each_snooze_option_ends_at_nine_on_its_day(option, expected):
    assert snooze_time(option, now=NOW) == local(*expected)


def test_next_week_from_a_monday_is_the_monday_after():
    monday = local(2025, 3, 17, 8, 0)
    assert snooze_time("next_week", now=monday) == local(2025, 3, 24, 9, 0)


def test_a_picked_date_snoozes_until_nine_that_day():
    assert snooze_time("date", now=NOW, day=date(2025, 4, 1)) == local(2025, 4, 1, 9, 0)


def test_an_unknown_snooze_option_is_refused():
    with pytest.raises(ValueError, match="Unknown snooze option"):
        snooze_time("someday", now=NOW)


def test_the_next_task_is_due_two_working_days_later_at_nine():
    assert next_task_due(now=NOW) == local(2025, 3, 14, 9, 0)
    friday = local(2025, 3, 14, 16, 0)
    assert next_task_due(now=friday) == local(2025, 3, 18, 9, 0)


# Complete and dismiss


@time_machine.travel(NOW, tick=False)
def test_completing_a_task_closes_it_and_counts_as_activity(task, deal, rep):
    Deal.objects.filter(pk=deal.pk).update(last_activity_at=NOW - timedelta(days=9))
    complete_task(task, by=rep)
    task.refresh_from_db()
    assert (task.status, task.completed_at) == (TaskStatus.DONE, NOW)
    assert Deal.objects.get(pk=deal.pk).last_activity_at == NOW
    assert Account.objects.get(pk=deal.account_id).last_activity_at == NOW


@time_machine.travel(NOW, tick=False)
def test_completing_never_moves_last_activity_back(task, deal, rep):
    later = NOW + timedelta(hours=1)
    Deal.objects.filter(pk=deal.pk).update(last_activity_at=later)
    complete_task(task, by=rep)
    assert Deal.objects.get(pk=deal.pk).last_activity_at == later


def test_dismissing_closes_without_counting_as_activity(task, deal, rep):
    before = Deal.objects.get(pk=deal.pk).last_activity_at
    dismiss_task(task, by=rep)
    task.refresh_from_db()
    assert task.status == TaskStatus.DISMISSED and task.completed_at is not None
    assert Deal.objects.get(pk=deal.pk).last_activity_at == before


@pytest.mark.parametrize(
    "action",
    [
        lambda task, user: complete_task(task, by=user),
        lambda task, user: dismiss_task(task, by=user),
        lambda task, user: snooze_task(task, until=timezone.now() + timedelta(days=1), by=user),
        lambda task, user: update_task(task, by=user, title="New", notes="", due_at=task.due_at),
    ],
)
def test_a_closed_task_refuses_every_action(task, rep, action):
    complete_task(task, by=rep)
    stale = Task.objects.get(pk=task.pk)
    stale.status = TaskStatus.OPEN  # as a page loaded before someone completed it
    with pytest.raises(TaskClosed, match="^“Call back” is already done: it can no longer"):
        action(stale, rep)


def test_a_task_completed_twice_at_once_is_completed_once(task, rep, other_rep):
    copy = Task.objects.get(pk=task.pk)
    complete_task(task, by=rep)
    with pytest.raises(TaskClosed):
        complete_task(copy, by=other_rep)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE


# Snooze, reassign, edit


@time_machine.travel(NOW, tick=False)
def test_snoozing_sets_the_time_and_rearms_the_reminder(task, rep):
    Task.objects.filter(pk=task.pk).update(reminder_sent_at=NOW)
    snooze_task(task, until=local(2025, 3, 13, 9, 0), by=rep)
    task.refresh_from_db()
    assert task.snoozed_until == local(2025, 3, 13, 9, 0)
    assert task.reminder_sent_at is None


@time_machine.travel(NOW, tick=False)
def test_snoozing_into_the_past_is_refused(task, rep):
    with pytest.raises(ValidationError) as error:
        snooze_task(task, until=NOW - timedelta(minutes=1), by=rep)
    assert error.value.message_dict == {"snoozed_until": [SNOOZE_IN_THE_PAST]}
    assert Task.objects.get(pk=task.pk).snoozed_until is None


def test_a_manager_reassigns_a_members_task_and_rearms_the_reminder(manager, outsider, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=outsider)
    task = TaskFactory(deal=deal, assignee=outsider, reminder_sent_at=timezone.now())
    reassign_task(task, to=manager, by=manager)
    task.refresh_from_db()
    assert (task.assignee, task.reminder_sent_at) == (manager, None)


def test_a_rep_cannot_give_a_task_to_a_teammate(task, rep, other_rep):
    with pytest.raises(TaskError) as error:
        reassign_task(task, to=other_rep, by=rep)
    assert str(error.value) == REASSIGN_NOT_ALLOWED.format(person=other_rep)
    assert Task.objects.get(pk=task.pk).assignee == rep


def test_a_task_can_go_back_to_the_deals_owner(deal, rep, manager, team_a):
    team_a.manager = manager
    team_a.save()
    task = TaskFactory(deal=deal, assignee=manager)
    reassign_task(task, to=rep, by=manager)
    assert Task.objects.get(pk=task.pk).assignee == rep


@time_machine.travel(NOW, tick=False)
def test_editing_saves_and_a_later_due_date_rearms_the_reminder(task, rep):
    Task.objects.filter(pk=task.pk).update(reminder_sent_at=NOW)
    later = task.due_at + timedelta(days=2)
    update_task(task, by=rep, title="  Call again ", notes="Ask for Sam", due_at=later)
    task.refresh_from_db()
    assert (task.title, task.notes, task.due_at) == ("Call again", "Ask for Sam", later)
    assert task.reminder_sent_at is None


@time_machine.travel(NOW, tick=False)
def test_editing_only_the_title_keeps_the_reminder_record(task, rep):
    Task.objects.filter(pk=task.pk).update(reminder_sent_at=NOW)
    task.refresh_from_db()
    update_task(task, by=rep, title="Renamed", notes="", due_at=task.due_at)
    assert Task.objects.get(pk=task.pk).reminder_sent_at == NOW


def test_an_empty_title_is_refused_and_nothing_changes(task, rep):
    with pytest.raises(ValidationError) as error:
        update_task(task, by=rep, title="   ", notes="x", due_at=task.due_at)
    assert "title" in error.value.message_dict
    assert (task.title, Task.objects.get(pk=task.pk).title) == ("Call back", "Call back")


# Groups


def titles(groups) -> dict[str, list[str]]:
    return {group.key: [task.title for task in group.tasks] for group in groups}


@time_machine.travel(NOW, tick=False)
def test_tasks_fall_into_overdue_today_upcoming_and_snoozed(rep, deal):
    def make(title, due, snoozed=None):
        TaskFactory(deal=deal, assignee=rep, title=title, due_at=due, snoozed_until=snoozed)

    make("Earlier today", local(2025, 3, 12, 9, 0))
    make("Last week", local(2025, 3, 5, 9, 0))
    make("Later today", local(2025, 3, 12, 17, 0))
    make("Just before midnight", local(2025, 3, 12, 23, 59))
    make("Tomorrow", local(2025, 3, 13, 0, 0))
    make("Snoozed though overdue", local(2025, 3, 1, 9, 0), snoozed=local(2025, 3, 13, 9, 0))
    make("Snooze ended", local(2025, 3, 2, 9, 0), snoozed=local(2025, 3, 12, 9, 0))
    TaskFactory(deal=deal, assignee=rep, title="Done", status=TaskStatus.DONE, completed_at=NOW)

    groups = task_groups(user=rep, now=NOW)

    assert titles(groups) == {
        "overdue": ["Snooze ended", "Last week", "Earlier today"],
        "today": ["Later today", "Just before midnight"],
        "upcoming": ["Tomorrow"],
        "snoozed": ["Snoozed though overdue"],
    }
    assert [group.total for group in groups] == [3, 2, 1, 1]
    assert task_counts(user=rep, now=NOW) == {
        "overdue": 3,
        "today": 2,
        "upcoming": 1,
        "snoozed": 1,
    }


def test_groups_show_their_first_tasks_and_count_them_all(rep, deal, monkeypatch):
    monkeypatch.setattr("tasks.selectors.GROUP_SHOWN", 2)
    now = timezone.now()
    for hours in range(5):
        TaskFactory(deal=deal, assignee=rep, due_at=now - timedelta(hours=hours + 1))
    [overdue, *_] = task_groups(user=rep, now=now)
    assert (len(overdue.tasks), overdue.total, overdue.more) == (2, 5, 3)


def test_groups_are_one_query(rep, deal, django_assert_num_queries):
    TaskFactory.create_batch(5, deal=deal, assignee=rep)
    with django_assert_num_queries(1):
        groups = task_groups(user=rep, now=timezone.now())
        for group in groups:
            for task in group.tasks:
                assert task.deal.owner.team is not None and task.assignee.team is not None


def test_a_manager_sees_a_members_tasks_or_the_whole_team(manager, outsider, rep, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=outsider)
    TaskFactory(deal=deal, assignee=outsider, title="Carol's")
    TaskFactory(assignee=manager, title="Dave's")
    TaskFactory(assignee=rep, title="Alice's")
    now = timezone.now()

    def shown(**scope):
        return sorted(t.title for g in task_groups(user=manager, now=now, **scope) for t in g.tasks)

    assert shown() == ["Dave's"]
    assert shown(person=outsider) == ["Carol's"]
    assert shown(team=True) == ["Carol's", "Dave's"]


# Visibility and rights


def test_visibility_follows_the_deal_and_the_assignee(rep, other_rep, outsider, manager, task):
    assert task in visible_tasks(other_rep)  # a teammate sees the deal
    assert task not in visible_tasks(outsider)
    assert task not in visible_tasks(manager)
    assert can_change_task(rep, task)
    assert not can_change_task(other_rep, task)


def test_a_manager_may_act_on_a_members_task_without_a_query(
    manager, outsider, pipeline, django_assert_num_queries
):
    account = AccountFactory(owner=outsider)
    task = TaskFactory(account=account, assignee=outsider)
    loaded = get_task_for_user_or_404(manager, task.pk)
    with django_assert_num_queries(0):
        assert can_change_task(manager, loaded)


def test_overdue_count_is_the_users_open_overdue_unsnoozed_tasks(
    rep, other_rep, deal, django_assert_num_queries
):
    now = timezone.now()
    TaskFactory(assignee=rep, due_at=now - timedelta(hours=1))
    TaskFactory(assignee=rep, due_at=now - timedelta(days=3), kind=TaskKind.SUGGESTED)
    TaskFactory(assignee=rep, due_at=now - timedelta(hours=1), snoozed_until=now + timedelta(1))
    TaskFactory(assignee=rep, due_at=now + timedelta(hours=1))
    TaskFactory(
        assignee=rep, due_at=now - timedelta(hours=1), status=TaskStatus.DONE, completed_at=now
    )
    TaskFactory(assignee=other_rep, due_at=now - timedelta(hours=1))
    with django_assert_num_queries(1):
        assert overdue_count(rep) == 2
