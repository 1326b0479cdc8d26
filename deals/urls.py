from __future__ import annotations

from django.urls import include, path

from deals import import_views, views
from pipeline_crm.views import coming_soon

app_name = "deals"

# /deals/<deal_id>/
deal_urls = [
    path("", views.detail, name="detail"),
    path("move/", views.move, name="move"),
    path("move-to/", views.move_form, name="move-form"),
]

# /pipelines/<pipeline_id>/
pipeline_urls = [
    path("board/", views.board, name="board"),
    path("board/new/", views.quick_add, name="quick-add"),
    path("board/columns/<int:stage_id>/", views.column, name="column"),
]

urlpatterns = [
    path("deals/", coming_soon("Deals", "Search, filter and export every deal."), name="list"),
    path("deals/import/", import_views.import_page, name="import"),
    path("deals/export.csv", import_views.export_csv, name="export"),
    path(
        "deals/accounts/",
        coming_soon("Accounts", "Accounts with their contacts, deals and timeline."),
        name="accounts",
    ),
    path("deals/<int:deal_id>/", include(deal_urls)),
    path("pipelines/<int:pipeline_id>/", include(pipeline_urls)),
]
