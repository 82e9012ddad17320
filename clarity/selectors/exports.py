"""The rows of the exports finance and auditors ask for: the ledger and the audit trail.

Rows come off a server-side cursor (``.iterator(chunk_size=...)``), so an
export of a million records holds one chunk in memory, never the table. What is
exported is what the caller's queryset selects: the admin hands its changelist's
queryset (its filters, search and ordering), so a file matches the screen.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.utils.timezone import localtime

from clarity.models import AuditEvent, SyncRecord
from mappings import models as mapping_models

CHUNK_ROWS = 1_000  # rows per fetch from the server-side cursor (about 1 MB of ledger rows)

# (header, the ledger column or joined name it is read from)
LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("created", "created_at"),
    ("updated", "updated_at"),
    ("pair", "pair__name"),
    ("flow", "flow__name"),
    ("status", "status"),
    ("error kind", "error_kind"),
    ("error code", "error_code"),
    ("message", "message"),
    ("source id", "source_id"),
    ("source version", "source_version"),
    ("part", "part"),
    ("business key", "business_key"),
    ("target id", "target_id"),
    ("attempts", "attempts"),
    ("assigned to", "assigned_to__username"),
    ("tags", "tags"),
    ("resolved by", "resolved_by__username"),
    ("resolved at", "resolved_at"),
    ("resolution note", "resolution_note"),
)
LEDGER_HEADERS = tuple(header for header, _ in LEDGER_COLUMNS)

AUDIT_HEADERS = ("when", "who", "area", "action", "object", "detail")

# Configuration whose history django-simple-history keeps (mappings/models.py): each
# change of a mapping, its rows and rules, a lookup table or entry is one audit row.
CONFIGURATION_MODELS: tuple[type[models.Model], ...] = (
    mapping_models.Mapping,
    mapping_models.FieldMappingRow,
    mapping_models.ConditionalRule,
    mapping_models.Enrichment,
    mapping_models.Default,
    mapping_models.Aggregation,
    mapping_models.Split,
    mapping_models.LookupTable,
    mapping_models.LookupEntry,
)
_HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
# The fields that name a configuration object to a person, first found wins.
_NAMING_FIELDS = ("name", "key", "target", "targets", "condition")


def cell_text(value: Any) -> Any:
    """A value as an export writes it: times in local time (ISO), None as empty, text as is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return localtime(value).isoformat()
    return value


def ledger_export_rows(*, records: QuerySet[SyncRecord]) -> Iterator[tuple[Any, ...]]:
    """The selected ledger records in the queryset's order, one tuple per record."""
    columns = [column for _, column in LEDGER_COLUMNS]
    for row in records.values_list(*columns).iterator(chunk_size=CHUNK_ROWS):
        yield tuple(cell_text(value) for value in row)


@dataclass(frozen=True)
class AuditRow:
    when: datetime
    who: str
    area: str
    action: str
    object: str
    detail: str

    def cells(self) -> tuple[Any, ...]:
        return (cell_text(self.when), self.who, self.area, self.action, self.object, self.detail)


def _detail(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str) if value else ""


def _events(events: QuerySet[AuditEvent]) -> Iterator[AuditRow]:
    rows = events.values_list(
        "created_at",
        "user__username",
        "action",
        "record__source_id",
        "flow__pair__name",
        "flow__name",
        "detail",
    ).order_by("-created_at", "-id")
    for when, who, action, source_id, pair, flow, detail in rows.iterator(chunk_size=CHUNK_ROWS):
        what = f"record {source_id}" if source_id is not None else "flow"
        where = f" in {pair}: {flow}" if flow else ""
        yield AuditRow(when, who or "", "ledger", action, f"{what}{where}", _detail(detail))


def _history(
    model: type[models.Model], *, since: datetime | None, until: datetime | None, user_id: Any
) -> Iterator[AuditRow]:
    history = model.history.model  # type: ignore[attr-defined]
    tracked = [f.attname for f in history._meta.fields if not f.name.startswith("history_")]
    rows = history.objects.all()
    if since is not None:
        rows = rows.filter(history_date__gte=since)
    if until is not None:
        rows = rows.filter(history_date__lt=until)
    if user_id is not None:
        rows = rows.filter(history_user_id=user_id)
    naming = next((name for name in _NAMING_FIELDS if name in tracked), "id")
    area = str(model._meta.verbose_name)
    values = rows.order_by("-history_date", "-history_id").values(
        "history_date", "history_user__username", "history_type", *tracked
    )
    for row in values.iterator(chunk_size=CHUNK_ROWS):
        snapshot = {name: row[name] for name in tracked}
        yield AuditRow(
            row["history_date"],
            row["history_user__username"] or "",
            area,
            _HISTORY_ACTIONS.get(row["history_type"], row["history_type"]),
            f"{area} {row['id']}: {snapshot[naming]}" if naming != "id" else f"{area} {row['id']}",
            _detail(snapshot),
        )


def audit_trail_rows(
    *,
    events: QuerySet[AuditEvent],
    configuration: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: Any = None,
) -> Iterator[tuple[Any, ...]]:
    """Who changed which record, mapping or lookup, and when: newest first.

    ``events`` are the people's changes to the ledger (as the audit page selects
    them); with ``configuration``, every change of a mapping or lookup in the same
    period (and by the same person, when one is chosen) is merged in by time.
    Each source streams from its own cursor: the merge holds one row of each.
    """
    sources: list[Iterable[AuditRow]] = [_events(events)]
    if configuration:
        sources += [
            _history(model, since=since, until=until, user_id=user_id)
            for model in CONFIGURATION_MODELS
        ]
    for row in heapq.merge(*sources, key=lambda r: r.when, reverse=True):
        yield row.cells()
