"""An on-premises agent: one program, inside a customer's network, serving one connection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

# What every poll and answer writes (heartbeat, counters): changing these cannot change
# which agent a token names, so they neither invalidate the token cache nor revoke.
# Any other field written, by any path, does (``_rows_changed``).
LIVE_FIELDS = frozenset({"version", "host", "last_heartbeat", "calls_served", "errors"})


class AgentQuerySet(models.QuerySet["Agent"]):
    """Bulk writes that skip ``save()`` and its signals still invalidate the token cache.

    ``update()`` (and so ``bulk_update()``, a related manager's ``update()``, an
    upsert's ``bulk_create``) of any field but the live ones is followed by the same
    invalidation a saved or deleted row gets from its signals, so a token revoked or
    replaced in bulk is refused on its very next call, not when its cache entry ages out.
    ``delete()`` sends ``post_delete`` for every row (Django never fast-deletes a model
    with receivers), which does the same.
    """

    def update(self, **kwargs: Any) -> int:
        if set(kwargs) <= LIVE_FIELDS:
            return super().update(**kwargs)
        # Taken before the write (a filter on the changed fields may match nothing after),
        # in its transaction (a select_for_update() queryset is read only inside one).
        with transaction.atomic(using=self.db, savepoint=False):
            before = list(self.order_by().values_list("pk", "connection_id"))
            count = super().update(**kwargs)
        _rows_changed(before)
        return count

    def bulk_create(self, objs: Iterable[Agent], *args: Any, **kwargs: Any) -> list[Agent]:
        created = super().bulk_create(objs, *args, **kwargs)
        if kwargs.get("update_conflicts") and not set(kwargs.get("update_fields") or ()) <= (
            LIVE_FIELDS
        ):
            _rows_changed([(agent.pk, agent.connection_id) for agent in created if agent.pk])
        return created


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

    objects = AgentQuerySet.as_manager()

    class Meta:
        app_label = "connectors"
        # Django's internal paths (and ``Agent._base_manager``) use the same queryset.
        base_manager_name = "objects"
        ordering = ("connection__name", "name")
        constraints = [
            models.UniqueConstraint(fields=("connection", "name"), name="agent_name_per_connection")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.connection.name})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _rows_changed(agents: list[tuple[int, int]]) -> None:
    from connectors.agents.services import agent_rows_changed

    agent_rows_changed(agents=agents)


@receiver(post_save, sender=Agent, dispatch_uid="agent-auth-cache-saved")
def _agent_saved(
    sender: type[Agent], instance: Agent, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    """A saved row (a revoke, an admin edit, a fixture loaded) invalidates every
    process's cached token → agent lookups at once; a new agent invalidates nothing."""
    if created or (update_fields is not None and set(update_fields) <= LIVE_FIELDS):
        return
    _rows_changed([(instance.pk, instance.connection_id)])


@receiver(post_delete, sender=Agent, dispatch_uid="agent-auth-cache-deleted")
def _agent_deleted(sender: type[Agent], instance: Agent, **kwargs: Any) -> None:
    """A deleted row (one, a queryset, a connection's deletion cascading) likewise, and
    the agent goes offline at once."""
    _rows_changed([(instance.pk, instance.connection_id)])
