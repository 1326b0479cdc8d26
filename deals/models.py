from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from stages.models import Pipeline, Stage, StageKind, Visibility

NEGATIVE_VALUE = "A deal's value cannot be negative."
CONTACT_OF_OTHER_ACCOUNT = "The contact must work at the deal's account."


def _seen_by(user) -> Q:
    """Rows owned by `user`, by their team, or by the teams they manage."""
    rule = Q(owner=user) | Q(owner__team__manager=user)
    if user.team_id:
        rule |= Q(owner__team_id=user.team_id)
    return rule


def reported_by(user, field: str = "owner") -> Q:
    """Rows whose `field` (a user) is someone whose figures `user` reads in reports: a rep
    themselves, a manager also their teams' members, an admin everyone (an empty Q).

    Stricter than visibility: a pipeline visible to everyone lets a rep open a colleague's
    deal, never read the colleague's figures."""
    if user.is_crm_admin:
        return Q()
    rule = Q(**{field: user})
    if user.is_manager:
        rule |= Q(**{f"{field}__team__manager": user})
    return rule


def _changed_by(user) -> Q:
    """Rows `user` may change: their own, their teams' for a manager; with
    TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS, their team's too. (Admins change everything.)"""
    rule = Q(owner=user) | Q(owner__team__manager=user)
    if user.team_id and settings.TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS:
        rule |= Q(owner__team_id=user.team_id)
    return rule


class AccountQuerySet(models.QuerySet["Account"]):
    def visible_to(self, user) -> AccountQuerySet:
        """Accounts follow their owners and their deals: visible when owned by someone whose
        deals `user` sees, or when one of their deals is visible to `user`."""
        if user.is_crm_admin:
            return self
        deals = Deal.objects.visible_to(user).filter(account=models.OuterRef("pk"))
        return self.filter(_seen_by(user) | Q(models.Exists(deals)))

    def changeable_by(self, user) -> AccountQuerySet:
        """Accounts `user` may change (and add contacts to): the rule of
        `DealQuerySet.changeable_by`, applied to the account's owner."""
        if user.is_crm_admin:
            return self
        return self.filter(_changed_by(user))


