"""The board's forms: its filters, a move (drag or "Move to…") and quick add."""

from __future__ import annotations

from django import forms

from deals.forms.records import ACCOUNT_AMBIGUOUS, ACCOUNT_REQUIRED
from deals.models import LostReason
from deals.selectors import BoardFilters
from pipeline_crm.ids import IdField


class BoardFilterForm(forms.Form):
    """The board's filters, kept in its URL. Invalid values are ignored, not fatal."""

    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    q = forms.CharField(required=False, max_length=100, strip=True)
    close_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    close_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    rotting = forms.BooleanField(required=False, label="Rotting only")

    def __init__(self, data, *, user, owners=None):
        super().__init__(data)
        self.user = user
        owners = owners if owners is not None else []
        self.fields["owner"].choices = [("", "Everyone"), (user.pk, "Me")] + [
            (person.pk, str(person)) for person in owners if person.pk != user.pk
        ]
        if not owners:
            # Parsing only ("load more", moves): any id; visibility still applies.
            self.fields["owner"] = IdField(required=False)

    def filters(self) -> BoardFilters:
        if not self.is_valid():
            return BoardFilters()
        data = self.cleaned_data
        return BoardFilters(
            owner_id=data["owner"],
            q=data["q"],
            close_from=data["close_from"],
            close_to=data["close_to"],
            rotting=data["rotting"],
        )


class MoveDealForm(forms.Form):
    """A drop on the board or the "Move to…" form: where to, from where, and why if lost.

    Stages are checked by `move_deal` under its lock, so here they are only ids.
    """

    stage = IdField()
    from_stage = IdField(required=False)
    position = IdField(required=False, min_value=0)
    lost_reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(is_active=True), required=False
    )

    def error_text(self) -> str:
        return " ".join(
            f"{'' if field == '__all__' else field + ': '}{' '.join(errors)}"
            for field, errors in self.errors.items()
        )


class QuickAddDealForm(forms.Form):
    title = forms.CharField(max_length=200)
    account = forms.ModelChoiceField(queryset=None, required=False)
    new_account = forms.CharField(
        max_length=200, required=False, label="…or a new account", help_text="Created for you."
    )
    value = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, initial=0)
    expected_close_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    owner = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, accounts, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["owner"].queryset = owners

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("account") and not cleaned.get("new_account"):
            raise forms.ValidationError(ACCOUNT_REQUIRED)
        if cleaned.get("account") and cleaned.get("new_account"):
            raise forms.ValidationError(ACCOUNT_AMBIGUOUS)
        return cleaned
