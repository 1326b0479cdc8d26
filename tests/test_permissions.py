"""The permission matrix: every URL, every role, allowed or refused exactly as the rules say.

URLs come from the URL configuration, so a new URL without an entry here fails
`test_every_url_has_an_entry`. The Django admin has its own staff checks and is covered
by `test_the_admin_is_for_staff_only`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from deals.models import Deal, Flush, FlushStatus, LostReason
from deals.tests.factories import AccountFactory, ActivityFactory, ContactFactory, DealFactory
from pipeline_crm.models import Role
from pipeline_crm.tests.factories import TeamFactory, UserFactory
from stages.tests.factories import PipelineFactory, stage
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "rep_a", "rep_a2", "rep_b", "manager_b", "admin"]
# Outcomes
OK, LOGIN, FORBIDDEN, MISSING = "ok", "login", "403", "404"
EVERYONE_IN = dict.fromkeys(ROLES, OK) | {"anonymous": LOGIN}
PUBLIC = dict.fromkeys(ROLES, OK)


@dataclass
class Entry:
    method: str
    # expected outcome per role, for each target deal ("a": rep_a's, "b": rep_b's);
    # one mapping when the URL concerns no deal
    expect: dict[str, dict[str, str]] | dict[str, str]
    data: str | None = None  # name of the payload builder for POSTs
    kwargs: list[str] = field(default_factory=list)


SEE_A = {
    "anonymous": LOGIN,
    "rep_a": OK,
    "rep_a2": OK,
    "rep_b": MISSING,
    "manager_b": MISSING,
    "admin": OK,
}
SEE_B = {
    "anonymous": LOGIN,
    "rep_a": MISSING,
    "rep_a2": MISSING,
    "rep_b": OK,
    "manager_b": OK,
    "admin": OK,
}
CHANGE_A = SEE_A | {"rep_a2": FORBIDDEN}
CHANGE_B = SEE_B
# Only admins restore archived records.
RESTORE_A = SEE_A | {"rep_a": FORBIDDEN, "rep_a2": FORBIDDEN}
RESTORE_B = SEE_B | {"rep_b": FORBIDDEN, "manager_b": FORBIDDEN}
CHANGE = {"a": CHANGE_A, "b": CHANGE_B}
RESTORE = {"a": RESTORE_A, "b": RESTORE_B}
SEE = {"a": SEE_A, "b": SEE_B}
FLUSHERS = EVERYONE_IN | dict.fromkeys(["rep_a", "rep_a2", "rep_b"], FORBIDDEN)
FLUSH = {"a": FLUSHERS | {"manager_b": MISSING}, "b": FLUSHERS}

MATRIX: dict[str, Entry] = {
    "login": Entry("GET", PUBLIC),
    "logout": Entry("POST", dict.fromkeys(ROLES, LOGIN), data="nothing"),  # back to login
    "home": Entry("GET", EVERYONE_IN),
    "deals:list": Entry("GET", EVERYONE_IN),
    "deals:accounts": Entry("GET", EVERYONE_IN),
    # The lists and their exports show each user what they may see (deals/list_views.py)
    "deals:accounts-export": Entry("GET", EVERYONE_IN),
    "deals:contacts": Entry("GET", EVERYONE_IN),
    "tasks:list": Entry("GET", EVERYONE_IN),
    "reports:index": Entry("GET", EVERYONE_IN),
    # Every report shows each user the figures of the people they report on (reports/scope.py)
    "reports:revenue": Entry("GET", EVERYONE_IN),
    "reports:forecast": Entry("GET", EVERYONE_IN),
    "reports:funnel": Entry("GET", EVERYONE_IN),
    "reports:team": Entry("GET", EVERYONE_IN),
    "deals:board": Entry("GET", EVERYONE_IN, kwargs=["pipeline_id"]),
    "deals:column": Entry("GET", EVERYONE_IN, kwargs=["pipeline_id", "stage_id"]),
    "deals:quick-add": Entry("POST", EVERYONE_IN, data="quick_add", kwargs=["pipeline_id"]),
    "deals:detail": Entry("GET", {"a": SEE_A, "b": SEE_B}, kwargs=["deal_id"]),
    "deals:move-form": Entry("GET", {"a": CHANGE_A, "b": CHANGE_B}, kwargs=["deal_id"]),
    "deals:move": Entry("POST", {"a": CHANGE_A, "b": CHANGE_B}, data="move", kwargs=["deal_id"]),
    "deals:import": Entry(
        "GET", EVERYONE_IN | dict.fromkeys(["rep_a", "rep_a2", "rep_b"], FORBIDDEN)
    ),
    "deals:export": Entry("GET", EVERYONE_IN),
    # The flush of stale deals (deals/flush_views.py): managers and admins; a flush's page
    # and undo for its requester and admins. Flush a is a scheduled one, b dave's.
    "deals:flush": Entry("GET", FLUSHERS),
    "deals:flush-start": Entry("POST", FLUSHERS, data="flush"),
    "deals:flush-job": Entry("GET", FLUSH, kwargs=["flush_id"]),
    "deals:flush-undo": Entry("POST", FLUSH, data="nothing", kwargs=["flush_id"]),
    # Create and edit forms, archive and restore (deals/record_views.py)
    "deals:create": Entry("POST", EVERYONE_IN, data="deal_create"),
    "deals:edit": Entry("POST", CHANGE, data="deal_edit", kwargs=["deal_id"]),
    "deals:archive": Entry("POST", CHANGE, data="nothing", kwargs=["deal_id"]),
    "deals:restore": Entry("POST", RESTORE, data="nothing", kwargs=["deal_id"]),
    "deals:account-create": Entry("POST", EVERYONE_IN, data="account"),
    "deals:account-edit": Entry("POST", CHANGE, data="account", kwargs=["account_id"]),
    "deals:account-archive": Entry("POST", CHANGE, data="nothing", kwargs=["account_id"]),
    "deals:account-restore": Entry("POST", RESTORE, data="nothing", kwargs=["account_id"]),
    "deals:contact-create": Entry("POST", CHANGE, data="contact", kwargs=["account_id"]),
    "deals:contact-edit": Entry("POST", CHANGE, data="contact", kwargs=["contact_id"]),
    "deals:contact-archive": Entry("POST", CHANGE, data="nothing", kwargs=["contact_id"]),
    "deals:contact-restore": Entry("POST", RESTORE, data="nothing", kwargs=["contact_id"]),
    # Deal and account pages (deals/deal_views.py, deals/account_views.py): everyone who
    # sees the record reads its page; every change on it needs change rights.
    "deals:account-detail": Entry("GET", SEE, kwargs=["account_id"]),
    "deals:bant": Entry("POST", CHANGE, data="bant", kwargs=["deal_id"]),
    "deals:field": Entry("POST", CHANGE, data="field", kwargs=["deal_id", "field"]),
    "deals:log-activity": Entry("POST", CHANGE, data="activity", kwargs=["deal_id"]),
    "deals:add-task": Entry("POST", CHANGE, data="task", kwargs=["deal_id"]),
    "deals:account-log-activity": Entry("POST", CHANGE, data="activity", kwargs=["account_id"]),
    "deals:account-add-task": Entry("POST", CHANGE, data="task", kwargs=["account_id"]),
    # Correcting the timeline (deals/activity_views.py): the rights of the activity's deal.
    "deals:activity-edit": Entry("POST", CHANGE, data="activity_edit", kwargs=["activity_id"]),
    "deals:activity-delete": Entry("POST", CHANGE, data="nothing", kwargs=["activity_id"]),
    # Task rows (tasks/views.py): a task is seen with its deal and changed by its assignee,
    # whoever may change its deal, the assignee's manager, an admin. The targets are tasks
    # of deal a (alice's) and deal b (carol's), each held by the deal's owner.
    "tasks:badge": Entry("GET", EVERYONE_IN),
    "tasks:complete": Entry("POST", CHANGE, data="nothing", kwargs=["task_id"]),
    "tasks:snooze": Entry("POST", CHANGE, data="snooze", kwargs=["task_id"]),
    "tasks:reassign": Entry("POST", CHANGE, data="reassign", kwargs=["task_id"]),
    "tasks:edit": Entry("POST", CHANGE, data="task_edit", kwargs=["task_id"]),
    "tasks:dismiss": Entry("POST", CHANGE, data="nothing", kwargs=["task_id"]),
    "tasks:next": Entry("POST", CHANGE, data="task", kwargs=["task_id"]),
}


def url_names(patterns=None, namespace: str = "") -> set[str]:
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            if pattern.namespace == "admin":
                continue
            names |= url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_every_url_has_an_entry():
    assert url_names() == set(MATRIX), "add the new URLs to MATRIX with their rules"


@pytest.fixture
def world():
    """Team A (alice, bob), team B (carol, managed by dave), an admin, a team pipeline
    with one deal of alice's and one of carol's."""
    team_a, team_b = TeamFactory(name="A"), TeamFactory(name="B")
    users = {
        "rep_a": UserFactory(username="alice", team=team_a),
        "rep_a2": UserFactory(username="bob", team=team_a),
        "rep_b": UserFactory(username="carol", team=team_b),
        "manager_b": UserFactory(username="dave", role=Role.MANAGER),
        "admin": UserFactory(username="erin", role=Role.ADMIN),
    }
    team_b.manager = users["manager_b"]
    team_b.save()
    pipeline = PipelineFactory(name="Sales")
    deals = {
        "a": DealFactory(title="A deal", pipeline=pipeline, owner=users["rep_a"]),
        "b": DealFactory(title="B deal", pipeline=pipeline, owner=users["rep_b"]),
    }
    # Accounts without deals, so that they are seen through their owners only.
    accounts = {
        "a": AccountFactory(name="A account", owner=users["rep_a"]),
        "b": AccountFactory(name="B account", owner=users["rep_b"]),
    }
    contacts = {key: ContactFactory(account=account) for key, account in accounts.items()}
    activities = {key: ActivityFactory(deal=deal) for key, deal in deals.items()}
    tasks = {
        key: TaskFactory(deal=deal, account=deal.account, assignee=deal.owner)
        for key, deal in deals.items()
    }
    # Finished flushes that moved nothing: a scheduled one, one of dave's.
    flushes = {
        key: Flush.objects.create(
            pipeline=pipeline,
            requested_by=by,
            is_scheduled=by is None,
            inactive_days=90,
            lost_stage=stage(pipeline, "Lost"),
            lost_reason=LostReason.objects.get_or_create(name="Stale (flushed)")[0],
            status=FlushStatus.DONE,
            finished_at=timezone.now(),
        )
        for key, by in [("a", None), ("b", users["manager_b"])]
    }
    return {
        "users": users,
        "pipeline": pipeline,
        "deals": deals,
        "accounts": accounts,
        "contacts": contacts,
        "activities": activities,
        "tasks": tasks,
        "flushes": flushes,
    }


def payload(name: str, world, user, deal: Deal | None) -> dict:
    pipeline = world["pipeline"]
    if name == "move":
        return {"stage": stage(pipeline, "Contacted").pk, "from_stage": deal.stage_id}
    if name == "quick_add":
        return {
            "title": "New",
            "new_account": "Initech",
            "value": "10",
            "owner": user.pk if user else "",
        }
    if name == "deal_create":
        return {
            "title": "New",
            "pipeline": pipeline.pk,
            "new_account": "Initech",
            "value": "10",
            "owner": user.pk if user else "",
        }
    if name == "deal_edit":
        return {
            "title": "Renamed",
            "account": deal.account_id,
            "owner": deal.owner_id,
            "value": "5",
        }
    if name == "account":
        return {"name": "Renamed Inc", "owner": user.pk if user else ""}
    if name == "contact":
        return {"name": "Wile E. Coyote"}
    if name == "bant":
        return {"has_budget": "on"}
    if name == "field":
        return {"title": "Renamed"}
    if name == "activity":
        return {"kind": "call", "subject": "Called"}
    if name == "activity_edit":
        return {"kind": "meeting", "subject": "Met", "occurred_at": "2020-01-01T10:00"}
    if name == "task":
        return {"title": "Call back", "due": "2999-01-01", "assignee": user.pk if user else ""}
    if name == "flush":
        return {"pipeline": pipeline.pk, "inactive_days": "90"}
    if name == "snooze":
        return {"when": "tomorrow"}
    if name == "reassign":
        return {"assignee": user.pk if user else ""}
    if name == "task_edit":
        return {"title": "Renamed", "notes": "", "due_at": "2999-01-01T10:00"}
    return {}


def outcome(response) -> str:
    if response.status_code in (302, 303) and "/login/" in response["Location"]:
        return LOGIN
    if response.status_code in (403, 404):
        return str(response.status_code)
    assert response.status_code < 400, (response.status_code, response.content[:300])
    return OK


def cases():
    for name, entry in MATRIX.items():
        targets = ["a", "b"] if "a" in entry.expect else [None]
        for target in targets:
            for role in ROLES:
                yield pytest.param(name, target, role, id=f"{name}-{target or '-'}-{role}")


@pytest.mark.parametrize(("name", "target", "role"), list(cases()))
def test_access_is_exactly_as_the_rules_say(world, name, target, role):
    entry = MATRIX[name]
    expected = entry.expect[target][role] if target else entry.expect[role]
    user = world["users"].get(role)
    deal = world["deals"][target] if target else None
    kwargs = {
        "pipeline_id": world["pipeline"].pk,
        "stage_id": stage(world["pipeline"], "Lead").pk,
        "deal_id": deal.pk if deal else None,
        "account_id": world["accounts"][target].pk if target else None,
        "contact_id": world["contacts"][target].pk if target else None,
        "activity_id": world["activities"][target].pk if target else None,
        "task_id": world["tasks"][target].pk if target else None,
        "flush_id": world["flushes"][target].pk if target else None,
        "field": "title",
    }
    url = reverse(name, kwargs={key: kwargs[key] for key in entry.kwargs})
    client = Client()
    if user:
        client.force_login(user)
    before = list(Deal.objects.order_by("pk").values_list("pk", "stage_id"))

    if entry.method == "POST":
        response = client.post(url, payload(entry.data, world, user, deal))
    else:
        response = client.get(url)

    assert outcome(response) == expected
    if expected != OK:
        assert list(Deal.objects.order_by("pk").values_list("pk", "stage_id")) == before


def test_the_admin_is_for_staff_only(world):
    for role in ROLES:
        client = Client()
        if role != "anonymous":
            client.force_login(world["users"][role])
        response = client.get(reverse("admin:deals_deal_changelist"))
        if role == "admin":
            assert response.status_code == 200
        else:
            assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("name", [name for name, entry in MATRIX.items() if entry.method == "POST"])
def test_every_state_changing_url_needs_a_csrf_token(world, name):
    entry = MATRIX[name]
    admin = world["users"]["admin"]
    deal = world["deals"]["a"]
    kwargs = {
        "pipeline_id": world["pipeline"].pk,
        "deal_id": deal.pk,
        "account_id": world["accounts"]["a"].pk,
        "contact_id": world["contacts"]["a"].pk,
        "activity_id": world["activities"]["a"].pk,
        "task_id": world["tasks"]["a"].pk,
        "flush_id": world["flushes"]["a"].pk,
        "field": "title",
    }
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = list(Deal.objects.order_by("pk").values_list("pk", "stage_id"))

    response = client.post(
        reverse(name, kwargs={key: kwargs[key] for key in entry.kwargs}),
        payload(entry.data, world, admin, deal),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 403
    assert list(Deal.objects.order_by("pk").values_list("pk", "stage_id")) == before


def test_the_login_form_needs_a_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 403
