"""Admin forms for deals. Stage changes are checked here and carried out by the services."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from operator import attrgetter

from crispy_bootstrap5.bootstrap5 import Switch
from crispy_forms.bootstrap import PrependedText
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.forms.models import ModelChoiceIterator, fields_for_model, model_to_dict
from django.utils import timezone
from django.utils.html import format_html

from deals.models import (
    CONTACT_OF_OTHER_ACCOUNT,
    NEGATIVE_VALUE,
    Deal,
    LeadSource,
    LostReason,
)
from deals.selectors import BoardFilters, assignable_owners, visible_accounts
from deals.services import DealError, DealMoveError, check_move, first_open_stage
from stages.models import Stage, StageKind

ACCOUNT_REQUIRED = "Choose an account or name a new one."
ACCOUNT_AMBIGUOUS = "Choose an account or name a new one, not both."


class AdminDealForm(forms.ModelForm):
    class Meta:
        model = Deal
        # The admin narrows these to its fieldsets minus the read-only fields.
        fields = [
            "title",
            "account",
            "contact",
            "owner",
            "value",
            "expected_close_date",
            "source",
            "pipeline",
            "stage",
            "lost_reason",
            "has_budget",
            "has_authority",
            "has_need",
            "has_timeline",
            "is_archived",
        ]

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
            self.fields["owner"] = forms.IntegerField(required=False, min_value=1)

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

    stage = forms.IntegerField(min_value=1)
    from_stage = forms.IntegerField(min_value=1, required=False)
    position = forms.IntegerField(required=False, min_value=0)
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


IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_TOO_LARGE = (
    "The file has {size:.1f} MB; the page takes up to 5 MB. Split it, or ask an admin "
    "to run the import_deals command."
)


class ImportForm(forms.Form):
    """The upload page's file and options; `import_deals` checks what the file holds."""

    pipeline = forms.ModelChoiceField(queryset=None, empty_label=None)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, comma or semicolon separated, with a header line naming the columns.",
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )
    create_owners = forms.BooleanField(
        required=False,
        label="Create unknown owners",
        help_text="As sales reps, who can log in once an admin sets their password.",
    )

    def __init__(self, *args, pipelines, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = pipelines

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(IMPORT_TOO_LARGE.format(size=upload.size / 1024 / 1024))
        return upload


# --- Create and edit forms for deals, accounts and contacts ------------------------------
# The views hand cleaned_data to the services (create_deal, update_deal, ...); these forms
# only validate and lay out. Not ModelForms: those would write into the record while
# validating, before the update services compare and check the changes.

STAGE_OF_OTHER_PIPELINE = "Choose a stage of the pipeline “{pipeline}”."
BANT_FIELDS = {
    "has_budget": ("Budget", "Money is set aside for this."),
    "has_authority": ("Authority", "The decision maker is involved."),
    "has_need": ("Need", "The problem is real and urgent."),
    "has_timeline": ("Timeline", "They know when they will buy."),
}


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
    return int(value) if str(value or "").isdigit() else None


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

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's ValidationError on the fields it names, or above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)

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


class DealEditForm(_DealFieldsForm):
    """A deal's plain fields; its stage changes through "Move to…"."""

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


class AccountForm(forms.Form):
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
            Fieldset(
                "Social profiles",
                Row(
                    Column(PrependedText("linkedin_url", _icon("linkedin")), css_class="col-md-6"),
                    Column(PrependedText("twitter_url", _icon("twitter-x")), css_class="col-md-6"),
                ),
            ),
        )

    add_service_error = _DealFieldsForm.add_service_error


class ContactForm(forms.Form):
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
            Fieldset(
                "Social profiles",
                Row(
                    Column(PrependedText("linkedin_url", _icon("linkedin")), css_class="col-md-6"),
                    Column(PrependedText("twitter_url", _icon("twitter-x")), css_class="col-md-6"),
                ),
            ),
        )

    add_service_error = _DealFieldsForm.add_service_error


def _icon(name: str) -> str:
    return format_html('<i class="bi bi-{}" aria-hidden="true"></i>', name)


def _helper() -> FormHelper:
    """Fields only: the templates write the <form> tag, the CSRF token and the buttons."""
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    return helper


# --- Deal and account pages: inline edit, BANT, logging an activity -------------------------

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


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on a field of the form when it names
    one, above the fields otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, messages)


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


class DealFieldForm(MarksInvalidFields, forms.Form):
    """One field of a deal (a key of DEAL_FIELD_LABELS), for inline edit, with the choices
    `user` may pick: visible accounts, the contacts of the deal's account, the owners
    `user` may assign, the active lead sources.

    Not a ModelForm on purpose: that would write the value into the deal during
    validation, before `update_deal` compares and checks it.
    """

    def __init__(self, *args, deal: Deal, name: str, user, **kwargs):
        kwargs.setdefault("initial", model_to_dict(deal, fields=[name]))
        kwargs.setdefault("auto_id", "edit-%s")
        super().__init__(*args, **kwargs)
        self.deal, self.name = deal, name
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

    @property
    def bound_field(self) -> forms.BoundField:
        return self[self.name]

    def changes(self) -> dict[str, object]:
        """What to pass to `update_deal`. A new account drops a contact who does not
        work there (the deal may only name its account's contacts)."""
        value = self.cleaned_data[self.name]
        changes = {self.name: value}
        contact = self.deal.contact
        if self.name == "account" and contact is not None and contact.account_id != value.pk:
            changes["contact"] = None
        return changes


class BantForm(forms.Form):
    has_budget = forms.BooleanField(
        required=False, label="Budget", help_text="Money is set aside for this."
    )
    has_authority = forms.BooleanField(
        required=False, label="Authority", help_text="We talk to who decides."
    )
    has_need = forms.BooleanField(required=False, label="Need", help_text="The pain is real.")
    has_timeline = forms.BooleanField(
        required=False, label="Timeline", help_text="They know when they will buy."
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "bant-%s")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            style_field(field)


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
        now = timezone.localtime().replace(second=0, microsecond=0)
        kwargs["initial"].setdefault("occurred_at", now)
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
