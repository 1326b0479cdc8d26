from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pipeline_crm.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "ENVIRONMENT")
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="pipeline_crm.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checks():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_with_the_default_secret_key():
    result = manage("check", DEBUG="false", ALLOWED_HOSTS="crm.example.com")
    assert result.returncode != 0
    assert "Set SECRET_KEY to 50 or more random characters when DEBUG is off." in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = manage(
        "check",
        ENVIRONMENT="production",
        DEBUG="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode != 0
    assert "DEBUG must be off when ENVIRONMENT is production." in result.stderr


def test_production_turns_debug_off_by_default():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_a_malformed_boolean_variable_is_refused(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false, got 'maybe'"):
        env_bool("DEBUG", True)


def test_a_malformed_integer_variable_is_refused(monkeypatch):
    monkeypatch.setenv("EMAIL_PORT", "twenty-five")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be an integer"):
        env_int("EMAIL_PORT", 25)


def test_list_variables_are_comma_separated(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "crm.example.com, www.example.com,")
    assert env_list("ALLOWED_HOSTS", []) == ["crm.example.com", "www.example.com"]


def test_the_database_comes_from_database_url():
    url = os.environ.get("DATABASE_URL", "")
    vendor = "postgresql" if url.startswith("postgres") else "sqlite3"
    assert settings.DATABASES["default"]["ENGINE"] == f"django.db.backends.{vendor}"
