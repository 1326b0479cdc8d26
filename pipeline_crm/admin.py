from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from pipeline_crm.models import Team, User


class ReadOnlyAdminMixin:
    """For records only the services write (history, audit): list and view, nothing else."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


_CRM_FIELDSET = ("CRM", {"fields": ("role", "team")})


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, _CRM_FIELDSET)
    # is_staff is on the add form so that "admins are staff" is checked there, not by the
    # database: a model constraint whose fields are missing from a form is not validated.
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("CRM", {"fields": ("role", "team", "is_staff")}),
    )
    list_display = ["username", "email", "first_name", "last_name", "role", "team", "is_staff"]
    list_filter = ["role", "team", "is_staff", "is_superuser", "is_active", "groups"]
    list_select_related = ["team"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "manager", "member_count"]
    list_select_related = ["manager"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]
    readonly_fields = ["members_list"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(num_members=Count("members"))

    @admin.display(description="members", ordering="num_members")
    def member_count(self, team: Team) -> int:
        return team.num_members

    @admin.display(description="members")
    def members_list(self, team: Team) -> str:
        members = team.members.all() if team.pk else []
        if not members:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a></li>',
                (
                    (reverse("admin:pipeline_crm_user_change", args=[member.pk]), member)
                    for member in members
                ),
            ),
        )
