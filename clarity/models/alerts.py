from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    URLValidator,
    validate_email,
)
from django.db import models

from clarity.models.pairs import IntegrationPair


class AlertKind(models.TextChoices):
    FAILURES_OVER = "failures_over", "More than N failures in M minutes"
    SCHEDULE_MISSED = "schedule_missed", "A scheduled flow has not run"
    AUTH_FAILURE = "auth_failure", "A login was refused (flow paused)"
    ALLOWANCE_LOW = "allowance_low", "Daily API allowance nearly spent"
    AGENT_OFFLINE = "agent_offline", "An on-premises agent is offline"
    EVENTS_NOT_FLOWING = (
        "events_not_flowing",
        "Salesforce change events are not flowing (subscriber stopped, silent or behind retention)",
    )
    RECONCILIATION_MISMATCH = (
        "reconciliation_mismatch",
        "Reconciliation found mismatches not yet acknowledged",
    )


def split_recipients(text: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or new lines."""
    return [part for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]


class AlertRule(models.Model):
    """What to watch on a pair, and who hears about it (by email and/or a webhook)."""

    pair = models.ForeignKey(IntegrationPair, on_delete=models.CASCADE, related_name="alert_rules")
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    failures = models.PositiveIntegerField(
        "more than N failures",
        default=10,
        validators=[MinValueValidator(0)],
        help_text="More than failures: alert when more records than this fail in the window.",
    )
    window_minutes = models.PositiveIntegerField(
        "within M minutes",
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="More than failures: how far back failures are counted.",
    )
    grace_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="Schedule missed: how late a scheduled run may be before it counts as missed. "
        "Agent offline: how long an on-premises agent may be silent before it counts as offline.",
    )
    allowance_percent = models.PositiveSmallIntegerField(
        "allowance left below %",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="Allowance low: alert when less than this share of a connection's daily "
        "API calls is left.",
    )
    recipients = models.TextField(
        blank=True,
        default="",
        help_text="Email addresses, separated by commas or new lines.",
    )
    webhook_url = models.URLField(
        "webhook URL",
        blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Optional: each alert and its resolution is also POSTed here as JSON.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pair__name", "kind", "id")
        verbose_name = "alert rule"

    def __str__(self) -> str:
        pair = self.pair.name if self.pair_id else "?"
        return f"{pair}: {self.get_kind_display()}"

    @property
    def recipient_list(self) -> list[str]:
        return [address.strip() for address in split_recipients(self.recipients)]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        bad = []
        for address in self.recipient_list:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            errors["recipients"] = "Not an email address: " + ", ".join(bad)
        elif not (self.recipient_list or self.webhook_url):
            errors["recipients"] = "Give at least one email address or a webhook URL."
        if errors:
            raise ValidationError(errors)


class Alert(models.Model):
    """One incident of a rule, from the moment it was seen until it cleared.

    At most one open alert per rule and incident key (a flow, a connection, the
    pair): a burst of failures is one alert, not one per record.
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    incident_key = models.CharField(
        max_length=200, help_text="What the incident is about, e.g. flow:12 or connection:3."
    )
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_message = models.TextField(blank=True, default="")
    delivery_problem = models.TextField(
        blank=True, default="", help_text="Why the last message could not be delivered, if so."
    )

    class Meta:
        ordering = ("-opened_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "incident_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open_per_incident",
            )
        ]
        indexes = [models.Index(fields=["rule", "-opened_at"], name="alert_rule_recent")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.incident_key}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
