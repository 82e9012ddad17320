from __future__ import annotations

from django.db import models

from clarity.models.flows import Flow


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "Manual"
    API = "api", "REST API"
    RETRY = "retry", "Retry"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with failures"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    """One execution of a flow, with counts per outcome."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_count = models.PositiveIntegerField(default=0)
    # How many records the run will have done, once its source said how many it
    # has (Salesforce's totalSize, Xero's itemCount); None while nobody knows.
    expected_total = models.PositiveIntegerField(null=True, blank=True)
    succeeded_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # A deferred run (a 429's Retry-After, an open circuit breaker, a busy flow)
    # waits until then: the sweeper enqueues it again only if its job is lost
    # and this time has come, never while its scheduled job still waits.
    not_before = models.DateTimeField(null=True, blank=True)
    # A targeted run reads only these source records (an event named them), by the
    # source's own key or, with ``target_field``, by that field of the source entity
    # (Xero's payments of an invoice: ``Invoice.InvoiceID``); None reads the changes
    # since the flow's cursor. The cursor does not move on a targeted run.
    target_ids = models.JSONField(null=True, blank=True)
    target_field = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["flow", "-id"], name="run_flow_recent")]
        permissions = [
            ("run_flow", "Can run a flow now"),
            ("operate_queues", "Can use the job queue dashboard"),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} of flow “{self.flow.name}”"

    @property
    def done_count(self) -> int:
        """Records read that have an outcome; with ``total_count``, the run's progress."""
        return self.succeeded_count + self.skipped_count + self.failed_count

    @property
    def targeted(self) -> bool:
        return self.target_ids is not None

    @property
    def active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)
