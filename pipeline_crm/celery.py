from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeline_crm.settings")

app = Celery("pipeline_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="pipeline_crm.ping")
def ping() -> str:
    """Round-trip check used by health checks and the broker integration test."""
    return "pong"
