from __future__ import annotations

from django.urls import path

from pipeline_crm.views import coming_soon

app_name = "tasks"
urlpatterns = [
    path("", coming_soon("Tasks", "Your overdue, today's and upcoming tasks."), name="list"),
]
