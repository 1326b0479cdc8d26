"""Who sees and changes what, for one loaded object or as the choices a form offers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from deals.models import (
    Account,
    Activity,
    Deal,
    LostReason,
)
from stages.models import Pipeline

if TYPE_CHECKING:
    from pipeline_crm.models import User

from deals.selectors.board import with_task_flags


def can_change_deal(user: User, deal: Deal) -> bool:
    """`DealQuerySet.changeable_by` for one deal already loaded, without a query.

    Needs `deal.owner.team` loaded (select_related("owner__team")).
    """
    if user.is_crm_admin or deal.owner_id == user.pk:
        return True
    team = deal.owner.team
    if team is None:
        return False
    if team.manager_id == user.pk:
        return True
    return settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS and team.pk == user.team_id


def can_change_account(user: User, account: Account) -> bool:
    """`AccountQuerySet.changeable_by` for one account already loaded, without a query
    when `account.owner.team` is loaded (select_related("owner__team")). Contacts follow
    their account."""
    if user.is_crm_admin or account.owner_id == user.pk:
        return True
    team = account.owner.team
    if team is None:
        return False
    if team.manager_id == user.pk:
        return True
    return settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS and team.pk == user.team_id


def get_deal_for_user_or_404(user: User, deal_id: int, *, lock: bool = False) -> Deal:
    """The deal if `user` may see it, else 404. With `lock`, the row is locked
    (select_for_update) and carries the task flags a board card shows."""
    deals = Deal.objects.visible_to(user).select_related("owner__team", "account", "pipeline")
    if lock:
        # No join on the stage: a concurrent move changes it, and PostgreSQL's recheck
        # after waiting for the lock would then drop the row (a false 404).
        deals = with_task_flags(deals.select_for_update(of=("self",)), now=timezone.now())
    else:
        deals = deals.select_related("stage")
    try:
        return deals.get(pk=deal_id)
    except Deal.DoesNotExist:
        raise Http404("No such deal.") from None


def get_activity_for_user_or_404(user: User, activity_id: int) -> Activity:
    """The activity if `user` may see it, else 404: an activity of a deal is seen with its
    deal, one of an account alone with the account. Joins the deal's and the account's
    owner and team, so `can_change_activity` needs no query. One query."""
    activities = Activity.objects.select_related("deal__owner__team", "account__owner__team")
    if not user.is_crm_admin:
        activities = activities.filter(
            Q(deal__in=Deal.objects.visible_to(user))
            | Q(deal__isnull=True, account__in=Account.objects.visible_to(user))
        )
    try:
        return activities.get(pk=activity_id)
    except Activity.DoesNotExist:
        raise Http404("No such activity.") from None


def can_change_activity(user: User, activity: Activity) -> bool:
    """Whoever may change the activity's deal (or, for an account's own activity, the
    account) may correct or remove it. Needs the owners' teams loaded, as
    `get_activity_for_user_or_404` does."""
    if activity.deal_id is not None:
        return can_change_deal(user, activity.deal)
    return can_change_account(user, activity.account)


def visible_pipelines(user: User) -> list[Pipeline]:
    """Active pipelines for the switcher, each with its stages prefetched."""
    return list(Pipeline.objects.active().prefetch_related("stages"))


def default_pipeline(user: User) -> Pipeline | None:
    return Pipeline.objects.active().first()


def board_owners(user: User):
    """The people whose deals `user` may filter the board by."""
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name")
    if user.is_crm_admin:
        return people
    if user.is_manager:
        return people.filter(Q(pk=user.pk) | Q(team__manager=user))
    if user.team_id:
        return people.filter(Q(pk=user.pk) | Q(team_id=user.team_id))
    return people.filter(pk=user.pk)


def active_lost_reasons():
    return LostReason.objects.filter(is_active=True)


def visible_accounts(user: User):
    """Accounts `user` may attach a deal to."""
    from deals.models import Account

    return Account.objects.visible_to(user).filter(is_archived=False).order_by("name")


def assignable_owners(user: User):
    """Who `user` may make the owner of a deal: themselves; a manager their teams'
    members; an admin anyone (teammates too with TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS)."""
    from pipeline_crm.models import User as UserModel

    people = UserModel.objects.filter(is_active=True).order_by("first_name", "last_name")
    if user.is_crm_admin:
        return people
    rule = Q(pk=user.pk) | Q(team__manager=user)
    if user.team_id and settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS:
        rule |= Q(team_id=user.team_id)
    return people.filter(rule)
