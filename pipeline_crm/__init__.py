from __future__ import annotations

from pipeline_crm.celery import app as celery_app

__all__ = ["celery_app"]
