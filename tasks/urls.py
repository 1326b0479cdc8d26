from __future__ import annotations

from django.urls import include, path

from tasks import views

app_name = "tasks"

# /tasks/<task_id>/
task_urls = [
    path("complete/", views.complete, name="complete"),
    path("snooze/", views.snooze, name="snooze"),
    path("reassign/", views.reassign, name="reassign"),
    path("edit/", views.edit, name="edit"),
    path("dismiss/", views.dismiss, name="dismiss"),
    path("next/", views.next_task, name="next"),
]

urlpatterns = [
    path("", views.task_list, name="list"),
    path("badge/", views.badge, name="badge"),
    path("<int:task_id>/", include(task_urls)),
]
