"""The task list and the actions of a task row (complete, snooze, reassign, edit, dismiss,
then "what's next?"), shared by /tasks/ and the tasks card of the deal and account pages.

Each action is a POST with a real form action: without JavaScript it redirects back to the
page it came from (`next`); with htmx it answers the updated row (the same partial the
pages render) and sends the `tasks-changed` event, on which the navigation's overdue badge
and the list's group counts reload themselves. A task outside visibility answers 404, a
visible one the user may not act on 403, a task already done or dismissed 409.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from deals.forms import add_service_error
from deals.selectors import assignable_owners
from pipeline_crm.ids import parse_id
from pipeline_crm.models import User
from pipeline_crm.redirects import next_url
from tasks.forms import NextTaskForm, ReassignForm, SnoozeForm, TaskEditForm
from tasks.models import Task, TaskStatus
from tasks.selectors import (
    GROUPS,
    can_change_task,
    get_task_for_user_or_404,
    overdue_count,
    task_assignees,
    task_counts,
    task_groups,
    task_people,
    with_row_details,
)
from tasks.services import (
    SNOOZE_OPTIONS,
    TASK_CLOSED,
    TaskClosed,
    TaskError,
    complete_task,
    create_task,
    dismiss_task,
    reassign_task,
    record_owner,
    snooze_task,
    update_task,
)

NO_TASK_RIGHTS = "You may look at the task “{title}” but not change it."
CLOSED_HEADING = "This task can no longer be changed"
NO_SUCH_PERSON = "No such person among those whose tasks you may list."
TASK_COMPLETED = "Completed “{title}”."
TASK_SNOOZED = "Snoozed “{title}” until {until}."
TASK_REASSIGNED = "Gave “{title}” to {person}."
TASK_SAVED = "Saved the task “{title}”."
TASK_DISMISSED = "Dismissed “{title}”."
NEXT_TASK_ADDED = "Added the task “{title}”."
NEXT_HEADING = "What's next for {record}?"
NEXT_HEADING_ALONE = "What's next?"
# Sent with every htmx answer that changes a task: the badge and the counts listen to it.
TASKS_CHANGED = "tasks-changed"
# Where a row is shown, which decides what it repeats: the list names the deal or
# account; the deal page does not; the account page names the deal of a deal's task.
PLACES = ("list", "deal", "account")


# Access and answers


def _get_task(request: HttpRequest, task_id: int) -> Task:
    """The task with its row's joins: 404 outside visibility, 403 when the user may only
    look at it."""
    task = get_task_for_user_or_404(request.user, task_id)
    if not can_change_task(request.user, task):
        raise PermissionDenied(NO_TASK_RIGHTS.format(title=task.title))
    return task


def _next_url(request: HttpRequest) -> str:
    """`next` from the form or the query if it is a path of this site, else the list."""
    return next_url(request, reverse("tasks:list"))


def _place(request: HttpRequest) -> str:
    place = request.POST.get("place") or request.GET.get("place")
    return place if place in PLACES else "list"


def _row_context(request: HttpRequest, task: Task) -> dict[str, object]:
    """What the row partial needs, for a task fetched with its joins. The reassign
    choices cost one query (who the user may make an owner)."""
    now = timezone.now()
    people = list(assignable_owners(request.user))
    with_row_details([task], user=request.user, people=people, now=now)
    return {
        "task": task,
        "now": now,
        "next": _next_url(request),
        "place": _place(request),
        "snooze_options": SNOOZE_OPTIONS.items(),
    }


def _changed(response: HttpResponse) -> HttpResponse:
    return trigger_client_event(response, TASKS_CHANGED)


def _row(request: HttpRequest, task: Task, **extra: object) -> HttpResponse:
    context = _row_context(request, task) | extra
    return _changed(render(request, "tasks/partials/task_row.html", context))


def _closed(request: HttpRequest, task: Task, error: TaskClosed) -> HttpResponse:
    """409: the task was done or dismissed (maybe by someone else meanwhile). htmx gets
    the row as it is now, with the reason (tasks.js swaps it in); a browser a small page."""
    if request.htmx:
        task.refresh_from_db(fields=["status", "completed_at"])
        response = _row(request, task, error=str(error))
    else:
        context = {
            "heading": CLOSED_HEADING,
            "message": str(error),
            "next": _next_url(request),
            "active_section": "Tasks",
        }
        response = render(request, "tasks/action.html", context)
    response.status_code = 409
    return response


def _done(request: HttpRequest, task: Task, message: str) -> HttpResponse:
    """After an action: the updated row for htmx, else back to `next` with `message`."""
    if request.htmx:
        return _row(request, task)
    messages.success(request, message)
    return redirect(_next_url(request))


def _form_answer(
    request: HttpRequest,
    task: Task,
    form: forms.Form,
    *,
    heading: str,
    action: str,
    submit_label: str,
    menu: str = "",
) -> HttpResponse:
    """A row action's form, on its own page (without JavaScript: the edit form, or any
    form with its errors); for htmx, the row with the errors and the action's menu open
    (status 200, so htmx swaps it)."""
    if request.htmx:
        errors = [error for errors in form.errors.values() for error in errors]
        context = _row_context(request, task) | {"row_errors": errors, "open_menu": menu}
        return render(request, "tasks/partials/task_row.html", context)
    context = {
        "task": task,
        "form": form,
        "heading": heading,
        "action": action,
        "submit_label": submit_label,
        "next": _next_url(request),
        "place": _place(request),
        "active_section": "Tasks",
    }
    return render(request, "tasks/action.html", context)


# The list


def _scope(request: HttpRequest) -> tuple[User | None, bool, str]:
    """Whose tasks `?person=` asks for: (person, whole team, its value). Absent or the
    user's own id: the user's; "all": everyone the user manages (an admin: everyone); an id
    among `task_people`: that person's. Anything else is 404, so a rep asking for someone
    else's tasks learns nothing about them."""
    value = request.GET.get("person", "")
    user = request.user
    if value in ("", str(user.pk)):
        return None, False, ""
    if value == "all" and (user.is_manager or user.is_crm_admin):
        return None, True, value
    person_id = parse_id(value)
    person = task_people(user).filter(pk=person_id).first() if person_id else None
    if person is None:
        raise Http404(NO_SUCH_PERSON)
    return person, False, value


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """The open tasks grouped Overdue, Today, Upcoming, Snoozed; managers and admins may
    switch to a person they manage or to the whole team (`?person=`). With htmx and
    `?part=counts`, only the group counts (refreshed on `tasks-changed`)."""
    person, team, value = _scope(request)
    now = timezone.now()
    scope = {"user": request.user, "person": person, "team": team, "now": now}
    context: dict[str, object] = {"person_value": value}
    if request.htmx and request.GET.get("part") == "counts":
        counts = task_counts(**scope)
        context["count_list"] = [(key, label, counts[key]) for key, label, _ in GROUPS]
        return render(request, "tasks/list.html#counts", context | {"oob": True})
    groups = task_groups(**scope)
    people = list(assignable_owners(request.user))
    for group in groups:
        with_row_details(group.tasks, user=request.user, people=people, now=now)
    switch = (
        task_people(request.user) if request.user.is_manager or request.user.is_crm_admin else None
    )
    context |= {
        "groups": groups,
        "count_list": [(group.key, group.label, group.total) for group in groups],
        "switch": list(switch) if switch is not None else None,
        "person": person,
        "team": team,
        "now": now,
        "place": "list",
        "next": request.get_full_path(),
        "snooze_options": SNOOZE_OPTIONS.items(),
        "active_section": "Tasks",
    }
    return render(request, "tasks/list.html", context)


