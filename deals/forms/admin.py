"""The Django admin's deal form. Stage changes are checked here and carried out by the services."""

from __future__ import annotations

from django import forms

from deals.models import Deal
from deals.services import (
    DEAL_EDITABLE_FIELDS,
    DealError,
    DealMoveError,
    check_move,
    first_open_stage,
)
from stages.models import Stage, StageKind


class AdminDealForm(forms.ModelForm):
    class Meta:
        model = Deal
        # The admin narrows these to its fieldsets minus the read-only fields: the plain
        # fields, where the deal stands (checked in clean(), moved by move_deal), archiving.
        fields = [*sorted(DEAL_EDITABLE_FIELDS), "pipeline", "stage", "lost_reason", "is_archived"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stage = self.fields.get("stage")
        if stage is None:
            return
        if self.instance.pk:
            # The pipeline is fixed after creation, so only its stages are offered.
            stage.queryset = self.instance.pipeline.stages.all()
        else:
            stage.label_from_instance = lambda s: f"{s.pipeline} / {s}"
            stage.queryset = Stage.objects.select_related("pipeline").order_by(
                "pipeline__position", "pipeline__name", "position", "pk"
            )
            stage.required = False
            stage.help_text = "Empty: the pipeline's first open stage."

    def clean(self) -> dict:
        cleaned = super().clean()
        pipeline = self.instance.pipeline if self.instance.pk else cleaned.get("pipeline")
        stage = cleaned.get("stage")
        if pipeline is None or "stage" in self.errors or "lost_reason" in self.errors:
            return cleaned
        if stage is None:
            try:
                stage = cleaned["stage"] = first_open_stage(pipeline)
            except DealError as error:
                self.add_error("stage", str(error))
                return cleaned
        if stage.kind != StageKind.LOST:
            # As in the services: only lost deals keep a lost reason.
            cleaned["lost_reason"] = None
        deal = Deal(title=cleaned.get("title") or self.instance.title, pipeline=pipeline)
        try:
            check_move(deal, stage, lost_reason=cleaned.get("lost_reason"))
        except DealMoveError as error:
            field = "stage" if stage.pipeline_id != pipeline.pk else "lost_reason"
            self.add_error(field, str(error))
        return cleaned
