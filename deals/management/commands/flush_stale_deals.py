"""Flush stale deals from the command line: print what would leave the pipeline, then
(unless --dry-run) confirm the flush and run it here, batch by batch, with a progress bar.

Confirming (`start_flush`) also queues the Celery job when it commits. The command does not
wait for a worker: it runs the batches itself. Each batch locks the flush and takes the
deals still pending, so a worker that picks the job up meanwhile only shares the work and
nothing moves twice. Without a broker (eager mode) the job has already run inline when the
loop starts; the loop then finds the flush done and prints its result.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from deals.management.arguments import pipeline_named
from deals.models import Flush, FlushStatus
from deals.services.flush import (
    NOTHING_TO_FLUSH,
    FlushCriteria,
    FlushError,
    FlushPreview,
    check_criteria,
    lost_stage_of,
    preview_flush,
    run_flush,
    start_flush,
)
from pipeline_crm.models import User

NO_SUCH_USER = "No user has the username “{username}”."
BAD_DATE = "“{value}” is not a date: write it as YYYY-MM-DD, for example 2024-01-31."
STOPPED = (
    "The flush stopped after {processed} of {total} deals ({error}). The catch-up job carries "
    "on with it within five minutes when a worker runs; its page: {url}"
)
FAILED = "The flush failed after {processed} of {total} deals: {error}. Its page: {url}"
BAR_WIDTH = 30
FINISHED = {FlushStatus.DONE, FlushStatus.FAILED}


def money(amount) -> str:
    return f"${amount:,.2f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class Command(BaseCommand):
    help = (
        "Move a pipeline's stale open deals to its lost stage, as one flush that can be "
        "undone from its page. Prints the figures first; with --dry-run stops there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipeline", required=True, help="The pipeline's name.")
        parser.add_argument(
            "--inactive-days",
            type=int,
            metavar="DAYS",
            help="Deals with no activity for more than this many days.",
        )
        parser.add_argument(
            "--created-before",
            metavar="YYYY-MM-DD",
            help="Deals created before this date (with --inactive-days: both must hold).",
        )
        parser.add_argument("--owner", metavar="USERNAME", help="Only this user's deals.")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Who the flush and its history are attributed to, a manager or an admin; the "
            "deals are then chosen among those this user may change. Default: nobody, all the "
            "pipeline's deals.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the figures; move nothing."
        )

    def handle(
        self,
        *args,
        pipeline: str,
        inactive_days: int | None,
        created_before: str | None,
        owner: str | None,
        user: str | None,
        dry_run: bool,
        **options,
    ) -> None:
        criteria = FlushCriteria(
            pipeline_named(pipeline),
            inactive_days=inactive_days,
            created_before=self._date(created_before),
            owner=self._user(owner),
        )
        by = self._user(user)
        now = timezone.now()
        try:
            check_criteria(criteria, today=timezone.localdate(now), by=by)
        except FlushError as error:
            raise CommandError(str(error)) from error
        preview = preview_flush(criteria, user=by, now=now)
        self._print_preview(criteria, preview)
        if not preview.count:
            self.stdout.write(NOTHING_TO_FLUSH)
            return
        if dry_run:
            self.stdout.write("Dry run: nothing was moved.")
            return
        try:
            flush = start_flush(criteria, by=by, now=now)
        except FlushError as error:
            raise CommandError(str(error)) from error
        flush = self._run(flush)
        self._print_result(flush)

    # Arguments

    def _user(self, username: str | None) -> User | None:
        if username is None:
            return None
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(NO_SUCH_USER.format(username=username)) from None

    def _date(self, value: str | None) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise CommandError(BAD_DATE.format(value=value)) from None

    # The run

    def _run(self, flush: Flush) -> Flush:
        """One batch per call, each in its own transaction, until the flush is finished."""
        shown = None
        try:
            while flush.status not in FINISHED:
                flush = run_flush(flush.pk, max_batches=1)
                if flush.processed != shown:
                    self._progress(flush)
                    shown = flush.processed
        except DatabaseError as error:
            raise CommandError(
                STOPPED.format(
                    processed=flush.processed,
                    total=flush.total,
                    error=error,
                    url=flush.get_absolute_url(),
                )
            ) from error
        finally:
            if shown is not None and self.stdout.isatty():
                self.stdout.write("")
        return flush

    def _progress(self, flush: Flush) -> None:
        if not self.stdout.isatty():
            self.stdout.write(f"{flush.processed}/{flush.total} deals processed")
            return
        filled = BAR_WIDTH * flush.processed // flush.total if flush.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stdout.write(f"\r[{bar}] {flush.processed}/{flush.total}", ending="")
        self.stdout.flush()

    # Output

    def _print_preview(self, criteria: FlushCriteria, preview: FlushPreview) -> None:
        conditions = []
        if criteria.inactive_days is not None:
            conditions.append(f"no activity for more than {plural(criteria.inactive_days, 'day')}")
        if criteria.created_before is not None:
            conditions.append(f"created before {criteria.created_before.isoformat()}")
        if criteria.owner is not None:
            conditions.append(f"owned by {criteria.owner.username}")
        lost_stage = lost_stage_of(criteria.pipeline)
        self.stdout.write(f"Pipeline “{criteria.pipeline.name}”, {', '.join(conditions)}:")
        self.stdout.write(f"  Deals: {preview.count}")
        self.stdout.write(f"  Total value: {money(preview.total)}")
        self.stdout.write(f"  Weighted value: {money(preview.weighted)}")
        self.stdout.write(
            f"  Lost stage: “{lost_stage.name}”, lost reason “{settings.FLUSH_LOST_REASON}”"
        )

    def _print_result(self, flush: Flush) -> None:
        url = flush.get_absolute_url()
        if flush.status == FlushStatus.FAILED:
            raise CommandError(
                FAILED.format(
                    processed=flush.processed, total=flush.total, error=flush.error, url=url
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Flushed: {plural(flush.moved, 'deal')} moved to “{flush.lost_stage.name}”, "
                f"{flush.skipped} skipped (changed since the confirmation)."
            )
        )
        self.stdout.write(f"Job page (undo there for {settings.FLUSH_UNDO_DAYS} days): {url}")
