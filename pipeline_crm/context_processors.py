from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

# (label, url name, icon) for the top navigation; the admin link shows for staff only.
NAVIGATION = (
    ("Board", "home", "kanban"),
    ("Deals", "deals:list", "briefcase"),
    ("Accounts", "deals:accounts", "building"),
    ("Tasks", "tasks:list", "check2-square"),
    ("Reports", "reports:revenue", "bar-chart"),
)


def navigation(request: HttpRequest) -> dict[str, object]:
    """The sections, and the count of the user's overdue tasks for the red badge on
    "Tasks". The count is lazy: its one query runs only when a page shows the navigation
    (base_app.html), not for fragments, the admin or the login page."""
    context: dict[str, object] = {"navigation": NAVIGATION}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from tasks.selectors import overdue_count

        context["overdue_tasks"] = SimpleLazyObject(lambda: overdue_count(user))
    return context
