from __future__ import annotations

from django.urls import path

from pipeline_crm.views import coming_soon

app_name = "deals"
urlpatterns = [
    path("", coming_soon("Deals", "Search, filter and export every deal."), name="list"),
    path(
        "accounts/",
        coming_soon("Accounts", "Accounts with their contacts, deals and timeline."),
        name="accounts",
    ),
]
