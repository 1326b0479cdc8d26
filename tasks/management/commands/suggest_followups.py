from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from stages.models import Pipeline
from tasks.automation import followup_thresholds, stale_deals, suggest_followups

SHOWN = 10


class Command(BaseCommand):
    help = (
        "Create a suggested follow-up task for every open deal with no activity for N days "
        "(FOLLOWUP_INACTIVE_DAYS, or the pipeline's own value). Safe to run any time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipeline", help="Only the pipeline with this name.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count and list the deals; create nothing."
        )

    def handle(self, *args: Any, pipeline: str | None, dry_run: bool, **options: Any) -> None:
        chosen = None
        if pipeline:
            chosen = Pipeline.objects.filter(name__iexact=pipeline).first()
            if chosen is None:
                raise CommandError(f"No pipeline named “{pipeline}”.")
        if not dry_run:
            created = suggest_followups(pipeline=chosen)
            self.stdout.write(self.style.SUCCESS(f"Created {created} follow-up tasks."))
            return
        now = timezone.now()
        total, shown = 0, []
        for days, pipeline_ids in followup_thresholds(pipeline=chosen).items():
            deals = stale_deals(now=now, days=days, pipeline_ids=pipeline_ids)
            total += deals.count()
            shown += [
                (days, *row)
                for row in deals.order_by("last_activity_at", "pk").values_list(
                    "pk", "title", "owner__username", "last_activity_at"
                )[: SHOWN - len(shown)]
            ]
        self.stdout.write(f"Would create {total} follow-up tasks (dry run, nothing saved).")
        for days, pk, title, owner, last in shown:
            self.stdout.write(
                f"  #{pk} {title} — {owner}, last activity {last:%Y-%m-%d} (threshold {days} days)"
            )
