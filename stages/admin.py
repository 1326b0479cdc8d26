from __future__ import annotations

from adminsortable2.admin import SortableAdminBase, SortableInlineAdminMixin
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from deals.models import DealStatus, StageChange
from pipeline_crm.admin import ReadOnlyAdminMixin
from reports.selectors.learned import LearnedProbability, with_learned_counts
from reports.services import apply_learned_probabilities
from stages.forms import (
    AdminPipelineForm,
    AdminStageForm,
    AdminStageFormSet,
    PipelineFromTemplateForm,
)
from stages.models import Pipeline, Stage, StageKind
from stages.services import create_pipeline_from_template

LEARNED_CHANGED = "{pipeline}: applied the learned probability to {stages}."
LEARNED_UNCHANGED = "{pipeline}: already at the learned probability: {stages}."
LEARNED_SKIPPED = (
    "{pipeline}: skipped, fewer than {min_sample} deals closed in the last {months} months "
    "entered the stage: {stages}."
)


def _learned(stage: Stage) -> LearnedProbability | None:
    """The learned probability of an open stage read with `with_learned_counts`."""
    if stage.kind != StageKind.OPEN or not hasattr(stage, "learned_sample"):
        return None
    return LearnedProbability(stage.pk, stage.learned_won, stage.learned_sample)


class StageInline(SortableInlineAdminMixin, admin.TabularInline):
    model = Stage
    form = AdminStageForm
    formset = AdminStageFormSet
    fields = [
        "name",
        "probability",
        "learned_probability",
        "learned_sample",
        "kind",
        "rotting_days",
        "deal_count",
        "position",
    ]
    readonly_fields = ["learned_probability", "learned_sample", "deal_count"]
    # adminsortable2 takes the first ordering field as the drag field; the model's
    # ordering starts with "pipeline".
    ordering = ["position", "pk"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Stage]:
        # The learned counts are subqueries of the stage query itself: no query per stage.
        stages = super().get_queryset(request).annotate(num_deals=Count("deals"))
        return with_learned_counts(stages, now=timezone.now())

    @admin.display(description="deals")
    def deal_count(self, stage: Stage) -> int | str:
        return getattr(stage, "num_deals", "–")

    @admin.display(description="learned")
    def learned_probability(self, stage: Stage) -> str:
        learned = _learned(stage)
        if learned is None or learned.rate is None:
            return "–"
        return f"{learned.rate} %"

    @admin.display(description="closed deals")
    def learned_sample(self, stage: Stage) -> str:
        learned = _learned(stage)
        if learned is None:
            return "–"
        if learned.usable():
            return str(learned.sample)
        return f"{learned.sample} (too few)"


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
    actions = ["apply_learned"]

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

    def has_apply_learned_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request) and request.user.has_perm(
            f"{Stage._meta.app_label}.change_stage"
        )

    @admin.action(description="Apply learned probabilities", permissions=["apply_learned"])
    def apply_learned(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        now = timezone.now()
        min_sample = settings.LEARNED_PROBABILITY_MIN_SAMPLE
        months = settings.LEARNED_PROBABILITY_MONTHS
        for pipeline in queryset.order_by("position", "name"):
            stages = list(
                with_learned_counts(pipeline.stages.open().order_by("position", "pk"), now=now)
            )
            learned = {stage.pk: _learned(stage) for stage in stages}
            changed = apply_learned_probabilities(
                pipeline, now=now, min_sample=min_sample, by=request.user, learned=learned
            )
            new = {stage.pk: stage.probability for stage in changed}
            if changed:
                names = ", ".join(
                    f"{s.name} ({s.probability} → {new[s.pk]} %)" for s in stages if s.pk in new
                )
                self.message_user(request, LEARNED_CHANGED.format(pipeline=pipeline, stages=names))
            unchanged = [
                s.name for s in stages if learned[s.pk].usable(min_sample) and s.pk not in new
            ]
            if unchanged:
                self.message_user(
                    request,
                    LEARNED_UNCHANGED.format(pipeline=pipeline, stages=", ".join(unchanged)),
                    messages.INFO,
                )
            skipped = [
                f"{s.name} ({learned[s.pk].sample})"
                for s in stages
                if not learned[s.pk].usable(min_sample)
            ]
            if skipped:
                self.message_user(
                    request,
                    LEARNED_SKIPPED.format(
                        pipeline=pipeline,
                        min_sample=min_sample,
                        months=months,
                        stages=", ".join(skipped),
                    ),
                    messages.WARNING,
                )

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
