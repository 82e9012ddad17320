from __future__ import annotations

from django.db import models

from connectors.models import Connection


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received (waiting to be processed)"
    PROCESSED = "processed", "Processed"


class WebhookEvent(models.Model):
    """One change a system told us about, stored before it is acted on.

    The webhook answers as soon as this row is committed (Xero allows 5 s) and a
    job does the rest. ``payload_hash`` is unique, so a delivery the sender
    repeats — the same event, byte for byte — is stored and processed once.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(
        max_length=100, help_text="Xero's eventCategory or Salesforce's entityName."
    )
    event_type = models.CharField(max_length=50, blank=True, default="")
    resource_id = models.CharField(max_length=200, blank=True, default="")
    payload = models.JSONField()
    # What changed in the core's terms, whichever system told it (see
    # clarity.webhooks.services.neutral_change): entity, entities woken, key fields,
    # change type, record ids, changed fields, values, origin. Empty on older rows.
    change = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    run_ids = models.JSONField(
        default=list, blank=True, help_text="The runs this event queued (or joined)."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.category} {self.event_type} {self.resource_id}".strip()
