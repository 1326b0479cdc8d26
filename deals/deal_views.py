"""The deal page: header, stage progress, inline edit, BANT, open tasks and the timeline.

Who may do what: everyone who may see the deal reads the page; changing anything on it
(a field, BANT, a task, logging an activity) needs change rights, like moving it. A visible
but read-only deal answers 403 to those, a deal outside visibility 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from deals.forms import (
    DEAL_FIELD_LABELS,
    ActivityForm,
    BantForm,
    DealFieldForm,
    add_service_error,
)
from deals.models import ActivityKind, Deal
from deals.selectors import (
    Timeline,
    TimelineCursor,
    active_lost_reasons,
    can_change_deal,
    get_deal_record_or_404,
    timeline,
)
from deals.services import DealError, log_activity, update_deal
from deals.views import NO_CHANGE_RIGHTS
from stages.models import StageKind
from tasks.forms import QuickTaskForm
from tasks.selectors import open_tasks, task_assignees
from tasks.services import create_task

UNKNOWN_ACTIVITY_KIND = "Unknown kind of activity: choose call, email, meeting or note."
FIELD_SAVED = "Saved the {field} of “{deal}”."
BANT_SAVED = "Saved the qualification of “{deal}”."
ACTIVITY_LOGGED = "Logged the {kind} “{subject}”."
TASK_ADDED = "Added the task “{title}”."
# (kind, button label, icon) of the "log an activity" buttons.
LOG_BUTTONS = [
    (ActivityKind.CALL, "Log call", "telephone"),
    (ActivityKind.EMAIL, "Log email", "envelope"),
    (ActivityKind.MEETING, "Log meeting", "people"),
    (ActivityKind.NOTE, "Add note", "sticky"),
]


def url_exists(name: str, *args: object) -> str | None:
    """The URL of `name` if the URL configuration has it (pages of other features)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def timeline_cursor(request: HttpRequest) -> TimelineCursor | None:
    """The `?before=` of "Show older"; ValueError for a malformed one."""
    before = request.GET.get("before")
    return TimelineCursor.parse(before) if before else None


def _get_deal(request: HttpRequest, deal_id: int, *, change: bool = False) -> Deal:
    """The deal with what its page shows: 404 outside visibility; with `change`, 403
    when the user may only look at it."""
    deal = get_deal_record_or_404(request.user, deal_id)
    if change and not can_change_deal(request.user, deal):
        raise PermissionDenied(NO_CHANGE_RIGHTS.format(deal=deal.title))
    return deal


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
    form = form or BantForm(initial={name: getattr(deal, name) for name in BantForm.base_fields})
    score = sum(bool(getattr(deal, name)) for name in BantForm.base_fields)
    return {"bant_form": form, "bant_score": score}


def _tasks_context(
    request: HttpRequest, deal: Deal, form: QuickTaskForm | None = None
) -> dict[str, object]:
    form = form or QuickTaskForm(
        assignees=task_assignees(request.user, owner=deal.owner),
        initial={"assignee": deal.owner_id},
    )
    return {
        "tasks": open_tasks(deal=deal),
        "task_form": form,
        "add_task_url": reverse("deals:add-task", args=[deal.pk]),
        "now": timezone.now(),
    }


def _timeline_context(deal: Deal, history: Timeline) -> dict[str, object]:
    return {
        "timeline": history,
        "timeline_url": deal.get_absolute_url(),
        "log_url": reverse("deals:log-activity", args=[deal.pk]),
        "log_buttons": LOG_BUTTONS,
    }


def _page_context(request: HttpRequest, deal: Deal) -> dict[str, object]:
    """What the header and the fragments share."""
    return {
        "deal": deal,
        "can_change": can_change_deal(request.user, deal),
        "active_section": "Deals",
    }


@login_required
def detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    """The deal page; with htmx and `?before=`, only the older timeline entries."""
    deal = _get_deal(request, deal_id)
    try:
        before = timeline_cursor(request)
    except ValueError as error:
        return HttpResponse(str(error), status=400)
    history = timeline(deal=deal, before=before)
    context = _page_context(request, deal) | _timeline_context(deal, history)
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
            "edit_url": url_exists("deals:edit", deal.pk),
            "archive_url": url_exists("deals:archive", deal.pk),
            "restore_url": url_exists("deals:restore", deal.pk),
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
    deal = _get_deal(request, deal_id, change=True)
    context = _page_context(request, deal) | {"name": field, "label": DEAL_FIELD_LABELS[field]}
    if request.method == "GET" and "cancel" in request.GET:
        return render(request, "deals/partials/field.html#display", context)
    data = request.POST if request.method == "POST" else None
    form = DealFieldForm(data, deal=deal, name=field, user=request.user)
    if form.is_bound and form.is_valid():
        try:
            update_deal(deal, by=request.user, **form.changes())
        except ValidationError as error:
            add_service_error(form, error)
        except DealError as error:
            form.add_error(None, str(error))
        else:
            if request.htmx:
                # The header repeats title, account, owner and value: refresh it too.
                return render(request, "deals/partials/field.html#saved", context)
            messages.success(
                request, FIELD_SAVED.format(field=context["label"].lower(), deal=deal.title)
            )
            return redirect(deal)
    context["form"] = form
    if request.htmx:
        return render(request, "deals/partials/field.html#form", context)
    return render(
        request,
        "deals/field_edit.html",
        context
        | {
            "record": deal,
            "heading": f"Edit the {context['label'].lower()} of “{deal.title}”",
            "action": reverse("deals:field", args=[deal.pk, field]),
            "submit_label": "Save",
        },
    )


