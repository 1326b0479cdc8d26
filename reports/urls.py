from __future__ import annotations

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("revenue/", views.revenue, name="revenue"),
    path("forecast/", views.forecast, name="forecast"),
    path("funnel/", views.funnel, name="funnel"),
    path("team/", views.team, name="team"),
]
