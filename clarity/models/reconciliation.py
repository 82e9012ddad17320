"""Reconciliation after launch: do the two systems of a pair agree, and where not?

A flow opts in with its ``ReconciliationSetting`` (which fields are the amount and the
date on each side, and the period the totals are kept per); a pair's
``ReconciliationSchedule`` says when the nightly run starts. Each run
(``ReconciliationRun``) stores what it found as ``ReconciliationFinding`` rows, which
finance acknowledges with a note.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models

from clarity.models.flows import Flow
from clarity.models.ledger import SyncRecord
from clarity.models.pairs import IntegrationPair


class Period(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class ReconciliationSetting(models.Model):
    """How one flow's two sides are compared: counts and totals per period, twins, drift.

    Field names are each system's own (as on the mapping's catalogue); ``[]`` sums over
    the lines of a list (``SorDetail[].MPrice``) and ``A*B`` multiplies two fields of the
    same line (``SorDetail[].MOrderQty*SorDetail[].MPrice``), so a source without a
    document total still gives one.
    """

    flow = models.OneToOneField(Flow, on_delete=models.CASCADE, related_name="reconciliation")
    enabled = models.BooleanField(default=True)
    source_amount_field = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Source field summed per period, e.g. SorDetail[].MOrderQty*SorDetail[].MPrice."
        " Blank: counts only.",
    )
    target_amount_field = models.CharField(
        max_length=200, blank=True, default="", help_text="Target field summed, e.g. SubTotal."
    )
    source_date_field = models.CharField(
        max_length=200, blank=True, default="", help_text="Source date placing a record in its "
        "period, e.g. OrderDate. Blank: no per-period figures, only the records compared.",
    )  # fmt: skip
    target_date_field = models.CharField(
        max_length=200, blank=True, default="", help_text="Target date, e.g. Date."
    )
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTH)
    target_scope = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Only the target records of this flow, e.g. Type=ACCREC (Xero keeps bills "
        "among its Invoices). Field=value pairs, comma-separated; blank: every record.",
    )
    ignore_fields = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Target fields that may differ on purpose, comma-separated (e.g. Status: Xero "
        "marks an invoice PAID once it is paid). They are not reported as drift.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "reconciliation setting"

    def __str__(self) -> str:
        return f"Reconciliation of {self.flow}"

    @property
    def scope(self) -> list[tuple[str, str]]:
        """``[(field, value)]`` a target record must all have to belong to the flow."""
        pairs = (item.partition("=") for item in self.target_scope.split(","))
        return [(name.strip(), value.strip()) for name, _, value in pairs if name.strip()]

    @property
    def ignored(self) -> set[str]:
        return {name.strip() for name in self.ignore_fields.split(",") if name.strip()}


class ReconciliationSchedule(models.Model):
    """When a pair's nightly reconciliation starts (server time zone)."""

    pair = models.OneToOneField(
        IntegrationPair, on_delete=models.CASCADE, related_name="reconciliation_schedule"
    )
    enabled = models.BooleanField("reconcile nightly", default=True)
    at = models.TimeField("start at", default=datetime.time(2, 0))
    job_id = models.CharField(max_length=100, blank=True, default="", editable=False)

    class Meta:
        verbose_name = "reconciliation schedule"

    def __str__(self) -> str:
        return f"{self.pair}: nightly at {self.at:%H:%M}"


class ReconciliationTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    ON_DEMAND = "on_demand", "On demand"


class ReconciliationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    AGREED = "agreed", "Both systems agree"
    MISMATCHED = "mismatched", "Mismatches found"
    FAILED = "failed", "Failed"


class ReconciliationRun(models.Model):
    """One comparison of a pair's two systems, flow by flow."""

    pair = models.ForeignKey(
        IntegrationPair, on_delete=models.CASCADE, related_name="reconciliation_runs"
    )
    trigger = models.CharField(max_length=20, choices=ReconciliationTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    status = models.CharField(
        max_length=20, choices=ReconciliationStatus.choices, default=ReconciliationStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source_records = models.PositiveIntegerField(default=0)
    target_records = models.PositiveIntegerField(default=0)
    twins_compared = models.PositiveIntegerField(default=0)
    findings_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["pair", "-id"], name="recon_run_pair_recent")]
        permissions = [
            ("run_reconciliation", "Can start a reconciliation"),
            ("acknowledge_reconciliationfinding", "Can acknowledge reconciliation findings"),
        ]

    def __str__(self) -> str:
        return f"{self.pair} reconciliation #{self.pk} ({self.get_status_display()})"


class FindingKind(models.TextChoices):
    COUNT_MISMATCH = "count_mismatch", "Count differs in a period"
    TOTAL_MISMATCH = "total_mismatch", "Total differs in a period"
    MISSING_IN_TARGET = "missing_in_target", "Missing in the target"
    MISSING_IN_SOURCE = "missing_in_source", "Missing in the source"
    DRIFT = "drift", "Fields differ (drift)"


class ReconciliationFinding(models.Model):
    """One thing the two systems disagree on, until a person acknowledges it with a note."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="findings")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=FindingKind.choices)
    period = models.CharField(max_length=10, blank=True, default="")
    source_value = models.CharField(max_length=100, blank=True, default="")
    target_value = models.CharField(max_length=100, blank=True, default="")
    source_id = models.CharField(max_length=200, blank=True, default="")
    target_id = models.CharField(max_length=200, blank=True, default="")
    business_key = models.CharField(max_length=200, blank=True, default="")
    record = models.ForeignKey(
        SyncRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The ledger record linking the two, where the sync keeps one.",
    )  # fmt: skip
    field_diff = models.JSONField(
        default=list, blank=True, help_text='[{"field", "source", "target"}]: what differs.'
    )
    message = models.TextField(blank=True, default="")
    acknowledged_note = models.TextField(blank=True, default="")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        verbose_name = "reconciliation finding"
        indexes = [
            models.Index(fields=["run", "kind", "id"], name="recon_finding_run_kind"),
            models.Index(
                fields=["run", "id"],
                name="recon_finding_unacknowledged",
                condition=models.Q(acknowledged_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        what = self.business_key or self.source_id or self.target_id or self.period
        return f"{self.get_kind_display()}: {what}"
