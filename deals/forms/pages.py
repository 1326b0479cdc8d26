"""The deal and account pages' forms: inline edit of one field, BANT, logging an activity."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.forms.models import fields_for_model, model_to_dict
from django.utils import timezone

from deals.forms.records import BANT_FIELDS
from deals.models import (
    Activity,
    ActivityKind,
    Deal,
    LeadSource,
)
from deals.selectors import assignable_owners, visible_accounts
from pipeline_crm.forms import KeepsConcurrentEdits, to_the_minute

DEAL_FIELD_LABELS = {
    "title": "Title",
    "account": "Account",
    "contact": "Contact",
    "owner": "Owner",
    "value": "Value",
    "expected_close_date": "Expected close",
    "source": "Lead source",
}

ACTIVITY_IN_THE_FUTURE = "An activity is logged once it happened: pick a time up to now."


# Clock skew between the browser filling "now" and the server.
_FUTURE_GRACE = timedelta(minutes=5)


class MarksInvalidFields:
    """A form mixin: fields with errors (from validation or a service) get Bootstrap's
    `is-invalid`."""

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        for name in self._errors:
            widget = self.fields[name].widget if name in self.fields else None
            if widget is not None and "is-invalid" not in widget.attrs.get("class", ""):
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


def style_field(field: forms.Field, *, small: bool = True) -> None:
    """Bootstrap classes for a field rendered by hand (inline edit, one-line forms)."""
    is_select = isinstance(field.widget, forms.Select)
    base = "form-select" if is_select else "form-control"
    size = f" {base}-sm" if small else ""
    if isinstance(field.widget, forms.CheckboxInput):
        base, size = "form-check-input", ""
    field.widget.attrs["class"] = f"{base}{size}"


class DealFieldForm(KeepsConcurrentEdits, MarksInvalidFields, forms.Form):
    """One field of a deal (a key of DEAL_FIELD_LABELS), for inline edit, with the choices
    `user` may pick: visible accounts, the contacts of the deal's account, the owners
    `user` may assign, the active lead sources.

    Not a ModelForm on purpose: that would write the value into the deal during
    validation, before `update_deal` compares and checks it.
    """

    def __init__(self, *args, deal: Deal, name: str, user, **kwargs):
        self.deal, self.name = deal, name
        kwargs.setdefault("auto_id", "edit-%s")
        super().__init__(*args, record=deal, **kwargs)
        widgets = {"expected_close_date": forms.DateInput(attrs={"type": "date"})}
        field = fields_for_model(Deal, fields=[name], widgets=widgets)[name]
        field.label = DEAL_FIELD_LABELS[name]
        if name == "account":
            field.queryset = visible_accounts(user)
            field.empty_label = None
        elif name == "contact":
            field.queryset = deal.account.contacts.filter(is_archived=False)
            field.empty_label = "— nobody —"
        elif name == "owner":
            field.queryset = assignable_owners(user)
            field.empty_label = None
        elif name == "source":
            field.queryset = LeadSource.objects.filter(is_active=True)
            field.empty_label = "— none —"
        style_field(field)
        field.widget.attrs["autofocus"] = True
        self.fields[name] = field

    def shown(self, record: Deal) -> dict[str, object]:
        return model_to_dict(record, fields=[self.name])

    @property
    def bound_field(self) -> forms.BoundField:
        return self[self.name]

    def changes(self) -> dict[str, object]:
        """What to pass to `update_deal`: nothing when the user left the value as shown.
        A new account drops a contact who does not work there (the deal may only name its
        account's contacts)."""
        changes = self.edits()
        account, contact = changes.get("account"), self.deal.contact
        if account is not None and contact is not None and contact.account_id != account.pk:
            changes["contact"] = None
        return changes


class BantForm(KeepsConcurrentEdits, forms.Form):
    """The deal page's BANT checklist of `record`, a deal; labels and hints from
    BANT_FIELDS. A save writes only the boxes this user ticked or unticked."""

    has_budget = forms.BooleanField(required=False)
    has_authority = forms.BooleanField(required=False)
    has_need = forms.BooleanField(required=False)
    has_timeline = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "bant-%s")
        super().__init__(*args, **kwargs)
        for name, (label, help_text) in BANT_FIELDS.items():
            self.fields[name].label, self.fields[name].help_text = label, help_text
            style_field(self.fields[name])


class ActivityForm(MarksInvalidFields, forms.Form):
    """A call, email, meeting or note: what it was about and when (default: now)."""

    subject = forms.CharField(max_length=200)
    body = forms.CharField(
        required=False, label="Details", widget=forms.Textarea(attrs={"rows": 3})
    )
    # The hidden initial tells an untouched "now" (saved as the time of saving, to the
    # second, so the entry lands above everything before it) from a time picked by hand.
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        show_hidden_initial=True,
        help_text="Empty or unchanged: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("occurred_at", to_the_minute())
        kwargs.setdefault("auto_id", "activity-%s")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            style_field(field, small=False)
        self.fields["subject"].widget.attrs["autofocus"] = True

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        if occurred_at is None or "occurred_at" not in self.changed_data:
            return timezone.now()
        if occurred_at > timezone.now() + _FUTURE_GRACE:
            raise forms.ValidationError(ACTIVITY_IN_THE_FUTURE)
        return occurred_at


class ActivityEditForm(KeepsConcurrentEdits, ActivityForm):
    """Correcting a logged activity: its kind too, and the same rule for "When", which
    keeps the activity's exact time while left as it was."""

    kind = forms.ChoiceField(choices=ActivityKind.choices)
    field_order = ["kind", "subject", "body", "occurred_at"]

    def __init__(self, *args, activity: Activity, **kwargs):
        kwargs.setdefault("auto_id", "edit-activity-%s")
        super().__init__(*args, record=activity, **kwargs)
        self.activity = activity
        self.fields["occurred_at"].required = True
        self.fields["occurred_at"].help_text = ""

    def shown(self, record: Activity) -> dict[str, object]:
        return {
            "kind": record.kind,
            "subject": record.subject,
            "body": record.body,
            "occurred_at": to_the_minute(record.occurred_at),
        }

    def clean_occurred_at(self):
        if "occurred_at" not in self.changed_data:
            return self.activity.occurred_at
        return super().clean_occurred_at()
