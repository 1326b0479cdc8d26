"""Forms for tasks: the one-line quick add of the deal and account pages, and the
actions of a task row."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from deals.forms import MarksInvalidFields, style_field
from pipeline_crm.forms import KeepsConcurrentEdits, to_the_minute
from tasks.services import (
    SNOOZE_IN_THE_PAST,
    SNOOZE_OPTIONS,
    at_morning,
    next_task_due,
    snooze_time,
)

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


# The actions of a task row (templates/tasks/partials/task_row.html)

PICK_A_DATE = "Pick the day to snooze until."


class SnoozeForm(forms.Form):
    """Tomorrow, in 3 days, next week (Monday) or a picked day; each at 09:00 local."""

    when = forms.ChoiceField(choices=[*SNOOZE_OPTIONS.items(), ("date", "Pick a date")])
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        style_field(self.fields["day"])

    def clean(self):
        cleaned = super().clean()
        when, day = cleaned.get("when"), cleaned.get("day")
        if when is None or self.has_error("day"):
            return cleaned
        if when == "date" and day is None:
            self.add_error("day", PICK_A_DATE)
            return cleaned
        cleaned["until"] = snooze_time(when, now=self.now, day=day)
        if cleaned["until"] <= self.now:
            self.add_error("day" if when == "date" else None, SNOOZE_IN_THE_PAST)
        return cleaned


class ReassignForm(MarksInvalidFields, forms.Form):
    """Someone `assignees` allows (see `task_assignees`)."""

    assignee = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
        style_field(self.fields["assignee"])


class TaskEditForm(KeepsConcurrentEdits, MarksInvalidFields, forms.Form):
    """Title, notes and due time. A save writes only what this user changed; a due time
    in the past is refused only when typed (an overdue task keeps its date while its
    title is corrected)."""

    title = forms.CharField(max_length=200)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    due_at = forms.DateTimeField(
        label="Due",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, task, **kwargs):
        kwargs.setdefault("auto_id", f"task-{task.pk}-%s")
        super().__init__(*args, record=task, **kwargs)
        self.task = task
        for name in self.fields:
            style_field(self.fields[name])

    def shown(self, record) -> dict[str, object]:
        return {
            "title": record.title,
            "notes": record.notes,
            "due_at": to_the_minute(record.due_at),
        }

    def clean_due_at(self):
        due_at = self.cleaned_data["due_at"]
        if due_at < timezone.now() and self.changed_by_user("due_at"):
            raise forms.ValidationError(DUE_IN_THE_PAST)
        return due_at


class NextTaskForm(QuickTaskForm):
    """The task that follows a completed one: due in two working days at 09:00, for the
    same assignee by default."""

    def __init__(self, *args, done, now: datetime, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("due", timezone.localdate(next_task_due(now=now)))
        kwargs["initial"].setdefault("assignee", done.assignee_id)
        kwargs.setdefault("auto_id", f"next-{done.pk}-%s")
        super().__init__(*args, **kwargs)

    def due_at(self) -> datetime:
        return at_morning(self.cleaned_data["due"])
