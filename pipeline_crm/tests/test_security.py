from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"  # UserFactory's


def test_pages_carry_the_security_headers(client, rep, pipeline, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_SSL_REDIRECT = False
    client.force_login(rep)
    response = client.get(reverse("deals:board", args=[pipeline.pk]), secure=True)

    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def log_in(client: Client, password: str):
    return client.post(reverse("login"), {"username": "alice", "password": password})


def test_repeated_failed_logins_lock_the_account_out_for_a_while(rep, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200
    locked = log_in(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()

    # Even the right password is refused while locked out, from this address...
    assert log_in(client, PASSWORD).status_code == 429
    # ...and after the cool-off it works again.
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    with time_machine.travel(later):
        response = log_in(Client(), PASSWORD)
    assert response.status_code == 302


def test_a_successful_login_resets_the_failure_count(rep, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200
