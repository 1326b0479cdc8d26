"""The CSV upload form; `deals.imports` checks what the file holds."""

from __future__ import annotations

from django import forms

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
