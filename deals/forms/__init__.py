"""Forms by page: the board, the record create/edit forms, the deal and account pages,
the CSV upload, the flush of stale deals and the admin. They validate and lay out; the
services change state."""

from __future__ import annotations

from deals.forms.admin import AdminDealForm
from deals.forms.board import (
    BoardFilterForm,
    MoveDealForm,
    QuickAddDealForm,
)
from deals.forms.flush import FlushForm
from deals.forms.imports import (
    IMPORT_MAX_BYTES,
    IMPORT_TOO_LARGE,
    ImportForm,
)
from deals.forms.pages import (
    ACTIVITY_IN_THE_FUTURE,
    DEAL_FIELD_LABELS,
    ActivityEditForm,
    ActivityForm,
    BantForm,
    DealFieldForm,
    MarksInvalidFields,
    style_field,
)
from deals.forms.records import (
    ACCOUNT_AMBIGUOUS,
    ACCOUNT_REQUIRED,
    BANT_FIELDS,
    STAGE_OF_OTHER_PIPELINE,
    AccountForm,
    ContactChoiceField,
    ContactForm,
    DealCreateForm,
    DealEditForm,
    StageChoiceField,
    add_service_error,
)

__all__ = [
    "ACCOUNT_AMBIGUOUS",
    "ACCOUNT_REQUIRED",
    "ACTIVITY_IN_THE_FUTURE",
    "AccountForm",
    "ActivityEditForm",
    "ActivityForm",
    "AdminDealForm",
    "BANT_FIELDS",
    "BantForm",
    "BoardFilterForm",
    "ContactChoiceField",
    "ContactForm",
    "DEAL_FIELD_LABELS",
    "DealCreateForm",
    "DealEditForm",
    "DealFieldForm",
    "FlushForm",
    "IMPORT_MAX_BYTES",
    "IMPORT_TOO_LARGE",
    "ImportForm",
    "MarksInvalidFields",
    "MoveDealForm",
    "QuickAddDealForm",
    "STAGE_OF_OTHER_PIPELINE",
    "StageChoiceField",
    "add_service_error",
    "style_field",
]
