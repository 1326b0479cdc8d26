from __future__ import annotations

from django.apps import AppConfig


class PipelineCrmConfig(AppConfig):
    name = "pipeline_crm"
    verbose_name = "Users and teams"
