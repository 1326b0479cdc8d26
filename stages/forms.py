"""Admin forms for pipelines and their stages."""

from __future__ import annotations

from adminsortable2.admin import CustomInlineFormSet
from django import forms
from django.core.exceptions import ValidationError

from stages.models import (
    DEFAULT_LOST_STAGE_INVALID,
    STAGE_NAME_TAKEN,
    Pipeline,
    Stage,
    StageKind,
)
from stages.pipeline_templates import LOST, TEMPLATES, WON, PipelineTemplate
from stages.services import check_stage_kinds, stage_deletion_error, stage_kind_change_error

_UNIQUE_NAME = next(
    constraint
    for constraint in Stage._meta.constraints
    if constraint.name == "stage_unique_name_per_pipeline"
)


class AdminPipelineForm(forms.ModelForm):
    class Meta:
        model = Pipeline
        fields = [
            "name",
            "is_active",
            "position",
            "visibility",
            "default_lost_stage",
            "followup_days",
            "auto_flush_inactive_days",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("default_lost_stage")
        if field is not None:
            # A new pipeline has no stages yet; the admin picks its first lost stage on save.
            field.queryset = (
                self.instance.stages.filter(kind=StageKind.LOST)
                if self.instance.pk
                else Stage.objects.none()
            )


class AdminStageForm(forms.ModelForm):
    class Meta:
        model = Stage
        fields = ["name", "probability", "kind", "rotting_days", "position"]

    def clean_position(self) -> int:
        # The sortable inline makes the field optional; a missing value keeps the old place.
        position = self.cleaned_data.get("position")
        return self.instance.position if position is None else position

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        # The inline annotates `num_deals`; the service counts when used on its own.
        held = getattr(self.instance, "num_deals", None)
        error = stage_kind_change_error(self.instance, kind, held=held)
        if error:
            raise ValidationError(error)
        return kind

    def validate_unique(self) -> None:
        super().validate_unique()
        # The inline excludes its `pipeline` field from model validation, which silently
        # skips the case-insensitive name constraint; check it against the saved stages.
        if self.instance.pipeline_id is None:
            return
        exclude = self._get_validation_exclusions() - {"pipeline"}
        try:
            _UNIQUE_NAME.validate(Stage, self.instance, exclude=exclude)
        except ValidationError as error:
            self._update_errors(error)


class AdminStageFormSet(CustomInlineFormSet):
    """The stages of one pipeline, checked as a whole before anything is saved."""

    def clean(self) -> None:
        refusals = [
            message
            for form in self.forms
            if form.instance.pk and self._should_delete_form(form)
            for message in [stage_deletion_error(form.instance)]
            if message
        ]
        if refusals:
            # Ahead of the admin's own protected-objects check, which lists every deal.
            raise ValidationError(refusals)
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for index, form in enumerate(self.forms)
            if not self._should_delete_form(form)
            and (index < self.initial_form_count() or form.has_changed())
        ]
        errors = self._kept_stages_errors(kept)
        if errors:
            raise ValidationError(errors)

    def _kept_stages_errors(self, kept: list[forms.ModelForm]) -> list[ValidationError | str]:
        errors: list[ValidationError | str] = []
        try:
            check_stage_kinds(form.cleaned_data["kind"] for form in kept)
        except ValidationError as error:
            errors.append(error)
        names = [form.cleaned_data["name"].casefold() for form in kept]
        if len(set(names)) != len(names):
            errors.append(STAGE_NAME_TAKEN)
        default_lost = self.instance.default_lost_stage_id
        if default_lost is not None and not any(
            form.instance.pk == default_lost and form.cleaned_data["kind"] == StageKind.LOST
            for form in kept
        ):
            errors.append(DEFAULT_LOST_STAGE_INVALID)
        return errors


def describe_template(template: PipelineTemplate) -> str:
    """“Lead 10 % → … → Won (won) → Lost (lost)”, the help shown next to each template."""
    parts = [
        f"{name} ({spec})" if spec in (WON, LOST) else f"{name} {spec} %"
        for name, spec in template.stages
    ]
    return " → ".join(parts)


class PipelineFromTemplateForm(forms.Form):
    template = forms.ChoiceField(
        choices=[(t.key, f"{t.label}: {describe_template(t)}") for t in TEMPLATES],
        widget=forms.RadioSelect,
    )
    name = forms.CharField(
        max_length=Pipeline._meta.get_field("name").max_length,
        required=False,
        help_text="Empty: the template's name.",
    )
