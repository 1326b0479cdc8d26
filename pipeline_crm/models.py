from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    REP = "rep", "Sales rep"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class CrmUserManager(UserManager["User"]):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        "User",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_teams",
        help_text="Sees and acts on everything of the team's members.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def people(self) -> models.QuerySet[User]:
        """Whose figures count as the team's (reports, the deal list's team filter): its
        members, and its manager when they are on no team, as a manager often leads a team
        without being one of its members."""
        return User.objects.filter(Q(team=self) | Q(team__isnull=True, managed_teams=self))


def display_name(first_name: str, last_name: str, username: str) -> str:
    """How a person is named on every page: full name, else username. A function of the
    columns, for pages that read people as rows (board cards)."""
    return f"{first_name} {last_name}".strip() or username


def initials(first_name: str, last_name: str, username: str) -> str:
    parts = [part for part in (first_name, last_name) if part]
    if not parts:
        return username[:2].upper()
    return "".join(part[0] for part in parts).upper()


class User(AbstractUser):
    """A CRM user. Admins are staff; managers lead one or more teams; reps sell."""

    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(Team, models.SET_NULL, null=True, blank=True, related_name="members")

    objects = CrmUserManager()

    class Meta:
        ordering = ["first_name", "last_name", "username"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role=Role.ADMIN) | Q(is_staff=True),
                name="user_admin_role_is_staff",
                violation_error_message="Admins must have staff status.",
            ),
        ]

    def __str__(self) -> str:
        return display_name(self.first_name, self.last_name, self.username)

    @property
    def initials(self) -> str:
        return initials(self.first_name, self.last_name, self.username)

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_crm_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser
