"""Who may flush, and the flushes each user sees: their own for a manager, all for an admin.

A scheduled flush (no requester) is an admin's to see and undo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404

from deals.models import Flush, FlushItem, FlushItemStatus

if TYPE_CHECKING:
    from pipeline_crm.models import User

RECENT_FLUSHES = 10
KEPT_SHOWN = 50


def can_flush(user: User) -> bool:
    """Managers (for their teams' deals) and admins flush; reps never do."""
    return user.is_manager or user.is_crm_admin


def visible_flushes(user: User) -> QuerySet[Flush]:
    """The flushes `user` may see and undo, newest first, with what a list row shows."""
    flushes = Flush.objects.select_related("pipeline", "requested_by")
    if user.is_crm_admin:
        return flushes
    if user.is_manager:
        return flushes.filter(requested_by=user)
    return flushes.none()


def recent_flushes(user: User, *, limit: int = RECENT_FLUSHES) -> list[Flush]:
    return list(visible_flushes(user)[:limit])


def get_flush_for_user_or_404(user: User, flush_id: int) -> Flush:
    """The flush with everything its page shows (criteria, stages, people), else 404.
    One query."""
    flushes = visible_flushes(user).select_related(
        "owner", "stage", "lost_stage", "lost_reason", "undo_requested_by"
    )
    try:
        return flushes.get(pk=flush_id)
    except Flush.DoesNotExist:
        raise Http404("No such flush.") from None


def kept_items(flush: Flush, *, limit: int = KEPT_SHOWN) -> list[FlushItem]:
    """The first deals the undo left alone (moved since the flush), with their details;
    `flush.kept` counts them all. One query."""
    items = (
        FlushItem.objects.filter(flush=flush, status=FlushItemStatus.KEPT)
        .select_related("deal__account", "deal__owner", "deal__stage")
        .order_by("pk")
    )
    return list(items[:limit])
