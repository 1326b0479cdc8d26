"""What forms share: saving only what the user changed, so that nothing someone else saved
while the form was open is lost; menus of records read once."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import ModelChoiceIterator, model_to_dict
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from pipeline_crm.money import whole_money

EDITED_MEANWHILE = (
    "Someone else changed this to “{value}” while you were editing. "
    "Save again to replace it with yours."
)
CLEARED_MEANWHILE = (
    "Someone else emptied this while you were editing. Save again to replace it with yours."
)


class KeepsConcurrentEdits:
    """A form mixin for editing `record` while others may change it too.

    The form posts the values it showed beside the ones typed (Django's hidden initials,
    which templates place with `{{ form.shown_values }}`), so it tells what this user
    changed. `edits()` gives only those fields: a save leaves alone what someone else
    saved meanwhile in the others. A field that both changed, to different values, is a
    form error that shows the other's value, and the form then counts that value as
    shown: saving again replaces it. A post without the shown values (a script) counts
    every field that differs from the record as changed.

    The form's initial data comes from `shown(record)`; fields of one group in
    `edited_together` are written together when the user changes any of them. Without a
    record (a create form) the mixin does nothing.
    """

    edited_together: tuple[frozenset[str], ...] = ()

    def __init__(self, *args, record: models.Model | None = None, **kwargs):
        if record is not None:
            kwargs["initial"] = self.shown(record) | kwargs.get("initial", {})
        super().__init__(*args, **kwargs)
        self.record = record

    def shown(self, record: models.Model) -> dict[str, object]:
        """The form's values for `record` as it is, as the inputs show them."""
        return model_to_dict(record, fields=list(self.base_fields))

    def shown_values(self) -> SafeString:
        """The hidden inputs of the values shown, all in one place: beside each input, as
        Django puts them, they would break Bootstrap's input groups."""
        if self.record is None:
            return mark_safe("")
        return mark_safe(
            "".join(
                self[name].as_hidden(only_initial=True)
                for name, field in self.fields.items()
                if not field.show_hidden_initial  # rendered beside its input already
            )
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.record is not None:
            for name in self._edited_names():
                if name in cleaned and self._changed_meanwhile(name):
                    self._refuse_stale(name)
        return cleaned

    def edits(self) -> dict[str, object]:
        """The cleaned values of the fields this user changed (after is_valid())."""
        if self.record is None:
            return dict(self.cleaned_data)
        names = self._edited_names()
        return {name: value for name, value in self.cleaned_data.items() if name in names}

    def _edited_names(self) -> set[str]:
        names = {name for name in self.fields if self.changed_by_user(name)}
        for group in self.edited_together:
            if names & group:
                names |= group & set(self.fields)
        return names

    def _shown_data(self, name: str) -> str | None:
        bound = self[name]
        widget = self.fields[name].hidden_widget()
        if bound.html_initial_name not in self.data:
            return None
        return widget.value_from_datadict(self.data, self.files, bound.html_initial_name)

    def changed_by_user(self, name: str) -> bool:
        """The user typed something else than the form showed in field `name`."""
        field, shown = self.fields[name], self._shown_data(name)
        if shown is None:
            return field.has_changed(self.initial.get(name), self[name].data)
        try:
            shown_value = field.to_python(shown)
        except forms.ValidationError:
            return True
        return field.has_changed(shown_value, self[name].data)

    def _changed_meanwhile(self, name: str) -> bool:
        """The record holds neither what the form showed nor what the user typed."""
        field, shown, current = self.fields[name], self._shown_data(name), self.initial.get(name)
        if shown is None or not field.has_changed(current, shown):
            return False
        return field.has_changed(current, self[name].data)

    def _refuse_stale(self, name: str) -> None:
        label = getattr(self.record, f"get_{name}_display", None)  # a field with choices
        value = label() if label else _display(getattr(self.record, name, None))
        message = EDITED_MEANWHILE.format(value=value) if value else CLEARED_MEANWHILE
        self.add_error(name, message)
        # The value now stands as shown: the next save is this user's choice over it.
        field = self.fields[name]
        current = field.prepare_value(self.initial.get(name))
        self.data = self.data.copy()
        self.data[self[name].html_initial_name] = field.hidden_widget().format_value(current) or ""


class _ListedChoices(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for record in self.field.listed():
            yield self.choice(record)

    def __len__(self) -> int:
        return len(self.field.listed()) + (self.field.empty_label is not None)

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(self.field.listed())


class ListedModelChoiceField(forms.ModelChoiceField):
    """A menu of records read once per form: checking the choice and showing the menu share
    one query (a plain ModelChoiceField sends one for each), which keeps filter forms with
    several menus inside a page's query budget. For short menus: all are read either way."""

    iterator = _ListedChoices

    def _set_queryset(self, queryset: models.QuerySet | None) -> None:
        self._listed = None
        super()._set_queryset(queryset)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def listed(self) -> list[models.Model]:
        if self._listed is None:
            self._listed = list(self.queryset)
        return self._listed

    def to_python(self, value: object) -> models.Model | None:
        if value in self.empty_values:
            return None
        key = self.to_field_name or "pk"
        if isinstance(value, self.queryset.model):
            value = getattr(value, key)
        for record in self.listed():
            if str(getattr(record, key)) == str(value):
                return record
        raise ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


def to_the_minute(moment: datetime | None = None) -> datetime:
    """`moment` (default: now) in local time as a datetime-local input shows it: a form's
    hidden initial then matches an input left untouched."""
    return timezone.localtime(moment).replace(second=0, microsecond=0)


def _display(value: object) -> str:
    """A value as a page shows it, for a message; "" for an empty one."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "M j, Y · H:i")
    if isinstance(value, date):
        return formats.date_format(value, "M j, Y")
    if isinstance(value, Decimal):
        return whole_money(value)
    return Truncator(str(value)).chars(80)
