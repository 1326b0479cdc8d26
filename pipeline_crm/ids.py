"""Reading a database id, or any whole number the database compares with its 64-bit
integers (a page offset), from user input (a query string, a form's raw data)."""

from __future__ import annotations

from django import forms

# More digits than a 64-bit integer can have: such a value names no row, and PostgreSQL
# refuses it as a parameter ("bigint out of range").
MAX_ID_DIGITS = 18
MAX_ID = 10**MAX_ID_DIGITS - 1


def parse_id(value: object) -> int | None:
    """The id `value` spells in ASCII digits, else None. (`str.isdigit` also accepts "²",
    which `int` refuses: a 500 for a hand-edited URL.)"""
    text = str(value or "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    return int(text)


class IdField(forms.IntegerField):
    """A form's whole number that goes to the database as it is: an id (from 1) or, with
    `min_value=0`, an index in a list. Capped at MAX_ID: a larger one reached SQL written
    out (a move's stage, an OFFSET) and failed there, a 500 instead of a form error."""

    def __init__(self, *, min_value: int = 1, **kwargs) -> None:
        super().__init__(min_value=min_value, max_value=MAX_ID, **kwargs)
