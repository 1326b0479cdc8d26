"""The flush of stale deals on the web: criteria and preview, confirmation, the job's page
with its live progress, and the undo. Managers flush their teams' deals, admins anyone's;
the job itself runs in Celery (deals/services/flush.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from deals.forms import FlushForm, add_service_error
from deals.forms.flush import DEFAULT_INACTIVE_DAYS
from deals.models import Flush, FlushStatus
from deals.selectors.flush import (
    can_flush,
    get_flush_for_user_or_404,
    kept_items,
    recent_flushes,
)
from deals.services.flush import (
    FLUSH_FORBIDDEN,
    IN_PROGRESS,
    FlushError,
    FlushPreview,
    check_undo,
    lost_stage_of,
    preview_flush,
    request_undo,
    start_flush,
    undo_deadline,
)

# The criteria fields: a query string with one of them asks for a preview.
CRITERIA = frozenset({"inactive_days", "created_before"})


def flushers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reps get a 403 page that says why, instead of the flush pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_flush(request.user):
            context = {"forbidden": FLUSH_FORBIDDEN, "active_section": "Deals"}
            return render(request, "deals/flush.html", context, status=403)
        return view(request, *args, **kwargs)

    return wrapper


@login_required
@require_GET
@flushers_only
def flush_page(request: HttpRequest) -> HttpResponse:
    """The criteria form; once they are valid, the preview of what confirming would move.
    A GET, so that a preview is a link one can share."""
    if CRITERIA.isdisjoint(request.GET):
        initial = {"inactive_days": DEFAULT_INACTIVE_DAYS, "pipeline": request.GET.get("pipeline")}
        return _render_page(request, FlushForm(user=request.user, initial=initial))
    form = FlushForm(request.GET, user=request.user)
    preview = preview_flush(form.criteria, user=request.user) if form.is_valid() else None
    return _render_page(request, form, preview=preview)


@login_required
@require_POST
@flushers_only
def start(request: HttpRequest) -> HttpResponse:
    """Confirm: check the criteria again, freeze the selection, queue the job."""
    form = FlushForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            flush = start_flush(form.criteria, by=request.user)
        except FlushError as error:
            add_service_error(form, error)
        else:
            return redirect(flush)
    return _render_page(request, form)


def _render_page(
    request: HttpRequest, form: FlushForm, *, preview: FlushPreview | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "preview": preview,
        "recent": recent_flushes(request.user),
        "undo_days": settings.FLUSH_UNDO_DAYS,
        "active_section": "Deals",
    }
    if preview is not None:
        context |= {
            "criteria": form.criteria,
            "lost_stage": lost_stage_of(form.criteria.pipeline),
            "lost_reason": settings.FLUSH_LOST_REASON,
            "more": preview.count - len(preview.sample),
        }
    return render(request, "deals/flush.html", context)


@login_required
@require_GET
@flushers_only
@vary_on_headers("HX-Request")
def job(request: HttpRequest, flush_id: int) -> HttpResponse:
    """The job's page; its progress part alone for htmx, which polls it while the flush
    or its undo is under way."""
    flush = get_flush_for_user_or_404(request.user, flush_id)
    return _render_job(request, flush)


@login_required
@require_POST
@flushers_only
def undo(request: HttpRequest, flush_id: int) -> HttpResponse:
    """Queue the undo; a refusal (too late, already undone) is said on the page, or as a
    409 to htmx."""
    flush = get_flush_for_user_or_404(request.user, flush_id)
    try:
        request_undo(flush, by=request.user)
    except FlushError as error:
        if request.htmx:
            return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
        messages.error(request, str(error))
        return redirect(flush)
    if request.htmx:
        return _render_job(request, get_flush_for_user_or_404(request.user, flush_id))
    return redirect(flush)


def _render_job(request: HttpRequest, flush: Flush) -> HttpResponse:
    now = timezone.now()
    try:
        check_undo(flush, now=now)
        undoable = flush.moved > 0  # nothing to move back otherwise
    except FlushError:
        undoable = False
    kept = kept_items(flush) if flush.undo_status == FlushStatus.DONE and flush.kept else []
    context = {
        "flush": flush,
        "polling": flush.status in IN_PROGRESS or flush.undo_status in IN_PROGRESS,
        "undoable": undoable,
        "deadline": undo_deadline(flush),
        "kept": kept,
        "kept_more": flush.kept - len(kept) if kept else 0,
        "undo_days": settings.FLUSH_UNDO_DAYS,
        "active_section": "Deals",
    }
    if request.htmx:
        return render(request, "deals/flush_job.html#progress", context)
    return render(request, "deals/flush_job.html", context)
