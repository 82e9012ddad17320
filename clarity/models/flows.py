from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clarity.cron import validate_cron
from clarity.event_filters import event_filter_errors
from clarity.models.pairs import IntegrationPair
from connectors.models import Connection
from mappings.models import Mapping


class SourceOfTruth(models.TextChoices):
    SOURCE = "source", "Source system"
    TARGET = "target", "Target system"


class ReadMode(models.TextChoices):
    CHANGES = "changes", "Changes since the last run"
    FULL_SCAN = "full_scan", "Full scan: read every record, send the ones whose content changed"


class Flow(models.Model):
    """One direction of one entity within a pair, e.g. SYSPRO customers → Xero contacts."""

    pair = models.ForeignKey(IntegrationPair, on_delete=models.PROTECT, related_name="flows")
    name = models.CharField(max_length=100)
    source_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    source_entity = models.CharField(max_length=100, help_text="e.g. customers, sales_orders")
    target_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    target_entity = models.CharField(max_length=100, help_text="e.g. Contacts, Invoices")
    mapping = models.ForeignKey(
        Mapping,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flows",
        help_text="How each source record becomes a target record.",
    )
    trigger_schedule = models.BooleanField("run on a schedule", default=False)
    schedule_cron = models.CharField(
        "cron schedule",
        max_length=100,
        blank=True,
        default="",
        help_text="Five fields: minute hour day month weekday, e.g. */15 * * * *",
    )
    trigger_webhook = models.BooleanField(
        "run on events",
        default=False,
        help_text="Run when the source system reports a change: a webhook, an event stream or a "
        "doorbell call. Only the records the event names are read when it names them.",
    )
    event_filter = models.JSONField(
        default=list,
        blank=True,
        help_text="Which events run this flow; empty: every event of its entity. A list of rules, "
        'any of which may match, e.g. [{"entity": "Opportunity", "change_types": ["CREATE", '
        '"UPDATE"], "field": "StageName", "equals": "Closed Won"}]: an Opportunity created or '
        "updated whose StageName became Closed Won. An event that carries no values (a gap or "
        "overflow event) still reads the records it names.",
    )
    poll_adaptive = models.BooleanField(
        "poll adaptively",
        default=False,
        help_text="Poll every few seconds while changes keep coming and less often while the "
        "source is idle, between the shortest and longest interval below (instead of a cron "
        "schedule). For sources that send no events.",
    )
    poll_min_seconds = models.PositiveIntegerField(
        "shortest poll interval (s)",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(86_400)],
    )
    poll_max_seconds = models.PositiveIntegerField(
        "longest poll interval (s)",
        default=300,
        validators=[MinValueValidator(1), MaxValueValidator(86_400)],
    )
    poll_interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="The adaptive poll's current interval."
    )
    trigger_manual = models.BooleanField("allow manual runs", default=True)
    manual_only = models.BooleanField(
        "manual runs only, on purpose",
        default=False,
        help_text="Tick when this flow is meant to run only when someone starts it: the pair's "
        "go-live checklist then accepts it without a schedule or events.",
    )
    batch_size = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    source_of_truth = models.CharField(
        max_length=10,
        choices=SourceOfTruth.choices,
        default=SourceOfTruth.SOURCE,
        help_text="Which side wins when both changed the same record. A flow that carries the "
        "same records the other way must name the same system.",
    )
    business_key_field = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Source field finance users search by, e.g. InvoiceNumber or Customer.",
    )
    source_version_field = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Source field that changes on every edit (e.g. UpdatedDateUTC); blank: a hash "
        "of the whole record. A record already delivered at the same version is skipped.",
    )
    read_mode = models.CharField(
        max_length=20,
        choices=ReadMode.choices,
        default=ReadMode.CHANGES,
        blank=True,  # left out of a form (an API client, an older bundle): changes
        help_text="How a run finds what to send. A full scan is for records the source marks "
        "no change on: every record is read and compared with what was last sent.",
    )
    change_field = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Source column that marks a change, for systems that let a flow choose one "
        "(e.g. a date such as DateLastSale). Blank: the system's own marker (a row version, a "
        "modified date).",
    )
    target_reference_field = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Field of the record sent to the target that identifies it there (e.g. "
        "ContactNumber); used to settle a write whose answer never came back.",
    )
    cursor = models.CharField(
        max_length=200, blank=True, default="", help_text="Where the last run stopped reading."
    )
    enabled = models.BooleanField(default=True)
    paused_reason = models.TextField(
        blank=True,
        default="",
        help_text="Why the flow was paused by itself (e.g. a refused login).",
    )
    locked_by = models.CharField(max_length=64, blank=True, default="", editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    schedule_job_id = models.CharField(max_length=100, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pair__name", "name")
        constraints = [
            models.UniqueConstraint(fields=["pair", "name"], name="flow_unique_name_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.pair.name}: {self.name}" if self.pair_id else self.name

    @classmethod
    def field_default(cls, name: str) -> Any:
        """A field's default, for input that leaves the field out (a form, an older bundle)."""
        field = cls._meta.get_field(name)
        return field.get_default() if isinstance(field, models.Field) else None

    def counterpart(self) -> Flow | None:
        """The pair's flow that carries the same records the other way, if there is one."""
        if not (self.pair_id and self.source_connection_id and self.target_connection_id):
            return None
        return (
            Flow.objects.filter(
                pair_id=self.pair_id,
                source_connection_id=self.target_connection_id,
                target_connection_id=self.source_connection_id,
                source_entity=self.target_entity,
                target_entity=self.source_entity,
            )
            .exclude(pk=self.pk)
            .order_by("pk")
            .first()
        )

    def _truth_disagreement(self) -> str | None:
        """Why this flow and its counterpart would each let their own side win, or None."""
        other = self.counterpart()
        # "source" here and "target" there name the same system: that is agreement.
        if other is None or self.source_of_truth != other.source_of_truth:
            return None
        ours, theirs = self.source_connection.name, self.target_connection.name
        if self.source_of_truth == SourceOfTruth.TARGET:
            ours, theirs = theirs, ours
        return (
            f"Flow '{other.name}' carries the same records the other way and makes {theirs} the "
            f"source of truth, but this flow makes {ours}. Choose one system for both flows."
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.trigger_schedule and not self.schedule_cron.strip():
            errors["schedule_cron"] = "A scheduled flow needs a cron schedule."
        if self.schedule_cron.strip():
            try:
                validate_cron(self.schedule_cron)
            except ValidationError as exc:
                errors["schedule_cron"] = exc.messages[0]
        ways = [self.trigger_schedule, self.trigger_webhook, self.trigger_manual]
        if not any([*ways, self.poll_adaptive]):
            errors["trigger_manual"] = "Choose at least one way for this flow to run."
        if self.poll_adaptive and self.trigger_schedule:
            errors["poll_adaptive"] = (
                "Choose either a cron schedule or adaptive polling: clear one of the two."
            )
        if self.poll_adaptive and self.poll_max_seconds < self.poll_min_seconds:
            errors["poll_max_seconds"] = (
                f"The longest poll interval ({self.poll_max_seconds}s) must be at least the "
                f"shortest ({self.poll_min_seconds}s)."
            )
        if problems := event_filter_errors(self.event_filter):
            errors["event_filter"] = " ".join(problems)
        if self.pair_id:
            allowed = self.pair.connection_ids
            for field in ("source_connection", "target_connection"):
                value = getattr(self, f"{field}_id")
                if value and value not in allowed:
                    errors[field] = (
                        f"This connection is not one of pair '{self.pair.name}''s two connections."
                    )
        if self.source_connection_id and self.source_connection_id == self.target_connection_id:
            errors["target_connection"] = "Source and target must be different connections."
        elif disagreement := self._truth_disagreement():
            errors["source_of_truth"] = disagreement
        if errors:
            raise ValidationError(errors)
