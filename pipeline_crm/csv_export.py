"""CSV downloads that a spreadsheet cannot be tricked into running.

A cell starting with = + - @ (or a tab, carriage return or NUL) may be read as a formula by
Excel, LibreOffice or Google Sheets. Such cells get a leading apostrophe, which spreadsheets
show as plain text; NUL characters are dropped. Every export goes through `csv_response`, and
the import reads a cell back with `unescape_cell`. So that the round trip gives back text
that itself began with apostrophes before such a character ("'=x"), that text gets one more.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.http import StreamingHttpResponse

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def safe_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal) and value >= 0:
        return str(value)
    text = str(value)
    if text.lstrip("'").startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text.replace("\0", "")


def unescape_cell(text: str) -> str:
    """The text `safe_cell` was given, from what it wrote (for the import)."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterable[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so that Excel reads UTF-8
    yield writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]):
    """Stream `rows` as a CSV download, cell by cell made safe."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
