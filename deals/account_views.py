"""The account page: header with social links, contacts, deals by status, open tasks and the
timeline of the account and all its deals the user may see.

Everyone who may see the account reads the page (what it shows of deals is narrowed to the
deals they may see); logging an activity or adding a task needs the right to change the
account (`can_change_account`): 403 otherwise, 404 outside visibility.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import reswap, retarget

from deals.deal_views import (
    ACTIVITY_LOGGED,
    LOG_BUTTONS,
    TASK_ADDED,
    UNKNOWN_ACTIVITY_KIND,
    activity_form_response,
    timeline_cursor,
    url_exists,
)
from deals.forms import ActivityForm, add_service_error
from deals.models import Account, ActivityKind
from deals.selectors import (
    Timeline,
    account_deal_groups,
    account_deals,
    can_change_account,
    get_account_record_or_404,
    timeline,
)
from deals.services import log_activity
from tasks.forms import QuickTaskForm
from tasks.selectors import open_tasks, task_assignees
from tasks.services import create_task

NO_ACCOUNT_CHANGE_RIGHTS = "You may look at “{account}” but not change it."
# (label, icon, model field) of the header's links.
SOCIAL_LINKS = [
    ("Website", "globe2", "website"),
    ("LinkedIn", "linkedin", "linkedin_url"),
    ("Twitter", "twitter-x", "twitter_url"),
]


def _get_account(request: HttpRequest, account_id: int, *, change: bool = False) -> Account:
    """The account: 404 outside visibility; with `change`, 403 when read-only."""
    account = get_account_record_or_404(request.user, account_id)
    if change and not can_change_account(request.user, account):
        raise PermissionDenied(NO_ACCOUNT_CHANGE_RIGHTS.format(account=account.name))
    return account


def social_links(account: Account) -> list[dict[str, str]]:
    """The account's web links (label, icon, url; the website also shows its address as
    text). Only http(s) addresses become links, whatever an import or the admin stored."""
    links = []
    for label, icon, name in SOCIAL_LINKS:
        url = getattr(account, name)
        scheme, _, rest = url.partition("://")
        if scheme.lower() in ("http", "https") and rest:
            text = rest.removeprefix("www.").rstrip("/") if name == "website" else ""
            links.append({"label": label, "icon": icon, "url": url, "text": text})
    return links


def _page_context(request: HttpRequest, account: Account) -> dict[str, object]:
    return {
        "account": account,
        "can_change": can_change_account(request.user, account),
        "active_section": "Accounts",
    }


def _timeline_context(account: Account, history: Timeline) -> dict[str, object]:
    return {
        "timeline": history,
        "timeline_url": account.get_absolute_url(),
        "log_url": reverse("deals:account-log-activity", args=[account.pk]),
        "log_buttons": LOG_BUTTONS,
        "show_deal": True,
    }


def _tasks_context(
    request: HttpRequest, account: Account, form: QuickTaskForm | None = None
) -> dict[str, object]:
    form = form or QuickTaskForm(
        assignees=task_assignees(request.user, owner=account.owner),
        initial={"assignee": account.owner_id},
    )
    deals = account_deals(account=account, user=request.user)
    return {
        "tasks": open_tasks(account=account, deals=deals),
        "task_form": form,
        "add_task_url": reverse("deals:account-add-task", args=[account.pk]),
        "show_deal": True,
        "now": timezone.now(),
    }


@login_required
def detail(request: HttpRequest, account_id: int) -> HttpResponse:
    """The account page; with htmx and `?before=`, only the older timeline entries."""
    account = _get_account(request, account_id)
    try:
        before = timeline_cursor(request)
    except ValueError as error:
        return HttpResponse(str(error), status=400)
    history = timeline(account=account, user=request.user, before=before)
    context = _page_context(request, account) | _timeline_context(account, history)
    if request.htmx and before is not None:
        return render(request, "deals/partials/timeline.html#entries", context)
    context |= _tasks_context(request, account) | {
        "before": before,
        "social_links": social_links(account),
        "contacts": account.contacts.filter(is_archived=False).order_by("name", "pk"),
        "deal_groups": account_deal_groups(account=account, user=request.user),
        "edit_url": url_exists("deals:account-edit", account.pk),
        "archive_url": url_exists("deals:account-archive", account.pk),
        "restore_url": url_exists("deals:account-restore", account.pk),
        "add_contact_url": url_exists("deals:contact-create", account.pk),
        "can_edit_contacts": url_exists("deals:contact-edit", 0) is not None,
    }
    return render(request, "deals/account_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_activity(request: HttpRequest, account_id: int) -> HttpResponse:
    """Log a call, email, meeting or note (`?kind=`) on the account itself; change rights
    needed. Answers like the deal page's `new_activity`."""
    account = _get_account(request, account_id, change=True)
    kind = request.GET.get("kind") or request.POST.get("kind") or ""
    if kind not in ActivityKind.values:
        return HttpResponse(UNKNOWN_ACTIVITY_KIND, status=400)
    form = ActivityForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            activity = log_activity(
                kind=kind, user=request.user, account=account, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                history = timeline(account=account, user=request.user)
                context = _page_context(request, account) | _timeline_context(account, history)
                response = render(request, "deals/partials/timeline.html", context)
                return reswap(retarget(response, "#timeline"), "outerHTML")
            kind_label = activity.get_kind_display().lower()
            messages.success(
                request, ACTIVITY_LOGGED.format(kind=kind_label, subject=activity.subject)
            )
            return redirect(account)
    action = reverse("deals:account-log-activity", args=[account.pk])
    return activity_form_response(request, account, form, kind, action)


@login_required
@require_http_methods(["GET", "POST"])
def new_task(request: HttpRequest, account_id: int) -> HttpResponse:
    """Quick add of a task on the account; change rights needed. Answers like the deal
    page's `new_task`."""
    account = _get_account(request, account_id, change=True)
    form = QuickTaskForm(
        request.POST if request.method == "POST" else None,
        assignees=task_assignees(request.user, owner=account.owner),
        initial={"assignee": account.owner_id},
    )
    if form.is_valid():
        try:
            task = create_task(
                title=form.cleaned_data["title"],
                due_at=form.due_at(),
                assignee=form.cleaned_data["assignee"],
                by=request.user,
                account=account,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                context = _page_context(request, account) | _tasks_context(request, account)
                return render(request, "deals/partials/tasks.html", context)
            messages.success(request, TASK_ADDED.format(title=task.title))
            return redirect(account)
    context = _page_context(request, account)
    if request.htmx:
        context |= _tasks_context(request, account, form)
        return render(request, "deals/partials/tasks.html", context)
    context |= {
        "form": form,
        "record": account,
        "heading": f"New task for “{account.name}”",
        "action": reverse("deals:account-add-task", args=[account.pk]),
        "submit_label": "Add task",
    }
    return render(request, "deals/field_edit.html", context)
