"""What users type can neither set what they may not set, nor run in someone's browser,
nor break a page: mass assignment, XSS and random input."""

from __future__ import annotations

import importlib
import pkgutil
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deals.models import (
    Account,
    Activity,
    Deal,
    Flush,
    FlushItem,
    FlushItemStatus,
    FlushStatus,
    LostReason,
    StageChange,
)
from deals.services import log_activity
from deals.tests.factories import AccountFactory, ContactFactory, DealFactory, LostReasonFactory
from pipeline_crm.tests.factories import UserFactory
from reports.tests.factories import deal_with_history
from stages.tests.factories import stage
from tasks.models import TaskStatus
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("pipeline_crm", "deals", "stages", "tasks", "reports")


def our_model_forms() -> list[type[forms.ModelForm]]:
    for app in OUR_APPS:
        package = importlib.import_module(app)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name in ("forms", "admin"):
                importlib.import_module(f"{app}.{module.name}")
    found, pending = [], list(forms.ModelForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        if form.__module__.split(".")[0] in OUR_APPS:
            found.append(form)
    return found


# Mass assignment


def test_model_forms_list_their_fields_explicitly():
    model_forms = our_model_forms()
    assert model_forms, "no ModelForm found: the discovery is broken"
    for form in model_forms:
        meta = form._meta
        assert meta.fields not in (None, "__all__"), f"{form.__name__} must list its fields"
        assert not meta.exclude, f"{form.__name__} must not use exclude"


def test_quick_add_ignores_fields_the_user_may_not_set(client, rep, outsider, pipeline):
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk])
    response = client.post(
        url,
        {
            "title": "Pilot",
            "new_account": "Initech",
            "value": "100",
            "owner": rep.pk,
            "stage": stage(pipeline, "Won").pk,
            "status": "won",
            "closed_at": "2020-01-01",
            "board_position": "-5",
            "is_staff": "on",
            "is_superuser": "on",
        },
    )
    assert response.status_code == 302
    deal = Deal.objects.get(title="Pilot")
    assert (deal.stage.name, deal.status, deal.closed_at, deal.owner) == ("Lead", "open", None, rep)
    rep.refresh_from_db()
    assert not rep.is_staff and not rep.is_superuser


def test_quick_add_refuses_an_owner_the_user_may_not_assign(client, rep, other_rep, pipeline):
    client.force_login(rep)
    url = reverse("deals:quick-add", args=[pipeline.pk])
    response = client.post(
        url, {"title": "Pilot", "new_account": "X", "value": "1", "owner": other_rep.pk}
    )
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not Deal.objects.exists()


def test_a_move_ignores_fields_other_than_its_own(client, rep, outsider, pipeline):
    deal = DealFactory(pipeline=pipeline, owner=rep, value=Decimal("10"))
    client.force_login(rep)
    client.post(
        reverse("deals:move", args=[deal.pk]),
        {
            "stage": stage(pipeline, "Contacted").pk,
            "owner": outsider.pk,
            "value": "999999",
            "title": "x",
        },
    )
    deal.refresh_from_db()
    assert (deal.stage.name, deal.owner, deal.value, deal.title) == (
        "Contacted",
        rep,
        Decimal("10"),
        deal.title,
    )


# XSS

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


