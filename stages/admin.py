from __future__ import annotations

from adminsortable2.admin import SortableAdminBase, SortableInlineAdminMixin
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from deals.models import DealStatus, StageChange
from pipeline_crm.admin import ReadOnlyAdminMixin
from stages.forms import (
    AdminPipelineForm,
    AdminStageForm,
    AdminStageFormSet,
    PipelineFromTemplateForm,
)
from stages.models import Pipeline, Stage, StageKind
from stages.services import create_pipeline_from_template


class StageInline(SortableInlineAdminMixin, admin.TabularInline):
    model = Stage
    form = AdminStageForm
    formset = AdminStageFormSet
    fields = ["name", "probability", "kind", "rotting_days", "deal_count", "position"]
    readonly_fields = ["deal_count"]
    # adminsortable2 takes the first ordering field as the drag field; the model's
    # ordering starts with "pipeline".
    ordering = ["position", "pk"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Stage]:
        return super().get_queryset(request).annotate(num_deals=Count("deals"))

    @admin.display(description="deals")
    def deal_count(self, stage: Stage) -> int | str:
        return getattr(stage, "num_deals", "–")


@admin.register(Pipeline)
class PipelineAdmin(SortableAdminBase, SimpleHistoryAdmin):
    form = AdminPipelineForm
    inlines = [StageInline]
    list_display = [
        "name",
        "is_active",
        "visibility",
        "followup_days",
        "position",
        "stage_count",
        "open_deal_count",
    ]
    list_filter = ["is_active", "visibility"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pipeline]:
        # distinct: the two counts join different tables and would multiply each other.
        return (
            super()
            .get_queryset(request)
            .annotate(
                num_stages=Count("stages", distinct=True),
                num_open_deals=Count(
                    "deals", filter=Q(deals__status=DealStatus.OPEN), distinct=True
                ),
            )
        )

    @admin.display(description="stages", ordering="num_stages")
    def stage_count(self, pipeline: Pipeline) -> int:
        return pipeline.num_stages

    @admin.display(description="open deals", ordering="num_open_deals")
    def open_deal_count(self, pipeline: Pipeline) -> int:
        return pipeline.num_open_deals

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        pipeline = form.instance
        if not change and pipeline.default_lost_stage_id is None:
            # As for template pipelines: the first lost stage takes the flushed deals.
            pipeline.default_lost_stage = (
                pipeline.stages.filter(kind=StageKind.LOST).order_by("position").first()
            )
            pipeline.save(update_fields=["default_lost_stage"])

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Stage history refers to stages with PROTECT, so it is always among `protected`;
        # without this the page would blame the read-only history admin instead.
        perms_needed.discard(StageChange._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def get_urls(self):
        urls = [
            path(
                "from-template/",
                self.admin_site.admin_view(self.from_template_view),
                name="stages_pipeline_from_template",
            ),
        ]
        return urls + super().get_urls()

    def from_template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PipelineFromTemplateForm(request.POST or None)
        if form.is_valid():
            try:
                pipeline = create_pipeline_from_template(
                    form.cleaned_data["template"], name=form.cleaned_data["name"]
                )
            except ValidationError as error:
                form.add_error("name" if error.code == "name_taken" else "template", error)
            else:
                self.log_addition(request, pipeline, [{"added": {}}])
                messages.success(request, f"The pipeline “{pipeline}” was created.")
                return redirect("admin:stages_pipeline_change", pipeline.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "New pipeline from a template",
            "opts": self.opts,
            "form": form,
            "changelist_url": reverse("admin:stages_pipeline_changelist"),
        }
        return TemplateResponse(request, "admin/stages/pipeline/from_template.html", context)


@admin.register(Stage.history.model)
class StageHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every change to a stage (name, probability, kind, order), with who and when."""

    list_display = [
        "history_date",
        "history_user",
        "history_type",
        "pipeline",
        "name",
        "probability",
        "kind",
        "position",
    ]
    list_filter = ["pipeline", "history_type"]
    list_select_related = ["history_user", "pipeline"]
    search_fields = ["name"]
    date_hierarchy = "history_date"
