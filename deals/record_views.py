"""Create and edit forms for deals, accounts and contacts; archiving and restoring them.

Everyone may create; changing a record needs the right to change it (404 outside
visibility, 403 when read-only); archiving is a change; only admins restore.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from deals.forms import (
    BANT_FIELDS,
    AccountForm,
    ContactForm,
    DealCreateForm,
    DealEditForm,
    add_service_error,
)
from deals.models import Account, Contact, Deal, LeadSource
from deals.record_actions import NO_CHANGE_RIGHTS, get_account, get_deal
from deals.selectors import (
    assignable_owners,
    can_change_account,
    get_account_record_or_404,
    get_deal_for_user_or_404,
    visible_accounts,
)
from deals.services import (
    DealError,
    archive_account,
    archive_contact,
    archive_deal,
    create_account,
    create_contact,
    create_deal_with_account,
    restore_account,
    restore_contact,
    restore_deal,
    update_account,
    update_contact,
    update_deal,
)
from pipeline_crm.ids import parse_id
from stages.models import Pipeline

ONLY_ADMINS_RESTORE = "Only admins restore archived records."
DEAL_CREATED = "Created the deal “{deal}”."
ACCOUNT_CREATED = "Created the account “{account}”."
CONTACT_CREATED = "Added {contact} to “{account}”."
SAVED = "Saved “{record}”."
ARCHIVED = "Archived “{record}”. An admin can restore it."
RESTORED = "Restored “{record}”."


# Access


def _visible_contact(request: HttpRequest, contact_id: int) -> Contact:
    """The contact if its account is visible to the user, else 404."""
    contacts = Contact.objects.filter(
        account__in=Account.objects.visible_to(request.user)
    ).select_related("account__owner__team")
    try:
        return contacts.get(pk=contact_id)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None


def _changeable_contact(request: HttpRequest, contact_id: int) -> Contact:
    contact = _visible_contact(request, contact_id)
    if not can_change_account(request.user, contact.account):
        raise PermissionDenied(NO_CHANGE_RIGHTS.format(record=contact.name))
    return contact


def _require_admin(request: HttpRequest) -> None:
    if not request.user.is_crm_admin:
        raise PermissionDenied(ONLY_ADMINS_RESTORE)


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect, also from an htmx-posted button (the whole page changes)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _id_param(request: HttpRequest, name: str) -> int | None:
    return parse_id(request.GET.get(name))


# Deals


def _deal_choices(request: HttpRequest, deal: Deal | None = None) -> dict[str, object]:
    """What the deal forms offer the user; an edited deal keeps its current account,
    contact, owner and source even when they could not be chosen anew."""
    user = request.user
    accounts = visible_accounts(user)
    contacts = Contact.objects.filter(is_archived=False, account__in=accounts)
    owners = assignable_owners(user)
    sources = LeadSource.objects.filter(is_active=True)
    if deal is not None:
        accounts = Account.objects.filter(
            Q(pk=deal.account_id) | Q(pk__in=accounts.values("pk"))
        ).order_by("name")
        contacts = Contact.objects.filter(Q(pk=deal.contact_id) | Q(pk__in=contacts.values("pk")))
        owners = owners | get_user_model().objects.filter(pk=deal.owner_id)
        sources = LeadSource.objects.filter(Q(is_active=True) | Q(pk=deal.source_id))
    return {
        "accounts": accounts,
        "contacts": contacts.order_by("name"),
        "owners": owners,
        "sources": sources,
        "refresh_url": request.path,
    }


def _contacts_only(request: HttpRequest, form: DealCreateForm | DealEditForm) -> HttpResponse:
    """The contact field alone, reloaded by htmx when the account changes."""
    return render(request, "deals/deal_form.html#contact_field", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest) -> HttpResponse:
    """A new deal, optionally preselecting ?pipeline=<id>&account=<id>."""
    user = request.user
    initial = {
        "owner": user.pk,
        "pipeline": _id_param(request, "pipeline"),
        "account": _id_param(request, "account"),
    }
    form = DealCreateForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        pipelines=Pipeline.objects.active(),
        **_deal_choices(request),
    )
    if request.htmx and request.method == "GET":
        return _contacts_only(request, form)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deal = create_deal_with_account(
                account=data["account"],
                new_account_name=data["new_account"],
                title=data["title"],
                contact=data["contact"],
                owner=data["owner"],
                pipeline=data["pipeline"],
                stage=data["stage"],
                value=data["value"],
                expected_close_date=data["expected_close_date"],
                source=data["source"],
                by=user,
                **{name: data[name] for name in BANT_FIELDS},
            )
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, DEAL_CREATED.format(deal=deal.title))
            return redirect(deal)
    context = {"form": form, "deal": None, "active_section": "Deals"}
    return render(request, "deals/deal_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = get_deal(request, deal_id, change=True)
    initial = {}
    if request.htmx and request.method == "GET":
        initial["account"] = _id_param(request, "account")
    form = DealEditForm(
        request.POST if request.method == "POST" else None,
        record=deal,
        initial=initial,
        **_deal_choices(request, deal),
    )
    if request.htmx and request.method == "GET":
        return _contacts_only(request, form)
    if form.is_valid():
        try:
            update_deal(deal, by=request.user, **form.edits())
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, SAVED.format(record=deal.title))
            return redirect(deal)
    context = {"form": form, "deal": deal, "can_change": True, "active_section": "Deals"}
    return render(request, "deals/deal_form.html", context)


@require_POST
@login_required
def deal_archive(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = get_deal(request, deal_id, change=True)
    archive_deal(deal, by=request.user)
    messages.success(request, ARCHIVED.format(record=deal.title))
    return _go(request, reverse("deals:board", args=[deal.pipeline_id]))


@require_POST
@login_required
def deal_restore(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = get_deal_for_user_or_404(request.user, deal_id)
    _require_admin(request)
    try:
        restore_deal(deal, by=request.user)
    except DealError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, RESTORED.format(record=deal.title))
    return _go(request, deal.get_absolute_url())


# Accounts


def _account_owners(request: HttpRequest, account: Account | None = None):
    owners = assignable_owners(request.user)
    if account is not None:
        owners = owners | get_user_model().objects.filter(pk=account.owner_id)
    return owners


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(
        request.POST if request.method == "POST" else None,
        initial={"owner": request.user.pk},
        owners=_account_owners(request),
    )
    if form.is_valid():
        try:
            account = create_account(**form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, ACCOUNT_CREATED.format(account=account.name))
            return redirect(account)
    context = {"form": form, "account": None, "active_section": "Accounts"}
    return render(request, "deals/account_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account(request, account_id, change=True)
    form = AccountForm(
        request.POST if request.method == "POST" else None,
        record=account,
        owners=_account_owners(request, account),
    )
    if form.is_valid():
        try:
            update_account(account, by=request.user, **form.edits())
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, SAVED.format(record=account.name))
            return redirect(account)
    context = {"form": form, "account": account, "can_change": True, "active_section": "Accounts"}
    return render(request, "deals/account_form.html", context)


@require_POST
@login_required
def account_archive(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account(request, account_id, change=True)
    try:
        archive_account(account, by=request.user)
    except DealError as error:
        messages.error(request, str(error))
        return _go(request, account.get_absolute_url())
    messages.success(request, ARCHIVED.format(record=account.name))
    return _go(request, reverse("deals:accounts"))


@require_POST
@login_required
def account_restore(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account_record_or_404(request.user, account_id)
    _require_admin(request)
    restore_account(account, by=request.user)
    messages.success(request, RESTORED.format(record=account.name))
    return _go(request, account.get_absolute_url())


# Contacts


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account(request, account_id, change=True)
    form = ContactForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            contact = create_contact(account=account, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, CONTACT_CREATED.format(contact=contact, account=account))
            return redirect(account)
    context = {"form": form, "account": account, "contact": None, "active_section": "Accounts"}
    return render(request, "deals/contact_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _changeable_contact(request, contact_id)
    form = ContactForm(
        request.POST if request.method == "POST" else None,
        record=contact,
    )
    if form.is_valid():
        try:
            update_contact(contact, by=request.user, **form.edits())
        except (ValidationError, DealError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, SAVED.format(record=contact.name))
            return redirect(contact.account)
    context = {
        "form": form,
        "account": contact.account,
        "contact": contact,
        "can_change": True,
        "active_section": "Accounts",
    }
    return render(request, "deals/contact_form.html", context)


@require_POST
@login_required
def contact_archive(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _changeable_contact(request, contact_id)
    archive_contact(contact, by=request.user)
    messages.success(request, ARCHIVED.format(record=contact.name))
    return _go(request, contact.account.get_absolute_url())


@require_POST
@login_required
def contact_restore(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _visible_contact(request, contact_id)
    _require_admin(request)
    restore_contact(contact, by=request.user)
    messages.success(request, RESTORED.format(record=contact.name))
    return _go(request, contact.account.get_absolute_url())
