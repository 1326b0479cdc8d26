from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from deals.imports import import_deals
from deals.management.arguments import pipeline_named
from pipeline_crm.models import Role, User

NO_SUCH_USER = "No user has the username “{username}”."
UNREADABLE = "Cannot read {path}: {reason}."
REFUSED = "{count} problem{s} in {path}; nothing was imported."


class Command(BaseCommand):
    help = (
        "Import deals from a CSV file (UTF-8, comma or semicolon separated) into a pipeline. "
        "Either every line is imported or, when any line is wrong, nothing is and every "
        "problem is listed with its line number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file, with a header line naming the columns.")
        parser.add_argument("--pipeline", required=True, help="The pipeline's name.")
        parser.add_argument(
            "--create-owners",
            action="store_true",
            help="Create unknown owners as sales reps without a usable password.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; save nothing."
        )
        parser.add_argument(
            "--by",
            metavar="USERNAME",
            help="Who the stage history says made the deals (default: the first admin).",
        )

    def handle(
        self,
        *args,
        file: str,
        pipeline: str,
        create_owners: bool,
        dry_run: bool,
        by: str | None,
        **options,
    ) -> None:
        target = pipeline_named(pipeline)
        user = self._user(by)
        try:
            with open(file, "rb") as handle:
                result = import_deals(
                    handle, pipeline=target, by=user, create_owners=create_owners, dry_run=dry_run
                )
        except OSError as error:
            raise CommandError(UNREADABLE.format(path=file, reason=error.strerror)) from error
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            count = len(result.errors)
            raise CommandError(REFUSED.format(count=count, s="" if count == 1 else "s", path=file))
        if dry_run:
            self.stdout.write(f"{result.summary()}; nothing was saved (dry run).")
        else:
            self.stdout.write(self.style.SUCCESS(result.summary()))

    def _user(self, username: str | None) -> User | None:
        if username is None:
            admins = User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True))
            return admins.order_by("pk").first()
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(NO_SUCH_USER.format(username=username)) from None