class Account(models.Model):
    name = models.CharField(max_length=200, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    website = models.URLField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="accounts")
    linkedin_url = models.URLField("LinkedIn URL", blank=True)
    twitter_url = models.URLField("Twitter URL", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_activity_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_archived = models.BooleanField("archived", default=False)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deals:account-detail", args=[self.pk])


class Contact(models.Model):
    account = models.ForeignKey(Account, models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    title = models.CharField("job title", max_length=100, blank=True)
    linkedin_url = models.URLField("LinkedIn URL", blank=True)
    twitter_url = models.URLField("Twitter URL", blank=True)
    is_archived = models.BooleanField("archived", default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PickListItem(models.Model):
    """An entry of an admin-edited list; inactive entries stay on old deals but are not offered."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LostReason(PickListItem):
    pass


class LeadSource(PickListItem):
    pass


class DealStatus(models.TextChoices):
    """Mirrors the kind of the deal's stage, kept on the deal so boards and reports
    filter without a join."""

    OPEN = StageKind.OPEN.value, "Open"
    WON = StageKind.WON.value, "Won"
    LOST = StageKind.LOST.value, "Lost"


class DealQuerySet(models.QuerySet["Deal"]):
    def open(self) -> DealQuerySet:
        return self.filter(status=DealStatus.OPEN)

    def won(self) -> DealQuerySet:
        return self.filter(status=DealStatus.WON)

    def lost(self) -> DealQuerySet:
        return self.filter(status=DealStatus.LOST)

    def active(self) -> DealQuerySet:
        """Deals that are not archived."""
        return self.filter(is_archived=False)

    def for_board(self) -> DealQuerySet:
        return self.select_related("owner", "account", "stage")

    def visible_to(self, user) -> DealQuerySet:
        """Deals `user` may see: their own; all deals of pipelines visible to everyone;
        their team's in the other pipelines; a manager everything of their teams' members;
        an admin everything. The one place this rule lives."""
        if user.is_crm_admin:
            return self
        return self.filter(_seen_by(user) | Q(pipeline__visibility=Visibility.EVERYONE))

    def changeable_by(self, user) -> DealQuerySet:
        """Deals `user` may change: their own, their teams' for a manager, all for an admin;
        with TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS, their team's too."""
        if user.is_crm_admin:
            return self
        return self.filter(_changed_by(user))

    def with_weighted_value(self) -> DealQuerySet:
        return self.annotate(weighted=F("value") * F("stage__probability") / 100)


# The columns reports sum deals by, group them by (lead source) and narrow them by
# (archived; owner and pipeline for visibility and the filters), carried by the date
# indexes they read.
REPORTED_BY = ["value", "source", "is_archived", "owner", "pipeline"]


class Deal(models.Model):
    title = models.CharField(max_length=200)
    account = models.ForeignKey(Account, models.PROTECT, related_name="deals")
    contact = models.ForeignKey(
        Contact, models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    # No index of their own: deal_pipeline_status_idx and deal_owner_status_idx start with
    # them, and every index costs each bulk move (a flush) a write per deal.
    pipeline = models.ForeignKey(Pipeline, models.PROTECT, related_name="deals", db_index=False)
    stage = models.ForeignKey(Stage, models.PROTECT, related_name="deals")
    status = models.CharField(
        max_length=4, choices=DealStatus.choices, default=DealStatus.OPEN, editable=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="deals", db_index=False
    )
    value = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"), NEGATIVE_VALUE)],
    )
    expected_close_date = models.DateField(null=True, blank=True)
    source = models.ForeignKey(
        LeadSource, models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    lost_reason = models.ForeignKey(
        LostReason, models.PROTECT, null=True, blank=True, related_name="deals"
    )
    # BANT qualification
    has_budget = models.BooleanField("budget", default=False)
    has_authority = models.BooleanField("authority", default=False)
    has_need = models.BooleanField("need", default=False)
    has_timeline = models.BooleanField("timeline", default=False)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    forecast_changed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the value or the expected close date was last edited (see ForecastChange).",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    board_position = models.BigIntegerField(
        default=0, help_text="Order of the card within its stage column."
    )
    is_archived = models.BooleanField("archived", default=False)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(value__gte=0),
                name="deal_value_not_negative",
                violation_error_message=NEGATIVE_VALUE,
            ),
            models.CheckConstraint(
                condition=(Q(status=DealStatus.OPEN) & Q(closed_at__isnull=True))
                | (~Q(status=DealStatus.OPEN) & Q(closed_at__isnull=False)),
                name="deal_closed_at_iff_closed",
                violation_error_message="Won and lost deals have a close date; open deals do not.",
            ),
            # One card per place in a board column; also the index the board reads by.
            # Concurrent drops into one spot collide here and the loser retries.
            models.UniqueConstraint(
                fields=["stage", "board_position"],
                condition=Q(status=DealStatus.OPEN, is_archived=False),
                name="deal_unique_board_position",
            ),
        ]
        indexes = [
            models.Index(fields=["pipeline", "status"], name="deal_pipeline_status_idx"),
            models.Index(fields=["owner", "status"], name="deal_owner_status_idx"),
            # The deals closed or created in a period, with what the revenue report sums
            # and filters them by: it reads these indexes alone (PostgreSQL's index-only
            # scan) rather than the rows, 1,000,000 deals: 125 → 30 ms for its headline.
            # Closed deals only: a move between open stages writes no entry here.
            models.Index(
                fields=["closed_at"],
                include=[*REPORTED_BY, "status", "created_at", "account", "lost_reason"],
                condition=Q(closed_at__isnull=False),
                name="deal_closed_idx",
            ),
            # Also the deal list's default order, newest first, read backwards: its first
            # page reads 50 index entries instead of sorting every deal (130,000: 140 ms).
            # Ascending, as deals are created: new entries fill its last page, where in a
            # descending index they split its first one and left every page half empty.
            models.Index(fields=["created_at", "id"], include=REPORTED_BY, name="deal_created_idx"),
            # The deals moved since a moment: the revenue report rebuilds the pipeline as it
            # stood then from them (1,000,000 deals, a quarter back: 130,000 read in 13 ms
            # instead of a 140 ms scan).
            models.Index(
                fields=["stage_changed_at"],
                include=[
                    "id",
                    "status",
                    "stage",
                    "created_at",
                    "closed_at",
                    "value",
                    "forecast_changed_at",
                ],
                condition=Q(is_archived=False),
                name="deal_moved_idx",
            ),
            # The deals whose value or expected close date was edited since a moment, the
            # few whose forecast figures of then are looked up in their ForecastChange rows.
            models.Index(
                fields=["forecast_changed_at"],
                condition=Q(forecast_changed_at__isnull=False),
                name="deal_forecast_changed_idx",
            ),
            # The board's column totals read this index alone (PostgreSQL's index-only
            # scan): 100,000 open deals summed in 15 ms instead of 30 ms from the table.
            models.Index(
                fields=["pipeline", "stage"],
                include=["value", "owner"],
                condition=Q(status=DealStatus.OPEN, is_archived=False),
                name="deal_open_board_totals_idx",
            ),
            # The open deals by last activity: the team report counts those active within
            # their stage's threshold (the stale ones are the rest) from this index alone.
            models.Index(
                fields=["last_activity_at"],
                include=["owner", "stage"],
                condition=Q(status=DealStatus.OPEN, is_archived=False),
                name="deal_open_activity_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("deals:detail", args=[self.pk])

    def clean(self) -> None:
        if self.contact_id and self.account_id and self.contact.account_id != self.account_id:
            raise ValidationError({"contact": CONTACT_OF_OTHER_ACCOUNT})

    @property
    def is_open(self) -> bool:
        return self.status == DealStatus.OPEN

    @property
    def weighted_value(self) -> Decimal:
        """Needs `stage` loaded; use `with_weighted_value()` for many deals."""
        return self.value * self.stage.probability / 100


class StageChange(models.Model):
    """One row per stage a deal entered, starting with its creation (from_stage empty)."""

    # Indexed by stagechange_deal_history_idx (deal, changed_at, id).
    deal = models.ForeignKey(Deal, models.CASCADE, related_name="stage_changes", db_index=False)
    from_stage = models.ForeignKey(Stage, models.PROTECT, null=True, blank=True, related_name="+")
    to_stage = models.ForeignKey(Stage, models.PROTECT, related_name="entries")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="stage_changes",
    )
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    flush = models.ForeignKey(
        "Flush",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="stage_changes",
        help_text="The flush that made this move, or undid it.",
    )

    class Meta:
        ordering = ["changed_at", "pk"]
        get_latest_by = "changed_at"
        indexes = [
            # A deal's history in order, ties broken by id as every reader orders it: the
            # stage a deal was in at a past moment (reports) is one probe of this index,
            # with no sort of the deal's rows (a third of the cost of the reconstruction),
            # and with the stage in it, no read of the table either.
            models.Index(
                fields=["deal", "changed_at", "id"],
                include=["to_stage"],
                name="stagechange_deal_history_idx",
            )
        ]

    def __str__(self) -> str:
        origin = self.from_stage.name if self.from_stage_id else "created"
        return f"{self.deal}: {origin} → {self.to_stage.name}"


class ForecastChange(models.Model):
    """The value and expected close date a deal had before an edit changed either of them,
    one row per such edit: the forecast figures of a past moment are a deal's values
    before its first edit after that moment (or its values now, if none)."""

    # Indexed by forecast_change_history_idx (deal, changed_at, id).
    deal = models.ForeignKey(Deal, models.CASCADE, related_name="forecast_changes", db_index=False)
    value_before = models.DecimalField(max_digits=14, decimal_places=2)
    expected_close_date_before = models.DateField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="forecast_changes",
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["changed_at", "pk"]
        get_latest_by = "changed_at"
        indexes = [
            # A deal's value or expected close date at a past moment: one probe, index only.
            models.Index(
                fields=["deal", "changed_at", "id"],
                include=["value_before", "expected_close_date_before"],
                name="forecast_change_history_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.deal}: edited {self.changed_at:%Y-%m-%d %H:%M}"


class ActivityKind(models.TextChoices):
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"


class Activity(models.Model):
    kind = models.CharField(max_length=8, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="activities"
    )
    deal = models.ForeignKey(Deal, models.CASCADE, null=True, blank=True, related_name="activities")
    account = models.ForeignKey(
        Account, models.CASCADE, null=True, blank=True, related_name="activities"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name_plural = "activities"
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False) | Q(account__isnull=False),
                name="activity_has_deal_or_account",
                violation_error_message="An activity concerns a deal or an account.",
            ),
        ]
        indexes = [
            models.Index(fields=["deal", "-occurred_at"], name="activity_deal_idx"),
            models.Index(fields=["account", "-occurred_at"], name="activity_account_idx"),
            models.Index(fields=["user", "kind", "occurred_at"], name="activity_user_kind_idx"),
            # The team report counts a period's activities by person and kind: a range of
            # this index instead of a scan of every activity (3,000,000: 230 → 140 ms).
            models.Index(
                fields=["occurred_at"], include=["user", "kind"], name="activity_period_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"


class FlushStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Flush(models.Model):
    """A bulk move of stale open deals to a lost stage, and its undo (deals/services/flush.py).

    The deals are chosen when the flush is confirmed (its `FlushItem` rows); the job then
    moves them in batches, each deal once, and the undo moves back those nobody moved since.
    """

    pipeline = models.ForeignKey(Pipeline, models.PROTECT, related_name="flushes")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="flushes",
        help_text="Empty for a scheduled flush.",
    )
    is_scheduled = models.BooleanField("scheduled", default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The criteria, as confirmed
    inactive_days = models.PositiveIntegerField(null=True, blank=True)
    created_before = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stage = models.ForeignKey(Stage, models.SET_NULL, null=True, blank=True, related_name="+")
    # Where the deals go
    lost_stage = models.ForeignKey(Stage, models.PROTECT, related_name="+")
    lost_reason = models.ForeignKey(LostReason, models.PROTECT, related_name="+")
    # Progress of the move
    status = models.CharField(max_length=8, choices=FlushStatus.choices, default=FlushStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    total_value = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    weighted_value = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Progress of the undo
    undo_status = models.CharField(max_length=8, choices=FlushStatus.choices, blank=True)
    undo_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    undo_requested_at = models.DateTimeField(null=True, blank=True)
    restored = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_error = models.TextField(blank=True)  # why the undo stopped, when it failed
    # When the owners of the moved deals were emailed (a job of its own after the flush).
    owners_notified_at = models.DateTimeField(null=True, blank=True)
    owners_notify_error = models.TextField(blank=True)  # why emailing the owners gave up

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "flushes"

    def __str__(self) -> str:
        return f"Flush {self.pk} of {self.pipeline}"

    def get_absolute_url(self) -> str:
        return reverse("deals:flush-job", args=[self.pk])

    @property
    def processed(self) -> int:
        return self.moved + self.skipped

    @property
    def undo_processed(self) -> int:
        return self.restored + self.kept


class FlushItemStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    MOVED = "moved", "Moved to lost"
    SKIPPED = "skipped", "Skipped (changed since the confirmation)"
    RESTORED = "restored", "Moved back"
    KEPT = "kept", "Left alone (moved since the flush)"


class FlushItem(models.Model):
    """One deal chosen by a flush at its confirmation, and what became of it."""

    # Indexed by flushitem_unique_deal (flush, deal).
    flush = models.ForeignKey(Flush, models.CASCADE, related_name="items", db_index=False)
    deal = models.ForeignKey(Deal, models.CASCADE, related_name="flush_items")
    status = models.CharField(
        max_length=8, choices=FlushItemStatus.choices, default=FlushItemStatus.PENDING
    )
    # The deal's last activity when the flush was confirmed: one logged since, even dated
    # back into the quiet days, makes the job skip the deal. Empty on older flushes, which
    # compare with the confirmation's time.
    activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flush", "deal"], name="flushitem_unique_deal"),
        ]
        # The job reads a flush's items by status, batch after batch in id order.
        indexes = [models.Index(fields=["flush", "status", "id"], name="flushitem_batch_idx")]

    def __str__(self) -> str:
        return f"{self.flush}: deal {self.deal_id} ({self.get_status_display()})"
