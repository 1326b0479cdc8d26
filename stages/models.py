from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


PROBABILITY_OUT_OF_RANGE = "Probability is a percentage: it must be between 0 and 100."
WON_STAGE_PROBABILITY = "A won stage must have a probability of 100."
LOST_STAGE_PROBABILITY = "A lost stage must have a probability of 0."
STAGE_NAME_TAKEN = "A stage with this name already exists in this pipeline."
PIPELINE_NAME_TAKEN = "A pipeline with this name already exists."
DEFAULT_LOST_STAGE_INVALID = "The default lost stage must be a lost stage of this pipeline."


class Visibility(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    TEAM = "team", "Owner's team"


class PipelineQuerySet(models.QuerySet["Pipeline"]):
    def active(self) -> PipelineQuerySet:
        return self.filter(is_active=True)


class Pipeline(models.Model):
    name = models.CharField(max_length=100)
    is_active = models.BooleanField("active", default=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in menus.")
    visibility = models.CharField(
        max_length=8,
        choices=Visibility.choices,
        default=Visibility.TEAM,
        help_text="Who sees a deal besides its owner, their managers and admins: "
        "everyone, or the owner's team.",
    )
    default_lost_stage = models.ForeignKey(
        "Stage",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where bulk jobs such as the stale-deal flush send deals.",
    )
    followup_days = models.PositiveSmallIntegerField(
        "follow-up after (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days without activity before the CRM suggests a follow-up for an open "
        "deal. Empty: the FOLLOWUP_INACTIVE_DAYS setting (10 by default).",
    )

    auto_flush_inactive_days = models.PositiveSmallIntegerField(
        "monthly flush after (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Once a month, move the open deals with no activity for more than this many "
        "days to the default lost stage, as an undoable flush. Empty: no automatic flush.",
    )

    objects = PipelineQuerySet.as_manager()
    # Who changed what and when, shown in the admin's history pages.
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="pipeline_unique_name",
                violation_error_message=PIPELINE_NAME_TAKEN,
            ),
            models.CheckConstraint(
                condition=Q(followup_days__isnull=True) | Q(followup_days__gte=1),
                name="pipeline_followup_days_positive",
            ),
            models.CheckConstraint(
                condition=Q(auto_flush_inactive_days__isnull=True)
                | Q(auto_flush_inactive_days__gte=1),
                name="pipeline_auto_flush_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        lost = self.default_lost_stage
        if lost is not None and (lost.pipeline_id != self.pk or lost.kind != StageKind.LOST):
            raise ValidationError({"default_lost_stage": DEFAULT_LOST_STAGE_INVALID})


class StageQuerySet(models.QuerySet["Stage"]):
    def open(self) -> StageQuerySet:
        return self.filter(kind=StageKind.OPEN)

    def closed(self) -> StageQuerySet:
        return self.exclude(kind=StageKind.OPEN)


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0, db_index=True)
    probability = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(100, PROBABILITY_OUT_OF_RANGE)],
        help_text="Chance, in %, that a deal in this stage ends won.",
    )
    kind = models.CharField(max_length=4, choices=StageKind.choices, default=StageKind.OPEN)
    rotting_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Flag deals with no activity for longer than this. Empty: never.",
    )

    objects = StageQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["pipeline", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(probability__gte=0, probability__lte=100),
                name="stage_probability_0_100",
                violation_error_message=PROBABILITY_OUT_OF_RANGE,
            ),
            models.CheckConstraint(
                condition=~Q(kind=StageKind.WON) | Q(probability=100),
                name="stage_won_is_100",
                violation_error_message=WON_STAGE_PROBABILITY,
            ),
            models.CheckConstraint(
                condition=~Q(kind=StageKind.LOST) | Q(probability=0),
                name="stage_lost_is_0",
                violation_error_message=LOST_STAGE_PROBABILITY,
            ),
            models.UniqueConstraint(
                "pipeline",
                Lower("name"),
                name="stage_unique_name_per_pipeline",
                violation_error_message=STAGE_NAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.kind == StageKind.OPEN

    @property
    def is_won(self) -> bool:
        return self.kind == StageKind.WON

    @property
    def is_lost(self) -> bool:
        return self.kind == StageKind.LOST
