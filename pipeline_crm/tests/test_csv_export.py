from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_crm.csv_export import FORMULA_TRIGGERS, csv_response, safe_cell, unescape_cell


def parse(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=5))
def test_no_exported_cell_can_start_a_formula(cells):
    rows = parse(csv_response("x.csv", ["a"] * len(cells), [cells]))
    for cell in rows[1]:
        assert not cell.startswith(FORMULA_TRIGGERS), repr(cell)
        assert "\0" not in cell


def test_formula_like_text_is_kept_readable():
    assert safe_cell('=HYPERLINK("http://evil.example")') == '\'=HYPERLINK("http://evil.example")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("Acme") == "Acme"


def test_numbers_dates_and_empty_cells_export_plainly():
    assert safe_cell(Decimal("1234.50")) == "1234.50"
    assert safe_cell(0) == "0"
    assert safe_cell(None) == ""
    assert safe_cell(True) == "yes"
    assert safe_cell(-5) == "'-5"


def test_the_download_is_named_and_excel_friendly():
    response = csv_response("deals.csv", ["title"], [["Acme"]])
    assert response["Content-Disposition"] == 'attachment; filename="deals.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert parse(response) == [["title"], ["Acme"]]


@pytest.mark.parametrize(
    "text", ["=1+1", "'=1+1", "''-x", "'plain", "'", "@", "-", "a'=b", "\tx", "Acme"]
)
def test_what_an_export_escapes_the_import_reads_back_unchanged(text):
    cell = safe_cell(text)

    assert not cell.startswith(FORMULA_TRIGGERS)
    assert unescape_cell(cell) == text
