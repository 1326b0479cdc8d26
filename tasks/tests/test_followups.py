from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from deals.models import ActivityKind
from deals.services import move_deal
from deals.services.records import archive_deal, log_activity
from deals.tests.factories import DealFactory, LostReasonFactory
from stages.tests.factories import stage
from tasks.automation import FOLLOWUP_TITLE, suggest_followups
from tasks.models import Task, TaskKind, TaskStatus

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def quiet_deal(pipeline, owner, *, days: int, **kwargs):
    deal = DealFactory(pipeline=pipeline, owner=owner, **kwargs)
    deal.last_activity_at = NOW - timedelta(days=days)
    deal.save(update_fields=["last_activity_at"])
    return deal


def suggestions(deal=None):
    tasks = Task.objects.filter(kind=TaskKind.SUGGESTED)
    return tasks.filter(deal=deal) if deal is not None else tasks


def test_a_deal_quiet_for_more_than_ten_days_gets_one_follow_up_for_its_owner(pipeline, rep):
    deal = quiet_deal(pipeline, rep, days=11)

    assert suggest_followups() == 1

    task = suggestions(deal).get()
    assert task.title == "Follow up: no activity for 10 days"
    assert task.assignee == rep
    assert task.account == deal.account
    assert task.status == TaskStatus.OPEN
    assert task.created_by is None
    # Due at the end of today's working day (17:00 local; TIME_ZONE is UTC in tests).
    assert task.due_at == NOW.replace(hour=17)


def test_fresh_won_lost_and_archived_deals_get_no_follow_up(pipeline, rep):
    quiet_deal(pipeline, rep, days=9)
    won = quiet_deal(pipeline, rep, days=30)
    move_deal(won, stage(pipeline, "Won"), by=rep)
    lost = quiet_deal(pipeline, rep, days=30)
    move_deal(lost, stage(pipeline, "Lost"), by=rep, lost_reason=LostReasonFactory())
    for deal in (won, lost):  # moving counts as activity: make them quiet again
        deal.last_activity_at = NOW - timedelta(days=30)
        deal.save(update_fields=["last_activity_at"])
    archived = quiet_deal(pipeline, rep, days=30)
    archive_deal(archived, by=rep)

    assert suggest_followups() == 0
    assert not suggestions().exists()


def test_a_pipeline_may_set_its_own_threshold(pipeline, rep):
    pipeline.followup_days = 3
    pipeline.save(update_fields=["followup_days"])
    quiet = quiet_deal(pipeline, rep, days=4)
    quiet_deal(pipeline, rep, days=2)

    assert suggest_followups() == 1
    assert suggestions(quiet).get().title == FOLLOWUP_TITLE.format(days=3)


@override_settings(FOLLOWUP_INACTIVE_DAYS=20)
def test_the_setting_is_the_default_threshold(pipeline, rep):
    quiet_deal(pipeline, rep, days=15)
    old = quiet_deal(pipeline, rep, days=21)

    assert suggest_followups() == 1
    assert suggestions(old).get().title == "Follow up: no activity for 20 days"


def test_the_scan_can_be_limited_to_one_pipeline(pipeline, rep):
    from stages.tests.factories import PipelineFactory

    other = PipelineFactory(name="Renewals")
    mine = quiet_deal(pipeline, rep, days=11)
    quiet_deal(other, rep, days=11)

    assert suggest_followups(pipeline=pipeline) == 1
    assert suggestions().get().deal == mine


def test_running_the_scan_twice_leaves_one_task_per_deal(pipeline, rep, other_rep):
    deals = [quiet_deal(pipeline, owner, days=12) for owner in (rep, other_rep, rep)]

    assert suggest_followups() == 3
    assert suggest_followups() == 0
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert suggest_followups() == 0

    assert sorted(suggestions().values_list("deal", flat=True)) == sorted(d.pk for d in deals)


def test_a_dismissed_suggestion_comes_back_only_after_new_activity_and_new_quiet(pipeline, rep):
    deal = quiet_deal(pipeline, rep, days=11)
    suggest_followups()
    task = suggestions(deal).get()
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.DISMISSED, completed_at=NOW)

    # Still quiet, weeks later: not suggested again.
    with time_machine.travel(NOW + timedelta(days=20), tick=False):
        assert suggest_followups() == 0

    # New activity, then quiet again for more than ten days: suggested again.
    with time_machine.travel(NOW + timedelta(days=21), tick=False):
        log_activity(kind=ActivityKind.CALL, subject="Called", user=rep, deal=deal)
        assert suggest_followups() == 0
    with time_machine.travel(NOW + timedelta(days=32), tick=False):
        assert suggest_followups() == 1
    assert suggestions(deal).filter(status=TaskStatus.OPEN).count() == 1
    assert suggestions(deal).count() == 2


def test_a_deal_with_an_open_suggestion_gets_no_second_one_even_after_new_activity(pipeline, rep):
    deal = quiet_deal(pipeline, rep, days=11)
    suggest_followups()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        log_activity(kind=ActivityKind.CALL, subject="Called", user=rep, deal=deal)
    with time_machine.travel(NOW + timedelta(days=15), tick=False):
        assert suggest_followups() == 0
    assert suggestions(deal).count() == 1


def test_the_database_refuses_a_second_open_suggestion_for_a_deal(pipeline, rep):
    # What keeps two scans running at once from both creating a task for one deal.
    deal = quiet_deal(pipeline, rep, days=11)
    suggest_followups()
    twin = Task(
        title="x", due_at=NOW, assignee=rep, deal=deal, kind=TaskKind.SUGGESTED, created_at=NOW
    )

    Task.objects.bulk_create([twin], ignore_conflicts=True)
    assert suggestions(deal).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(title="x", due_at=NOW, assignee=rep, deal=deal, kind="suggested")


def test_the_scan_costs_the_same_queries_for_five_deals_as_for_fifty(
    pipeline, rep, assert_max_queries
):
    for _ in range(5):
        quiet_deal(pipeline, rep, days=11)
    # The pipelines' thresholds, the stale deals' ids/owners/accounts, one INSERT per batch
    # of 10,000 (PostgreSQL), or INSERT + count of the new rows (SQLite).
    with assert_max_queries(4):
        assert suggest_followups() == 5
    Task.objects.all().delete()
    for _ in range(45):
        quiet_deal(pipeline, rep, days=11)
    with assert_max_queries(4):
        assert suggest_followups() == 50


def test_a_scan_after_working_hours_makes_the_task_due_at_once(pipeline, rep):
    deal = quiet_deal(pipeline, rep, days=11)
    late = NOW.replace(hour=19)
    with time_machine.travel(late, tick=False):
        suggest_followups()
    assert suggestions(deal).get().due_at == late


def test_the_command_creates_the_tasks_and_says_how_many(pipeline, rep):
    quiet_deal(pipeline, rep, days=11)
    out = StringIO()

    call_command("suggest_followups", stdout=out)

    assert out.getvalue() == "Created 1 follow-up tasks.\n"
    assert suggestions().count() == 1


def test_the_command_dry_run_lists_the_deals_and_creates_nothing(pipeline, rep):
    deal = quiet_deal(pipeline, rep, days=11, title="Big renewal")
    out = StringIO()

    call_command("suggest_followups", "--dry-run", stdout=out)

    assert out.getvalue().splitlines() == [
        "Would create 1 follow-up tasks (dry run, nothing saved).",
        f"  #{deal.pk} Big renewal — alice, last activity 2026-02-27 (threshold 10 days)",
    ]
    assert not suggestions().exists()
    assert timezone.now() == NOW
