"""The deal page: header, stage progress, inline edit, BANT, open tasks and the timeline.

Who may do what: everyone who may see the deal reads the page; changing anything on it
(a field, BANT, a task, logging an activity) needs change rights, like moving it. A visible
but read-only deal answers 403 to those, a deal outside visibility 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from deals import record_actions
from deals.forms import DEAL_FIELD_LABELS, BantForm, DealFieldForm, add_service_error
from deals.models import Deal
from deals.record_actions import (
    LOG_BUTTONS,
    form_page,
    get_deal,
    quick_task_form,
    task_rows,
    timeline_cursor,
)
from deals.selectors import (
    Timeline,
    active_lost_reasons,
    can_change_deal,
    timeline,
)
from deals.services import FORECAST_FIELDS, DealError, update_deal
from stages.models import StageKind
from tasks.forms import QuickTaskForm
from tasks.selectors import open_tasks

FIELD_SAVED = "Saved the {field} of “{deal}”."
BANT_SAVED = "Saved the qualification of “{deal}”."


def _stage_steps(deal: Deal) -> list[dict[str, object]]:
    """The pipeline's stages for the progress bar: open ones in order, then won and lost,
    each marked passed, current or ahead."""
    stages = sorted(
        deal.pipeline.stages.order_by(),
        key=lambda s: (s.kind != StageKind.OPEN, s.kind == StageKind.LOST, s.position, s.pk),
    )
    current = deal.stage
    steps = []
    for stage in stages:
        if stage.pk == current.pk:
            state = "current"
        elif stage.kind == StageKind.OPEN and (
            current.kind == StageKind.WON
            or (
                current.kind == StageKind.OPEN
                and (stage.position, stage.pk) < (current.position, current.pk)
            )
        ):
            state = "passed"
        else:
            state = "ahead"
        steps.append({"stage": stage, "state": state})
    return steps


def _bant_context(deal: Deal, form: BantForm | None = None) -> dict[str, object]:
    form = form or BantForm(record=deal)
    score = sum(bool(getattr(deal, name)) for name in BantForm.base_fields)
    return {"bant_form": form, "bant_score": score}


def _tasks_context(
    request: HttpRequest, deal: Deal, form: QuickTaskForm | None = None
) -> dict[str, object]:
    return task_rows(request, deal, open_tasks(deal=deal)) | {
        "task_form": form or quick_task_form(request, deal),
        "add_task_url": reverse("deals:add-task", args=[deal.pk]),
    }


def timeline_context(deal: Deal, history: Timeline) -> dict[str, object]:
    return {
        "timeline": history,
        "timeline_url": deal.get_absolute_url(),
        "log_url": reverse("deals:log-activity", args=[deal.pk]),
        "log_buttons": LOG_BUTTONS,
    }


def page_context(request: HttpRequest, deal: Deal) -> dict[str, object]:
    """What the header and the fragments share."""
    return {
        "deal": deal,
        "can_change": can_change_deal(request.user, deal),
        "active_section": "Deals",
    }


@login_required
def detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    """The deal page; with htmx and `?before=`, only the older timeline entries."""
    deal = get_deal(request, deal_id)
    try:
        before = timeline_cursor(request)
    except ValueError as error:
        return HttpResponse(str(error), status=400)
    history = timeline(deal=deal, before=before)
    context = page_context(request, deal) | timeline_context(deal, history)
    if request.htmx and before is not None:
        return render(request, "deals/partials/timeline.html#entries", context)
    context |= (
        _bant_context(deal)
        | _tasks_context(request, deal)
        | {
            "before": before,
            "steps": _stage_steps(deal),
            "lost_reasons": active_lost_reasons(),
            "fields": DEAL_FIELD_LABELS.items(),
            "edit_url": reverse("deals:edit", args=[deal.pk]),
            "archive_url": reverse("deals:archive", args=[deal.pk]),
            "restore_url": reverse("deals:restore", args=[deal.pk]),
        }
    )
    return render(request, "deals/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def field(request: HttpRequest, deal_id: int, field: str) -> HttpResponse:
    """Inline edit of one field: GET the form (`?cancel` the value again), POST to save
    through `update_deal`. With htmx the answers are fragments (the form with its errors
    keeps status 200, so htmx swaps it in); without, a page and a redirect."""
    if field not in DEAL_FIELD_LABELS:
        raise Http404("No such field.")
    deal = get_deal(request, deal_id, change=True)
    context = page_context(request, deal) | {"name": field, "label": DEAL_FIELD_LABELS[field]}
    if request.method == "GET" and "cancel" in request.GET:
        return render(request, "deals/partials/field.html#display", context)
    data = request.POST if request.method == "POST" else None
    form = DealFieldForm(data, deal=deal, name=field, user=request.user)
    if form.is_bound and form.is_valid():
        try:
            update_deal(deal, by=request.user, **form.changes())
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                # The header repeats title, account, owner and value: refresh it too, and
                # the timeline, which shows a changed value or expected close.
                if field in FORECAST_FIELDS:
                    context |= timeline_context(deal, timeline(deal=deal))
                return render(request, "deals/partials/field.html#saved", context)
            messages.success(
                request, FIELD_SAVED.format(field=context["label"].lower(), deal=deal.title)
            )
            return redirect(deal)
    context["form"] = form
    if request.htmx:
        return render(request, "deals/partials/field.html#form", context)
    return form_page(
        request,
        deal,
        context
        | {
            "heading": f"Edit the {context['label'].lower()} of “{deal.title}”",
            "action": reverse("deals:field", args=[deal.pk, field]),
            "submit_label": "Save",
        },
    )


@require_POST
@login_required
def bant(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Tick or untick Budget, Authority, Need and Timeline."""
    deal = get_deal(request, deal_id, change=True)
    form = BantForm(request.POST, record=deal)
    if form.is_valid():
        update_deal(deal, by=request.user, **form.edits())
    if request.htmx:
        context = page_context(request, deal) | _bant_context(deal)
        return render(request, "deals/partials/bant.html", context)
    messages.success(request, BANT_SAVED.format(deal=deal.title))
    return redirect(deal)


@login_required
@require_http_methods(["GET", "POST"])
def new_activity(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Log a call, email, meeting or note (`?kind=`) on the deal; needs change rights, like
    every other change of the deal (a read-only viewer gets 403). With htmx, success
    answers the re-rendered timeline (retargeted there) and errors the form again."""
    deal = get_deal(request, deal_id, change=True)
    return record_actions.new_activity(
        request,
        deal,
        action=reverse("deals:log-activity", args=[deal.pk]),
        timeline_card=lambda: (
            page_context(request, deal) | timeline_context(deal, timeline(deal=deal))
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_task(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Quick add of a task on the deal, for someone who may hold its tasks; change rights
    needed. With htmx the answer is the tasks card (with the errors, or the new task)."""
    deal = get_deal(request, deal_id, change=True)
    return record_actions.new_task(
        request,
        deal,
        action=reverse("deals:add-task", args=[deal.pk]),
        tasks_card=lambda form: page_context(request, deal) | _tasks_context(request, deal, form),
    )
