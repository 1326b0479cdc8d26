from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    ActivityKind,
    Deal,
    DealStatus,
    ForecastChange,
    StageChange,
)
from deals.services import LOST_REASON_REQUIRED, MOVE_OTHER_PIPELINE, update_deal
from deals.tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    LeadSourceFactory,
    LostReasonFactory,
)
from stages.tests.factories import PipelineFactory, stage
from stages.tests.test_admin import change_form_data

pytestmark = pytest.mark.django_db


def history(deal: Deal) -> list[tuple[str | None, str, str]]:
    return [
        (
            change.from_stage.name if change.from_stage else None,
            change.to_stage.name,
            change.by.username,
        )
        for change in deal.stage_changes.select_related("from_stage", "to_stage", "by")
    ]


@pytest.fixture
def deal(pipeline, rep):
    return DealFactory(title="Acme rollout", pipeline=pipeline, owner=rep)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def add_deal(client, **values):
    response = client.get(reverse("admin:deals_deal_add"))
    return client.post(reverse("admin:deals_deal_add"), change_form_data(response) | values)


def edit_deal(client, deal: Deal, **values):
    url = reverse("admin:deals_deal_change", args=[deal.pk])
    return client.post(url, change_form_data(client.get(url)) | values)


# Adding a deal


def test_adding_a_deal_goes_through_create_deal(admin_client, pipeline, rep):
    account = AccountFactory(owner=rep)

    response = add_deal(
        admin_client,
        title="Acme rollout",
        account=account.pk,
        owner=rep.pk,
        pipeline=pipeline.pk,
        stage=stage(pipeline, "Qualified").pk,
        value="2500.00",
        has_budget="on",
    )

    assert response.status_code == 302
    deal = Deal.objects.get()
    assert (deal.title, deal.stage.name, deal.status, deal.value, deal.has_budget) == (
        "Acme rollout",
        "Qualified",
        DealStatus.OPEN,
        Decimal("2500.00"),
        True,
    )
    assert history(deal) == [(None, "Qualified", "erin")]


def test_a_deal_added_without_a_stage_starts_in_the_first_open_stage(admin_client, pipeline, rep):
    response = add_deal(
        admin_client,
        title="Acme rollout",
        account=AccountFactory(owner=rep).pk,
        owner=rep.pk,
        pipeline=pipeline.pk,
    )

    assert response.status_code == 302
    assert history(Deal.objects.get()) == [(None, "Lead", "erin")]


def test_adding_a_deal_in_a_stage_of_another_pipeline_is_refused(admin_client, pipeline, rep):
    other = PipelineFactory(name="Renewals")

    response = add_deal(
        admin_client,
        title="Acme rollout",
        account=AccountFactory(owner=rep).pk,
        owner=rep.pk,
        pipeline=pipeline.pk,
        stage=stage(other, "Lead").pk,
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "stage": [MOVE_OTHER_PIPELINE.format(stage="Lead", pipeline="Sales")]
    }
    assert not Deal.objects.exists()


def test_adding_a_lost_deal_without_a_lost_reason_is_refused(admin_client, pipeline, rep):
    response = add_deal(
        admin_client,
        title="Acme rollout",
        account=AccountFactory(owner=rep).pk,
        owner=rep.pk,
        pipeline=pipeline.pk,
        stage=stage(pipeline, "Lost").pk,
    )

    assert response.status_code == 200
    message = LOST_REASON_REQUIRED.format(deal="Acme rollout", stage="Lost")
    assert message in response.content.decode()
    assert not Deal.objects.exists()


# Changing a deal


def test_the_change_page_offers_only_stages_of_the_deal_pipeline(admin_client, deal, pipeline):
    PipelineFactory(name="Renewals")

    response = admin_client.get(reverse("admin:deals_deal_change", args=[deal.pk]))

    form = response.context["adminform"].form
    assert list(form.fields["stage"].queryset) == list(pipeline.stages.all())
    assert "pipeline" not in form.fields
    assert "status" not in form.fields
    assert "closed_at" not in form.fields


