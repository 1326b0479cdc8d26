"""Answers to requests that cannot be served as asked. A request for a piece of a page
(htmx, or the board's script) gets a short reason as plain text, which the page shows in
its error toast (static/js/app.js), or a redirect of the whole page: the page it came from
is still on screen, and a page swapped into a fragment (the login form inside a deal's
value field) would say nothing. Pages get the error pages (templates/403.html, ...)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.views import defaults
from django.views.csrf import csrf_failure as page_csrf_failure
from django_htmx.http import HttpResponseClientRedirect

NOT_ALLOWED = "You may not do this."
# The session changed since the page opened (logged out, or in again, elsewhere).
CSRF_REFUSED = "This page is out of date for your session: reload it and try again."
SESSION_ENDED = (
    "Your session has ended, so this was not saved. "
    "Reload the page to log in again (copy what you typed first)."
)


class LoginRedirectMiddleware:
    """After the session ended, a fragment request's redirect to the login page becomes a
    redirect of the whole page (HX-Redirect), coming back to that page once logged in. A
    save (POST) gets the reason instead (401): leaving the page would lose what the user
    typed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.htmx or response.status_code != 302:
            return response
        login = resolve_url(settings.LOGIN_URL)
        if urlsplit(response["Location"]).path != login:
            return response
        if request.method == "POST":
            return _reason(SESSION_ENDED, status=401)
        page = request.htmx.current_url_abs_path or resolve_url("home")
        return HttpResponseClientRedirect(f"{login}?{urlencode({'next': page})}")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a fragment request gets the reason as plain text, which the page
    shows in its error toast; a page gets Django's page."""
    if wants_fragment(request):
        return _reason(CSRF_REFUSED, status=403)
    return page_csrf_failure(request, reason)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: the reason the view gave ("You may look at … but not change it")."""
    if wants_fragment(request):
        return _reason(str(exception) or NOT_ALLOWED, status=403)
    return defaults.permission_denied(request, exception)


def wants_fragment(request: HttpRequest) -> bool:
    # The header itself: the board's script sends it too, and it needs no middleware.
    return request.headers.get("HX-Request") == "true"


def _reason(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
