from __future__ import annotations

from django.urls import include, path

from deals import (
    account_views,
    activity_views,
    deal_views,
    flush_views,
    import_views,
    list_views,
    record_views,
    views,
)

app_name = "deals"

# /deals/<deal_id>/
deal_urls = [
    path("", deal_views.detail, name="detail"),
    path("bant/", deal_views.bant, name="bant"),
    path("fields/<str:field>/", deal_views.field, name="field"),
    path("activities/new/", deal_views.new_activity, name="log-activity"),
    path("tasks/new/", deal_views.new_task, name="add-task"),
    path("move/", views.move, name="move"),
    path("move-to/", views.move_form, name="move-form"),
    path("edit/", record_views.deal_edit, name="edit"),
    path("archive/", record_views.deal_archive, name="archive"),
    path("restore/", record_views.deal_restore, name="restore"),
]

# /accounts/<account_id>/
account_urls = [
    path("", account_views.detail, name="account-detail"),
    path("activities/new/", account_views.new_activity, name="account-log-activity"),
    path("tasks/new/", account_views.new_task, name="account-add-task"),
    path("edit/", record_views.account_edit, name="account-edit"),
    path("archive/", record_views.account_archive, name="account-archive"),
    path("restore/", record_views.account_restore, name="account-restore"),
    path("contacts/new/", record_views.contact_create, name="contact-create"),
]

# /contacts/<contact_id>/
contact_urls = [
    path("edit/", record_views.contact_edit, name="contact-edit"),
    path("archive/", record_views.contact_archive, name="contact-archive"),
    path("restore/", record_views.contact_restore, name="contact-restore"),
]

# /activities/<activity_id>/
activity_urls = [
    path("edit/", activity_views.edit, name="activity-edit"),
    path("delete/", activity_views.delete, name="activity-delete"),
]

# /pipelines/<pipeline_id>/
pipeline_urls = [
    path("board/", views.board, name="board"),
    path("board/new/", views.quick_add, name="quick-add"),
    path("board/columns/<int:stage_id>/", views.column, name="column"),
]

urlpatterns = [
    path("deals/", list_views.deal_list, name="list"),
    path("deals/import/", import_views.import_page, name="import"),
    path("deals/export.csv", import_views.export_csv, name="export"),
    path("deals/flush/", flush_views.flush_page, name="flush"),
    path("deals/flush/start/", flush_views.start, name="flush-start"),
    path("deals/flush/<int:flush_id>/", flush_views.job, name="flush-job"),
    path("deals/flush/<int:flush_id>/undo/", flush_views.undo, name="flush-undo"),
    path("accounts/", list_views.account_list, name="accounts"),
    path("accounts/export.csv", list_views.account_export, name="accounts-export"),
    path("contacts/", list_views.contact_list, name="contacts"),
    path("deals/new/", record_views.deal_create, name="create"),
    path("accounts/new/", record_views.account_create, name="account-create"),
    path("deals/<int:deal_id>/", include(deal_urls)),
    path("accounts/<int:account_id>/", include(account_urls)),
    path("contacts/<int:contact_id>/", include(contact_urls)),
    path("activities/<int:activity_id>/", include(activity_urls)),
    path("pipelines/<int:pipeline_id>/", include(pipeline_urls)),
]