def test_changing_the_stage_goes_through_move_deal(admin_client, admin_user, deal, pipeline):
    response = edit_deal(admin_client, deal, stage=stage(pipeline, "Won").pk)

    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage.name, deal.status) == ("Won", DealStatus.WON)
    assert deal.closed_at is not None
    assert history(deal) == [(None, "Lead", "alice"), ("Lead", "Won", "erin")]


def test_moving_to_a_lost_stage_without_a_reason_is_refused(admin_client, deal, pipeline):
    response = edit_deal(admin_client, deal, stage=stage(pipeline, "Lost").pk)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "lost_reason": ["Choose a lost reason to move “Acme rollout” to “Lost”."]
    }
    deal.refresh_from_db()
    assert (deal.stage.name, deal.status, deal.closed_at) == ("Lead", DealStatus.OPEN, None)
    assert history(deal) == [(None, "Lead", "alice")]


def test_moving_to_a_lost_stage_with_a_reason_closes_the_deal(admin_client, deal, pipeline):
    price = LostReasonFactory(name="Price")

    response = edit_deal(admin_client, deal, stage=stage(pipeline, "Lost").pk, lost_reason=price.pk)

    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == (DealStatus.LOST, price)
    assert deal.closed_at is not None
    assert history(deal)[-1] == ("Lead", "Lost", "erin")


def test_editing_plain_fields_records_no_stage_change(admin_client, deal):
    source = LeadSourceFactory(name="Referral")

    response = edit_deal(admin_client, deal, title="Acme renewal", value="900", source=source.pk)

    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.title, deal.value, deal.source) == ("Acme renewal", Decimal("900"), source)
    assert deal.stage_changes.count() == 1


def test_editing_the_value_in_the_admin_records_what_it_was(admin_client, deal):
    response = edit_deal(admin_client, deal, value="900", expected_close_date="2026-12-01")

    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.value, deal.expected_close_date) == (Decimal("900"), date(2026, 12, 1))
    change = deal.forecast_changes.get()
    assert (change.value_before, change.expected_close_date_before, change.by.username) == (
        Decimal("1000.00"),
        None,
        "erin",
    )
    assert deal.forecast_changed_at == change.changed_at


def test_a_stage_of_another_pipeline_is_not_a_valid_choice(admin_client, deal):
    other = PipelineFactory(name="Renewals")

    response = edit_deal(admin_client, deal, stage=stage(other, "Won").pk)

    assert response.status_code == 200
    assert "stage" in response.context["adminform"].form.errors
    assert deal.stage_changes.count() == 1


def test_the_change_page_shows_the_stage_and_edit_history_read_only(
    admin_client, admin_user, deal, pipeline
):
    update_deal(deal, by=admin_user, value=Decimal("900"))

    response = admin_client.get(reverse("admin:deals_deal_change", args=[deal.pk]))

    stages, edits = response.context["inline_admin_formsets"]
    assert stages.formset.model is StageChange
    assert [f.instance.to_stage.name for f in stages.formset.initial_forms] == ["Lead"]
    assert edits.formset.model is ForecastChange
    assert [f.instance.value_before for f in edits.formset.initial_forms] == [Decimal("1000")]
    for inline in (stages, edits):
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission


def test_deleting_a_deal_deletes_its_history(admin_client, admin_user, deal):
    update_deal(deal, by=admin_user, value=Decimal("900"))
    url = reverse("admin:deals_deal_delete", args=[deal.pk])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Deal.objects.exists()
    assert not StageChange.objects.exists()
    assert not ForecastChange.objects.exists()


def test_deleting_an_account_with_deals_is_refused(admin_client, deal):
    url = reverse("admin:deals_account_delete", args=[deal.account_id])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 200
    assert "Cannot delete account" in response.content.decode()
    assert Account.objects.filter(pk=deal.account_id).exists()


# The stage history admin


