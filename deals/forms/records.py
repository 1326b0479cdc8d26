"""Create and edit forms for deals, accounts and contacts. The views hand cleaned_data to
the services (create_deal, update_deal, ...); these forms only validate and lay out. Not
ModelForms: those would write into the record while validating, before the update
services compare and check the changes."""

from __future__ import annotations

from itertools import groupby
from operator import attrgetter

from crispy_bootstrap5.bootstrap5 import Switch
from crispy_forms.bootstrap import PrependedText
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.forms.models import ModelChoiceIterator
from django.utils.html import format_html

from deals.models import (
    CONTACT_OF_OTHER_ACCOUNT,
    NEGATIVE_VALUE,
)
from deals.services import DealError
from pipeline_crm.forms import KeepsConcurrentEdits
from pipeline_crm.ids import parse_id
from stages.models import Stage

ACCOUNT_REQUIRED = "Choose an account or name a new one."
ACCOUNT_AMBIGUOUS = "Choose an account or name a new one, not both."
STAGE_OF_OTHER_PIPELINE = "Choose a stage of the pipeline “{pipeline}”."


BANT_FIELDS = {
    "has_budget": ("Budget", "Money is set aside for this."),
    "has_authority": ("Authority", "The decision maker is involved."),
    "has_need": ("Need", "The problem is real and urgent."),
    "has_timeline": ("Timeline", "They know when they will buy."),
}


def add_service_error(form: forms.Form, error: ValidationError | DealError) -> None:
    """Show a service's error on the form: a ValidationError on the fields of the form it
    names, above the fields otherwise; a DealError (a refused change) above the fields."""
    if isinstance(error, DealError):
        form.add_error(None, str(error))
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, messages)


class _ModelSelect(forms.Select):
    """Decides `required` from the field's empty label, as Django does, without reading
    the first choice from the database for it (a query less per select)."""

    def use_required_attribute(self, initial) -> bool:
        return not self.is_hidden and self.choices.field.empty_label is not None


class _StageChoiceIterator(ModelChoiceIterator):
    """Stages grouped under their pipeline's name (<optgroup>); one query."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for _, stages in groupby(self.queryset, key=attrgetter("pipeline_id")):
            stages = list(stages)
            yield (stages[0].pipeline.name, [self.choice(stage) for stage in stages])


class StageChoiceField(forms.ModelChoiceField):
    iterator = _StageChoiceIterator


class _AccountContactsIterator(ModelChoiceIterator):
    """Offers only the contacts of the chosen account (`field.account_id`), so the page
    lists a handful whatever the number of contacts."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if self.field.account_id is not None:
            for contact in self.queryset.filter(account_id=self.field.account_id):
                yield self.choice(contact)


class ContactChoiceField(forms.ModelChoiceField):
    """Accepts any contact of its queryset; the form checks it works at the chosen account
    (with the model's message) and the page offers only that account's contacts."""

    iterator = _AccountContactsIterator
    account_id: int | None = None


def _account_id(form: forms.Form) -> int | None:
    """The account chosen in the bound data, else the initial one, for the contact list."""
    value = form.data.get("account") if form.is_bound else form.initial.get("account")
    value = getattr(value, "pk", value)
    return parse_id(value)


def _money_field() -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        initial=0,
        validators=[MinValueValidator(0, NEGATIVE_VALUE)],
        widget=forms.NumberInput(attrs={"min": "0"}),
    )


