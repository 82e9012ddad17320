"""An on-premises agent: one program, inside a customer's network, serving one connection."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver


class Agent(models.Model):
    """One installed agent. Its token is shown once and stored only as a SHA-256 digest.

    A connection may have several agents (for availability); any one serves each
    call. ``revoked_at`` set means every call with the token is refused at once.
    """

    name = models.CharField(max_length=100)
    connection = models.ForeignKey(
        "connectors.Connection", on_delete=models.CASCADE, related_name="agents"
    )
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.CharField(max_length=50, blank=True, default="", editable=False)
    host = models.CharField(max_length=200, blank=True, default="", editable=False)
    last_heartbeat = models.DateTimeField(null=True, blank=True, editable=False)
    calls_served = models.PositiveBigIntegerField(default=0, editable=False)
    errors = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        app_label = "connectors"
        ordering = ("connection__name", "name")
        constraints = [
            models.UniqueConstraint(fields=("connection", "name"), name="agent_name_per_connection")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.connection.name})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@receiver(post_save, sender=Agent, dispatch_uid="agent-auth-cache-saved")
@receiver(post_delete, sender=Agent, dispatch_uid="agent-auth-cache-deleted")
def _agent_changed(sender: type[Agent], instance: Agent, **kwargs: Any) -> None:
    """Any saved or deleted agent row (a revoke, an admin edit, a connection's deletion
    cascading) invalidates every process's cached token → agent lookups at once."""
    if kwargs.get("created"):
        return  # a new agent invalidates nothing
    from connectors.agents.services import auth_epoch_bump

    auth_epoch_bump()
