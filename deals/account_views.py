"""The account page: header with social links, contacts, deals by status, open tasks and the
timeline of the account and all its deals the user may see.

Everyone who may see the account reads the page (what it shows of deals is narrowed to the
deals they may see); logging an activity or adding a task needs the right to change the
account (`can_change_account`): 403 otherwise, 404 outside visibility.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from deals import record_actions
from deals.models import Account
from deals.record_actions import (
    LOG_BUTTONS,
    get_account,
    quick_task_form,
    task_rows,
    timeline_cursor,
)
from deals.selectors import (
    Timeline,
    account_deal_groups,
    account_deals,
    can_change_account,
    timeline,
)
from tasks.forms import QuickTaskForm
from tasks.selectors import open_tasks

# (label, icon, model field) of the header's links.
SOCIAL_LINKS = [
    ("Website", "globe2", "website"),
    ("LinkedIn", "linkedin", "linkedin_url"),
    ("Twitter", "twitter-x", "twitter_url"),
]


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


def page_context(request: HttpRequest, account: Account) -> dict[str, object]:
    return {
        "account": account,
        "can_change": can_change_account(request.user, account),
        "active_section": "Accounts",
    }


def timeline_context(account: Account, history: Timeline) -> dict[str, object]:
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
    deals = account_deals(account=account, user=request.user)
    return task_rows(request, account, open_tasks(account=account, deals=deals)) | {
        "task_form": form or quick_task_form(request, account),
        "add_task_url": reverse("deals:account-add-task", args=[account.pk]),
        "show_deal": True,
    }


@login_required
def detail(request: HttpRequest, account_id: int) -> HttpResponse:
    """The account page; with htmx and `?before=`, only the older timeline entries."""
    account = get_account(request, account_id)
    try:
        before = timeline_cursor(request)
    except ValueError as error:
        return HttpResponse(str(error), status=400)
    history = timeline(account=account, user=request.user, before=before)
    context = page_context(request, account) | timeline_context(account, history)
    if request.htmx and before is not None:
        return render(request, "deals/partials/timeline.html#entries", context)
    context |= _tasks_context(request, account) | {
        "before": before,
        "social_links": social_links(account),
        "contacts": account.contacts.filter(is_archived=False).order_by("name", "pk"),
        "deal_groups": account_deal_groups(account=account, user=request.user),
        "edit_url": reverse("deals:account-edit", args=[account.pk]),
        "archive_url": reverse("deals:account-archive", args=[account.pk]),
        "restore_url": reverse("deals:account-restore", args=[account.pk]),
    }
    return render(request, "deals/account_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_activity(request: HttpRequest, account_id: int) -> HttpResponse:
    """Log a call, email, meeting or note (`?kind=`) on the account itself; change rights
    needed. Answers like the deal page's `new_activity`."""
    account = get_account(request, account_id, change=True)
    return record_actions.new_activity(
        request,
        account,
        action=reverse("deals:account-log-activity", args=[account.pk]),
        timeline_card=lambda: (
            page_context(request, account)
            | timeline_context(account, timeline(account=account, user=request.user))
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_task(request: HttpRequest, account_id: int) -> HttpResponse:
    """Quick add of a task on the account; change rights needed. Answers like the deal
    page's `new_task`."""
    account = get_account(request, account_id, change=True)
    return record_actions.new_task(
        request,
        account,
        action=reverse("deals:account-add-task", args=[account.pk]),
        tasks_card=lambda form: (
            page_context(request, account) | _tasks_context(request, account, form)
        ),
    )
