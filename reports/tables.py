"""Report tables: what a page shows, what its chart draws and what its CSV holds, built once.

Each figure is rounded once, when its row is added: the page prints `Cell.text`, the chart
and the CSV read `Cell.plain`, so the download equals the table shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.humanize.templatetags.humanize import intcomma

from pipeline_crm.money import whole_money

TEXT = "text"
MONEY = "money"  # whole currency units: $1,234
COUNT = "count"
PERCENT = "percent"  # one decimal: 41.7 %
DAYS = "days"  # one decimal
CHANGE = "change"  # a relative change, signed, one decimal: +12.5 %
POINTS = "points"  # a change of a percentage, signed, one decimal: −3.0 pts
NUMERIC = frozenset({MONEY, COUNT, PERCENT, DAYS, CHANGE, POINTS})
EMPTY = "—"


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


@dataclass(frozen=True)
class Cell:
    plain: str  # the CSV's and the chart's value: "1234", "41.7", "" when there is none
    text: str  # as the page shows it: "$1,234", "41.7 %", "—"
    url: str = ""
    numeric: bool = False
    tone: str = ""  # "good" or "bad": how a change reads (a shorter sales cycle is good)


@dataclass(frozen=True)
class Link:
    """A figure and the deal list behind it: `Link(value, url)` in a row. `kind` overrides
    the column's kind for this cell (a summary table mixes money, counts and rates)."""

    value: object
    url: str = ""
    kind: str = ""
    tone: str = ""


@dataclass(frozen=True)
class Chart:
    """A Chart.js chart drawn from the table's own cells: labels from the first column,
    one data set per column listed in `series` (indexes into the columns)."""

    kind: str = "bar"  # "bar" or "line"
    series: tuple[int, ...] = (1,)
    stacked: bool = False
    horizontal: bool = False
    # one per series, from static/js/reports.js's palette: "accent", "won", "lost", "amber", …
    colors: tuple[str, ...] = ()


@dataclass
class Table:
    key: str  # names the table in `?format=csv&table=<key>` and in element ids
    title: str
    columns: Sequence[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    footer: list[Cell] | None = None
    chart: Chart | None = None
    note: str = ""
    empty: str = "No deals match."
    subtotals: set[int] = field(default_factory=set)  # indexes of the subtotal rows

    def add(self, *values: object) -> None:
        self.rows.append(self._cells(values))

    def subtotal(self, *values: object) -> None:
        """A body row summing the group of rows above it, set apart on the page."""
        self.subtotals.add(len(self.rows))
        self.rows.append(self._cells(values))

    def total(self, *values: object) -> None:
        self.footer = self._cells(values)

    def _cells(self, values: Sequence[object]) -> list[Cell]:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.key}: {len(values)} values for {len(self.columns)} columns")
        return [
            cell(value, column.kind) for value, column in zip(values, self.columns, strict=True)
        ]

    def csv_rows(self) -> Iterator[list[str]]:
        """The body rows then the footer, as the CSV writes them."""
        for row in self.rows:
            yield [c.plain for c in row]
        if self.footer:
            yield [c.plain for c in self.footer]

    def chart_series(self) -> list[tuple[str, int]]:
        return [(self.columns[i].label, i) for i in (self.chart.series if self.chart else ())]


def rounded(value: object, kind: str) -> Decimal | int | None:
    if value is None:
        return None
    if kind == COUNT:
        return int(value)
    if isinstance(value, float):
        value = repr(value)
    places = Decimal(1) if kind == MONEY else Decimal("0.1")
    number = Decimal(value).quantize(places, rounding=ROUND_HALF_UP)
    return abs(number) if number == 0 else number  # no "-0.0"


def cell(value: object, kind: str) -> Cell:
    url, tone = "", ""
    if isinstance(value, Link):
        value, url, kind, tone = value.value, value.url, value.kind or kind, value.tone
    if kind == TEXT:
        text = "" if value is None else str(value)
        return Cell(text, text or EMPTY, url, tone=tone)
    number = rounded(value, kind)
    if number is None:
        return Cell("", EMPTY, url, numeric=True, tone=tone)
    plain = str(number)
    if kind == MONEY:
        text = whole_money(number)
    elif kind == PERCENT:
        text = f"{number} %"
    elif kind == DAYS:
        text = f"{number} d"
    elif kind == CHANGE:
        text = f"{number:+} %"
    elif kind == POINTS:
        text = f"{number:+} pts"
    else:
        text = intcomma(number)
    return Cell(plain, text, url, numeric=True, tone=tone)


def ratio(part: object, whole: object) -> Decimal | None:
    """`part` ÷ `whole` as a percentage, None when `whole` is 0 or missing."""
    if not whole:
        return None
    return Decimal(part or 0) * 100 / Decimal(whole)


def change(current: object, previous: object) -> Decimal | None:
    """The change from `previous` to `current` in %, None without a base to compare with."""
    if previous in (None, 0) or current is None:
        return None
    return (Decimal(current) - Decimal(previous)) * 100 / abs(Decimal(previous))


def find(tables: Iterable[Table], key: str) -> Table | None:
    return next((table for table in tables if table.key == key), None)
