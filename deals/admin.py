from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from deals.forms import BANT_FIELDS, DEAL_FIELD_LABELS, AdminDealForm
from deals.models import (
    Account,
    Activity,
    Contact,
    Deal,
    Flush,
    ForecastChange,
    LeadSource,
    LostReason,
    StageChange,
)
from deals.services import (
    DealError,
    archive_accounts,
    archive_contacts,
    archive_deals,
    create_deal,
    log_activity,
    move_deal,
    record_forecast_edit,
    restore_accounts,
    restore_contacts,
    restore_deals,
)
from pipeline_crm.admin import ReadOnlyAdminMixin

# What create_deal takes from the form; the rest of an added deal's fields are saved after.
_CREATE_DEAL_FIELDS = [
    "title",
    "account",
    "contact",
    "owner",
    "pipeline",
    "stage",
    "value",
    "expected_close_date",
    "source",
    "lost_reason",
]


def _archive_actions(archive, restore) -> list:
    """The "Archive selected" and "Restore selected" admin actions, through the services."""

    def counted(queryset: QuerySet, count: int) -> str:
        meta = queryset.model._meta
        return f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"

    @admin.action(description="Archive selected %(verbose_name_plural)s")
    def archive_selected(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            count = archive(queryset, by=request.user)
        except DealError as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
            return
        modeladmin.message_user(request, f"Archived {counted(queryset, count)}.", messages.SUCCESS)

    @admin.action(description="Restore selected %(verbose_name_plural)s")
    def restore_selected(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
        count = restore(queryset, by=request.user)
        modeladmin.message_user(request, f"Restored {counted(queryset, count)}.", messages.SUCCESS)

    return [archive_selected, restore_selected]


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["name", "email", "phone", "title", "is_archived"]
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    inlines = [ContactInline]
    actions = _archive_actions(archive_accounts, restore_accounts)
    list_display = ["name", "industry", "owner", "is_archived", "last_activity_at"]
    list_filter = ["industry", "owner", "is_archived"]
    list_select_related = ["owner"]
    search_fields = ["name", "industry"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at", "last_activity_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    actions = _archive_actions(archive_contacts, restore_contacts)
    list_display = ["name", "account", "email", "phone", "title", "is_archived"]
    list_filter = ["is_archived"]
    list_select_related = ["account"]
    search_fields = ["name", "email", "account__name"]
    autocomplete_fields = ["account"]


class PickListAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["name"]


admin.site.register(LostReason, PickListAdmin)
admin.site.register(LeadSource, PickListAdmin)


class StageChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The deal's stage history, written only by the services."""

    model = StageChange
    fields = ["changed_at", "from_stage", "to_stage", "by"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[StageChange]:
        return super().get_queryset(request).select_related("from_stage", "to_stage", "by")


class ForecastChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """What each edit of the deal's value or expected close date replaced, written only by
    the services (and this admin's edits, through them)."""

    model = ForecastChange
    verbose_name_plural = "value and expected close edits (the values they replaced)"
    fields = ["changed_at", "value_before", "expected_close_date_before", "by"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ForecastChange]:
        return super().get_queryset(request).select_related("by")


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    form = AdminDealForm
    actions = _archive_actions(archive_deals, restore_deals)
    list_display = [
        "title",
        "account",
        "pipeline",
        "stage",
        "status",
        "owner",
        "value",
        "expected_close_date",
        "closed_at",
    ]
    list_filter = ["pipeline", "status", "owner", "source", "is_archived"]
    list_select_related = ["account", "pipeline", "stage", "owner"]
    search_fields = ["title", "account__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["account", "contact", "owner"]
    fieldsets = [
        # The deal's plain fields in the order of its page.
        (None, {"fields": [*DEAL_FIELD_LABELS]}),
        (
            "Stage",
            {
                "fields": [
                    "pipeline",
                    "stage",
                    "lost_reason",
                    "status",
                    "stage_changed_at",
                    "closed_at",
                ]
            },
        ),
        ("Qualification (BANT)", {"fields": [*BANT_FIELDS]}),
        (
            "Record",
            {
                "fields": [
                    "is_archived",
                    "board_position",
                    "created_at",
                    "updated_at",
                    "last_activity_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        "status",
        "stage_changed_at",
        "closed_at",
        "board_position",
        "created_at",
        "updated_at",
        "last_activity_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Deal | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "pipeline"] if obj is not None else fields

    def get_inlines(self, request: HttpRequest, obj: Deal | None) -> list:
        return [StageChangeInline, ForecastChangeInline] if obj is not None else []

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(
        self, request: HttpRequest, obj: Deal, form: AdminDealForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if not change:
            deal = create_deal(
                by=request.user, **{name: data[name] for name in _CREATE_DEAL_FIELDS}
            )
            # The admin goes on with `obj` (log entry, redirect): make it the created deal.
            obj.pk = deal.pk
            obj._state.adding = False
            rest = [name for name in form.fields if name not in _CREATE_DEAL_FIELDS]
            if rest:
                obj.save(update_fields=rest)
            obj.refresh_from_db()
            return
        moved = "stage" in form.changed_data
        plain = [
            name
            for name in form.changed_data
            if name != "stage" and not (moved and name == "lost_reason")
        ]
        if plain:
            obj.save(update_fields=[*plain, "updated_at"])
        record_forecast_edit(
            obj,
            plain,
            value_before=form.initial.get("value"),
            expected_close_date_before=form.initial.get("expected_close_date"),
            by=request.user,
        )
        if moved:
            move_deal(obj, data["stage"], by=request.user, lost_reason=data["lost_reason"])
        obj.refresh_from_db()

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A deal's stage history goes with the deal, although the history admin is read-only.
        perms_needed.discard(StageChange._meta.verbose_name)
        perms_needed.discard(ForecastChange._meta.verbose_name)
        return deleted, counts, perms_needed, protected


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the history is written by deals.services and nothing else."""

    list_display = ["deal", "from_stage", "to_stage", "by", "changed_at"]
    list_filter = ["deal__pipeline"]
    list_select_related = ["deal", "from_stage", "to_stage", "by"]
    search_fields = ["deal__title"]
    date_hierarchy = "changed_at"


@admin.register(Flush)
class FlushAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: flushes are started, run and undone from their pages (deals:flush)."""

    list_display = [
        "__str__",
        "requested_by",
        "is_scheduled",
        "created_at",
        "status",
        "total",
        "moved",
        "skipped",
        "undo_status",
        "restored",
        "kept",
    ]
    list_filter = ["status", "undo_status", "is_scheduled", "pipeline"]
    list_select_related = ["pipeline", "requested_by"]
    date_hierarchy = "created_at"


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["subject", "kind", "user", "deal", "account", "occurred_at"]
    list_filter = ["kind", "user"]
    list_select_related = ["user", "deal", "account"]
    search_fields = ["subject", "body"]
    date_hierarchy = "occurred_at"
    autocomplete_fields = ["deal", "account"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Activity, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        activity = log_activity(
            kind=obj.kind,
            subject=obj.subject,
            body=obj.body,
            user=obj.user,
            deal=obj.deal,
            account=obj.account,
            occurred_at=obj.occurred_at,
        )
        obj.pk = activity.pk
        obj._state.adding = False
        obj.refresh_from_db()