class _DealFieldsForm(forms.Form):
    """The plain fields of a deal, shared by the create and edit forms.

    `accounts`, `contacts`, `owners` and `sources` are the querysets the user may pick
    from; `refresh_url` is the page the contact list reloads from (htmx) when the account
    changes.
    """

    title = forms.CharField(max_length=200)
    account = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="— choose —", widget=_ModelSelect
    )
    contact = ContactChoiceField(queryset=None, required=False, empty_label="— nobody yet —")
    owner = forms.ModelChoiceField(queryset=None, empty_label=None, widget=_ModelSelect)
    value = _money_field()
    expected_close_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    source = forms.ModelChoiceField(
        queryset=None, required=False, label="Lead source", empty_label="— unknown —"
    )
    has_budget = forms.BooleanField(required=False)
    has_authority = forms.BooleanField(required=False)
    has_need = forms.BooleanField(required=False)
    has_timeline = forms.BooleanField(required=False)

    def __init__(self, *args, accounts, contacts, owners, sources, refresh_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["contact"].queryset = contacts
        self.fields["contact"].account_id = _account_id(self)
        self.fields["owner"].queryset = owners
        self.fields["source"].queryset = sources
        for name, (label, help_text) in BANT_FIELDS.items():
            self.fields[name].label, self.fields[name].help_text = label, help_text
        self.fields["account"].widget.attrs.update(
            {
                "hx-get": refresh_url,
                "hx-trigger": "change",
                "hx-target": "#contact-field",
                "hx-swap": "outerHTML",
            }
        )
        self.helper = _helper()

    def clean(self) -> dict:
        cleaned = super().clean()
        contact, account = cleaned.get("contact"), cleaned.get("account")
        if contact is not None and (account is None or contact.account_id != account.pk):
            self.add_error("contact", CONTACT_OF_OTHER_ACCOUNT)
        return cleaned

    def _layout(self, *head) -> Layout:
        return Layout(
            *head,
            Fieldset(
                "Forecast",
                Row(
                    Column(PrependedText("value", "$"), css_class="col-md-6"),
                    Column("expected_close_date", css_class="col-md-6"),
                ),
                Row(
                    Column("owner", css_class="col-md-6"),
                    Column("source", css_class="col-md-6"),
                ),
            ),
            Fieldset(
                "Qualification (BANT)",
                Row(*(Column(Switch(name), css_class="col-sm-6 col-lg-3") for name in BANT_FIELDS)),
            ),
        )


class DealCreateForm(_DealFieldsForm):
    """A new deal: where it starts (pipeline, optionally stage) and for whom (an account
    the user sees, or a new one by name)."""

    pipeline = forms.ModelChoiceField(queryset=None, empty_label=None, widget=_ModelSelect)
    stage = StageChoiceField(
        queryset=None,
        required=False,
        empty_label="— first stage —",
        help_text="Open stages, grouped by pipeline.",
    )
    new_account = forms.CharField(
        max_length=200,
        required=False,
        label="…or a new account",
        help_text="Created with the deal.",
    )

    def __init__(self, *args, pipelines, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = pipelines
        self.fields["stage"].queryset = (
            Stage.objects.open()
            .filter(pipeline__in=pipelines)
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline__name", "pipeline_id", "position", "pk")
        )
        self.helper.layout = self._layout(
            Fieldset(
                "Deal",
                "title",
                Row(
                    Column("pipeline", css_class="col-md-6"),
                    Column("stage", css_class="col-md-6"),
                ),
            ),
            Fieldset(
                "Customer",
                Row(
                    Column("account", css_class="col-md-6"),
                    Column("new_account", css_class="col-md-6"),
                ),
                Row(Column(Div("contact", css_id="contact-field"), css_class="col-md-6")),
            ),
        )
        self.fields["title"].widget.attrs["autofocus"] = True

    def clean(self) -> dict:
        cleaned = super().clean()
        account, new_account = cleaned.get("account"), cleaned.get("new_account")
        if "account" not in self.errors and "new_account" not in self.errors:
            if not account and not new_account:
                self.add_error("account", ACCOUNT_REQUIRED)
            elif account and new_account:
                self.add_error("new_account", ACCOUNT_AMBIGUOUS)
        pipeline, stage = cleaned.get("pipeline"), cleaned.get("stage")
        if pipeline is not None and stage is not None and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", STAGE_OF_OTHER_PIPELINE.format(pipeline=pipeline.name))
        return cleaned


class DealEditForm(KeepsConcurrentEdits, _DealFieldsForm):
    """A deal's plain fields; its stage changes through "Move to…". The contact list
    follows the account, so a change of either saves both."""

    edited_together = (frozenset({"account", "contact"}),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].required = True
        self.fields["account"].empty_label = None
        self.helper.layout = self._layout(
            Fieldset(
                "Deal",
                "title",
                Row(
                    Column("account", css_class="col-md-6"),
                    Column(Div("contact", css_id="contact-field"), css_class="col-md-6"),
                ),
            ),
        )


def _url_field(label: str) -> forms.URLField:
    return forms.URLField(label=label, required=False, assume_scheme="https", max_length=200)


def _social_profiles() -> Fieldset:
    """The LinkedIn and Twitter fields of accounts and contacts."""
    return Fieldset(
        "Social profiles",
        Row(
            Column(PrependedText("linkedin_url", _icon("linkedin")), css_class="col-md-6"),
            Column(PrependedText("twitter_url", _icon("twitter-x")), css_class="col-md-6"),
        ),
    )


class AccountForm(KeepsConcurrentEdits, forms.Form):
    """A new account, or (with `record`) an account's fields."""

    name = forms.CharField(max_length=200)
    industry = forms.CharField(max_length=100, required=False)
    website = _url_field("Website")
    owner = forms.ModelChoiceField(queryset=None, empty_label=None, widget=_ModelSelect)
    linkedin_url = _url_field("LinkedIn")
    twitter_url = _url_field("Twitter / X")

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.helper = _helper()
        self.helper.layout = Layout(
            Fieldset(
                "Company",
                Row(
                    Column("name", css_class="col-md-8"),
                    Column("industry", css_class="col-md-4"),
                ),
                Row(
                    Column(PrependedText("website", _icon("globe")), css_class="col-md-8"),
                    Column("owner", css_class="col-md-4"),
                ),
            ),
            _social_profiles(),
        )


class ContactForm(KeepsConcurrentEdits, forms.Form):
    """A new contact, or (with `record`) a contact's fields."""

    name = forms.CharField(max_length=200)
    title = forms.CharField(max_length=100, required=False, label="Job title")
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=50, required=False)
    linkedin_url = _url_field("LinkedIn")
    twitter_url = _url_field("Twitter / X")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].widget.input_type = "tel"
        self.helper = _helper()
        self.helper.layout = Layout(
            Fieldset(
                "Person",
                Row(
                    Column("name", css_class="col-md-6"),
                    Column("title", css_class="col-md-6"),
                ),
                Row(
                    Column(PrependedText("email", _icon("envelope")), css_class="col-md-6"),
                    Column(PrependedText("phone", _icon("telephone")), css_class="col-md-6"),
                ),
            ),
            _social_profiles(),
        )


def _icon(name: str) -> str:
    return format_html('<i class="bi bi-{}" aria-hidden="true"></i>', name)


def _helper() -> FormHelper:
    """Fields only: the templates write the <form> tag, the CSRF token and the buttons."""
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    return helper
