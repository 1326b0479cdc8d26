"""Links from a report's figures to the deal list behind them.

The deal list takes the report's own filters (pipeline, team, owner) plus `mine`, which
narrows it to the deals of the people the user reports on (see reports/scope.py), so that
the list holds exactly the deals a figure counts.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from pipeline_crm.models import User
from reports.periods import Period


class DealLinks:
    def __init__(self, user: User, filters: dict[str, object]) -> None:
        self.base: dict[str, object] = {} if user.is_crm_admin else {"mine": "1"}
        for name, chosen in filters.items():
            if chosen is not None:
                self.base[name] = chosen.pk

    def url(self, **params: object) -> str:
        query = self.base | {name: value for name, value in params.items() if value is not None}
        return f"{reverse('deals:list')}?{urlencode(query)}"

    def won(self, period: Period, **params: object) -> str:
        return self.url(status="won", closed_from=period.start, closed_to=period.end, **params)

    def lost(self, period: Period, **params: object) -> str:
        return self.url(status="lost", closed_from=period.start, closed_to=period.end, **params)

    def closed(self, period: Period, **params: object) -> str:
        return self.url(closed_from=period.start, closed_to=period.end, **params)

    def created(self, period: Period, **params: object) -> str:
        return self.url(created_from=period.start, created_to=period.end, **params)

    def open(self, **params: object) -> str:
        return self.url(status="open", **params)

    def stale(self, **params: object) -> str:
        return self.url(status="open", stale="1", **params)
