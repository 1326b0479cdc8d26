"""Playwright fixtures: one headless Debian Chromium and one browser context per module.

Playwright's sync API leaves an event loop marked running in the test thread for as long as
it is started, which makes Django refuse database access from that thread unless
DJANGO_ALLOW_ASYNC_UNSAFE is set. Nothing here runs Django code inside that loop (tests
create users, then drive the browser; the live server answers from its own thread), so the
`browser` fixture sets the flag while Playwright runs and restores it afterwards. The scope
is the module, not the session: pytest-django runs database-free tests last, and a flag or
loop left over from the browser tests would leak into them (`check --deploy` rejects the
flag in test_settings.py's subprocesses).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, sync_playwright

from conftest import require_or_skip

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
# Fail fast when an element never shows up instead of waiting Playwright's default 30 s.
TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        require_or_skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def expected_failures() -> list[re.Pattern]:
    """Patterns of "<status or network error> <url>" that a test expects (the refusal it
    tests), which the `page` fixture then does not count as a broken request."""
    return []


@pytest.fixture
def page(
    browser_context: BrowserContext, live_server, expected_failures: list[re.Pattern]
) -> Iterator[Page]:
    """A fresh desktop-sized page with no cookies, failing the test on any broken request
    but the `expected_failures`."""
    browser_context.clear_cookies()
    page = browser_context.new_page()
    failures: list[str] = []

    def fail(failure: str) -> None:
        if not any(pattern.search(failure) for pattern in expected_failures):
            failures.append(failure)

    def check_response(response: Response) -> None:
        if response.status >= 400:
            fail(f"{response.status} {response.url}")

    def check_request(request: Request) -> None:
        # Navigating away cancels requests still in flight; that is not a broken page.
        if request.failure != "net::ERR_ABORTED":
            fail(f"{request.failure} {request.url}")

    page.on("response", check_response)
    page.on("requestfailed", check_request)
    page.on("pageerror", lambda error: failures.append(f"JavaScript error: {error}"))
    yield page
    page.close()
    assert not failures, failures


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def log_in(context: BrowserContext, live_server, user) -> None:
    """Give the browser the session cookie of a logged-in test client (no login form)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
