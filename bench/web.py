"""Cases that open one page as one user through Django's test client (the whole middleware
stack, no network), with sessions as production keeps them: a cache in front of the table
(the settings fall back to the table alone without a cache URL, one query more a page)."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import Client, override_settings

from bench.runner import Case
from pipeline_crm.models import User

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"


class PageCase(Case):
    """GET `page_url()` as the user `prepare()` returns, once per run; checks the answer is a
    200 and then `check_page()` on its HTML."""

    def prepare(self) -> User:
        """Build or find the data set (untimed); the user who opens the page."""
        raise NotImplementedError

    def page_url(self) -> str:
        raise NotImplementedError

    def setup(self) -> None:
        self.sessions = override_settings(SESSION_ENGINE=SESSION_ENGINE)
        self.sessions.enable()
        user = self.prepare()
        self.url = self.page_url()
        self.client = Client()
        self.client.force_login(user)

    def teardown(self) -> None:
        self.sessions.disable()

    def run(self) -> HttpResponse:
        # secure: the settings run with DEBUG off, which redirects plain HTTP to HTTPS.
        return self.client.get(self.url, secure=True)

    def check(self, outcome: HttpResponse) -> list[str]:
        if outcome.status_code != 200:
            return [f"{self.url} answered {outcome.status_code}"]
        return self.check_page(outcome.content.decode())

    def check_page(self, html: str) -> list[str]:
        return []
