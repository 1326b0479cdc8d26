"""The filters of the deal, account and contact lists, which their CSV exports share.

Each filter set starts from what its user may see and only offers choices from it. Bad
values (a hand-edited URL) make the form invalid, and an invalid form filters to nothing
(`queryset.none()`), both on the page and in the export: applying only the valid half of
the filters would show, or download, rows the user did not ask for as if they were the
filtered list. The page shows the errors next to the fields instead; the export answers 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import (
    Count,
    Exists,
    F,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.models import (
    Account,
    Contact,
    Deal,
    DealStatus,
    LeadSource,
    LostReason,
    StageChange,
    reported_by,
)
from deals.selectors import board_owners
from deals.selectors.stale import stale_rule, stale_thresholds
from deals.selectors.totals import ZERO, DealTotals, deal_totals
from pipeline_crm.ids import IdField
from pipeline_crm.models import Team
from stages.models import Stage, StageKind

if TYPE_CHECKING:
    from pipeline_crm.models import User

DATE_INPUT = forms.DateInput(attrs={"type": "date"})
STALE_WORDS = "Stale: no activity for longer than their stage allows"


class SortFilter(django_filters.ChoiceFilter):
    """`?sort=<column>` or `?sort=-<column>` over a few named columns, each sorting by one or
    more fields; empty values sort last both ways and the primary key breaks ties, so that
    pages never share or skip a row."""

    def __init__(self, *, columns: dict[str, tuple[str, ...]], default: str, **kwargs) -> None:
        self.columns = columns
        self.default = default
        choices = [(key, key) for key in columns] + [(f"-{key}", f"-{key}") for key in columns]
        super().__init__(choices=choices, label="Sort", empty_label=None, **kwargs)

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        descending = (value or self.default).startswith("-")
        fields = self.columns[(value or self.default).lstrip("-")]
        order = [
            # NULLS LAST only where there can be nulls: plain DESC can walk an index.
            OrderBy(F(name), descending=descending, nulls_last=_nullable(qs.model, name) or None)
            for name in fields
        ]
        return qs.order_by(*order, "-pk" if descending else "pk")


class IdFilter(django_filters.NumberFilter):
    """An id from a report's link (`?account=<id>`): a whole number the database can hold,
    not any decimal."""

    field_class = IdField


def _nullable(model: type[models.Model], path: str) -> bool:
    """Whether the field at `path` ("account__name") can be empty, a nullable foreign key
    on the way included; an annotation (a sum over related rows) may be."""
    for name in path.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return True
        if field.null:
            return True
        model = field.related_model
    return False


class ArchivedFilter(django_filters.BooleanFilter):
    """A checkbox: unticked hides archived rows, ticked shows only them. Offered to admins
    only; the others' querysets leave archived rows out from the start.

    A row counts as archived when any of `fields` is true (a contact, or its account)."""

    field_class = forms.BooleanField

    def __init__(self, *fields: str, **kwargs) -> None:
        self.fields = fields
        super().__init__(fields[0], label="Archived only", **kwargs)

    def filter(self, qs: QuerySet, value: bool) -> QuerySet:
        archived = Q()
        for name in self.fields:
            archived |= Q(**{name: True})
        return qs.filter(archived) if value else qs.exclude(archived)


class _ListFilterSet(django_filters.FilterSet):
    """Bound to the query string (an empty one included: unbound, django-filter would skip
    the filters, and with them the archived one), for one user."""

    search_fields: tuple[str, ...] = ()
    # Filters that reports' links set (a figure's deals) but the form does not show: kept
    # as hidden fields while set, and described above the results.
    link_filters: tuple[str, ...] = ()

    def __init__(self, data, *, user: User) -> None:
        self.user = user
        super().__init__(data if data is not None else {}, queryset=self.visible(user))
        if not user.is_crm_admin:
            del self.filters["archived"]

    @classmethod
    def visible(cls, user: User) -> QuerySet:
        raise NotImplementedError

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.form.is_valid():
            return queryset.none()
        return super().filter_queryset(queryset)

    def _lazy(self, build: Callable[[], list]) -> Callable[[], list]:
        """Choices read from the database once, when the form is first rendered or checked."""
        cache: list[list] = []

        def choices() -> list:
            if not cache:
                cache.append(build())
            return cache[0]

        return choices

    def _owner_choices(self) -> list[tuple[int, str]]:
        return [(person.pk, str(person)) for person in board_owners(self.user)]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        rule = Q()
        for field in self.search_fields:
            rule |= Q(**{f"{field}__icontains": value})
        return queryset.filter(rule)

    @property
    def current_sort(self) -> str:
        """The sort in force, as its parameter value (the default when none or invalid)."""
        sort_filter = self.filters["sort"]
        value = self.form.cleaned_data.get("sort") if self.form.is_valid() else ""
        return value or sort_filter.default


class DealFilterSet(_ListFilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Title or account"}),
    )
    pipeline = django_filters.ChoiceFilter(empty_label="Any pipeline")
    stage = django_filters.ChoiceFilter(empty_label="Any stage")
    owner = django_filters.ChoiceFilter(empty_label="Anyone")
    status = django_filters.ChoiceFilter(choices=DealStatus.choices, empty_label="Any status")
    source = django_filters.ChoiceFilter(label="Lead source", empty_label="Any source")
    close_from = django_filters.DateFilter(
        "expected_close_date", "gte", label="Expected close from", widget=DATE_INPUT
    )
    close_to = django_filters.DateFilter(
        "expected_close_date", "lte", label="Expected close to", widget=DATE_INPUT
    )
    created_from = django_filters.DateFilter(
        "created_at", "date__gte", label="Created from", widget=DATE_INPUT
    )
    created_to = django_filters.DateFilter(
        "created_at", "date__lte", label="Created to", widget=DATE_INPUT
    )
    closed_from = django_filters.DateFilter(
        "closed_at", "date__gte", label="Closed from", widget=DATE_INPUT
    )
    closed_to = django_filters.DateFilter(
        "closed_at", "date__lte", label="Closed to", widget=DATE_INPUT
    )
    team = django_filters.ChoiceFilter(
        label="Owner's team", empty_label="Any team", method="filter_team"
    )
    # Set by the reports' links (see link_filters).
    mine = django_filters.BooleanFilter(
        label="In my reports", method="filter_mine", widget=forms.HiddenInput
    )
    account = IdFilter("account_id", widget=forms.HiddenInput)
    lost_reason = IdFilter("lost_reason_id", widget=forms.HiddenInput)
    reached = IdFilter(method="filter_reached", widget=forms.HiddenInput)
    expected = django_filters.ChoiceFilter(
        choices=(("none", "No expected close date"), ("past", "Expected close date passed")),
        method="filter_expected",
        widget=forms.HiddenInput,
    )
    stale = django_filters.BooleanFilter(method="filter_stale", widget=forms.HiddenInput)
    archived = ArchivedFilter("is_archived")
    sort = SortFilter(
        columns={
            "title": ("title",),
            "account": ("account__name",),
            "stage": ("pipeline__position", "pipeline__name", "stage__position"),
            "owner": ("owner__first_name", "owner__last_name", "owner__username"),
            "value": ("value",),
            "close": ("expected_close_date",),
            "status": ("status",),
            "created": ("created_at",),
        },
        default="-created",
    )

    search_fields = ("title", "account__name")
    link_filters = ("mine", "account", "lost_reason", "reached", "expected", "stale")

    class Meta:
        model = Deal
        fields: list[str] = []

    def __init__(self, data, *, user: User) -> None:
        super().__init__(data, user=user)
        self._stage_list = self._lazy(self._stages)
        self.filters["pipeline"].extra["choices"] = lambda: _pipelines(self._stage_list())
        self.filters["stage"].extra["choices"] = lambda: _stage_groups(self._stage_list())
        self.filters["owner"].extra["choices"] = self._lazy(self._owner_choices)
        self.filters["source"].extra["choices"] = self._lazy(
            lambda: list(LeadSource.objects.order_by("name").values_list("pk", "name"))
        )
        self.filters["team"].extra["choices"] = self._lazy(self._team_choices)

    def _team_choices(self) -> list[tuple[int, str]]:
        """Teams whose members' deals the user sees: all for an admin, those they manage or
        belong to otherwise."""
        teams = Team.objects.order_by("name")
        if not self.user.is_crm_admin:
            teams = teams.filter(Q(manager=self.user) | Q(pk=self.user.team_id))
        return list(teams.values_list("pk", "name"))

    def filter_team(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The deals of the team's people (`Team.people`: its manager too), as the reports
        count them."""
        return queryset.filter(owner__in=Team(pk=value).people())

    def filter_mine(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        """The deals of the people whose figures the user reads in reports."""
        return queryset.filter(reported_by(self.user)) if value else queryset

    def filter_reached(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        """Deals that reached an open stage, as the funnel report counts them: they entered
        it or a later open stage of its pipeline, or were won (passing every stage)."""
        stage = Stage.objects.filter(pk=value, kind=StageKind.OPEN).first()
        if stage is None:
            return queryset.none()
        entered = StageChange.objects.filter(
            deal=OuterRef("pk"),
            to_stage__pipeline_id=stage.pipeline_id,
            to_stage__kind=StageKind.OPEN,
            to_stage__position__gte=stage.position,
        )
        return queryset.filter(pipeline_id=stage.pipeline_id).filter(
            Q(status=DealStatus.WON) | Exists(entered)
        )

    def filter_stale(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        """Open deals quiet for longer than their stage allows, as the team report counts
        them."""
        if not value:
            return queryset
        return queryset.filter(stale_rule(stale_thresholds(), now=timezone.now()))

    def filter_expected(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(expected_close_date__isnull=True)
        return queryset.filter(expected_close_date__lt=timezone.localdate())

    def link_filter_summary(self) -> list[str]:
        """The hidden filters in force, in words ("Account: Acme"), for the list's header."""
        if not self.form.is_valid():
            return []
        data = self.form.cleaned_data
        words = []
        if data.get("mine"):
            words.append("Deals in your reports")
        if data.get("account") is not None:
            name = Account.objects.filter(pk=data["account"]).values_list("name", flat=True)
            words.append(f"Account: {name.first() or '(none)'}")
        if data.get("lost_reason") is not None:
            name = LostReason.objects.filter(pk=data["lost_reason"]).values_list("name", flat=True)
            words.append(f"Lost reason: {name.first() or '(none)'}")
        if data.get("reached") is not None:
            name = Stage.objects.filter(pk=data["reached"]).values_list("name", flat=True)
            words.append(f"Reached stage: {name.first() or '(none)'}")
        if data.get("expected"):
            words.append(dict(self.filters["expected"].extra["choices"])[data["expected"]])
        if data.get("stale"):
            words.append(STALE_WORDS)
        return words

    @classmethod
    def visible(cls, user: User) -> QuerySet:
        deals = Deal.objects.visible_to(user)
        return deals if user.is_crm_admin else deals.active()

    def _stages(self) -> list[Stage]:
        """The stages of active pipelines and of those holding a deal the user sees, with
        their pipeline: one query for both the pipeline and the stage choices."""
        seen = Deal.objects.visible_to(self.user).filter(pipeline=OuterRef("pipeline"))
        return list(
            Stage.objects.filter(Q(pipeline__is_active=True) | Exists(seen))
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline__name", "pipeline_id", "position", "pk")
        )

    def pipeline_name(self) -> str | None:
        """The name of the pipeline filtered by, if any (from the choices already read)."""
        chosen = self.form.cleaned_data.get("pipeline") if self.form.is_valid() else None
        names = {str(pk): name for pk, name in _pipelines(self._stage_list())}
        return names.get(chosen) if chosen else None

    def rows(self) -> QuerySet:
        """The filtered deals with what a list row shows."""
        return self.qs.select_related("account", "pipeline", "stage", "owner")

    def totals(self) -> DealTotals:
        """Count, total and weighted value of the filtered deals, in one aggregate."""
        return deal_totals(self.qs)


def _pipelines(stages: list[Stage]) -> list[tuple[int, str]]:
    return list({stage.pipeline_id: stage.pipeline.name for stage in stages}.items())


def _stage_groups(stages: list[Stage]) -> list[tuple[str, list[tuple[int, str]]]]:
    """Stage choices grouped under their pipeline's name: "Won" exists in every pipeline."""
    groups: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    for stage in stages:
        groups.setdefault(stage.pipeline_id, (stage.pipeline.name, []))[1].append(
            (stage.pk, stage.name)
        )
    return list(groups.values())


def accounts_with_deal_totals(accounts: QuerySet[Account], *, user: User) -> QuerySet[Account]:
    """Annotate open deals (count, value) and won value, counting only the unarchived deals
    `user` sees: an account visible through one shared deal must not reveal the others."""
    counted = Q(deals__is_archived=False)
    if not user.is_crm_admin:
        counted &= Q(deals__in=Deal.objects.visible_to(user))
    is_open = counted & Q(deals__status=DealStatus.OPEN)
    won = counted & Q(deals__status=DealStatus.WON)
    return accounts.annotate(
        open_deals=Count("deals", filter=is_open),
        open_value=Coalesce(Sum("deals__value", filter=is_open), ZERO),
        won_value=Coalesce(Sum("deals__value", filter=won), ZERO),
    )


class AccountFilterSet(_ListFilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or website"}),
    )
    industry = django_filters.ChoiceFilter(empty_label="Any industry")
    owner = django_filters.ChoiceFilter(empty_label="Anyone")
    archived = ArchivedFilter("is_archived")
    sort = SortFilter(
        columns={
            "name": ("name",),
            "industry": ("industry",),
            "owner": ("owner__first_name", "owner__last_name", "owner__username"),
            "open_deals": ("open_deals",),
            "open_value": ("open_value",),
            "won_value": ("won_value",),
            "activity": ("last_activity_at",),
        },
        default="name",
    )

    search_fields = ("name", "website")

    class Meta:
        model = Account
        fields: list[str] = []

    def __init__(self, data, *, user: User) -> None:
        super().__init__(data, user=user)
        self.filters["industry"].extra["choices"] = self._lazy(self._industries)
        self.filters["owner"].extra["choices"] = self._lazy(self._owner_choices)

    @classmethod
    def visible(cls, user: User) -> QuerySet:
        accounts = Account.objects.visible_to(user)
        if not user.is_crm_admin:
            accounts = accounts.filter(is_archived=False)
        return accounts_with_deal_totals(accounts, user=user)

    def _industries(self) -> list[tuple[str, str]]:
        names = (
            Account.objects.visible_to(self.user)
            .exclude(industry="")
            .order_by("industry")
            .values_list("industry", flat=True)
            .distinct()
        )
        return [(name, name) for name in names]

    def rows(self) -> QuerySet:
        return self.qs.select_related("owner")


class ContactFilterSet(_ListFilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, email, phone…"}),
    )
    account = django_filters.ChoiceFilter(empty_label="Any account")
    owner = django_filters.ChoiceFilter(
        "account__owner", label="Account owner", empty_label="Anyone"
    )
    archived = ArchivedFilter("is_archived", "account__is_archived")
    sort = SortFilter(
        columns={
            "name": ("name",),
            "title": ("title",),
            "account": ("account__name",),
            "email": ("email",),
        },
        default="name",
    )

    search_fields = ("name", "email", "phone", "title", "account__name")

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, data, *, user: User) -> None:
        super().__init__(data, user=user)
        self.filters["account"].extra["choices"] = self._lazy(
            lambda: list(_visible_accounts(self.user).values_list("pk", "name"))
        )
        self.filters["owner"].extra["choices"] = self._lazy(self._owner_choices)

    @classmethod
    def visible(cls, user: User) -> QuerySet:
        contacts = Contact.objects.filter(account__in=_visible_accounts(user))
        return contacts if user.is_crm_admin else contacts.filter(is_archived=False)

    def rows(self) -> QuerySet:
        return self.qs.select_related("account")


def _visible_accounts(user: User) -> QuerySet[Account]:
    """The unarchived accounts `user` sees (an admin: all, archived too, to restore them)."""
    accounts = Account.objects.visible_to(user)
    return accounts if user.is_crm_admin else accounts.filter(is_archived=False)
