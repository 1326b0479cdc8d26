"""Demo data for `manage.py seed_demo`: a small sales organisation with a year of history.

Everything comes from one `random.Random(seed)` and today's date, so a seed gives the same
data all day. Past events happen before today's midnight; only task due dates and expected
close dates may lie ahead. Demo data is recognised by the demo users (fixed usernames with an
e-mail address on DEMO_EMAIL_DOMAIN), the demo pipelines and teams (fixed names) and the
accounts the demo users own.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Exists, OuterRef, ProtectedError, QuerySet, RestrictedError, Subquery
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealStatus,
    ForecastChange,
    LeadSource,
    LostReason,
    StageChange,
)
from deals.services import DealDraft, create_deals_with_history
from pipeline_crm.models import Role, Team, User
from stages.models import Pipeline, Stage, StageKind
from stages.services import create_pipeline_from_template
from tasks.models import Task, TaskKind, TaskStatus

DEFAULT_SEED = 42
DEMO_PASSWORD = "pipeline-demo"
# A reserved TLD (RFC 2606): demo addresses can never reach a real inbox.
DEMO_EMAIL_DOMAIN = "demo.pipelinecrm.example"

SEED_CONFLICT = (
    "Cannot seed the demo, these names are taken: {names}. "
    "`seed_demo --reset` replaces earlier demo data."
)
RESET_BLOCKED = (
    "Cannot reset the demo: rows outside the demo data refer to it ({rows}). "
    "Remove or reassign them first."
)

ACCOUNT_COUNT = 60
DEAL_COUNT = 400

# (name, template key, share of the deals, value range in dollars, products)
PIPELINES = (
    (
        "New business",
        "classic",
        5,
        (5_000, 150_000),
        ("Platform licence", "Enterprise plan", "Analytics add-on", "Pilot", "Onboarding package"),
    ),
    (
        "Startup sales",
        "startup",
        2,
        (2_000, 40_000),
        ("Starter plan", "Growth plan", "Team seats", "Trial conversion"),
    ),
    (
        "Renewals & upsell",
        "financial-services",
        3,
        (3_000, 90_000),
        ("Annual renewal", "Multi-year renewal", "Premium support upsell", "Seat expansion"),
    ),
)
PIPELINE_NAMES = tuple(name for name, *_ in PIPELINES)

ADMIN = ("admin", "Alex", "Morgan")
# (team, manager, reps); each person is (username, first name, last name)
TEAMS = (
    (
        "Team North",
        ("maria", "Maria", "Jensen"),
        (("tom", "Tom", "Fischer"), ("priya", "Priya", "Raman"), ("lukas", "Lukas", "Novak")),
    ),
    (
        "Team South",
        ("james", "James", "Okafor"),
        (("sofia", "Sofia", "Rossi"), ("daniel", "Daniel", "Kim"), ("amara", "Amara", "Mensah")),
    ),
)
TEAM_NAMES = tuple(name for name, _, _ in TEAMS)
USERNAMES = (ADMIN[0],) + tuple(
    person[0] for _, manager, reps in TEAMS for person in (manager, *reps)
)

LOST_REASONS = ("Price", "Competitor", "No budget", "No decision", "Timing", "Went silent")
LOST_REASON_WEIGHTS = (5, 4, 3, 3, 2, 4)
LEAD_SOURCES = ("Website", "Referral", "Outbound", "Event", "Partner", "LinkedIn")
LEAD_SOURCE_WEIGHTS = (5, 3, 4, 2, 2, 3)

COMPANY_STEMS = (
    "Alder", "Aurora", "Beacon", "Birch", "Bluefin", "Brightwater", "Cascade", "Clearview",
    "Cobalt", "Copperleaf", "Crescent", "Driftwood", "Ember", "Evergreen", "Falcon", "Fjord",
    "Glacier", "Granite", "Greenfield", "Harbor", "Helix", "Highland", "Ironbridge", "Jasper",
    "Juniper", "Kestrel", "Keystone", "Lakeside", "Linden", "Lumen", "Maple", "Meridian",
    "Monarch", "Nimbus", "Northstar", "Northwind", "Nova", "Oakridge", "Orchid", "Osprey",
    "Pinnacle", "Pioneer", "Polaris", "Quarry", "Quill", "Redwood", "Ridgeway", "Riverbend",
    "Saffron", "Silverline", "Sterling", "Stonegate", "Summit", "Tidewater", "Trident",
    "Tundra", "Upland", "Vantage", "Vertex", "Westbrook", "Willow", "Zephyr",
)  # fmt: skip
INDUSTRIES = {
    "Software": ("Software", "Labs", "Systems"),
    "Logistics": ("Logistics", "Freight"),
    "Manufacturing": ("Industries", "Manufacturing"),
    "Healthcare": ("Health", "Medical"),
    "Financial services": ("Capital", "Financial"),
    "Retail": ("Retail", "Outfitters"),
    "Energy": ("Energy", "Power"),
    "Education": ("Learning", "Education"),
    "Media": ("Media", "Studios"),
    "Construction": ("Builders", "Construction"),
}
FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas",
    "Kate", "Leo", "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tara", "Victor",
    "Wendy", "Yusuf", "Zoe", "Omar", "Hannah", "Ravi", "Chloe", "Marco", "Lena", "Ethan",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Baptiste", "Chen", "Dubois", "Evans", "Ferreira", "Garcia", "Hughes",
    "Ito", "Johansson", "Kowalski", "Lambert", "Moreau", "Nakamura", "O'Brien", "Patel",
    "Quinn", "Schmidt", "Tanaka", "Usman", "Varga", "Walsh", "Young", "Zimmermann",
)  # fmt: skip
JOB_TITLES = (
    "CEO", "CFO", "COO", "CTO", "VP Sales", "Head of Operations", "IT Director",
    "Procurement Manager", "Head of Finance", "Operations Manager",
)  # fmt: skip

ACTIVITY_KIND_WEIGHTS = {
    ActivityKind.EMAIL: 35,
    ActivityKind.CALL: 30,
    ActivityKind.MEETING: 15,
    ActivityKind.NOTE: 20,
}
ACTIVITY_SUBJECTS = {
    ActivityKind.EMAIL: (
        "Sent pricing overview to {first}",
        "Follow-up after the demo",
        "Shared case studies",
        "Answered security questionnaire",
        "Sent revised proposal",
        "Reply from {first} about timing",
    ),
    ActivityKind.CALL: (
        "Discovery call with {first}",
        "Check-in call",
        "Pricing questions from {first}",
        "Call about implementation timeline",
        "Left a voicemail for {first}",
    ),
    ActivityKind.MEETING: (
        "Product demo",
        "Workshop with {first}'s team",
        "Proposal walkthrough",
        "Negotiation meeting",
        "Quarterly business review",
    ),
    ActivityKind.NOTE: (
        "Budget confirmed for next quarter",
        "{first} is the decision maker",
        "Competitor also in the running",
        "Needs sign-off from legal",
        "Wants an SSO integration",
    ),
}
TASK_TITLES = (
    "Call {first} to follow up",
    "Send the revised proposal",
    "Book a demo with {first}",
    "Prepare the contract draft",
    "Check budget sign-off with {first}",
    "Send case studies",
    "Confirm the decision timeline",
    "Share pricing options with {first}",
)


PickList = TypeVar("PickList", LostReason, LeadSource)


class DemoDataError(Exception):
    """The demo data cannot be written; the message is meant for the operator."""


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    password: str
    logins: tuple[tuple[str, str], ...]  # (role, username)
    counts: dict[str, int]


@dataclass
class _PipelineStages:
    pipeline: Pipeline
    value_range: tuple[int, int]
    products: tuple[str, ...]
    open: list[Stage]
    won: list[Stage]
    lost: Stage


@dataclass
class _DealPlan:
    draft: DealDraft
    last_touch: datetime  # the newest activity, if any; no earlier than the last move


# Demo scope


def _demo_users() -> QuerySet[User]:
    return User.objects.filter(username__in=USERNAMES, email__endswith=f"@{DEMO_EMAIL_DOMAIN}")


def _demo_pipelines() -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(name__in=PIPELINE_NAMES)


def _demo_accounts() -> QuerySet[Account]:
    return Account.objects.filter(owner__in=_demo_users())


def _demo_deals() -> QuerySet[Deal]:
    return Deal.objects.filter(pipeline__in=_demo_pipelines(), account__in=_demo_accounts())


def demo_is_present() -> bool:
    """True when the demo admin and all demo pipelines exist."""
    admin = _demo_users().filter(username=ADMIN[0])
    return admin.exists() and _demo_pipelines().count() == len(PIPELINE_NAMES)


def demo_summary(*, created: bool) -> DemoSummary:
    deals = _demo_deals()
    return DemoSummary(
        created=created,
        password=DEMO_PASSWORD,
        logins=(("admin", ADMIN[0]), ("manager", TEAMS[0][1][0]), ("rep", TEAMS[0][2][0][0])),
        counts={
            "pipelines": _demo_pipelines().count(),
            "teams": Team.objects.filter(name__in=TEAM_NAMES).count(),
            "users": _demo_users().count(),
            "accounts": _demo_accounts().count(),
            "contacts": Contact.objects.filter(account__in=_demo_accounts()).count(),
            "deals": deals.count(),
            "stage changes": StageChange.objects.filter(deal__in=deals).count(),
            "activities": Activity.objects.filter(deal__in=deals).count(),
            "tasks": Task.objects.filter(deal__in=deals).count(),
        },
    )


@transaction.atomic
def delete_demo() -> None:
    """Delete the demo data. Lost reasons and lead sources stay: other deals may use them.

    Raises DemoDataError, changing nothing, when rows outside the demo protect demo rows
    (a deal of a demo user in another pipeline, say). Rows that merely mention a demo user
    (`Activity.user`, `StageChange.by`, `Task.created_by`) lose that link, as on any
    user deletion.
    """
    try:
        _demo_deals().delete()
        _demo_accounts().delete()
        Team.objects.filter(name__in=TEAM_NAMES, manager__in=_demo_users()).delete()
        _demo_users().delete()
        _demo_pipelines().delete()
    except (ProtectedError, RestrictedError) as exc:
        blockers = (
            exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        )
        counts: dict[type, int] = defaultdict(int)
        for row in blockers:
            counts[type(row)] += 1
        rows = ", ".join(
            f"{count} {model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural}"
            for model, count in sorted(counts.items(), key=lambda item: item[0]._meta.label)
        )
        raise DemoDataError(RESET_BLOCKED.format(rows=rows)) from exc


@transaction.atomic
def seed_demo(*, seed: int = DEFAULT_SEED, reset: bool = False) -> DemoSummary:
    """Create the demo data unless it is already present (then change nothing).

    With `reset`, delete the demo data first (see `delete_demo`) and create it afresh.
    Raises DemoDataError when names the demo needs are taken by other data.
    """
    if reset:
        delete_demo()
    elif demo_is_present():
        return demo_summary(created=False)
    _check_names_are_free()

    rng = random.Random(seed)
    # Midnight today: past events fall before it, so the data depends on the date only.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    pipelines = _create_pipelines()
    reps = _create_users(today=today)
    reasons = _pick_list(LostReason, LOST_REASONS)
    sources = _pick_list(LeadSource, LEAD_SOURCES)
    contacts_by_account = _create_accounts(rng, reps=reps, today=today)
    plans = _plan_deals(
        rng,
        today=today,
        pipelines=pipelines,
        contacts_by_account=contacts_by_account,
        reasons=reasons,
        sources=sources,
    )
    deals = create_deals_with_history([plan.draft for plan in plans])
    _create_activities(rng, deals=deals, plans=plans)
    _create_tasks(rng, deals=deals, plans=plans, today=today)
    _create_forecast_edits(rng, deals=deals, plans=plans)
    return demo_summary(created=True)


def _check_names_are_free() -> None:
    users = User.objects.filter(username__in=USERNAMES).values_list("username", flat=True)
    teams = Team.objects.filter(name__in=TEAM_NAMES).values_list("name", flat=True)
    lowered = {name.lower() for name in PIPELINE_NAMES}
    pipelines = [
        name for name in Pipeline.objects.values_list("name", flat=True) if name.lower() in lowered
    ]
    taken = [
        *(f"user “{name}”" for name in users),
        *(f"team “{name}”" for name in teams),
        *(f"pipeline “{name}”" for name in pipelines),
    ]
    if taken:
        raise DemoDataError(SEED_CONFLICT.format(names=", ".join(sorted(taken))))


# Organisation


def _create_pipelines() -> list[_PipelineStages]:
    result = []
    for position, (name, key, _, value_range, products) in enumerate(PIPELINES):
        pipeline = create_pipeline_from_template(key, name=name, position=position)
        stages = list(pipeline.stages.order_by("position"))
        open_stages = [s for s in stages if s.kind == StageKind.OPEN]
        for index, stage in enumerate(open_stages):
            # Later stages move slower: 14 days for the first, up to 30.
            stage.rotting_days = min(14 + 4 * index, 30)
        Stage.objects.bulk_update(open_stages, ["rotting_days"])
        result.append(
            _PipelineStages(
                pipeline=pipeline,
                value_range=value_range,
                products=products,
                open=open_stages,
                won=[s for s in stages if s.kind == StageKind.WON],
                lost=next(s for s in stages if s.kind == StageKind.LOST),
            )
        )
    return result


def _create_users(*, today: datetime) -> list[User]:
    """Create the admin, the teams and their people; return the reps."""
    # Hashing is deliberately slow, so hash once and share the result.
    password = make_password(DEMO_PASSWORD)
    joined = today - timedelta(days=420)

    def user(person: tuple[str, str, str], **fields) -> User:
        username, first_name, last_name = person
        return User(
            username=username,
            first_name=first_name,
            last_name=last_name,
            email=f"{username}@{DEMO_EMAIL_DOMAIN}",
            password=password,
            date_joined=joined,
            **fields,
        )

    teams = Team.objects.bulk_create([Team(name=name) for name in TEAM_NAMES])
    users = [user(ADMIN, role=Role.ADMIN, is_staff=True, is_superuser=True)]
    for team, (_, manager, reps) in zip(teams, TEAMS, strict=True):
        team.manager = user(manager, role=Role.MANAGER)
        users.append(team.manager)
        users += [user(rep, role=Role.REP, team=team) for rep in reps]
    User.objects.bulk_create(users)
    Team.objects.bulk_update(teams, ["manager"])
    return [u for u in users if u.role == Role.REP]


def _pick_list(model: type[PickList], names: Sequence[str]) -> list[PickList]:
    """The entries called `names`, in that order, creating the missing ones."""
    existing = set(model.objects.filter(name__in=names).values_list("name", flat=True))
    model.objects.bulk_create([model(name=name) for name in names if name not in existing])
    by_name = {item.name: item for item in model.objects.filter(name__in=names)}
    return [by_name[name] for name in names]


def _create_accounts(
    rng: random.Random, *, reps: list[User], today: datetime
) -> dict[Account, list[Contact]]:
    stems = rng.sample(COMPANY_STEMS, ACCOUNT_COUNT)
    industries = list(INDUSTRIES)
    accounts = []
    for index, stem in enumerate(stems):
        industry = rng.choice(industries)
        name = f"{stem} {rng.choice(INDUSTRIES[industry])}"
        slug = name.lower().replace(" ", "")
        accounts.append(
            Account(
                name=name,
                industry=industry,
                website=f"https://www.{slug}.example",
                linkedin_url=f"https://www.linkedin.com/company/{slug}",
                # Every rep gets ten accounts; which ones is up to the seed.
                owner=reps[index % len(reps)],
                created_at=_working_hours(rng, today - timedelta(days=rng.randint(370, 400))),
            )
        )
    rng.shuffle(accounts)
    Account.objects.bulk_create(accounts)

    contacts_by_account: dict[Account, list[Contact]] = {}
    for account in accounts:
        domain = account.website.removeprefix("https://www.")
        contacts = []
        for first, last in _distinct_names(rng, rng.randint(1, 3)):
            handle = f"{first}.{last}".lower().replace("'", "")
            contacts.append(
                Contact(
                    account=account,
                    name=f"{first} {last}",
                    email=f"{handle}@{domain}",
                    phone=f"+1 555-01{rng.randint(0, 99):02d}",  # 555-0100..0199 are fictional
                    title=rng.choice(JOB_TITLES),
                    linkedin_url=f"https://www.linkedin.com/in/{handle.replace('.', '-')}",
                )
            )
        contacts_by_account[account] = contacts
    Contact.objects.bulk_create([c for contacts in contacts_by_account.values() for c in contacts])
    return contacts_by_account


def _distinct_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    return list(zip(rng.sample(FIRST_NAMES, count), rng.sample(LAST_NAMES, count), strict=True))


# Deals


def _plan_deals(
    rng: random.Random,
    *,
    today: datetime,
    pipelines: list[_PipelineStages],
    contacts_by_account: dict[Account, list[Contact]],
    reasons: list[LostReason],
    sources: list[LeadSource],
) -> list[_DealPlan]:
    accounts = list(contacts_by_account)
    weights = [share for _, _, share, _, _ in PIPELINES]
    plans = []
    for _ in range(DEAL_COUNT):
        account = rng.choice(accounts)
        stages = rng.choices(pipelines, weights)[0]
        plans.append(
            _plan_deal(
                rng,
                today=today,
                stages=stages,
                account=account,
                contacts=contacts_by_account[account],
                reason=rng.choices(reasons, LOST_REASON_WEIGHTS)[0],
                source=rng.choices(sources, LEAD_SOURCE_WEIGHTS)[0],
            )
        )
    _number_columns(plans)
    return plans


def _plan_deal(
    rng: random.Random,
    *,
    today: datetime,
    stages: _PipelineStages,
    account: Account,
    contacts: list[Contact],
    reason: LostReason,
    source: LeadSource,
) -> _DealPlan:
    created_at = _working_hours(rng, today - timedelta(days=rng.randint(1, 365)))
    age = today - created_at
    # Old deals have mostly closed, young ones are mostly open: about a third of all deals
    # end won and a quarter lost.
    closed = rng.random() < 0.72 * min(1.0, age / timedelta(days=150))
    won = closed and rng.random() < 0.6
    count = len(stages.open)
    if won:
        reached = rng.choices(range(count), [index**2 + 1 for index in range(count)])[0]
        end: Stage | None = stages.won[0] if rng.random() < 0.85 else stages.won[-1]
    else:
        reached = rng.choices(range(count), [2 * count - index for index in range(count)])[0]
        end = stages.lost if closed else None
    # Deals start in the first open stage and sometimes skip one on the way up.
    path = [s for s in stages.open[1:reached] if rng.random() < 0.8]
    if reached:
        path.append(stages.open[reached])
    if end is not None:
        path.append(end)

    if closed:
        cycle = min(timedelta(days=rng.uniform(7, 120)), age * 0.95)
        closed_at = _office_time(created_at + cycle, earliest=created_at, latest=today)
        last_touch = closed_at
        times = sorted(_between(rng, created_at, closed_at) for _ in path[:-1]) + [closed_at]
        expected = closed_at + timedelta(days=rng.randint(-20, 20))
    else:
        quiet = timedelta(days=rng.uniform(0, 10) if rng.random() < 0.7 else rng.uniform(15, 90))
        last_touch = (
            _office_time(today - quiet, earliest=created_at, latest=today)
            if quiet < age
            else _between(rng, created_at, today)
        )
        times = sorted(_between(rng, created_at, last_touch) for _ in path)
        expected = created_at + timedelta(days=rng.randint(30, 150))

    low, high = stages.value_range
    progress = 1.0 if won else reached / max(count - 1, 1)
    deal = Deal(
        title=f"{account.name} – {rng.choice(stages.products)}",
        account=account,
        contact=rng.choice(contacts) if rng.random() < 0.9 else None,
        pipeline=stages.pipeline,
        stage=stages.open[0],
        owner=account.owner,
        value=_round_value(math.exp(rng.uniform(math.log(low), math.log(high)))),
        expected_close_date=expected.date(),
        source=source,
        lost_reason=reason if end == stages.lost else None,
        has_budget=rng.random() < 0.2 + 0.8 * progress,
        has_authority=rng.random() < 0.3 + 0.7 * progress,
        has_need=rng.random() < 0.5 + 0.5 * progress,
        has_timeline=rng.random() < 0.2 + 0.8 * progress,
        created_at=created_at,
    )
    draft = DealDraft(deal=deal, moves=list(zip(path, times, strict=True)), by=account.owner)
    return _DealPlan(draft=draft, last_touch=last_touch)


def _number_columns(plans: list[_DealPlan]) -> None:
    """Give open deals board positions 0, 1, 2… per stage, most recently moved first."""
    columns: dict[Stage, list[tuple[datetime, Deal]]] = defaultdict(list)
    for plan in plans:
        moves = plan.draft.moves
        stage, at = moves[-1] if moves else (plan.draft.deal.stage, plan.draft.deal.created_at)
        if stage.kind == StageKind.OPEN:
            columns[stage].append((at, plan.draft.deal))
    for column in columns.values():
        column.sort(key=lambda entry: entry[0], reverse=True)
        for position, (_, deal) in enumerate(column):
            deal.board_position = position


def _round_value(value: float) -> Decimal:
    step = 500 if value < 10_000 else 1_000 if value < 50_000 else 5_000
    return Decimal(max(step, round(value / step) * step))


# Activities and tasks


def _create_activities(rng: random.Random, *, deals: list[Deal], plans: list[_DealPlan]) -> None:
    """About four activities per deal, then each deal's and account's newest activity time."""
    activities = []
    for deal, plan in zip(deals, plans, strict=True):
        count = rng.choice((0, 1, 2, 2, 3, 3, 4, 4, 5, 6))
        if deal.status != DealStatus.OPEN:
            subject = (
                "Contract signed"
                if deal.status == DealStatus.WON
                else f"Closed as lost: {deal.lost_reason}"
            )
            activities.append(_activity(deal, ActivityKind.NOTE, subject, at=deal.closed_at))
        elif count:
            # The newest activity is the last touch, which follows the last stage change.
            count -= 1
            activities.append(_random_activity(rng, deal, at=plan.last_touch))
        activities += [
            _random_activity(rng, deal, at=_between(rng, deal.created_at, plan.last_touch))
            for _ in range(count)
        ]
    Activity.objects.bulk_create(activities, batch_size=1000)

    def newest(**related: OuterRef) -> Subquery:
        return Subquery(
            Activity.objects.filter(**related).order_by("-occurred_at").values("occurred_at")[:1]
        )

    # Deals without activities keep their creation or last move time.
    Deal.objects.filter(
        Exists(Activity.objects.filter(deal=OuterRef("pk"))), pk__in=[d.pk for d in deals]
    ).update(last_activity_at=newest(deal=OuterRef("pk")))
    _demo_accounts().update(last_activity_at=newest(account=OuterRef("pk")))


def _create_forecast_edits(
    rng: random.Random, *, deals: list[Deal], plans: list[_DealPlan]
) -> None:
    """About one deal in four had its value and expected close date edited once during its
    life: first estimated a quarter or so off, and expected a few weeks earlier (deals
    slip), which the forecast accuracy report then shows."""
    edits = [
        ForecastChange(
            deal=deal,
            value_before=_round_value(float(deal.value) * rng.choice((0.75, 0.8, 1.2, 1.25))),
            expected_close_date_before=deal.expected_close_date
            - timedelta(days=rng.randint(14, 45)),
            by=deal.owner,
            changed_at=_between(rng, deal.created_at, plan.last_touch),
        )
        for deal, plan in zip(deals, plans, strict=True)
        if rng.random() < 0.25
    ]
    ForecastChange.objects.bulk_create(edits, batch_size=1000)
    latest = ForecastChange.objects.filter(deal=OuterRef("pk")).order_by("-changed_at")
    Deal.objects.filter(pk__in=[edit.deal_id for edit in edits]).update(
        forecast_changed_at=Subquery(latest.values("changed_at")[:1])
    )


def _activity(deal: Deal, kind: str, subject: str, *, at: datetime) -> Activity:
    return Activity(
        kind=kind,
        subject=subject,
        occurred_at=at,
        user=deal.owner,
        deal=deal,
        account=deal.account,
    )


def _random_activity(rng: random.Random, deal: Deal, *, at: datetime) -> Activity:
    kind = rng.choices(list(ACTIVITY_KIND_WEIGHTS), list(ACTIVITY_KIND_WEIGHTS.values()))[0]
    subject = rng.choice(ACTIVITY_SUBJECTS[kind]).format(first=_first_name(deal))
    return _activity(deal, kind, subject, at=at)


def _create_tasks(
    rng: random.Random, *, deals: list[Deal], plans: list[_DealPlan], today: datetime
) -> None:
    """Tasks on open deals: due before, on or after today, some done, some suggested."""
    tasks = []
    for deal, plan in zip(deals, plans, strict=True):
        if deal.status != DealStatus.OPEN:
            continue
        if rng.random() < 0.75:
            when = rng.choices(("overdue", "today", "upcoming"), (3, 2, 5))[0]
            day = {"overdue": -rng.randint(1, 14), "today": 0, "upcoming": rng.randint(1, 21)}
            due_at = _working_hours(rng, today + timedelta(days=day[when]))
            if due_at <= deal.created_at:
                due_at = _working_hours(rng, today)
            tasks.append(_task(rng, deal, due_at=due_at, today=today))
        if rng.random() < 0.2:
            due_at = _between(rng, deal.created_at, today)
            done_at = min(
                max(due_at + timedelta(hours=rng.uniform(-24, 6)), deal.created_at), today
            )
            tasks.append(
                _task(
                    rng,
                    deal,
                    due_at=due_at,
                    today=today,
                    status=TaskStatus.DONE,
                    completed_at=done_at,
                )
            )
        quiet = (today - plan.last_touch).days
        if quiet > 14 and rng.random() < 0.5:
            tasks.append(
                _task(
                    rng,
                    deal,
                    due_at=_working_hours(rng, today),
                    today=today,
                    title=f"Follow up: no activity for {quiet} days",
                    kind=TaskKind.SUGGESTED,
                    created_by=None,
                )
            )
    Task.objects.bulk_create(tasks, batch_size=1000)


def _task(rng: random.Random, deal: Deal, *, due_at: datetime, today: datetime, **fields) -> Task:
    fields.setdefault("title", rng.choice(TASK_TITLES).format(first=_first_name(deal)))
    fields.setdefault("created_by", deal.owner)
    return Task(
        due_at=due_at,
        assignee=deal.owner,
        deal=deal,
        account=deal.account,
        created_at=_between(rng, deal.created_at, min(due_at, today)),
        **fields,
    )


def _first_name(deal: Deal) -> str:
    return deal.contact.name.split()[0] if deal.contact else "the buyer"


# Time helpers


def _working_hours(rng: random.Random, day: datetime) -> datetime:
    """A time between 8:00 and 18:00 on the date of `day` (a local midnight)."""
    return day + timedelta(hours=8, minutes=rng.randrange(0, 600, 5))


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A random time from `start` to `end`, in working hours (see `_office_time`)."""
    return _office_time(start + (end - start) * rng.random(), earliest=start, latest=end)


def _office_time(at: datetime, *, earliest: datetime, latest: datetime) -> datetime:
    """`at` squeezed into 8:00 to 18:00 of its day, to the minute, within the bounds.

    The squeeze keeps the order of times, so sorted draws stay sorted.
    """
    at = timezone.localtime(at)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    at = midnight + timedelta(hours=8) + (at - midnight) * 10 / 24
    return min(max(at.replace(second=0, microsecond=0), earliest), latest)
