from __future__ import annotations

from django.conf import settings
from django.db import models

from clarity.models.flows import Flow
from clarity.models.ledger import SyncRecord


class AuditEvent(models.Model):
    """A person's change to sync state that is not configuration: who, what, from what to what.

    Configuration changes (mappings, lookups) keep their history with
    django-simple-history; this covers edits of a record's payload, retries,
    ignores and cursor moves.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=50)
    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    record = models.ForeignKey(
        SyncRecord, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
