"""Where to go back to after a form: the `next` a page passed along, when it is safe."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def next_url(request: HttpRequest, fallback: str) -> str:
    """`next` from the form or the query when it is a path of this site, else `fallback`.

    A path, not any relative URL: `redirect()` takes a bare word ("-1", "board") for the
    name of a view and failed (a 500) on a hand-edited `next`; another host or scheme
    ("//example.com") would be an open redirect."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return fallback
