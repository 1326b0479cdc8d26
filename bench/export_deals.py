"""Exporting the 10,000 imported deals as CSV through the page (informational, no target)."""

from __future__ import annotations

import csv
import io

from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from bench import data
from bench.runner import Case, register
from deals.imports import import_deals


@register
class ExportDeals(Case):
    """`GET deals:export?pipeline=…` as an admin, through Django's test client (the whole
    middleware stack, no network), reading the streamed CSV of the 10,000 deals the import
    benchmark creates to its last byte."""

    name = "export"
    title = "Export 10,000 deals as CSV"

    def setup(self) -> None:
        self.file = data.make_file()
        self.baseline = data.ensure_baseline(self.file)
        data.remove_imported(self.baseline, self.file)
        result = import_deals(
            io.BytesIO(self.file.content), pipeline=self.baseline.pipeline, by=self.baseline.admin
        )
        if not result.ok:
            raise RuntimeError(f"could not import the deals to export: {result.errors[0]}")
        self.client = Client()
        self.client.force_login(self.baseline.admin)
        self.url = reverse("deals:export")

    def details(self) -> dict:
        return {"rows": self.file.rows}

    def run(self) -> tuple[int, bytes]:
        # secure: the settings run with DEBUG off, which redirects plain HTTP to HTTPS.
        response = self.client.get(self.url, {"pipeline": self.baseline.pipeline.pk}, secure=True)
        if isinstance(response, StreamingHttpResponse):
            return response.status_code, b"".join(response.streaming_content)
        return response.status_code, response.content

    def check(self, outcome: tuple[int, bytes]) -> list[str]:
        status, body = outcome
        if status != 200:
            return [f"status {status}, expected 200"]
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        if len(rows) != self.file.rows + 1:
            return [f"{len(rows) - 1} deals in the file, expected {self.file.rows}"]
        return []

    def teardown(self) -> None:
        if hasattr(self, "baseline"):
            data.remove_baseline(self.baseline, self.file)
