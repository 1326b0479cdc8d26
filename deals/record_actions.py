"""What the deal and account pages share: fetching the record (a Deal or an Account) with
the access check, logging an activity and quick-adding a task on it, the "Show older"
cursor of their timelines and the one-form page used without JavaScript.

The views of deal_views.py and account_views.py fetch their record with `get_deal` or
`get_account` (as record_views.py does for its edit forms), then hand over the record, the
URL of the form and how to re-render their card (the timeline or the open tasks).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django_htmx.http import reswap, retarget, trigger_client_event

from deals.forms import ActivityForm, add_service_error
from deals.models import Account, ActivityKind, Deal
from deals.selectors import (
    TimelineCursor,
    can_change_account,
    can_change_deal,
    get_account_record_or_404,
    get_deal_record_or_404,
)
from deals.services import log_activity
from tasks.forms import QuickTaskForm
from tasks.models import Task
from tasks.selectors import task_assignees, with_row_details
from tasks.services import SNOOZE_OPTIONS, create_task

NO_CHANGE_RIGHTS = "You may look at “{record}” but not change it."
UNKNOWN_ACTIVITY_KIND = "Unknown kind of activity: choose call, email, meeting or note."
ACTIVITY_LOGGED = "Logged the {kind} “{subject}”."
TASK_ADDED = "Added the task “{title}”."
# (kind, button label, icon) of the "log an activity" buttons.
LOG_BUTTONS = [
    (ActivityKind.CALL, "Log call", "telephone"),
    (ActivityKind.EMAIL, "Log email", "envelope"),
    (ActivityKind.MEETING, "Log meeting", "people"),
    (ActivityKind.NOTE, "Add note", "sticky"),
]

Record = Deal | Account


def get_deal(request: HttpRequest, deal_id: int, *, change: bool = False) -> Deal:
    """The deal with what its pages show (one query): 404 outside visibility; with
    `change`, 403 when the user may only look at it."""
    deal = get_deal_record_or_404(request.user, deal_id)
    if change and not can_change_deal(request.user, deal):
        raise PermissionDenied(NO_CHANGE_RIGHTS.format(record=deal.title))
    return deal


def get_account(request: HttpRequest, account_id: int, *, change: bool = False) -> Account:
    """The account with its owner and team (one query): 404 outside visibility; with
    `change`, 403 when the user may only look at it."""
    account = get_account_record_or_404(request.user, account_id)
    if change and not can_change_account(request.user, account):
        raise PermissionDenied(NO_CHANGE_RIGHTS.format(record=account.name))
    return account


def timeline_cursor(request: HttpRequest) -> TimelineCursor | None:
    """The `?before=` of "Show older"; ValueError for a malformed one."""
    before = request.GET.get("before")
    return TimelineCursor.parse(before) if before else None


def quick_task_form(
    request: HttpRequest, record: Record, data: QueryDict | None = None
) -> QuickTaskForm:
    """The quick add of a task on `record`, for someone who may hold its tasks; the
    record's owner by default."""
    return QuickTaskForm(
        data,
        assignees=task_assignees(request.user, owner=record.owner),
        initial={"assignee": record.owner_id},
    )


def task_rows(request: HttpRequest, record: Record, tasks: list[Task]) -> dict[str, object]:
    """The open tasks card's rows with their actions (the row partial of the task list):
    who may act on each, whom it may go to (one query), and where the actions return."""
    from deals.selectors import assignable_owners

    now = timezone.now()
    people = list(assignable_owners(request.user))
    return {
        "tasks": with_row_details(tasks, user=request.user, people=people, now=now),
        "now": now,
        "next": record.get_absolute_url(),
        "place": record._meta.model_name,
        "snooze_options": SNOOZE_OPTIONS.items(),
    }


def form_page(request: HttpRequest, record: Record, context: dict[str, object]) -> HttpResponse:
    """One small form on its own page (field_edit.html), for browsers without JavaScript;
    `context` gives heading, form, action and submit_label."""
    section = "Deals" if isinstance(record, Deal) else "Accounts"
    context = context | {"record": record, "active_section": section}
    return render(request, "deals/field_edit.html", context)


def _about(record: Record) -> dict[str, Record]:
    """The keyword the services take the record by: `deal=` or `account=`."""
    return {record._meta.model_name: record}


def new_activity(
    request: HttpRequest,
    record: Record,
    *,
    action: str,
    timeline_card: Callable[[], dict[str, object]],
) -> HttpResponse:
    """Log a call, email, meeting or note (`?kind=`) on `record` through `log_activity`.

    `action` is the form's URL; `timeline_card()` the context of the page's timeline card,
    which htmx gets back after logging (retargeted there). Errors answer the form again: a
    fragment for htmx, a page otherwise. An unknown kind answers 400.
    """
    kind = request.GET.get("kind") or request.POST.get("kind") or ""
    if kind not in ActivityKind.values:
        return HttpResponse(UNKNOWN_ACTIVITY_KIND, status=400)
    form = ActivityForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            activity = log_activity(
                kind=kind, user=request.user, **_about(record), **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                response = render(request, "deals/partials/timeline.html", timeline_card())
                return reswap(retarget(response, "#timeline"), "outerHTML")
            kind_label = activity.get_kind_display().lower()
            messages.success(
                request, ACTIVITY_LOGGED.format(kind=kind_label, subject=activity.subject)
            )
            return redirect(record)
    label = next(label for value, label, _ in LOG_BUTTONS if value == kind)
    context = {"form": form, "action": f"{action}?kind={kind}"}
    if request.htmx:
        context |= {"heading": label, "cancel_url": record.get_absolute_url()}
        return render(request, "deals/partials/activity_form.html", context)
    return form_page(
        request, record, context | {"heading": f"{label}: {record}", "submit_label": "Save"}
    )


def new_task(
    request: HttpRequest,
    record: Record,
    *,
    action: str,
    tasks_card: Callable[[QuickTaskForm | None], dict[str, object]],
) -> HttpResponse:
    """Quick add of a task on `record` through `create_task`.

    `action` is the form's URL; `tasks_card(form)` the context of the page's open tasks
    card with `form` as its quick add (None: an empty one). htmx gets that card back, with
    the new task or with the errors; without JavaScript, success redirects to the record
    and errors show the form on its own page.
    """
    form = quick_task_form(request, record, request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            task = create_task(
                title=form.cleaned_data["title"],
                due_at=form.due_at(),
                assignee=form.cleaned_data["assignee"],
                by=request.user,
                **_about(record),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                # The navigation's overdue badge listens to this event (tasks/views.py).
                response = render(request, "deals/partials/tasks.html", tasks_card(None))
                return trigger_client_event(response, "tasks-changed")
            messages.success(request, TASK_ADDED.format(title=task.title))
            return redirect(record)
    if request.htmx:
        return render(request, "deals/partials/tasks.html", tasks_card(form))
    context = {
        "form": form,
        "heading": f"New task for “{record}”",
        "action": action,
        "submit_label": "Add task",
    }
    return form_page(request, record, context)
