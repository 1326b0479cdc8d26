"""`seed_demo`: most tests read one seeded database, rolled back after the class."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, Max
from django.test import override_settings
from django.utils import timezone

from deals.models import Account, Activity, Deal, DealStatus, ForecastChange, StageChange
from deals.tests.factories import DealFactory
from pipeline_crm.demo import DEMO_PASSWORD
from pipeline_crm.models import Role, Team, User
from pipeline_crm.tests.factories import UserFactory
from stages.models import Pipeline, StageKind
from tasks.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug(settings):
    # pytest-django runs tests with DEBUG off; the command refuses that without --force.
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    """Rows per model, leaving out the audit history, which only ever grows."""
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if not model._meta.label.split(".")[1].startswith("Historical")
    }


def demo_deals() -> list[tuple]:
    return list(
        Deal.objects.order_by("created_at", "title").values_list(
            "title", "value", "stage__name", "owner__username", "created_at", "closed_at"
        )
    )


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker):
    """Seed once per class; each test runs in a savepoint inside this transaction."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        yield seed()
        transaction.set_rollback(True)


@pytest.mark.usefixtures("seeded")
class TestTheSeededDemo:
    def test_seeding_creates_three_pipelines_with_rotting_open_stages(self):
        pipelines = Pipeline.objects.order_by("position")
        assert [p.name for p in pipelines] == ["New business", "Startup sales", "Renewals & upsell"]
        for pipeline in pipelines:
            assert pipeline.default_lost_stage.kind == StageKind.LOST
            rotting = [s.rotting_days for s in pipeline.stages.filter(kind=StageKind.OPEN)]
            assert rotting and all(14 <= days <= 30 for days in rotting)
            assert not pipeline.stages.exclude(kind=StageKind.OPEN).filter(
                rotting_days__isnull=False
            )

    def test_seeding_creates_two_teams_of_a_manager_and_three_reps(self):
        for team in Team.objects.all():
            assert team.manager.role == Role.MANAGER
            assert sorted(team.members.values_list("role", flat=True)) == [Role.REP] * 3
        assert [t.name for t in Team.objects.all()] == ["Team North", "Team South"]

    def test_seeding_creates_one_admin_and_everyone_shares_the_password(self):
        admin = User.objects.get(role=Role.ADMIN)
        assert (admin.username, admin.is_staff, admin.is_superuser) == ("admin", True, True)
        assert User.objects.count() == 9
        assert all(user.check_password(DEMO_PASSWORD) for user in User.objects.all())
        assert all(user.email and user.first_name and user.last_name for user in User.objects.all())

    def test_seeding_creates_sixty_accounts_owned_by_reps_with_contacts(self):
        accounts = Account.objects.annotate(contact_count=Count("contacts")).select_related("owner")
        assert len(accounts) == 60
        assert len({a.name for a in accounts}) == 60
        for account in accounts:
            assert account.owner.role == Role.REP
            assert 1 <= account.contact_count <= 3
            assert account.industry and account.website and account.linkedin_url

    def test_seeding_creates_a_year_of_deals_owned_by_the_account_owner(self):
        deals = Deal.objects.select_related("account", "contact")
        assert len(deals) == 400
        year_ago = timezone.now() - timedelta(days=366)
        for deal in deals:
            assert deal.owner_id == deal.account.owner_id
            assert deal.contact is None or deal.contact.account_id == deal.account_id
            assert deal.created_at > year_ago
            assert deal.source_id is not None
            assert 2_000 <= deal.value <= 150_000
            assert deal.value % 500 == 0

    def test_about_a_third_of_deals_are_won_and_a_quarter_lost(self):
        statuses = dict(Deal.objects.values_list("status").annotate(n=Count("pk")))
        assert 0.28 <= statuses[DealStatus.WON] / 400 <= 0.40
        assert 0.20 <= statuses[DealStatus.LOST] / 400 <= 0.32
        assert not Deal.objects.lost().filter(lost_reason=None).exists()
        assert not Deal.objects.exclude(status=DealStatus.LOST).exclude(lost_reason=None).exists()

    def test_some_open_deals_are_past_their_expected_close_date(self):
        today = timezone.localdate()
        assert Deal.objects.open().filter(expected_close_date__lt=today).exists()
        assert Deal.objects.open().filter(expected_close_date__gt=today).exists()

    def test_every_deal_has_a_consistent_stage_history(self):
        # Rows in the order they were written, which must also be time order.
        changes = StageChange.objects.order_by("deal", "pk")
        history: dict[int, list[StageChange]] = {}
        for change in changes:
            history.setdefault(change.deal_id, []).append(change)
        deals = Deal.objects.select_related("stage")
        assert len(history) == len(deals) == 400
        for deal in deals:
            rows = history[deal.pk]
            assert rows[0].from_stage_id is None
            assert rows[0].changed_at == deal.created_at
            for previous, row in zip(rows, rows[1:], strict=False):
                assert row.from_stage_id == previous.to_stage_id
                assert row.changed_at >= previous.changed_at
            assert rows[-1].to_stage_id == deal.stage_id
            assert deal.stage_changed_at == rows[-1].changed_at
            assert deal.status == deal.stage.kind
            assert all(row.by_id == deal.owner_id for row in rows)
            if deal.status == DealStatus.OPEN:
                assert deal.closed_at is None
            else:
                assert deal.closed_at == rows[-1].changed_at
            assert (deal.lost_reason_id is not None) == (deal.status == DealStatus.LOST)

    def test_deals_move_forward_and_sometimes_skip_a_stage(self):
        skipped = False
        for change in StageChange.objects.exclude(from_stage=None).select_related(
            "from_stage", "to_stage"
        ):
            assert change.to_stage.position > change.from_stage.position
            if change.to_stage.kind == StageKind.OPEN:
                skipped |= change.to_stage.position > change.from_stage.position + 1
        assert skipped

    def test_deals_last_activity_is_their_newest_activity_or_last_move(self):
        newest = dict(
            Activity.objects.values_list("deal").annotate(newest=Max("occurred_at")).order_by()
        )
        for deal in Deal.objects.all():
            assert deal.last_activity_at == newest.get(deal.pk, deal.stage_changed_at)
            assert deal.last_activity_at >= deal.stage_changed_at
        assert len(newest) < 400  # some deals have no activity yet

    def test_accounts_last_activity_is_their_newest_activity(self):
        newest = dict(
            Activity.objects.values_list("account").annotate(newest=Max("occurred_at")).order_by()
        )
        for account in Account.objects.all():
            assert account.last_activity_at == newest.get(account.pk)

    def test_activities_follow_each_deals_creation(self):
        activities = Activity.objects.select_related("deal")
        assert 1_200 <= len(activities) <= 1_800
        assert {a.kind for a in activities} == {"call", "email", "meeting", "note"}
        for activity in activities:
            assert activity.account_id == activity.deal.account_id
            assert activity.user_id == activity.deal.owner_id
            assert activity.deal.created_at <= activity.occurred_at <= timezone.now()
            if activity.deal.closed_at:
                assert activity.occurred_at <= activity.deal.closed_at

    def test_some_deals_had_their_value_and_expected_close_edited_during_their_life(self):
        edits = ForecastChange.objects.select_related("deal")
        assert 60 <= len(edits) <= 140  # about one deal in four
        for edit in edits:
            deal = edit.deal
            assert deal.created_at <= edit.changed_at <= (deal.closed_at or timezone.now())
            assert deal.forecast_changed_at == edit.changed_at
            assert edit.value_before != deal.value
            assert edit.expected_close_date_before < deal.expected_close_date
        assert Deal.objects.filter(forecast_changed_at__isnull=False).count() == len(edits)

    def test_open_deals_have_overdue_today_upcoming_and_done_tasks(self):
        today = timezone.localdate()
        tasks = Task.objects.select_related("deal")
        for task in tasks:
            assert task.deal.status == DealStatus.OPEN
            assert task.assignee_id == task.deal.owner_id
            assert task.deal.created_at <= task.created_at <= timezone.now()
        due_days = {timezone.localdate(t.due_at) for t in tasks if t.status == TaskStatus.OPEN}
        assert min(due_days) < today < max(due_days)
        assert today in due_days
        done = [t for t in tasks if t.status == TaskStatus.DONE]
        assert done and all(t.completed_at <= timezone.now() for t in done)

    def test_past_events_lie_in_the_past(self):
        now = timezone.now()
        assert not Deal.objects.filter(created_at__gt=now).exists()
        assert not Deal.objects.filter(closed_at__gt=now).exists()
        assert not StageChange.objects.filter(changed_at__gt=now).exists()
        assert not Account.objects.filter(created_at__gt=now).exists()
        assert not Task.objects.filter(created_at__gt=now).exists()

    # The command

    def test_the_command_prints_the_logins_and_a_summary(self, seeded):
        assert "Demo data created (seed 42)." in seeded
        for role, username in (("admin", "admin"), ("manager", "maria"), ("rep", "tom")):
            assert f"  {role:<8} {username}\n" in seeded
        assert f"password: {DEMO_PASSWORD}" in seeded
        assert "3 pipelines, 2 teams, 9 users, 60 accounts, 120 contacts, 400 deals" in seeded

    def test_running_again_changes_no_row_count_and_prints_the_logins(self):
        before = row_counts()
        out = seed()
        assert "Demo data already present; nothing changed" in out
        assert "  admin    admin\n" in out
        assert row_counts() == before

    def test_the_same_seed_produces_the_same_data(self):
        first = demo_deals()
        seed("--reset")
        assert demo_deals() == first

    def test_another_seed_produces_other_data(self):
        first = demo_deals()
        seed("--seed", "43", "--reset")
        assert demo_deals() != first
        assert len(demo_deals()) == 400

    def test_reset_recreates_the_demo_and_leaves_other_data_alone(self, rep, pipeline):
        other = DealFactory(title="Real deal", pipeline=pipeline, owner=rep)
        before = row_counts()
        out = seed("--reset")
        assert "Demo data created" in out
        assert row_counts() == before
        other.refresh_from_db()
        assert (other.title, other.owner, other.pipeline) == ("Real deal", rep, pipeline)
        assert other.stage_changes.count() == 1

    def test_reset_refuses_when_other_data_depends_on_demo_rows(self, pipeline):
        tom = User.objects.get(username="tom")
        DealFactory(title="Tom's real deal", pipeline=pipeline, owner=tom)
        before = row_counts()
        with pytest.raises(
            CommandError,
            match=r"^Cannot reset the demo: rows outside the demo data refer to it \(1 deal\)\.",
        ):
            seed("--reset")
        assert row_counts() == before


# Outside the seeded class


def test_seeding_refuses_when_a_demo_name_is_taken(db):
    UserFactory(username="maria")
    with pytest.raises(
        CommandError,
        match=r"^Cannot seed the demo, these names are taken: user “maria”\. `seed_demo --reset`",
    ):
        seed()
    assert not Deal.objects.exists()


def test_the_command_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match=r"^DEBUG is off: the demo creates users"):
        seed()
    assert not User.objects.exists()
    seed("--force")
    assert Deal.objects.count() == 400
