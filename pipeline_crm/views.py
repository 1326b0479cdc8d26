from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def coming_soon(title: str, summary: str):
    """A placeholder page for a section whose issue has not landed yet."""

    @login_required
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "coming_soon.html", {"title": title, "summary": summary})

    view.__name__ = f"coming_soon_{title.lower().replace(' ', '_')}"
    return view


home = coming_soon("Board", "The Kanban board of your pipeline: drag deals across stages.")
