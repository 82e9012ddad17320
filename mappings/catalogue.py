"""What the connected systems say about a mapping's entities: fields, and one sample record.

A mapping names its systems and entities as free text ("SYSPRO"/"customers",
"Xero"/"Contacts"). When a Connection of that system exists, its connector
describes the entity (cached for a few minutes: Salesforce's describe is an
HTTP call) and the admin uses the fields to check row paths and suggest names.
A catalogue is a help, never a gate: no connection, an unknown entity or an
unreachable system simply means no catalogue, and nothing is checked.

This module imports connectors, never the sync core.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from connectors.base import EntitySchema, FieldSpec
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.models import Connection
from mappings.engine import to_json_safe

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300
MISS_CACHE_SECONDS = 60  # an unreachable system is not asked again on every page view
_MISS = "-"

# Records of these systems carry related records the describe call lists as
# relationships, not fields (Salesforce ``Account.Name``, ``OpportunityLineItems[]``):
# an unknown segment that leads into nested data is not flagged there.
RELATIONSHIP_SYSTEMS = frozenset({"salesforce"})


@dataclass(frozen=True)
class Catalogue:
    """The fields of one entity of one system, as its connection describes them."""

    system: str
    entity: str
    schema: EntitySchema

    @property
    def label(self) -> str:
        return f"{self.system} {self.entity}"

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return self.schema.fields

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.schema.fields]


@dataclass(frozen=True)
class MappingCatalogue:
    """Both sides of a mapping; either may be None when no catalogue is available."""

    source: Catalogue | None
    target: Catalogue | None

    def __bool__(self) -> bool:
        return self.source is not None or self.target is not None


@dataclass(frozen=True)
class PathProblem:
    """An unknown field on one side (``sources`` or ``targets``) of one row."""

    row: Any
    field: str
    message: str


def connections_of(system: str) -> QuerySet[Connection]:
    """Connections of the system a mapping names as free text ("SYSPRO" → ``syspro``)."""
    return Connection.objects.filter(system__iexact=(system or "").strip()).order_by("pk")


def connection_for(system: str) -> Connection | None:
    if not (system or "").strip():
        return None
    return connections_of(system).first()


def _cache_key(connection: Connection, entity: str) -> str:
    changed = connection.updated_at.timestamp() if connection.updated_at else 0
    digest = hashlib.sha256(entity.encode()).hexdigest()[:24]
    return f"mappings:catalogue:{connection.pk}:{changed:.0f}:{digest}"


def entity_schema(*, connection: Connection, entity: str) -> EntitySchema | None:
    """The connection's description of ``entity``, or None when it cannot give one."""
    entity = (entity or "").strip()
    if not entity:
        return None
    key = _cache_key(connection, entity)
    cached = cache.get(key)
    if cached is not None:
        return None if cached == _MISS else cached
    try:
        schema = connector_for(connection).describe(entity)
    except (ConnectorError, ValueError, KeyError) as exc:
        # Xero answers an unknown entity with ValueError, SYSPRO with ConnectorError.
        logger.info("No catalogue for %s %r: %s", connection, entity, exc)
        cache.set(key, _MISS, MISS_CACHE_SECONDS)
        return None
    cache.set(key, schema, CACHE_SECONDS)
    return schema


def catalogue_for(*, system: str, entity: str) -> Catalogue | None:
    """The catalogue of a system and entity named as free text, if a connection gives one."""
    connection = connection_for(system)
    if connection is None:
        return None
    schema = entity_schema(connection=connection, entity=entity)
    if schema is None:
        return None
    return Catalogue(system=system.strip(), entity=entity.strip(), schema=schema)


def mapping_catalogue(*, mapping: Any) -> MappingCatalogue:
    """Source and target catalogues of a (possibly unsaved) mapping."""
    return MappingCatalogue(
        source=catalogue_for(system=mapping.source_system, entity=mapping.source_entity),
        target=catalogue_for(system=mapping.target_system, entity=mapping.target_entity),
    )


# Checking paths ---------------------------------------------------------------


def first_segment(path: str) -> str:
    """``SorDetail[].MStockCode`` → ``SorDetail``; ``Contact.Name`` → ``Contact``."""
    return path.strip().split(".", 1)[0].split("[", 1)[0].strip()


def _leads_inward(path: str) -> bool:
    head = path.strip()
    return len(head) > len(first_segment(head)) and head[len(first_segment(head))] in ".["


def unknown_field(catalogue: Catalogue, path: str) -> str | None:
    """A message when the path's first segment is not a field of the catalogue's entity."""
    name = first_segment(path)
    names = catalogue.names
    if not name or name in names:
        return None
    if catalogue.system.lower() in RELATIONSHIP_SYSTEMS and _leads_inward(path):
        return None
    message = f"{catalogue.label} has no field {name!r} (in {path!r})."
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    if close:
        message += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message


def check_rows(*, catalogue: MappingCatalogue, rows: Iterable[Any]) -> list[PathProblem]:
    """Unknown first segments of each row's source and target paths, per row and side."""
    problems = []
    for row in rows:
        for side, known in (("sources", catalogue.source), ("targets", catalogue.target)):
            if known is None:
                continue
            for path in getattr(row, side, None) or ():
                if isinstance(path, str) and (message := unknown_field(known, path)):
                    problems.append(PathProblem(row=row, field=side, message=message))
    return problems


def mapping_check_paths(*, mapping: Any, rows: Sequence[Any]) -> list[PathProblem]:
    """Check ``rows`` (possibly unsaved) against ``mapping``'s catalogues; [] without any."""
    if not rows:
        return []
    catalogue = mapping_catalogue(mapping=mapping)
    if not catalogue:
        return []
    return check_rows(catalogue=catalogue, rows=rows)


# Fetching a sample ------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """One source record as pretty JSON for the try-it page, or why there is none."""

    record_json: str | None = None
    error: str | None = None


def source_record_fetch(*, mapping: Any, connection: Connection, key: str) -> FetchResult:
    """Read one record of the mapping's source entity by its key from ``connection``."""
    key = (key or "").strip()
    entity = mapping.source_entity
    if not key:
        return FetchResult(error="Enter the record's key.")
    if connection.system.lower() != (mapping.source_system or "").strip().lower():
        return FetchResult(
            error=f"{connection} is not a {mapping.source_system} connection; choose another."
        )
    try:
        record = connector_for(connection).read_one(entity, key)
    except ConnectorError as exc:
        return FetchResult(error=f"Could not fetch {key!r} from {connection}: {exc.message}")
    except (ValueError, KeyError) as exc:
        return FetchResult(error=f"Could not fetch {key!r} from {connection}: {exc}")
    if record is None:
        return FetchResult(
            error=f"{mapping.source_system} {entity} {key!r} was not found in {connection}."
        )
    text = json.dumps(to_json_safe(record), indent=2, ensure_ascii=False, default=str)
    return FetchResult(record_json=text)