@pytest.mark.parametrize("payload", PAYLOADS)
def test_free_text_is_escaped_everywhere_it_shows(client, admin_user, pipeline, payload):
    owner = UserFactory(username="mallory", first_name=payload, last_name=payload)
    account = AccountFactory(name=payload, owner=owner)
    deal = DealFactory(title=payload, account=account, owner=owner, pipeline=pipeline)
    LostReasonFactory(name=payload)
    contact = ContactFactory(account=account, name=payload, title=payload)
    note = log_activity(kind="note", subject=payload, body=payload, user=owner, deal=deal)
    log_activity(kind="call", subject=payload, body=payload, user=owner, account=account)
    open_task = TaskFactory(deal=deal, assignee=owner, title=payload, notes=payload)
    TaskFactory(
        deal=deal,
        assignee=owner,
        title=payload,
        notes=payload,
        status=TaskStatus.DONE,
        completed_at=deal.created_at,
    )
    today = timezone.localdate().isoformat()
    for closed in ("Won", "Lost"):
        deal_with_history(
            pipeline,
            owner,
            [("Lead", today), (closed, today)],
            account=account,
            source=payload,
            lost_reason=payload if closed == "Lost" else None,
        )
    qualified = stage(pipeline, "Qualified")
    # A stale deal for the flush preview; a flush of it, undone, that left it alone.
    stale = deal_with_history(
        pipeline, owner, [("Qualified", "2020-01-01")], account=account, title=payload
    )
    flush = Flush.objects.create(
        pipeline=pipeline,
        requested_by=owner,
        inactive_days=90,
        owner=owner,
        stage=qualified,
        lost_stage=stage(pipeline, "Lost"),
        lost_reason=LostReason.objects.get_or_create(name="Stale (flushed)")[0],
        status=FlushStatus.DONE,
        total=1,
        moved=1,
        kept=1,
        finished_at=timezone.now(),
        undo_status=FlushStatus.DONE,
        undone_at=timezone.now(),
    )
    FlushItem.objects.create(flush=flush, deal=stale, status=FlushItemStatus.KEPT)
    qualified.name = payload
    qualified.save()
    pipeline.name = payload
    pipeline.save()
    client.force_login(admin_user)

    pages = [
        reverse("deals:board", args=[pipeline.pk]),
        reverse("deals:detail", args=[deal.pk]),
        reverse("deals:move-form", args=[deal.pk]),
        reverse("deals:field", args=[deal.pk, "contact"]),
        reverse("deals:log-activity", args=[deal.pk]) + "?kind=call",
        reverse("deals:activity-edit", args=[note.pk]),
        reverse("deals:add-task", args=[deal.pk]),
        reverse("deals:account-detail", args=[account.pk]),
        reverse("deals:account-log-activity", args=[account.pk]) + "?kind=note",
        reverse("deals:account-add-task", args=[account.pk]),
        reverse("deals:create") + f"?account={account.pk}&pipeline={pipeline.pk}",
        reverse("deals:edit", args=[deal.pk]),
        reverse("deals:account-edit", args=[account.pk]),
        reverse("deals:contact-create", args=[account.pk]),
        reverse("deals:contact-edit", args=[contact.pk]),
        reverse("deals:list"),
        reverse("deals:accounts"),
        reverse("deals:contacts"),
        reverse("deals:list") + f"?account={account.pk}&mine=1",
        reverse("reports:revenue"),
        reverse("reports:forecast"),
        reverse("reports:funnel") + f"?pipeline={pipeline.pk}",
        reverse("reports:team"),
        reverse("tasks:list") + "?person=all",
        reverse("deals:flush") + f"?pipeline={pipeline.pk}&inactive_days=90&owner={owner.pk}",
        reverse("deals:flush-job", args=[flush.pk]),
        reverse("tasks:list") + f"?person={owner.pk}",
        reverse("tasks:edit", args=[open_task.pk]),
        reverse("tasks:next", args=[open_task.pk]),
        reverse("admin:deals_deal_changelist"),
        reverse("admin:deals_deal_change", args=[deal.pk]),
        reverse("admin:deals_account_changelist"),
        reverse("admin:stages_pipeline_change", args=[pipeline.pk]),
        reverse("admin:pipeline_crm_user_changelist"),
        reverse("admin:deals_contact_changelist"),
        reverse("admin:deals_activity_changelist"),
        reverse("admin:deals_stagechange_changelist"),
        reverse("admin:stages_historicalstage_changelist"),
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert payload not in html, url
        assert "&lt;" in html, url


# Random input: never a 500, never a partial write

text = st.text(max_size=40)
# Ids as typed, and past what the database's integers (and SQLite's parameters) hold.
numbers = st.one_of(st.integers(min_value=-5, max_value=10**12), st.sampled_from([2**63, 10**20]))
ids = st.one_of(numbers, text)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def counts() -> tuple[int, ...]:
    return (Deal.objects.count(), Account.objects.count(), StageChange.objects.count())


@SETTINGS
@given(title=text, account=ids, new_account=text, value=text, owner=ids, close=text)
def test_quick_add_survives_any_input(
    client, rep, pipeline, title, account, new_account, value, owner, close
):
    client.force_login(rep)
    before = counts()
    response = client.post(
        reverse("deals:quick-add", args=[pipeline.pk]),
        {
            "title": title,
            "account": account,
            "new_account": new_account,
            "value": value,
            "owner": owner,
            "expected_close_date": close,
        },
    )
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert counts() == before
    else:
        deals, accounts, changes = counts()
        assert (deals, changes) == (before[0] + 1, before[2] + 1)


@SETTINGS
@given(
    title=text,
    # None stands for a valid id, so that examples get past the first checks.
    pipeline_id=st.none() | ids,
    stage_id=ids,
    account=ids,
    new_account=text,
    contact=ids,
    value=text,
    owner=st.none() | ids,
    close=text,
    bant=text,
)
def test_the_new_deal_form_survives_any_input(
    client,
    rep,
    pipeline,
    title,
    pipeline_id,
    stage_id,
    account,
    new_account,
    contact,
    value,
    owner,
    close,
    bant,
):
    client.force_login(rep)
    before = counts()
    response = client.post(
        reverse("deals:create"),
        {
            "title": title,
            "pipeline": pipeline.pk if pipeline_id is None else pipeline_id,
            "stage": stage_id,
            "account": account,
            "new_account": new_account,
            "contact": contact,
            "value": value,
            "owner": rep.pk if owner is None else owner,
            "expected_close_date": close,
            "has_budget": bant,
        },
    )
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert counts() == before
    else:
        deals, accounts, changes = counts()
        assert (deals, changes) == (before[0] + 1, before[2] + 1)


kinds = st.sampled_from(["call", "email", "meeting", "note"]) | text


@SETTINGS
@given(kind=kinds, subject=text, body=text, occurred_at=text, initial=text, htmx=st.booleans())
def test_logging_an_activity_survives_any_input(
    client, rep, pipeline, kind, subject, body, occurred_at, initial, htmx
):
    deal = Deal.objects.filter(owner=rep).first() or DealFactory(pipeline=pipeline, owner=rep)
    client.force_login(rep)
    before = Activity.objects.count()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        reverse("deals:log-activity", args=[deal.pk]),
        {
            "kind": kind,
            "subject": subject,
            "body": body,
            "occurred_at": occurred_at,
            "initial-occurred_at": initial,
        },
        **headers,
    )
    assert response.status_code in (200, 302, 400)
    saved = response.status_code == 302 or "HX-Retarget" in response
    assert Activity.objects.count() == before + saved


