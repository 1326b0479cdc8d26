from __future__ import annotations

from django.urls import path

from pipeline_crm.views import coming_soon

app_name = "reports"
urlpatterns = [
    path(
        "",
        coming_soon("Reports", "Revenue, forecast, funnel and team dashboards."),
        name="index",
    ),
]
