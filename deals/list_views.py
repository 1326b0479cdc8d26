"""The deal, account and contact lists (search, filters, sort, pages) and the accounts' CSV
export; the deals' export is `import_views.export_csv`. Filters live in deals/filters.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from deals.filters import AccountFilterSet, ContactFilterSet, DealFilterSet
from pipeline_crm.csv_export import csv_response

LIST_PAGE_SIZE = 50
CENT = Decimal("0.01")
BAD_FILTERS = "The filters are not valid: {errors}"
ACCOUNT_COLUMNS = (
    "name",
    "industry",
    "website",
    "owner",
    "linkedin_url",
    "twitter_url",
    "created_at",
    "last_activity_at",
    "open_deals",
    "open_value",
    "won_value",
)


@dataclass(frozen=True)
class SortLink:
    """A column header's link: the URL sorting by it, and how the list is sorted by it now."""

    url: str
    direction: str = ""  # "ascending", "descending" or "" (not sorted by this column)


def _sort_links(request: HttpRequest, filterset) -> dict[str, SortLink]:
    """Per sortable column, a link that sorts by it ascending, or descending when it
    already sorts ascending; filters stay, the page goes back to the first."""
    current = filterset.current_sort
    links = {}
    for column in filterset.filters["sort"].columns:
        query = _query(request, without=("page", "sort"))
        direction = {column: "ascending", f"-{column}": "descending"}.get(current, "")
        query["sort"] = f"-{column}" if direction == "ascending" else column
        links[column] = SortLink(url=f"{request.path}?{query.urlencode()}", direction=direction)
    return links


def _query(request: HttpRequest, *, without: tuple[str, ...] = ()) -> QueryDict:
    """The query string minus `without` and minus empty values: a submitted filter form
    sends every field, and links read better without `&stage=&owner=…`."""
    query = QueryDict(mutable=True)
    for name, values in request.GET.lists():
        kept = [value for value in values if value]
        if kept and name not in without:
            query.setlist(name, kept)
    return query


def _page(request: HttpRequest, rows: QuerySet, *, count: int | None = None) -> Page:
    """The requested page (the first for a bad number, the last past the end)."""
    paginator = Paginator(rows, LIST_PAGE_SIZE)
    if count is not None:
        # Already counted by the list's totals: spares the paginator's COUNT query.
        paginator.count = count
    return paginator.get_page(request.GET.get("page"))


def _render_list(
    request: HttpRequest, template: str, filterset, page: Page, **context
) -> HttpResponse:
    """The whole page, or only its results for an htmx request (filters, sort, pages)."""
    query = _query(request, without=("page",)).urlencode()
    sort = filterset.current_sort
    context |= {
        "filterset": filterset,
        "form": filterset.form,
        "page_obj": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "page_url": f"{request.path}?{query}&page=" if query else f"{request.path}?page=",
        # The form's hidden field: the default sort needs no parameter.
        "sort": "" if sort == filterset.filters["sort"].default else sort,
        "sort_links": _sort_links(request, filterset),
        "query": query,
    }
    if not request.htmx or request.htmx.history_restore_request:
        return render(request, template, context)
    response = render(request, f"{template}#results", context)
    # The address bar shows the filters without the empty fields the form sent.
    clean = _query(request).urlencode()
    return push_url(response, f"{request.path}?{clean}" if clean else request.path)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def deal_list(request: HttpRequest) -> HttpResponse:
    filterset = DealFilterSet(request.GET, user=request.user)
    totals = filterset.totals()
    page = _page(request, filterset.rows(), count=totals.count)
    context = {
        "totals": totals,
        "today": timezone.localdate(),
        "can_import": request.user.is_manager or request.user.is_crm_admin,
        "active_section": "Deals",
    }
    return _render_list(request, "deals/deal_list.html", filterset, page, **context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def account_list(request: HttpRequest) -> HttpResponse:
    filterset = AccountFilterSet(request.GET, user=request.user)
    page = _page(request, filterset.rows())
    context = {"tab": "accounts", "active_section": "Accounts"}
    return _render_list(request, "deals/account_list.html", filterset, page, **context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def contact_list(request: HttpRequest) -> HttpResponse:
    filterset = ContactFilterSet(request.GET, user=request.user)
    page = _page(request, filterset.rows())
    context = {"tab": "contacts", "active_section": "Accounts"}
    return _render_list(request, "deals/contact_list.html", filterset, page, **context)


def bad_filters(filterset) -> HttpResponse:
    """400 with the form's errors on one line ("stage: Select a valid choice…"), as plain
    text: the errors quote the values sent."""
    errors = "; ".join(
        f"{name}: {' '.join(errors)}" for name, errors in filterset.form.errors.items()
    )
    return HttpResponseBadRequest(
        BAD_FILTERS.format(errors=errors), content_type="text/plain; charset=utf-8"
    )


@login_required
@require_GET
def account_export(request: HttpRequest) -> HttpResponse:
    """The accounts of the list under the same filters, with their deal figures."""
    filterset = AccountFilterSet(request.GET, user=request.user)
    if not filterset.is_valid():
        return bad_filters(filterset)
    filename = f"accounts-{timezone.localdate():%Y-%m-%d}.csv"
    return csv_response(filename, ACCOUNT_COLUMNS, _account_rows(filterset.rows()))


def _account_rows(accounts: QuerySet) -> Iterator[Sequence[object]]:
    for account in accounts.iterator(chunk_size=2000):
        yield (
            account.name,
            account.industry,
            account.website,
            account.owner.username,
            account.linkedin_url,
            account.twitter_url,
            timezone.localdate(account.created_at),
            timezone.localdate(account.last_activity_at) if account.last_activity_at else None,
            account.open_deals,
            # Sums come back as the database writes them (120.5 on SQLite): show cents.
            account.open_value.quantize(CENT),
            account.won_value.quantize(CENT),
        )
