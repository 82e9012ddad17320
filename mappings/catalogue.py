"""What the connected systems say about a mapping's entities: fields, and one sample record.

A mapping names its systems and entities as free text ("SYSPRO"/"customers",
"Xero"/"Contacts"). When a Connection of that system exists, its connector
describes the entity (cached for a few minutes: Salesforce's describe is an
HTTP call) and the admin uses the fields to check the paths a mapping names -
rows, enrichments, defaults, rule conditions and targets - and to suggest names.
A catalogue is a help, never a gate: no connection, an unknown entity or an
unreachable system simply means no catalogue, and nothing is checked.

This module imports connectors, never the sync core.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from connectors.base import EntitySchema, FieldSpec
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.models import Connection
from mappings.compiling import Parts
from mappings.engine import Effect, condition_fields, to_json_safe

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300
MISS_CACHE_SECONDS = 60  # an unreachable system is not asked again on every page view
_MISS = "-"

_NESTED_TYPES = frozenset({"object", "array"})


@dataclass(frozen=True)
class Catalogue:
    """The fields of one entity of one system, as its connection describes them.

    ``describe`` gives the schema of another entity of the same connection (None
    when it has none), for the records an object or array field holds; ``within``
    says which field of which entity a nested catalogue is for.
    """

    system: str
    entity: str
    schema: EntitySchema
    describe: Callable[[str], EntitySchema | None] | None = field(
        default=None, compare=False, repr=False
    )
    within: str = ""

    @property
    def label(self) -> str:
        where = f" ({self.within})" if self.within else ""
        return f"{self.system} {self.entity}{where}"

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return self.schema.fields

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.schema.fields]

    def nested(self, name: str) -> Catalogue | None:
        """The entity the object or array field ``name`` holds, if the connection describes it.

        Line arrays are often an entity of their own (SYSPRO's GenJournalDetail
        lines of a GenJournal), and an object field one record of an entity named
        in the plural (Xero's Invoice.Contact is one of its Contacts). Anything
        else is unknown, and what is unknown is not checked.
        """
        spec = next((f for f in self.schema.fields if f.name == name), None)
        if (
            spec is None
            or spec.type not in _NESTED_TYPES
            or self.describe is None
            or self.schema.relationship_paths
        ):
            return None
        for entity in dict.fromkeys((name, name if name.endswith("s") else f"{name}s")):
            schema = self.describe(entity)
            if schema is not None:
                within = f"the {name} of {self.entity}"
                return Catalogue(self.system, entity, schema, self.describe, within)
        return None


@dataclass(frozen=True)
class MappingCatalogue:
    """Both sides of a mapping; either may be None when no catalogue is available."""

    source: Catalogue | None
    target: Catalogue | None

    def __bool__(self) -> bool:
        return self.source is not None or self.target is not None


@dataclass(frozen=True)
class PathProblem:
    """An unknown field named by one model field (``sources``, ``key``, ``condition`` ...)
    of one part of a mapping (a row, rule, enrichment or default)."""

    part: Any
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
        # Every connector answers an unknown entity with a ConnectorError of kind config.
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

    def describe(name: str) -> EntitySchema | None:
        return entity_schema(connection=connection, entity=name)

    return Catalogue(system.strip(), entity.strip(), schema, describe)


def mapping_catalogue(*, mapping: Any) -> MappingCatalogue:
    """Source and target catalogues of a (possibly unsaved) mapping."""
    return MappingCatalogue(
        source=catalogue_for(system=mapping.source_system, entity=mapping.source_entity),
        target=catalogue_for(system=mapping.target_system, entity=mapping.target_entity),
    )


# Checking paths ---------------------------------------------------------------


def _keys(path: str) -> list[str]:
    """``SorDetail[].MStockCode`` -> ``["SorDetail", "MStockCode"]``."""
    return [part.split("[", 1)[0].strip() for part in path.strip().split(".")]


def unknown_field(catalogue: Catalogue, path: str) -> str | None:
    """A message when a field along the path is not a field of the entity it is in.

    Each key is looked up in the entity it belongs to: the mapping's entity for
    the first, then the entity an object or array field holds (``Lines[]`` ->
    the line entity) as far as the connection describes them. Past what the
    catalogue knows nothing is flagged.
    """
    keys = _keys(path)
    current: Catalogue | None = catalogue
    for depth, name in enumerate(keys):
        if current is None or not name:
            return None
        if name not in current.names:
            inward = depth < len(keys) - 1
            if inward and current.schema.relationship_paths:
                # Records there carry related records the schema lists as relationships,
                # not fields (the connector's describe says so): past one, nothing is known.
                return None
            return _unknown(current, name, path)
        if depth < len(keys) - 1:
            current = current.nested(name)
    return None


def _unknown(catalogue: Catalogue, name: str, path: str) -> str:
    names = catalogue.names
    message = f"{catalogue.label} has no field {name!r} (in {path!r})."
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    if close:
        message += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message


def _named_paths(parts: Parts) -> Iterator[tuple[Any, str, str, str]]:
    """Every field path the parts name: (part, model field, "source" or "target", path)."""
    for row in parts.rows:
        for side, paths in (("source", row.sources), ("target", row.targets)):
            for path in paths or ():
                yield row, f"{side}s", side, path
    for rule in parts.rules:
        # A rule skipping lines (target ``SorDetail[]``) reads the fields of one line.
        skips_lines = rule.effect == Effect.SKIP and (rule.target or "").endswith("[]")
        for path in condition_fields(rule.condition):
            yield rule, "condition", "source", f"{rule.target}.{path}" if skips_lines else path
        if rule.effect == Effect.SET and rule.target:
            yield rule, "target", "target", rule.target
    for enrichment in parts.enrichments:
        yield enrichment, "key", "source", enrichment.key
        yield enrichment, "target", "target", enrichment.target
    for default in parts.defaults:
        yield default, "target", "target", default.target


def check_parts(*, catalogue: MappingCatalogue, parts: Parts) -> list[PathProblem]:
    """Unknown fields in every path the parts name, each against its side's catalogue."""
    problems = []
    for part, field_name, side, path in _named_paths(parts):
        known = catalogue.source if side == "source" else catalogue.target
        if known is not None and isinstance(path, str):
            message = unknown_field(known, path)
            if message:
                problems.append(PathProblem(part=part, field=field_name, message=message))
    return problems


def mapping_check_paths(*, mapping: Any, parts: Parts) -> list[PathProblem]:
    """Check ``parts`` (possibly unsaved) against ``mapping``'s catalogues; [] without any."""
    if not any((parts.rows, parts.rules, parts.enrichments, parts.defaults)):
        return []
    catalogue = mapping_catalogue(mapping=mapping)
    if not catalogue:
        return []
    return check_parts(catalogue=catalogue, parts=parts)


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
