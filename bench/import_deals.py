"""Importing 10,000 deals from CSV (issue 5: under 10 s on PostgreSQL, in set-based batches)."""

from __future__ import annotations

import io

from bench import data
from bench.runner import Case, register
from deals.imports import BATCH_SIZE, ImportResult, import_deals
from deals.models import Account, Deal, DealStatus, StageChange


@register
class ImportDeals(Case):
    """`deals.imports.import_deals` — the service behind the upload page and the
    `import_deals` command — reads the seeded 10,000-line file (bench/data.py) into the
    “Bench import” pipeline (Simple template), creating its 500 accounts and their contacts
    and every deal's stage history. Each run starts with none of them in the database."""

    name = "import"
    title = "Import 10,000 deals from CSV"
    target = 10.0

    def setup(self) -> None:
        self.file = data.make_file()
        data.save_file(self.file)
        self.baseline = data.ensure_baseline(self.file)

    def details(self) -> dict:
        return {
            "rows": self.file.rows,
            "accounts": len(self.file.accounts),
            "owners": len(self.file.owners),
            "closed_deals": self.file.closed,
            "stage_changes": self.file.stage_changes,
            "file_bytes": len(self.file.content),
            "batch_size": BATCH_SIZE,
        }

    def before_run(self) -> None:
        data.remove_imported(self.baseline, self.file)

    def run(self) -> ImportResult:
        return import_deals(
            io.BytesIO(self.file.content), pipeline=self.baseline.pipeline, by=self.baseline.admin
        )

    def check(self, outcome: ImportResult) -> list[str]:
        if not outcome.ok:
            return [f"the import refused the file: {outcome.errors[0]} (and more)"]
        pipeline = self.baseline.pipeline
        deals = Deal.objects.filter(pipeline=pipeline)
        expected = {
            "deals": self.file.rows,
            "reported deals": self.file.rows,
            "new accounts": len(self.file.accounts),
            "accounts": len(self.file.accounts),
            "stage changes": self.file.stage_changes,
            "closed deals": self.file.closed,
            "distinct board positions": self.file.rows - self.file.closed,
        }
        found = {
            "deals": deals.count(),
            "reported deals": outcome.deals,
            "new accounts": outcome.accounts,
            "accounts": Account.objects.filter(name__in=self.file.accounts).count(),
            "stage changes": StageChange.objects.filter(deal__pipeline=pipeline).count(),
            "closed deals": deals.exclude(status=DealStatus.OPEN).count(),
            "distinct board positions": deals.filter(status=DealStatus.OPEN)
            .values("stage", "board_position")
            .distinct()
            .count(),
        }
        return [
            f"{what}: {found[what]}, expected {number}"
            for what, number in expected.items()
            if found[what] != number
        ]

    def teardown(self) -> None:
        if hasattr(self, "baseline"):
            data.remove_baseline(self.baseline, self.file)