@login_required
@require_GET
def badge(request: HttpRequest) -> HttpResponse:
    """The navigation's overdue badge alone, reloaded on `tasks-changed`."""
    context = {"overdue_tasks": overdue_count(request.user)}
    return render(request, "tasks/partials/nav_badge.html", context)


# Row actions


@login_required
@require_POST
def complete(request: HttpRequest, task_id: int) -> HttpResponse:
    """Mark the task done, then ask what's next: htmx gets the prompt in place of the row,
    a browser the prompt's page."""
    task = _get_task(request, task_id)
    try:
        complete_task(task, by=request.user)
    except TaskClosed as error:
        return _closed(request, task, error)
    if request.htmx:
        context = _next_context(request, task)
        return _changed(render(request, "tasks/partials/next_prompt.html", context))
    messages.success(request, TASK_COMPLETED.format(title=task.title))
    url = reverse("tasks:next", args=[task.pk])
    return redirect(f"{url}?{urlencode({'next': _next_url(request), 'place': _place(request)})}")


@login_required
@require_POST
def snooze(request: HttpRequest, task_id: int) -> HttpResponse:
    """Snooze until tomorrow, in 3 days, next week or a picked day (09:00 local)."""
    task = _get_task(request, task_id)
    form = SnoozeForm(request.POST, now=timezone.now())
    if form.is_valid():
        try:
            snooze_task(task, until=form.cleaned_data["until"], by=request.user)
        except TaskClosed as error:
            return _closed(request, task, error)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            until = date_format(timezone.localtime(task.snoozed_until), "D M j, H:i")
            return _done(request, task, TASK_SNOOZED.format(title=task.title, until=until))
    return _form_answer(
        request,
        task,
        form,
        heading=f"Snooze “{task.title}”",
        action=reverse("tasks:snooze", args=[task.pk]),
        submit_label="Snooze",
        menu="snooze",
    )


