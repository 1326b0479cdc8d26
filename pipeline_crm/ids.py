"""Reading a database id from user input (a query string, a form's raw data)."""

from __future__ import annotations

# More digits than a 64-bit id can have: such a value names no row.
MAX_ID_DIGITS = 18


def parse_id(value: object) -> int | None:
    """The id `value` spells in ASCII digits, else None. (`str.isdigit` also accepts "²",
    which `int` refuses: a 500 for a hand-edited URL.)"""
    text = str(value or "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    return int(text)
