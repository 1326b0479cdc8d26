"""The filters every report shares: a period, and pipeline, team and owner."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from pipeline_crm.forms import ListedModelChoiceField
from pipeline_crm.models import User
from reports.periods import DEFAULT_PRESET, Period, Preset, preset_period
from reports.scope import report_people, report_teams
from stages.models import Pipeline

DATE_INPUT = forms.DateInput(attrs={"type": "date"})
MAX_PERIOD_DAYS = 3 * 366
CUSTOM_NEEDS_DATES = "Custom dates need both a start and an end date."
START_AFTER_END = "The start date must not be after the end date."
PERIOD_TOO_LONG = "A period can span at most three years."
# Far enough for any sales history, near enough that the previous period stays a date.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
DATE_OUT_OF_RANGE = "Dates must lie between 1900 and 2999."


class ReportFilterForm(forms.Form):
    """Bound to the query string; fields the user may not use are left out (a rep has no
    team or owner filter) and choices only offer what the user reports on."""

    period = forms.ChoiceField(choices=Preset.choices, required=False)
    start = forms.DateField(label="From", required=False, widget=DATE_INPUT)
    end = forms.DateField(label="To", required=False, widget=DATE_INPUT)
    pipeline = ListedModelChoiceField(
        Pipeline.objects.all(), required=False, empty_label="All pipelines"
    )
    team = ListedModelChoiceField(None, required=False, empty_label="All teams")
    owner = ListedModelChoiceField(None, required=False, empty_label="Everyone")

    def __init__(self, data, *, user: User, today: dt.date | None = None, **kwargs) -> None:
        if data is not None and not data.get("period"):
            # so that the menu shows the period in force
            data = data.copy()
            data["period"] = DEFAULT_PRESET
        super().__init__(data, **kwargs)
        self.user = user
        self.today = today or timezone.localdate()
        if user.is_crm_admin or user.is_manager:
            self.fields["team"].queryset = report_teams(user)
            self.fields["owner"].queryset = report_people(user).filter(is_active=True)
        else:
            del self.fields["team"]
            del self.fields["owner"]

    def clean(self) -> dict:
        data = super().clean()
        preset = data.get("period") or DEFAULT_PRESET
        start, end = data.get("start"), data.get("end")
        if preset == Preset.CUSTOM:
            if start is None or end is None:
                raise forms.ValidationError(CUSTOM_NEEDS_DATES)
            if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
                raise forms.ValidationError(DATE_OUT_OF_RANGE)
            if start > end:
                raise forms.ValidationError(START_AFTER_END)
            if (end - start).days >= MAX_PERIOD_DAYS:
                raise forms.ValidationError(PERIOD_TOO_LONG)
            data["range"] = Period(start, end)
        else:
            data["range"] = preset_period(preset, today=self.today)
        return data

    @property
    def filters(self) -> dict[str, object]:
        """pipeline, team and owner as chosen (None when not filtered); needs is_valid()."""
        return {name: self.cleaned_data.get(name) for name in ("pipeline", "team", "owner")}

    @property
    def chosen_period(self) -> Period:
        return self.cleaned_data["range"]
