"""Correcting the timeline: editing or removing a logged call, email, meeting or note.

An activity is seen with its deal (an account's own activity with its account) and changed
by whoever may change that deal or account: 404 outside visibility, 403 when read-only.
Both answer where the activity shows: its deal's page, or its account's for an account's
own activity; with htmx, that page's timeline card.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from deals import account_views, deal_views
from deals.forms import ActivityEditForm, add_service_error
from deals.models import Activity, Deal
from deals.record_actions import NO_CHANGE_RIGHTS, Record, form_page
from deals.selectors import can_change_activity, get_activity_for_user_or_404, timeline
from deals.services import delete_activity, update_activity

ACTIVITY_SAVED = "Saved the {kind} “{subject}”."
ACTIVITY_REMOVED = "Removed the {kind} “{subject}”."


def _changeable_activity(request: HttpRequest, activity_id: int) -> tuple[Activity, Record]:
    """The activity and the record whose page shows it; 404 outside visibility, 403 for
    someone who may only look at it."""
    activity = get_activity_for_user_or_404(request.user, activity_id)
    record = activity.deal if activity.deal_id is not None else activity.account
    if not can_change_activity(request.user, activity):
        raise PermissionDenied(NO_CHANGE_RIGHTS.format(record=record))
    return activity, record


def _timeline_card(request: HttpRequest, record: Record) -> HttpResponse:
    """The record page's timeline card, as its own views render it, swapped for the old."""
    if isinstance(record, Deal):
        history = timeline(deal=record)
        context = deal_views.page_context(request, record)
        context |= deal_views.timeline_context(record, history)
    else:
        history = timeline(account=record, user=request.user)
        context = account_views.page_context(request, record)
        context |= account_views.timeline_context(record, history)
    response = render(request, "deals/partials/timeline.html", context)
    return reswap(retarget(response, "#timeline"), "outerHTML")


def _kind(activity: Activity) -> str:
    return activity.get_kind_display().lower()


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Correct an activity's kind, subject, details or time through `update_activity`.
    With htmx the form goes into the timeline's form slot and success answers the
    timeline; without, a page of its own and a redirect to the record."""
    activity, record = _changeable_activity(request, activity_id)
    form = ActivityEditForm(request.POST if request.method == "POST" else None, activity=activity)
    if form.is_bound and form.is_valid():
        try:
            update_activity(activity, by=request.user, **form.edits())
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if request.htmx:
                return _timeline_card(request, record)
            messages.success(
                request, ACTIVITY_SAVED.format(kind=_kind(activity), subject=activity.subject)
            )
            return redirect(record)
    context = {"form": form, "action": reverse("deals:activity-edit", args=[activity.pk])}
    if request.htmx:
        context |= {
            "heading": f"Edit the {_kind(activity)}",
            "cancel_url": record.get_absolute_url(),
        }
        return render(request, "deals/partials/activity_edit_form.html", context)
    heading = f"Edit the {_kind(activity)} “{activity.subject}”"
    return form_page(request, record, context | {"heading": heading, "submit_label": "Save"})


@require_POST
@login_required
def delete(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Remove a mistaken activity through `delete_activity` (the timeline asks first)."""
    activity, record = _changeable_activity(request, activity_id)
    delete_activity(activity, by=request.user)
    if request.htmx:
        return _timeline_card(request, record)
    messages.success(
        request, ACTIVITY_REMOVED.format(kind=_kind(activity), subject=activity.subject)
    )
    return redirect(record)
