"""Reading a database id, or any whole number the database compares with its 64-bit
integers (a page offset), from user input (a query string, a form's raw data)."""

from __future__ import annotations

# More digits than a 64-bit integer can have: such a value names no row, and PostgreSQL
# refuses it as a parameter ("bigint out of range").
MAX_ID_DIGITS = 18


def parse_id(value: object) -> int | None:
    """The id `value` spells in ASCII digits, else None. (`str.isdigit` also accepts "²",
    which `int` refuses: a 500 for a hand-edited URL.)"""
    text = str(value or "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    return int(text)
