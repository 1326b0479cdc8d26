from __future__ import annotations

from django.contrib import admin

from pipeline_crm.admin import ReadOnlyAdminMixin
from tasks.models import Notification, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "assignee", "deal", "account", "due_at", "status", "kind"]
    list_filter = ["status", "kind", "assignee"]
    list_select_related = ["assignee", "deal", "account"]
    search_fields = ["title", "notes", "deal__title", "account__name"]
    date_hierarchy = "due_at"
    autocomplete_fields = ["assignee", "deal", "account", "created_by"]
    readonly_fields = ["created_at", "reminder_sent_at"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Emails the CRM sent or will send; unsent ones go out with the next 5-minute run."""

    list_display = ["subject", "recipient", "created_at", "sent_at", "skipped_reason"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    list_select_related = ["recipient"]
    search_fields = ["subject", "recipient__username", "recipient__email"]
    date_hierarchy = "created_at"
    exclude = ["html_body"]  # its source; the text body says the same
