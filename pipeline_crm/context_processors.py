from __future__ import annotations

from django.http import HttpRequest

# (label, url name, icon) for the top navigation; the admin link shows for staff only.
NAVIGATION = (
    ("Board", "home", "kanban"),
    ("Deals", "deals:list", "briefcase"),
    ("Accounts", "deals:accounts", "building"),
    ("Tasks", "tasks:list", "check2-square"),
    ("Reports", "reports:index", "bar-chart"),
)


def navigation(request: HttpRequest) -> dict[str, object]:
    return {"navigation": NAVIGATION}
