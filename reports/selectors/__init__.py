"""Report figures, computed in the database: each function takes the deals (or activities)
already narrowed to the user's scope and filters (reports/scope.py) and returns plain data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

DAY_SECONDS = Decimal(86400)


def days(duration: dt.timedelta | None) -> Decimal | None:
    """A duration as a number of days (None stays None)."""
    if duration is None:
        return None
    return Decimal(duration.total_seconds()) / DAY_SECONDS
