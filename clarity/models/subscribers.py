from __future__ import annotations

from django.db import models

from connectors.models import Connection


class SubscriberStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    RECONNECTING = "reconnecting", "Reconnecting"
    STOPPED = "stopped", "Stopped"


class SubscriberState(models.Model):
    """How a connection's event subscriber (``manage.py salesforce_subscriber``) is doing:
    what the health dashboard shows. One row per connection, written by the subscriber."""

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=SubscriberStatus.choices)
    message = models.TextField(blank=True, default="", help_text="Why, in plain words.")
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last event (not a keepalive) was stored."
    )
    position_lost_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a stored position was last found past Salesforce's retention (a full "
        "poll of the affected flows was queued).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "event subscriber state"

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.status}"


class SubscriberPosition(models.Model):
    """Where a connection's subscription to one topic stands: the replay id after which it
    resumes. Moved in the same transaction that stores the events it passes, so a restart
    neither skips an unstored event nor stores one twice."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=200, help_text="e.g. /data/OpportunityChangeEvent")
    replay_id = models.BinaryField(max_length=64, help_text="Resume after this event.")
    latest_replay_id = models.BinaryField(
        max_length=64, blank=True, default=b"", help_text="The stream's tip when last heard."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "topic"], name="subscriber_position_per_topic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.topic} @ {bytes(self.replay_id).hex()}"
