"""How an amount of money reads on a page: whole currency units, "$1,235", "-$5"."""

from decimal import ROUND_HALF_UP, Decimal


def whole_money(value: Decimal | int) -> str:
    """$1,235 for 1234.50 (halves away from zero, as the `floatformat` filter rounds)."""
    number = Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"-${-number:,}" if number < 0 else f"${abs(number):,}"  # abs: no "$-0"
