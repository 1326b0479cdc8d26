"""The criteria of a flush of stale deals, as the flush page asks for them.

The rules the criteria obey (a criterion at least, days of 1 or more, no future date, a lost
stage to move to) are the service's `check_criteria`, so the page, the command and the
schedule refuse the same things with the same words; the form adds what only a page has:
the choices the user is offered.
"""

from __future__ import annotations

import datetime as dt

from crispy_forms.bootstrap import AppendedText
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.utils import timezone

from deals.forms.records import STAGE_OF_OTHER_PIPELINE, StageChoiceField, _ModelSelect
from deals.selectors import assignable_owners
from deals.services.flush import (
    DATE_IN_FUTURE,
    DAYS_NOT_POSITIVE,
    NO_LOST_STAGE,
    FlushCriteria,
    FlushError,
    check_criteria,
)
from pipeline_crm.models import User
from stages.models import Pipeline, Stage

DEFAULT_INACTIVE_DAYS = 90
MAX_INACTIVE_DAYS = 36_500
TOO_MANY_DAYS = "Choose at most 36,500 days (a hundred years)."
FIRST_DAY = dt.date(1900, 1, 1)
DATE_TOO_EARLY = "Choose a date after 1900."
# The columns of the criteria row: narrow enough for the five to sit on one line.
COLUMN = "col-12 col-sm-6 col-lg"


class FlushForm(forms.Form):
    """Pipeline and criteria of a flush, bound to the query string for the preview and to
    the POST of "Confirm". `user` decides the owners offered: a manager their teams'
    people, an admin everyone."""

    pipeline = forms.ModelChoiceField(queryset=None, empty_label=None, widget=_ModelSelect)
    inactive_days = forms.IntegerField(
        label="No activity for more than",
        required=False,
        max_value=MAX_INACTIVE_DAYS,
        error_messages={"max_value": TOO_MANY_DAYS},
        widget=forms.NumberInput(attrs={"min": "1"}),
    )
    created_before = forms.DateField(
        label="Created before",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any owner")
    stage = StageChoiceField(queryset=None, required=False, empty_label="Any open stage")

    def __init__(self, *args, user: User, today: dt.date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        pipelines = Pipeline.objects.active()
        self.fields["pipeline"].queryset = pipelines.select_related("default_lost_stage")
        self.fields["owner"].queryset = assignable_owners(user)
        self.fields["stage"].queryset = (
            Stage.objects.open()
            .filter(pipeline__in=pipelines)
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline__name", "pipeline_id", "position")
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The preview is a GET: a CSRF token would end up in the shared URL.
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("pipeline", css_class=COLUMN),
                Column(AppendedText("inactive_days", "days"), css_class=COLUMN),
                Column("created_before", css_class=COLUMN),
                Column("owner", css_class=COLUMN),
                Column("stage", css_class=COLUMN),
                css_class="g-2",
            )
        )

    def clean_created_before(self) -> dt.date | None:
        day = self.cleaned_data["created_before"]
        if day is not None and day < FIRST_DAY:
            raise forms.ValidationError(DATE_TOO_EARLY)
        return day

    def clean(self) -> dict:
        data = super().clean()
        pipeline, stage = data.get("pipeline"), data.get("stage")
        if pipeline is not None and stage is not None and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", STAGE_OF_OTHER_PIPELINE.format(pipeline=pipeline.name))
        if not self.errors:
            try:
                check_criteria(self.criteria, today=self.today)
            except FlushError as error:
                self.add_error(self._field_of(str(error)), str(error))
        return data

    def _field_of(self, message: str) -> str | None:
        """The field a message of `check_criteria` is about; None for the form as a whole."""
        pipeline = self.cleaned_data["pipeline"]
        return {
            DAYS_NOT_POSITIVE: "inactive_days",
            DATE_IN_FUTURE: "created_before",
            NO_LOST_STAGE.format(pipeline=pipeline.name): "pipeline",
        }.get(message)

    @property
    def criteria(self) -> FlushCriteria:
        data = self.cleaned_data
        return FlushCriteria(
            data["pipeline"],
            inactive_days=data.get("inactive_days"),
            created_before=data.get("created_before"),
            owner=data.get("owner"),
            stage=data.get("stage"),
        )
