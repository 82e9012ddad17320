from __future__ import annotations

from django.conf import settings
from django.db import models

from clarity.models.flows import Flow
from clarity.models.pairs import IntegrationPair
from clarity.models.runs import SyncRun
from connectors.errors import ErrorKind

__all__ = [
    "COUNTED",
    "ERROR_KIND_CHOICES",
    "IN_FLIGHT",
    "NEEDS_ACTION",
    "PRUNABLE",
    "RESENDABLE",
    "RETRYABLE",
    "SETTLED",
    "TARGET_KNOWN",
    "UNDECIDED",
    "ErrorKind",
    "RecordStatus",
    "SyncRecord",
]


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    RESOLVED = "resolved", "Resolved"
    UNKNOWN = "unknown", "Outcome unknown (being checked)"
    IGNORED = "ignored", "Ignored"
    SPLIT = "split", "Split into parts"
    # The target held records like it before its first sync (clarity.sync.matching).
    UNDECIDED = "undecided", "Needs a decision (matches records in the target)"
    LINKED = "linked", "Linked to the record the target held"


# The groups every module asks for by name, so a status is placed in each question once.
# Nothing is left to do for these: the run moves past them and both-ways settling skips them.
SETTLED = (
    RecordStatus.SUCCEEDED,
    RecordStatus.SKIPPED,
    RecordStatus.RESOLVED,
    RecordStatus.IGNORED,
    RecordStatus.SPLIT,
    RecordStatus.LINKED,
)
# Matched several target records, or one only in part: a person chooses (link to one, create
# new, skip) in the decision queue. Sending it again would not settle it, so no retry takes it.
UNDECIDED = (RecordStatus.UNDECIDED,)
# Failed, sent with no answer, or waiting for a decision: a person (or the settling look-up)
# still has to act.
NEEDS_ACTION = (RecordStatus.FAILED, RecordStatus.UNKNOWN, *UNDECIDED)
# What "Retry" takes: failed or maybe sent, and what a person ignored and thought better of.
RETRYABLE = (RecordStatus.FAILED, RecordStatus.UNKNOWN, RecordStatus.IGNORED)
# A worker may hold a claim on these: a sweeper hands back the ones whose claim ran out.
IN_FLIGHT = (RecordStatus.PENDING, RecordStatus.UNKNOWN)
# What a retry of transient failures sends: new rows and failed ones that are due again.
RESENDABLE = (RecordStatus.PENDING, RecordStatus.FAILED)
# Outcomes the health figures count (resolved/ignored were failures first).
COUNTED = (
    RecordStatus.SUCCEEDED,
    RecordStatus.SKIPPED,
    RecordStatus.FAILED,
    RecordStatus.UNDECIDED,
)
# Rows whose target_id names the target record the source record is (with a target_id):
# delivered, or linked by a person to a record already there (the ledger's "link to the
# existing record"; rows resolved that way before the linked status existed are resolved).
# A next version updates that record.
TARGET_KNOWN = (RecordStatus.SUCCEEDED, RecordStatus.LINKED, RecordStatus.RESOLVED)
# Delivered or deliberately not sent, and nobody needs them: retention may delete them.
PRUNABLE = (RecordStatus.SUCCEEDED, RecordStatus.SKIPPED)

# The ledger's error kinds are the connectors' (the one enum), with their labels.
ERROR_KIND_CHOICES = [(kind.value, kind.label) for kind in ErrorKind]


class SyncRecord(models.Model):
    """The ledger: one row per source record and version, with its outcome.

    A source record the mapping splits into several target records gets one
    more row per produced record (its ``parts``, numbered from 1): each has its
    own idempotency key, outcome and target id, and is retried and settled on
    its own. The source row itself ends ``split``.

    ``pair`` repeats ``flow.pair`` so the busiest filter needs no join at a
    million rows; the indexes follow the admin's filters and default order.
    """

    run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="records"
    )
    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="records")
    pair = models.ForeignKey(IntegrationPair, on_delete=models.PROTECT, related_name="records")
    source_id = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="parts",
        help_text="The source record this one is a part of, when the mapping split it.",
    )
    part = models.PositiveSmallIntegerField(
        default=0,
        help_text="Which of the records the mapping split the source record into (1, 2, …); "
        "0 when it maps to one record.",
    )
    source_version = models.CharField(max_length=100, blank=True, default="")
    business_key = models.CharField(max_length=200, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, unique=True)
    target_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=RecordStatus.choices, default=RecordStatus.PENDING
    )
    error_kind = models.CharField(max_length=20, choices=ERROR_KIND_CHOICES, blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    source_payload = models.JSONField(default=dict, blank=True)
    transformed_payload = models.JSONField(null=True, blank=True)
    target_response = models.JSONField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")
    mapping_version = models.PositiveIntegerField(null=True, blank=True)
    payload_override = models.JSONField(
        null=True, blank=True, help_text="A finance user's corrected record for the target."
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who is fixing this failed record.",
    )
    tags = models.CharField(
        max_length=200, blank=True, default="", help_text="Comma-separated, e.g. vat, month-end."
    )
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = "ledger record"
        verbose_name_plural = "ledger"
        permissions = [
            ("resolve_syncrecord", "Can mark ledger records resolved"),
            ("retry_syncrecord", "Can retry ledger records"),
        ]
        indexes = [
            models.Index(fields=["status", "-id"], name="ledger_status_recent"),
            models.Index(fields=["pair", "-id"], name="ledger_pair_recent"),
            models.Index(fields=["flow", "-id"], name="ledger_flow_recent"),
            models.Index(fields=["flow", "status", "-id"], name="ledger_flow_status_recent"),
            models.Index(fields=["error_kind", "-id"], name="ledger_kind_recent"),
            models.Index(fields=["error_code", "-id"], name="ledger_code_recent"),
            models.Index(fields=["created_at"], name="ledger_created"),
            models.Index(fields=["source_id"], name="ledger_source_id"),
            models.Index(fields=["target_id"], name="ledger_target_id"),
            models.Index(fields=["business_key"], name="ledger_business_key"),
            models.Index(
                fields=["assigned_to", "-id"],
                name="ledger_assignee_recent",
                condition=models.Q(assigned_to__isnull=False),
            ),
            models.Index(
                fields=["flow", "next_retry_at"],
                name="ledger_due_retries",
                condition=models.Q(status__in=["pending", "failed", "unknown"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ({self.get_status_display()})"