EDITABLE = (
    "title",
    "account_id",
    "contact_id",
    "owner_id",
    "value",
    "expected_close_date",
    "source_id",
)


@SETTINGS
@given(
    name=st.sampled_from(
        ["title", "account", "contact", "owner", "value", "expected_close_date", "source"]
    ),
    value=st.one_of(text, ids),
    # The value the form says it showed (pipeline_crm.forms.KeepsConcurrentEdits).
    shown=st.none() | text | ids,
    htmx=st.booleans(),
)
def test_inline_edit_survives_any_input(client, rep, pipeline, name, value, shown, htmx):
    deal = Deal.objects.filter(owner=rep).first() or DealFactory(pipeline=pipeline, owner=rep)
    client.force_login(rep)
    before = Deal.objects.values_list(*EDITABLE).get(pk=deal.pk)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    data = {name: value} if shown is None else {name: value, f"initial-{name}": shown}
    response = client.post(reverse("deals:field", args=[deal.pk, name]), data, **headers)
    assert response.status_code in (200, 302)
    saved = response.status_code == 302 or "hx-swap-oob" in response.content.decode()
    if not saved:
        assert Deal.objects.values_list(*EDITABLE).get(pk=deal.pk) == before


@SETTINGS
@given(stage_id=ids, from_stage=ids, position=ids, lost_reason=ids, htmx=st.booleans())
def test_the_move_endpoint_survives_any_input(
    client, rep, pipeline, stage_id, from_stage, position, lost_reason, htmx
):
    deal = Deal.objects.filter(owner=rep).first() or DealFactory(pipeline=pipeline, owner=rep)
    LostReason.objects.get_or_create(name="Price")
    client.force_login(rep)
    before = (
        deal.stage_changes.count(),
        Deal.objects.values_list("stage_id", "board_position").get(pk=deal.pk),
    )
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        reverse("deals:move", args=[deal.pk]),
        {
            "stage": stage_id,
            "from_stage": from_stage,
            "position": position,
            "lost_reason": lost_reason,
        },
        **headers,
    )
    assert response.status_code in (200, 302, 400, 409)
    if response.status_code >= 400:
        after = (
            deal.stage_changes.count(),
            Deal.objects.values_list("stage_id", "board_position").get(pk=deal.pk),
        )
        assert after == before


