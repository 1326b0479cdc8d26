from __future__ import annotations

from django.contrib import admin

from tasks.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "assignee", "deal", "account", "due_at", "status", "kind"]
    list_filter = ["status", "kind", "assignee"]
    list_select_related = ["assignee", "deal", "account"]
    search_fields = ["title", "notes", "deal__title", "account__name"]
    date_hierarchy = "due_at"
    autocomplete_fields = ["assignee", "deal", "account", "created_by"]
    readonly_fields = ["created_at"]
