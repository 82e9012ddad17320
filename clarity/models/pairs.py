from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from connectors.models import Connection, Environment

# The pairs whose flows may only validate: a production pair not launched yet. Sandbox
# pairs run without launching (demos, trials); one rule for every run entry point, the
# worker taking a run up and the schedules (clarity/sync/admission.py).
AWAITING_LAUNCH = Q(launched_at__isnull=True) & (
    Q(connection_a__environment=Environment.PRODUCTION)
    | Q(connection_b__environment=Environment.PRODUCTION)
)


class IntegrationPair(models.Model):
    """Two connected systems whose records are kept in step, e.g. SYSPRO ↔ Xero."""

    name = models.CharField(max_length=100, unique=True)
    connection_a = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="+", verbose_name="first connection"
    )
    connection_b = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="+", verbose_name="second connection"
    )
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True, default="")
    retention_days = models.PositiveIntegerField(
        "keep the ledger for (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Succeeded and skipped ledger records older than this are deleted; failed "
        "and unresolved ones are kept. Blank: keep everything forever.",
    )
    launched_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the pair went live (Launch); until then a production pair's flows "
        "can only validate.",
    )
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        permissions = [("launch_pair", "Can launch a pair (go live)")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A launch is of these two connections: pointed at another one (the admin, a
        bundle promoting the pair), the pair is no longer launched, so the systems it now
        joins pass the go-live checklist before a production flow of theirs runs. In
        save() because every way of re-pointing a pair ends here."""
        if self.pk and self.launched_at is not None:
            before = (
                type(self)
                .objects.filter(pk=self.pk)
                .values_list("connection_a_id", "connection_b_id")
                .first()
            )
            if before is not None and before != (self.connection_a_id, self.connection_b_id):
                self.launched_at, self.launched_by = None, None
                if (fields := kwargs.get("update_fields")) is not None:
                    kwargs["update_fields"] = {*fields, "launched_at", "launched_by"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.connection_a_id and self.connection_a_id == self.connection_b_id:
            raise ValidationError(
                {"connection_b": "A pair joins two different connections; pick another one."}
            )

    @property
    def connection_ids(self) -> set[int]:
        return {self.connection_a_id, self.connection_b_id}
