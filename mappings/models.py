"""Mappings, their rows and rules, and the shared lookup tables.

The models only store what a consultant typed; ``mappings.compiling`` turns
them into the engine's spec and ``mappings.services`` compiles and runs it.
This app never imports the sync core: a flow points at a mapping, not back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from mappings.engine import Combine, Effect, OnMissing


class LookupTable(models.Model):
    """A named code translation shared by every mapping (SYSPRO "EFT" → Xero "090")."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    on_missing = models.CharField(
        "when a key is missing",
        max_length=10,
        choices=[
            (OnMissing.FAIL.value, "Fail the record with a data error"),
            (OnMissing.PASS.value, "Pass the source value through"),
            (OnMissing.DEFAULT.value, "Use the default value"),
        ],
        default=OnMissing.FAIL.value,
    )
    default_value = models.CharField(max_length=500, blank=True, default="")
    case_sensitive = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class LookupEntry(models.Model):
    table = models.ForeignKey(LookupTable, on_delete=models.CASCADE, related_name="entries")
    key = models.CharField(max_length=200)
    value = models.CharField(max_length=500)
    history = HistoricalRecords()

    class Meta:
        ordering = ("table", "key")
        verbose_name_plural = "lookup entries"
        constraints = [
            models.UniqueConstraint(fields=["table", "key"], name="lookupentry_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.value}"


class Mapping(models.Model):
    """How records of one source entity become records of one target entity.

    ``version`` goes up whenever anything the compiled plan depends on changes
    (its rows and rules, or a lookup table it uses), so plans are cached by it.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    source_system = models.CharField(max_length=50, help_text="e.g. SYSPRO")
    source_entity = models.CharField(max_length=100, help_text="e.g. sales_orders")
    target_system = models.CharField(max_length=50, help_text="e.g. Xero")
    target_entity = models.CharField(max_length=100, help_text="e.g. Invoices")
    version = models.PositiveIntegerField(default=1, editable=False)
    lookup_tables = models.ManyToManyField(
        LookupTable, through="MappingLookup", related_name="mappings", blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["version", "updated_at"])

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class MappingLookup(models.Model):
    """Which lookup tables a mapping uses: protects them from deletion and renames."""

    mapping = models.ForeignKey(Mapping, on_delete=models.CASCADE)
    table = models.ForeignKey(LookupTable, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mapping", "table"], name="mappinglookup_unique")
        ]

    def __str__(self) -> str:
        return f"{self.mapping_id} uses {self.table_id}"


class MappingPart(models.Model):
    """What every row and rule of a mapping shares: its mapping and its place in order."""

    mapping = models.ForeignKey(Mapping, on_delete=models.CASCADE, related_name="%(class)ss")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ("mapping", "order", "pk")


class RowKind(models.TextChoices):
    DIRECT = "direct", "1:1"
    ONE_TO_MANY = "one_to_many", "1:many"
    MANY_TO_ONE = "many_to_one", "many:1"
    CONSTANT = "constant", "no source (constant)"


class FieldMappingRow(MappingPart):
    kind = models.CharField(max_length=20, choices=RowKind.choices, default=RowKind.DIRECT)
    sources = models.JSONField(
        default=list, blank=True, help_text="Source paths, e.g. Lines[].StockCode"
    )
    targets = models.JSONField(default=list, help_text="Target paths, e.g. LineItems[].ItemCode")
    transforms = models.JSONField(
        default=list,
        blank=True,
        help_text='Chain of {"name": ..., "args": {...}}, e.g. [{"name": "trim"}]',
    )
    template = models.CharField(
        max_length=500, blank=True, default="", help_text='e.g. "{FirstName} {LastName}"'
    )
    combine = models.CharField(
        max_length=10,
        choices=[(c.value, c.value) for c in Combine],
        default=Combine.JOIN.value,
    )
    separator = models.CharField(max_length=20, blank=True, default=" ")
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        verbose_name = "field mapping row"

    def __str__(self) -> str:
        return f"{', '.join(self.sources) or '—'} → {', '.join(self.targets)}"


class ConditionalRule(MappingPart):
    condition = models.TextField(help_text="e.g. StageName == 'Closed Won' and Amount > 0")
    effect = models.CharField(
        max_length=10,
        choices=[
            (Effect.SET.value, "Set a target field"),
            (Effect.SKIP.value, "Skip the record"),
            (Effect.FAIL.value, "Fail the record"),
        ],
    )
    target = models.CharField(max_length=200, blank=True, default="")
    value = models.CharField(max_length=500, blank=True, default="")
    message = models.CharField(max_length=500, blank=True, default="")
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        pass

    def __str__(self) -> str:
        return f"if {self.condition} then {self.effect}"


class Enrichment(MappingPart):
    target = models.CharField(max_length=200, help_text="e.g. LineItems[].AccountCode")
    key = models.CharField("key field", max_length=200, help_text="e.g. Lines[].StockCode")
    lookup = models.ForeignKey(LookupTable, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.target} from {self.key}"


class Default(MappingPart):
    target = models.CharField(max_length=200)
    value = models.CharField(max_length=500)
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        constraints = [
            models.UniqueConstraint(fields=["mapping", "target"], name="default_unique_target")
        ]

    def __str__(self) -> str:
        return f"{self.target} = {self.value}"


class Aggregation(MappingPart):
    lines = models.CharField(max_length=200, help_text="Target line array, e.g. LineItems")
    key = models.JSONField(default=list, help_text="Line fields to group by")
    sum = models.JSONField(default=list, blank=True, help_text="Line fields to add up")
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.lines} by {', '.join(self.key)}"


class Split(MappingPart):
    lines = models.CharField(max_length=200, help_text="Target line array, e.g. LineItems")
    key = models.CharField(max_length=200, blank=True, default="")
    header_field = models.CharField(max_length=200, blank=True, default="")
    max_lines = models.PositiveIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta(MappingPart.Meta):
        constraints = [models.UniqueConstraint(fields=["mapping"], name="split_one_per_mapping")]

    def __str__(self) -> str:
        return f"split {self.lines}"


class ImportStatus(models.TextChoices):
    VALIDATING = "validating", "Checking the file"
    INVALID = "invalid", "Invalid: nothing imported"
    VALIDATED = "validated", "Checked: waiting for confirmation"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed: nothing imported"


class ImportJob(models.Model):
    """A large lookup file imported by a worker, with the progress the admin shows."""

    file_name = models.CharField(max_length=300)
    file_format = models.CharField(max_length=10)
    content = models.BinaryField(editable=False)
    row_count = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.VALIDATING
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done")
    totals = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


# Every kind of part a mapping is made of, in the order its page shows them.
MAPPING_PART_MODELS: tuple[type[MappingPart], ...] = (
    FieldMappingRow,
    ConditionalRule,
    Enrichment,
    Default,
    Aggregation,
    Split,
)

# A mapping's own fields, as its history records and reverts them.
MAPPING_FIELDS = (
    "name",
    "description",
    "source_system",
    "source_entity",
    "target_system",
    "target_entity",
)
