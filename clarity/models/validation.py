"""Validate runs: a dry run of a whole flow before go-live, and what it found per record.

A validate run reads the flow's source, maps every record with the current mapping and
looks each one's twin up in the target, without writing anything to the target or to
the flow's ledger, cursor or cross-reference. Its records are kept apart from the ledger
(``ValidateRecord``) so a consultant can run it as often as needed before launch and see
what changed since the previous run.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clarity.models.flows import Flow


class ValidateStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    FAILED = "failed", "Failed"


class ValidateOutcome(models.TextChoices):
    WOULD_CREATE = "would_create", "Would create"
    WOULD_UPDATE = "would_update", "Would update"
    UNCHANGED = "unchanged", "Unchanged"
    WOULD_SKIP = "would_skip", "Would skip"
    WOULD_FAIL = "would_fail", "Would fail"


class SincePrevious(models.TextChoices):
    """How a record's outcome compares with the flow's previous validate run."""

    NEW = "new", "New since the previous run"
    CHANGED = "changed", "Outcome changed"
    SAME = "same", "Same as the previous run"
    FIXED = "fixed", "Fixed"  # would fail before, not now
    FIRST = "first", "First run"


class ValidateRun(models.Model):
    """One dry run of one flow, with counts per outcome."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="validate_runs")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        max_length=20, choices=ValidateStatus.choices, default=ValidateStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_count = models.PositiveIntegerField(default=0)
    would_create_count = models.PositiveIntegerField(default=0)
    would_update_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    would_skip_count = models.PositiveIntegerField(default=0)
    would_fail_count = models.PositiveIntegerField(default=0)
    # Against the previous run: records not in it, records that would fail there and not
    # now, and records that would fail there and were not read now.
    new_count = models.PositiveIntegerField(default=0)
    fixed_count = models.PositiveIntegerField(default=0)
    gone_count = models.PositiveIntegerField(default=0)
    message = models.TextField(
        blank=True, default="", help_text="Why the run itself failed, if it did."
    )
    mapping_version = models.PositiveIntegerField(null=True, blank=True)
    previous = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The flow's previous validate run, compared with this one.",
    )

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["flow", "-id"], name="validate_run_flow_recent")]
        permissions = [("validate_flow", "Can start a validate run")]

    def __str__(self) -> str:
        return f"Validate run #{self.pk} of flow “{self.flow.name}”"

    @property
    def active(self) -> bool:
        return self.status in (ValidateStatus.QUEUED, ValidateStatus.RUNNING)


class ValidateRecord(models.Model):
    """What a real run would do with one source record (or one part of a split)."""

    run = models.ForeignKey(ValidateRun, on_delete=models.CASCADE, related_name="records")
    source_id = models.CharField(max_length=200)
    part = models.PositiveSmallIntegerField(default=0)
    business_key = models.CharField(max_length=200, blank=True, default="")
    outcome = models.CharField(max_length=20, choices=ValidateOutcome.choices)
    target_id = models.CharField(
        max_length=200, blank=True, default="", help_text="The twin in the target, if found."
    )
    # {field: {"held": the twin's value, "sent": the value that would be sent}}
    differences = models.JSONField(default=dict, blank=True)
    error_kind = models.CharField(max_length=20, blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    message = models.TextField(blank=True, default="")
    transformed_payload = models.JSONField(null=True, blank=True)
    since_previous = models.CharField(
        max_length=20, choices=SincePrevious.choices, default=SincePrevious.FIRST
    )
    acknowledged_note = models.TextField(blank=True, default="")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        verbose_name = "validate record"
        indexes = [
            models.Index(fields=["run", "outcome", "id"], name="validate_rec_outcome"),
            models.Index(fields=["run", "source_id"], name="validate_rec_source"),
            models.Index(fields=["run", "error_code"], name="validate_rec_code"),
            models.Index(fields=["run", "since_previous"], name="validate_rec_since"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ({self.get_outcome_display()})"