def test_the_stage_change_admin_is_read_only(admin_client, deal):
    change = deal.stage_changes.get()
    change_url = reverse("admin:deals_stagechange_change", args=[change.pk])

    assert admin_client.get(reverse("admin:deals_stagechange_add")).status_code == 403
    response = admin_client.get(change_url)
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert admin_client.post(change_url, {"to_stage": change.to_stage_id}).status_code == 403
    delete_url = reverse("admin:deals_stagechange_delete", args=[change.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:deals_stagechange_changelist"))
    assert changelist.context["action_form"] is None
    assert StageChange.objects.filter(pk=change.pk, to_stage=change.to_stage).exists()


# Activities


def test_adding_an_activity_goes_through_log_activity(admin_client, admin_user, deal):
    Deal.objects.filter(pk=deal.pk).update(last_activity_at=timezone.now() - timedelta(days=9))
    response = admin_client.get(reverse("admin:deals_activity_add"))
    data = change_form_data(response) | {
        "kind": ActivityKind.CALL,
        "subject": "Pricing call",
        "deal": deal.pk,
    }

    response = admin_client.post(reverse("admin:deals_activity_add"), data)

    assert response.status_code == 302
    activity = Activity.objects.get()
    assert (activity.user, activity.account) == (admin_user, deal.account)
    deal.refresh_from_db()
    deal.account.refresh_from_db()
    assert deal.last_activity_at == activity.occurred_at
    assert deal.account.last_activity_at == activity.occurred_at


def test_an_activity_without_deal_or_account_is_refused(admin_client):
    response = admin_client.get(reverse("admin:deals_activity_add"))
    data = change_form_data(response) | {"kind": ActivityKind.NOTE, "subject": "Orphan"}

    response = admin_client.post(reverse("admin:deals_activity_add"), data)

    assert response.status_code == 200
    assert "An activity concerns a deal or an account." in response.content.decode()
    assert not Activity.objects.exists()


# Pick lists


def test_lead_sources_are_switched_off_from_the_list(admin_client):
    source = LeadSourceFactory(name="Fair")
    data = {
        "form-TOTAL_FORMS": 1,
        "form-INITIAL_FORMS": 1,
        "form-0-id": source.pk,
        "_save": "Save",
    }

    response = admin_client.post(reverse("admin:deals_leadsource_changelist"), data)

    assert response.status_code == 302
    source.refresh_from_db()
    assert not source.is_active


# Query counts: each changelist costs the same for 3 rows as for 30.


def _deals(count: int) -> None:
    pipeline = PipelineFactory()
    for _ in range(count):
        DealFactory(pipeline=pipeline, source=LeadSourceFactory())


def _accounts(count: int) -> None:
    for account in AccountFactory.create_batch(count):
        ContactFactory(account=account)


CHANGELISTS = [
    # session, user, choices of the pipeline, owner and source filters, 2 counts,
    # deals with account/pipeline/stage/owner, 2 for the date hierarchy
    ("deals_deal", _deals, 10),
    # session, user, owner filter choices, 2 counts, accounts with owner, industry choices
    ("deals_account", _accounts, 7),
    # session, user, 2 counts, contacts with account
    ("deals_contact", _accounts, 5),
    # session, user, pipeline filter choices, 2 counts, history with deal/stages/user,
    # 2 for the date hierarchy
    ("deals_stagechange", _deals, 8),
    # session, user, user filter choices, 2 counts, activities with user/deal/account,
    # 2 for the date hierarchy
    ("deals_activity", lambda count: ActivityFactory.create_batch(count), 8),
]


@pytest.mark.parametrize("rows", [3, 30])
@pytest.mark.parametrize(
    ("model", "build", "queries"), CHANGELISTS, ids=[c[0] for c in CHANGELISTS]
)
def test_changelist_query_count_is_constant(
    admin_client, django_assert_max_num_queries, model, build, queries, rows
):
    build(rows)
    with django_assert_max_num_queries(queries):
        response = admin_client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= rows