@require_POST
@login_required
def bant(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Tick or untick Budget, Authority, Need and Timeline."""
    deal = _get_deal(request, deal_id, change=True)
    form = BantForm(request.POST)
    if form.is_valid():
        update_deal(deal, by=request.user, **form.cleaned_data)
    if request.htmx:
        context = _page_context(request, deal) | _bant_context(deal)
        return render(request, "deals/partials/bant.html", context)
    messages.success(request, BANT_SAVED.format(deal=deal.title))
    return redirect(deal)


@login_required
@require_http_methods(["GET", "POST"])
def new_activity(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Log a call, email, meeting or note (`?kind=`) on the deal; needs change rights, like
    every other change of the deal (a read-only viewer gets 403). With htmx, success
    answers the re-rendered timeline (retargeted there) and errors the form again."""
    deal = _get_deal(request, deal_id, change=True)
    kind = request.GET.get("kind") or request.POST.get("kind") or ""
    if kind not in ActivityKind.values:
        return HttpResponse(UNKNOWN_ACTIVITY_KIND, status=400)
    form = ActivityForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            activity = log_activity(kind=kind, user=request.user, deal=deal, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                context = _page_context(request, deal) | _timeline_context(
                    deal, timeline(deal=deal)
                )
                response = render(request, "deals/partials/timeline.html", context)
                return reswap(retarget(response, "#timeline"), "outerHTML")
            messages.success(
                request,
                ACTIVITY_LOGGED.format(
                    kind=activity.get_kind_display().lower(), subject=activity.subject
                ),
            )
            return redirect(deal)
    return activity_form_response(
        request, deal, form, kind, reverse("deals:log-activity", args=[deal.pk])
    )


def activity_form_response(
    request: HttpRequest, record, form: ActivityForm, kind: str, action: str
) -> HttpResponse:
    """The activity form: a fragment for htmx, a page otherwise (deal and account pages)."""
    label = next(label for value, label, _ in LOG_BUTTONS if value == kind)
    context = {
        "form": form,
        "kind": kind,
        "action": f"{action}?kind={kind}",
        "heading": label,
        "record": record,
        "cancel_url": record.get_absolute_url(),
    }
    if request.htmx:
        return render(request, "deals/partials/activity_form.html", context)
    active_section = "Deals" if isinstance(record, Deal) else "Accounts"
    context |= {
        "submit_label": "Save",
        "active_section": active_section,
        "heading": f"{label}: {record}",
    }
    return render(request, "deals/field_edit.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_task(request: HttpRequest, deal_id: int) -> HttpResponse:
    """Quick add of a task on the deal, for someone who may hold its tasks; change rights
    needed. With htmx the answer is the tasks card (with the errors, or the new task)."""
    deal = _get_deal(request, deal_id, change=True)
    assignees = task_assignees(request.user, owner=deal.owner)
    form = QuickTaskForm(
        request.POST if request.method == "POST" else None,
        assignees=assignees,
        initial={"assignee": deal.owner_id},
    )
    if form.is_valid():
        try:
            task = create_task(
                title=form.cleaned_data["title"],
                due_at=form.due_at(),
                assignee=form.cleaned_data["assignee"],
                by=request.user,
                deal=deal,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                context = _page_context(request, deal) | _tasks_context(request, deal)
                return render(request, "deals/partials/tasks.html", context)
            messages.success(request, TASK_ADDED.format(title=task.title))
            return redirect(deal)
    if request.htmx:
        context = _page_context(request, deal) | _tasks_context(request, deal, form)
        return render(request, "deals/partials/tasks.html", context)
    context = _page_context(request, deal) | {
        "form": form,
        "record": deal,
        "heading": f"New task for “{deal.title}”",
        "action": reverse("deals:add-task", args=[deal.pk]),
        "submit_label": "Add task",
    }
    return render(request, "deals/field_edit.html", context)
