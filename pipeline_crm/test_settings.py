"""Test overrides: fast password hashing, eager Celery, in-memory email. Everything else is real."""

from __future__ import annotations

import os

from pipeline_crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# Tasks run eagerly; the `live_worker` fixture switches to the real broker, where results
# come back through the same Redis.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_BROKER_URL") or None

# As in production with CACHE_URL: sessions come from the cache (cleared between tests).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
