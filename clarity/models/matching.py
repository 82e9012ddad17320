"""How a flow finds the records its target already holds, and what a person decided about them.

Before a first sync the target often holds the records already (customers typed into Xero
by hand years ago). A flow's matching rules, tried in order, say how to recognise them: by
the target's reference (Xero's ContactNumber, Salesforce's external id) or by keys that
must all agree (name, email, tax number), compared case- and space-insensitively
(clarity.sync.matching). A record matching several, or one only in part, waits for a
person's decision (``MatchDecision``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from clarity.models.flows import Flow
from clarity.models.ledger import SyncRecord
from mappings.catalogue import Catalogue, entity_schema, unknown_field


class MatchBy(models.TextChoices):
    REFERENCE = "reference", "Reference (the target's reference field)"
    KEYS = "keys", "Keys (every one must agree)"


class MatchingRule(models.Model):
    """One way of recognising a record the target already holds; a flow's rules go in order.

    ``keys`` lists the fields compared, comma-separated: ``Name`` compares the sent
    record's Name with the target's Name; ``Email=EmailAddress`` the sent record's
    Email with the target's EmailAddress. A reference rule compares ``keys``' one pair,
    or when blank the target's reference field with itself.
    """

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="matching_rules")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Rules are tried from the lowest; the first that finds a match wins."
    )
    match_by = models.CharField(max_length=20, choices=MatchBy.choices, default=MatchBy.KEYS)
    keys = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Fields to compare, comma-separated: 'Name, EmailAddress', or "
        "'sent field=target field' where they differ ('Email=EmailAddress'). Case and "
        "spaces are ignored. Blank for a reference rule: the target's reference field.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ("flow", "position", "pk")

    def __str__(self) -> str:
        return f"{self.get_match_by_display().split(' (')[0]}: {self.describe()}"

    def pairs(self) -> list[tuple[str, str]]:
        """``[(path in the record sent, target field), …]`` as ``keys`` lists them."""
        pairs = []
        for item in self.keys.split(","):
            sent, _, target = item.partition("=")
            sent, target = sent.strip(), (target.strip() or sent.strip())
            if sent:
                pairs.append((sent, target))
        return pairs

    def describe(self) -> str:
        """ "name and email address": how the rule reads in a finance user's message."""
        names = [target for _, target in self.pairs()] or ["reference"]
        return " and ".join(names)

    def clean(self) -> None:
        """The fields must be the target's: checked against its connector's ``describe()``
        as mappings are (mappings.catalogue), so a misspelt field is refused when saved,
        not found out as "no match" on every record of a first sync."""
        pairs = self.pairs()
        if self.match_by == MatchBy.KEYS and not pairs:
            raise ValidationError({"keys": "Name at least one field to compare, e.g. Name."})
        if self.match_by == MatchBy.REFERENCE and len(pairs) > 1:
            raise ValidationError(
                {
                    "keys": "A reference rule compares one field: leave it blank for the target's "
                    "reference field, or name one."
                }
            )
        if not (self.flow_id and self.flow.target_connection_id and self.flow.target_entity):
            return
        connection = self.flow.target_connection
        schema = entity_schema(connection=connection, entity=self.flow.target_entity)
        if schema is None:
            return  # no catalogue to check against (unreachable): checked when it runs
        if self.match_by == MatchBy.REFERENCE and not pairs and not schema.reference_field:
            raise ValidationError(
                {
                    "keys": f"{connection.name} {schema.name} have no reference field: name the "
                    "field to match by, or match by keys."
                }
            )
        catalogue = Catalogue(connection.get_system_display(), schema.name, schema, None)
        problems = [p for _, target in pairs if (p := unknown_field(catalogue, target))]
        if problems:
            raise ValidationError({"keys": " ".join(problems)})


class MatchOutcome(models.TextChoices):
    UNIQUE = "unique", "One record matches"
    AMBIGUOUS = "ambiguous", "Several records match"
    PARTIAL = "partial", "Matches in part"
    NONE = "none", "No match"


class Decision(models.TextChoices):
    PENDING = "", "Waiting for a decision"
    LINK = "link", "Linked to an existing record"
    CREATE = "create", "Create new"
    SKIP = "skip", "Skipped"


class MatchDecision(models.Model):
    """The candidates a record matched, and what a person decided.

    Keyed to the ledger row that waits; ``flow`` and ``source_id`` repeat it so a
    "create new" holds for the source record from then on (it is never matched again).
    """

    record = models.OneToOneField(SyncRecord, on_delete=models.CASCADE, related_name="match")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    source_id = models.CharField(max_length=200)
    outcome = models.CharField(max_length=20, choices=MatchOutcome.choices)
    rule = models.ForeignKey(MatchingRule, on_delete=models.SET_NULL, null=True, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    decision = models.CharField(
        max_length=20, choices=Decision.choices, blank=True, default=Decision.PENDING
    )
    target_id = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["flow", "source_id"], name="match_flow_source")]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.get_outcome_display()}"