@login_required
@require_POST
def reassign(request: HttpRequest, task_id: int) -> HttpResponse:
    """Give the task to someone the user may give a task of its record to."""
    task = _get_task(request, task_id)
    assignees = task_assignees(request.user, owner=record_owner(task))
    form = ReassignForm(request.POST, assignees=assignees)
    if form.is_valid():
        person = form.cleaned_data["assignee"]
        try:
            reassign_task(task, to=person, by=request.user)
        except TaskClosed as error:
            return _closed(request, task, error)
        except TaskError as error:
            form.add_error("assignee", str(error))
        else:
            return _done(request, task, TASK_REASSIGNED.format(title=task.title, person=person))
    return _form_answer(
        request,
        task,
        form,
        heading=f"Reassign “{task.title}”",
        action=reverse("tasks:reassign", args=[task.pk]),
        submit_label="Reassign",
        menu="reassign",
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, task_id: int) -> HttpResponse:
    """Edit title, notes and due time: GET the form (with htmx, swapped into the row;
    `?cancel` gives the row back), POST to save."""
    task = _get_task(request, task_id)
    if task.status != TaskStatus.OPEN:
        status = task.get_status_display().lower()
        return _closed(
            request, task, TaskClosed(TASK_CLOSED.format(title=task.title, status=status))
        )
    if request.method == "GET" and "cancel" in request.GET:
        return render(request, "tasks/partials/task_row.html", _row_context(request, task))
    form = TaskEditForm(request.POST if request.method == "POST" else None, task=task)
    if form.is_bound and form.is_valid():
        try:
            update_task(task, by=request.user, **form.edits())
        except TaskClosed as error:
            return _closed(request, task, error)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return _done(request, task, TASK_SAVED.format(title=task.title))
    if request.htmx:
        context = _row_context(request, task) | {"form": form}
        return render(request, "tasks/partials/edit_row.html", context)
    return _form_answer(
        request,
        task,
        form,
        heading=f"Edit “{task.title}”",
        action=reverse("tasks:edit", args=[task.pk]),
        submit_label="Save",
    )


@login_required
@require_POST
def dismiss(request: HttpRequest, task_id: int) -> HttpResponse:
    """Close the task without doing it; htmx gets an empty answer, which deletes the row."""
    task = _get_task(request, task_id)
    try:
        dismiss_task(task, by=request.user)
    except TaskClosed as error:
        return _closed(request, task, error)
    if request.htmx:
        return _changed(HttpResponse(""))
    messages.success(request, TASK_DISMISSED.format(title=task.title))
    return redirect(_next_url(request))


# What's next?


def _next_context(
    request: HttpRequest, done: Task, form: NextTaskForm | None = None
) -> dict[str, object]:
    assignees = task_assignees(request.user, owner=record_owner(done))
    record = done.deal or done.account
    return {
        "done": done,
        "record": record,
        "next_heading": NEXT_HEADING.format(record=record) if record else NEXT_HEADING_ALONE,
        "next_form": form or NextTaskForm(done=done, now=timezone.now(), assignees=assignees),
        "next": _next_url(request),
        "place": _place(request),
    }


@login_required
@require_http_methods(["GET", "POST"])
def next_task(request: HttpRequest, task_id: int) -> HttpResponse:
    """The "What's next for <deal>?" prompt after completing a task: GET shows it on its
    own page (without JavaScript); POST creates the next task on the same deal or account
    through `create_task` (htmx gets its row in place of the prompt)."""
    done = _get_task(request, task_id)
    form = None
    if request.method == "POST":
        assignees = task_assignees(request.user, owner=record_owner(done))
        form = NextTaskForm(request.POST, done=done, now=timezone.now(), assignees=assignees)
        if form.is_valid():
            try:
                created = create_task(
                    title=form.cleaned_data["title"],
                    due_at=form.due_at(),
                    assignee=form.cleaned_data["assignee"],
                    by=request.user,
                    deal=done.deal,
                    account=done.account,
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                if request.htmx:
                    return _row(request, get_task_for_user_or_404(request.user, created.pk))
                messages.success(request, NEXT_TASK_ADDED.format(title=created.title))
                return redirect(_next_url(request))
    context = _next_context(request, done, form)
    if request.htmx:
        return render(request, "tasks/partials/next_prompt.html", context)
    context |= {
        "task": done,
        "form": context["next_form"],
        "heading": context["next_heading"],
        "action": reverse("tasks:next", args=[done.pk]),
        "submit_label": "Add task",
        "cancel_label": "No next step",
        "active_section": "Tasks",
    }
    return render(request, "tasks/action.html", context)
