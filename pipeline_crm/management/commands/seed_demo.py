from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline_crm.demo import DEFAULT_SEED, DemoDataError, seed_demo

DEBUG_OFF = (
    "DEBUG is off: the demo creates users with a known password. "
    "Pass --force to seed this database anyway."
)


class Command(BaseCommand):
    help = (
        "Load demo data: three pipelines, two teams, 60 accounts and a year of deals with "
        "their history, activities and tasks. Does nothing when the demo data is present."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Random seed (default {DEFAULT_SEED})."
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete the demo data first, then recreate it."
        )
        parser.add_argument("--force", action="store_true", help="Run even when DEBUG is off.")

    def handle(self, *args, seed: int, reset: bool, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(DEBUG_OFF)
        try:
            summary = seed_demo(seed=seed, reset=reset)
        except DemoDataError as exc:
            raise CommandError(str(exc)) from exc

        if summary.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data created (seed {seed})."))
        else:
            self.stdout.write("Demo data already present; nothing changed (--reset recreates it).")
        for role, username in summary.logins:
            self.stdout.write(f"  {role:<8} {username}")
        self.stdout.write(f"  All demo users share the password: {summary.password}")
        self.stdout.write(", ".join(f"{count} {name}" for name, count in summary.counts.items()))
