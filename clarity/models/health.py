from __future__ import annotations

from django.db import models

from clarity.models.flows import Flow
from clarity.models.ledger import RecordStatus


class LedgerHourlyCount(models.Model):
    """How many outcomes a flow recorded in one hour, per status: what the dashboard charts.

    Counting a week of a million-row ledger on every page view costs hundreds
    of milliseconds; these few rows per flow and hour, bumped in the same
    transaction that saves a batch's outcomes (clarity/sync/hourly.py),
    answer in a couple. They count events: a record that failed and later
    succeeded counts once in each hour.
    """

    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=RecordStatus.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "ledger hourly count"
        constraints = [
            # Leads with the hour: serves the upsert and the dashboard's "last 7 days" range.
            models.UniqueConstraint(fields=["hour", "flow", "status"], name="ledger_hourly_unique")
        ]

    def __str__(self) -> str:
        return f"{self.flow_id} {self.hour:%Y-%m-%d %H}:00 {self.status}: {self.count}"


class HealthDashboard(LedgerHourlyCount):
    """No data of its own: gives the health dashboard its place in the admin index."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "health dashboard"
        default_permissions = ()
