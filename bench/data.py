"""Benchmark data: a seeded, realistic deals CSV in the import's format, and its setting.

The file is the same on every machine and every run (one `random.Random(SEED)`, fixed dates):
about ROWS / ACCOUNTS deals per account, each account mostly worked by one of OWNERS reps,
every stage of the Simple pipeline with won and lost deals closed after they were created,
lead sources, lost reasons and contacts. The rows the import needs to exist — the owners, an
admin who does the import, the pipeline and the pick lists — are the "baseline", created once
and kept; what the import creates is removed again by `remove_imported`.
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from deals.imports import COLUMNS
from deals.models import Account, Contact, Deal, LeadSource, LostReason, StageChange
from pipeline_crm.models import Role, User
from stages.models import Pipeline
from stages.services import create_pipeline_from_template

SEED = 5
ROWS = 10_000
ACCOUNTS = 500
OWNERS = 50
PIPELINE_NAME = "Bench import"
ADMIN_USERNAME = "bench.admin"
OWNER_USERNAME = "bench.rep{number:02d}"
T = TypeVar("T")
DATA_DIR = Path(__file__).resolve().parent / "data"

# (stage of the Simple template, share of the deals in percent)
STAGE_MIX = (
    ("Lead", 25),
    ("Contacted", 18),
    ("Qualified", 15),
    ("Proposal made", 12),
    ("Won", 18),
    ("Lost", 12),
)
CLOSED_STAGES = ("Won", "Lost")
FIRST_DAY = date(2024, 1, 1)
DAYS = 700
SOURCES = (
    "Website",
    "Referral",
    "Trade show",
    "Cold call",
    "LinkedIn",
    "Partner",
    "Webinar",
    "Newsletter",
)
LOST_REASONS = (
    "Price",
    "Went with a competitor",
    "No budget",
    "No decision",
    "Timing",
    "Missing feature",
)
FIRST_NAMES = (
    "Ana", "Ben", "Chloé", "Dmitri", "Elif", "Farid", "Grace", "Hiro", "Inés", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Brandt", "Castillo", "Dubois", "Eriksen", "Fischer", "García", "Hughes",
    "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Müller", "Nakamura", "O'Brien", "Petrov",
    "Quinn", "Rossi", "Santos", "Tanaka", "Ueda", "Varga", "Weber", "Yilmaz", "Zhou",
)  # fmt: skip
COMPANY_STARTS = (
    "North", "Blue", "Silver", "Bright", "Green", "Iron", "Red", "Summit", "Oak", "River",
    "Stone", "Pacific", "Atlas", "Nova", "Cedar", "Harbor", "Golden", "Swift", "Polar", "Maple",
)  # fmt: skip
COMPANY_ENDS = (
    "wind",
    "field",
    "bridge",
    "point",
    "gate",
    "works",
    "line",
    "crest",
    "peak",
    "wave",
)
COMPANY_KINDS = (
    "Logistics", "Software", "Foods", "Health", "Energy", "Consulting", "Media", "Robotics",
    "Textiles", "Finance", "Pharma", "Retail",
)  # fmt: skip
COMPANY_FORMS = ("", "", "", " Inc.", " GmbH", " Ltd", ", Inc.", " & Co.")
PRODUCTS = (
    "{seats} seats",
    "Renewal {year}",
    "Pilot",
    'Upgrade to "Pro"',
    "Support, 12 months",
    "Onboarding package",
    "Expansion – {seats} seats",
    "Data migration",
)


@dataclass(frozen=True)
class Owner:
    username: str
    first_name: str
    last_name: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class BenchFile:
    """The CSV and what importing it must produce."""

    content: bytes
    rows: int
    owners: list[Owner]
    accounts: list[str]
    stages: Counter = field(default_factory=Counter)  # stage name → deals

    @property
    def closed(self) -> int:
        return sum(self.stages[name] for name in CLOSED_STAGES)

    @property
    def stage_changes(self) -> int:
        """One change per deal for its creation, one more for each closed deal."""
        return self.rows + self.closed


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in _ascii(text).lower()).strip("-")


def _unique(make: Callable[[], T], count: int) -> list[T]:
    """`count` distinct results of `make`, in the order first made."""
    seen: dict = {}
    while len(seen) < count:
        seen.setdefault(make(), None)
    return list(seen)


def make_file(*, rows: int = ROWS, seed: int = SEED) -> BenchFile:
    """The benchmark CSV: the same bytes for the same arguments."""
    rng = random.Random(seed)
    names = _unique(lambda: (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)), OWNERS)
    owners = [
        Owner(OWNER_USERNAME.format(number=number), first, last)
        for number, (first, last) in enumerate(names, start=1)
    ]
    accounts = _unique(
        lambda: (
            f"{rng.choice(COMPANY_STARTS)}{rng.choice(COMPANY_ENDS)} "
            f"{rng.choice(COMPANY_KINDS)}{rng.choice(COMPANY_FORMS)}"
        ),
        ACCOUNTS,
    )
    account_owner = {account: rng.choice(owners) for account in accounts}
    # Each account has a few people the deals name as their contact.
    people = {}
    for account in accounts:
        domain = f"{_slug(account)}.test"
        pool = _unique(
            lambda: (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)), rng.randint(2, 12)
        )
        people[account] = [
            (f"{first} {last}", f"{_slug(first)}.{_slug(last)}@{domain}") for first, last in pool
        ]
    stage_names = [name for name, _ in STAGE_MIX]
    stage_weights = [share for _, share in STAGE_MIX]

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    stages: Counter = Counter()
    for _ in range(rows):
        account = rng.choice(accounts)
        owner = account_owner[account] if rng.random() < 0.85 else rng.choice(owners)
        stage = rng.choices(stage_names, stage_weights)[0]
        stages[stage] += 1
        created = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        closed = created + timedelta(days=rng.randint(0, 150)) if stage in CLOSED_STAGES else None
        expected = (
            created + timedelta(days=rng.randint(14, 180))
            if closed is None and rng.random() < 0.7
            else None
        )
        value = "" if rng.random() < 0.03 else f"{min(rng.lognormvariate(9.5, 1.1), 5e6):.2f}"
        if value.endswith(".00"):
            value = value[:-3]
        source = rng.choice(SOURCES) if rng.random() < 0.85 else ""
        if rng.random() < 0.1:
            source = source.lower()  # names match whatever the case
        contact_name = contact_email = ""
        if rng.random() < 0.75:
            contact_name, contact_email = rng.choice(people[account])
            shape = rng.random()
            if shape < 0.05:
                contact_email = ""
            elif shape < 0.08:
                contact_name = ""
        product = rng.choice(PRODUCTS).format(seats=rng.randint(5, 500), year=created.year + 1)
        writer.writerow(
            (
                f"{account.split(',')[0]}: {product}",
                account,
                owner.username if rng.random() < 0.75 else owner.full_name,
                stage,
                value,
                created.isoformat(),
                closed.isoformat() if closed else "",
                expected.isoformat() if expected else "",
                source,
                rng.choice(LOST_REASONS) if stage == "Lost" else "",
                contact_name,
                contact_email,
            )
        )
    # With a byte order mark, as spreadsheets (and the CSV export) write it.
    content = buffer.getvalue().encode("utf-8-sig")
    return BenchFile(content=content, rows=rows, owners=owners, accounts=accounts, stages=stages)


def save_file(bench_file: BenchFile) -> Path:
    """Keep a copy in bench/data/ (not committed), e.g. for `manage.py import_deals`."""
    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"import-{bench_file.rows}.csv"
    path.write_bytes(bench_file.content)
    return path


@dataclass
class Baseline:
    admin: User
    pipeline: Pipeline


@transaction.atomic
def ensure_baseline(bench_file: BenchFile) -> Baseline:
    """The admin, the owners, the pipeline and the pick lists; created when missing."""
    # Nobody logs in as these users: their passwords are unusable.
    admin, _ = User.objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={
            "first_name": "Bench",
            "last_name": "Admin",
            "role": Role.ADMIN,
            "is_staff": True,
            "password": make_password(None),
        },
    )
    existing = set(
        User.objects.filter(username__in=[o.username for o in bench_file.owners]).values_list(
            "username", flat=True
        )
    )
    missing = [
        User(
            username=o.username,
            first_name=o.first_name,
            last_name=o.last_name,
            role=Role.REP,
            password=make_password(None),
        )
        for o in bench_file.owners
        if o.username not in existing
    ]
    User.objects.bulk_create(missing)
    pipeline = Pipeline.objects.filter(name__iexact=PIPELINE_NAME).first()
    if pipeline is None:
        pipeline = create_pipeline_from_template("simple", name=PIPELINE_NAME)
    LeadSource.objects.bulk_create([LeadSource(name=n) for n in SOURCES], ignore_conflicts=True)
    LostReason.objects.bulk_create(
        [LostReason(name=n) for n in LOST_REASONS], ignore_conflicts=True
    )
    return Baseline(admin=admin, pipeline=pipeline)


def remove_imported(baseline: Baseline, bench_file: BenchFile) -> None:
    """Delete what importing the file created, set-based, and refresh the planner's
    statistics, so that every run starts from the same tables."""
    with transaction.atomic():
        StageChange.objects.filter(deal__pipeline=baseline.pipeline).delete()
        Deal.objects.filter(pipeline=baseline.pipeline).delete()
        Contact.objects.filter(account__name__in=bench_file.accounts).delete()
        Account.objects.filter(name__in=bench_file.accounts).delete()
    tables = [model._meta.db_table for model in (Deal, StageChange, Account, Contact)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM ANALYZE "{table}"')


def remove_baseline(baseline: Baseline, bench_file: BenchFile) -> None:
    """What the import cases leave after their last run removed too: the imported deals,
    the pipeline and the owners (not the admin, whom the shared data set uses), so that the
    cases after them see only their own people: the team report lists every active one."""
    remove_imported(baseline, bench_file)
    with transaction.atomic():
        pipeline = baseline.pipeline
        Pipeline.objects.filter(pk=pipeline.pk).update(default_lost_stage=None)
        pipeline.stages.all().delete()
        pipeline.delete()
        User.objects.filter(username__in=[o.username for o in bench_file.owners]).delete()
