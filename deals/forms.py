"""Admin forms for deals. Stage changes are checked here and carried out by the services."""

from __future__ import annotations

from django import forms

from deals.models import Deal, LostReason
from deals.selectors import BoardFilters
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
