"""CSV import (managers and admins) and export (anyone, of the deals they may see)."""

from __future__ import annotations

import hashlib
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from deals import imports
from deals.filters import DealFilterSet
from deals.forms import ImportForm
from deals.list_views import bad_filters
from deals.selectors import assignable_owners
from pipeline_crm.csv_export import csv_response
from stages.models import Pipeline

IMPORT_FORBIDDEN = "Only managers and admins import deals."
IMPORT_EXPIRED = "The checked file is no longer waiting to be imported; upload it again."
# The file checked by the first step, waiting for "Confirm import": its content (at most
# ImportForm's 5 MB), the options, and a digest the confirming form must send back.
PENDING_IMPORT = "deals_pending_import"


def _importer_only(request: HttpRequest) -> None:
    if not (request.user.is_manager or request.user.is_crm_admin):
        raise PermissionDenied(IMPORT_FORBIDDEN)


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    """Step 1: check an uploaded file (a dry run) and preview it. Step 2 ("confirm" in
    the POST): import the file checked in step 1, kept in the session meanwhile."""
    _importer_only(request)
    if request.method == "POST" and "confirm" in request.POST:
        return _confirm(request)
    pipelines = Pipeline.objects.active()
    if request.method != "POST":
        return _render(request, ImportForm(pipelines=pipelines))
    form = ImportForm(request.POST, request.FILES, pipelines=pipelines)
    if not form.is_valid():
        return _render(request, form)
    data = form.cleaned_data
    content = data["file"].read()
    result = imports.import_deals(
        io.BytesIO(content),
        pipeline=data["pipeline"],
        by=request.user,
        create_owners=data["create_owners"],
        dry_run=True,
        owners=_owners_for(request),
    )
    token = None
    request.session.pop(PENDING_IMPORT, None)
    if result.ok:
        token = hashlib.sha256(content).hexdigest()
        request.session[PENDING_IMPORT] = {
            "token": token,
            # A file that passed the check is UTF-8.
            "content": content.decode("utf-8"),
            "pipeline": data["pipeline"].pk,
            "create_owners": data["create_owners"],
        }
    return _render(request, form, result=result, pipeline=data["pipeline"], token=token)


def _confirm(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_IMPORT)
    if pending is None or pending["token"] != request.POST["confirm"]:
        messages.error(request, IMPORT_EXPIRED)
        return redirect("deals:import")
    pipeline = get_object_or_404(Pipeline.objects.active(), pk=pending["pipeline"])
    result = imports.import_deals(
        io.BytesIO(pending["content"].encode("utf-8")),
        pipeline=pipeline,
        by=request.user,
        create_owners=pending["create_owners"],
        owners=_owners_for(request),
    )
    del request.session[PENDING_IMPORT]
    if not result.ok:
        # The data changed since the check (an owner or a stage was removed, say).
        form = ImportForm(pipelines=Pipeline.objects.active(), initial={"pipeline": pipeline})
        return _render(request, form, result=result, pipeline=pipeline)
    messages.success(request, f"{result.summary()} into “{pipeline.name}”.")
    return redirect("deals:board", pipeline.pk)


def _owners_for(request: HttpRequest):
    """Admins import for anyone; a manager only for the people they may give deals to."""
    return None if request.user.is_crm_admin else assignable_owners(request.user)


def _render(request: HttpRequest, form: ImportForm, **context) -> HttpResponse:
    context |= {"form": form, "columns": imports.COLUMNS, "active_section": "Deals"}
    return render(request, "deals/import.html", context)


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    """The deals of the list under the same filters (`?pipeline=<id>` among them), in the
    import's columns, so that the file imports back."""
    filterset = DealFilterSet(request.GET, user=request.user)
    if not filterset.is_valid():
        return bad_filters(filterset)
    pipeline = filterset.pipeline_name()
    name = f"deals-{slugify(pipeline) or 'pipeline'}" if pipeline else "deals"
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    return csv_response(filename, imports.COLUMNS, imports.export_rows(filterset.qs))