@SETTINGS
@given(owner=ids, q=text, close_from=text, close_to=text, rotting=text, offset=text)
def test_the_board_and_load_more_survive_any_filter(
    client, rep, pipeline, owner, q, close_from, close_to, rotting, offset
):
    client.force_login(rep)
    params = {
        "owner": owner,
        "q": q,
        "close_from": close_from,
        "close_to": close_to,
        "rotting": rotting,
    }
    assert client.get(reverse("deals:board", args=[pipeline.pk]), params).status_code == 200
    column = reverse("deals:column", args=[pipeline.pk, stage(pipeline, "Lead").pk])
    assert client.get(column, params | {"offset": offset}).status_code in (200, 400)


@SETTINGS
@given(username=text, password=text)
def test_the_login_form_survives_any_input(client, rep, username, password):
    response = client.post(reverse("login"), {"username": username, "password": password})
    # 429 once random guesses trip the login throttling
    assert response.status_code in (200, 429)


@SETTINGS
@given(template=text, name=text)
def test_the_pipeline_template_form_survives_any_input(client, admin_user, template, name):
    from stages.models import Pipeline

    client.force_login(admin_user)
    before = Pipeline.objects.count()
    response = client.post(
        reverse("admin:stages_pipeline_from_template"), {"template": template, "name": name}
    )
    assert response.status_code in (200, 302)
    assert Pipeline.objects.count() == before + (response.status_code == 302)


@SETTINGS
@given(
    page=st.sampled_from(["reports:revenue", "reports:forecast", "reports:funnel", "reports:team"]),
    period=st.one_of(st.sampled_from(["this_month", "last_year", "custom"]), text),
    start=st.one_of(st.dates().map(str), text),
    end=st.one_of(st.dates().map(str), text),
    pipeline_id=ids,
    owner=ids,
    table=st.one_of(st.sampled_from(["summary", "team", "funnel", "forecast-months"]), text),
    csv=st.booleans(),
    probabilities=text,
)
def test_the_reports_survive_any_query(
    client,
    manager,
    pipeline,
    page,
    period,
    start,
    end,
    pipeline_id,
    owner,
    table,
    csv,
    probabilities,
):
    client.force_login(manager)
    query = {
        "period": period,
        "start": start,
        "end": end,
        "pipeline": pipeline_id,
        "owner": owner,
        "probabilities": probabilities,
    }
    if csv:
        query |= {"format": "csv", "table": table}

    response = client.get(reverse(page), query)

    assert response.status_code in (200, 400)
