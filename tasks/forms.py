"""Forms for tasks: the one-line quick add of the deal and account pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from deals.forms import MarksInvalidFields, style_field

DUE_IN_THE_PAST = "The due date cannot be in the past."
# A task given a day is due by the end of that working day, so it turns overdue the
# next morning rather than at midnight (or at dawn of its own day).
DUE_TIME = time(17, 0)


class QuickTaskForm(MarksInvalidFields, forms.Form):
    """Title, due date (default tomorrow) and assignee (from `assignees`)."""

    title = forms.CharField(max_length=200)
    due = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    assignee = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, assignees, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("due", timezone.localdate() + timedelta(days=1))
        kwargs.setdefault("auto_id", "task-%s")
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
        for field in self.fields.values():
            style_field(field)
        self.fields["title"].widget.attrs["placeholder"] = "Next step…"

    def clean_due(self):
        due = self.cleaned_data["due"]
        if due < timezone.localdate():
            raise forms.ValidationError(DUE_IN_THE_PAST)
        return due

    def due_at(self) -> datetime:
        """The due date as an aware datetime, at DUE_TIME in the current time zone."""
        return timezone.make_aware(datetime.combine(self.cleaned_data["due"], DUE_TIME))
