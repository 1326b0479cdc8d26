from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline_crm.context_processors import NAVIGATION

# Shown when a placeholder's title is not one of the navigation sections.
DEFAULT_ICON = "hourglass-split"


def coming_soon(title: str, summary: str) -> Callable[[HttpRequest], HttpResponse]:
    """A login-required placeholder page for a section whose issue has not landed yet.

    The page borrows the section's icon from the navigation when `title` matches its label.
    """
    icon = next((icon for label, _, icon in NAVIGATION if label == title), DEFAULT_ICON)

    @login_required
    def view(request: HttpRequest) -> HttpResponse:
        context = {"title": title, "summary": summary, "icon": icon}
        return render(request, "coming_soon.html", context)

    view.__name__ = f"coming_soon_{title.lower().replace(' ', '_')}"
    return view
