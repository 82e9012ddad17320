"""Mappings and lookup tables as plain data: exported into a configuration bundle, imported back.

A bundle names things by their natural keys (mapping and table names), never
by database ids, so it moves between installations. Importing replaces a
mapping's rows and rules with the bundle's and recompiles it: a bundle whose
mapping does not compile is refused with the engine's own messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.utils import bulk_create_with_history

from mappings.engine import CompileError
from mappings.models import (
    Aggregation,
    ConditionalRule,
    Default,
    Enrichment,
    FieldMappingRow,
    LookupEntry,
    LookupTable,
    Mapping,
    MappingPart,
    Split,
)
from mappings.services import lookup_tables_touch, mapping_compile, mapping_save, mapping_touch

PART_MODELS: dict[str, type[MappingPart]] = {
    "rows": FieldMappingRow,
    "rules": ConditionalRule,
    "enrichments": Enrichment,
    "defaults": Default,
    "aggregations": Aggregation,
    "splits": Split,
}
MAPPING_FIELDS = ("description", "source_system", "source_entity", "target_system", "target_entity")
TABLE_FIELDS = ("description", "on_missing", "default_value", "case_sensitive")
SKIPPED_PART_FIELDS = {"id", "mapping"}
BUNDLE_REASON = "Imported from a configuration bundle"


@dataclass
class Change:
    """One line of an import's preview: what would be created or changed, and how."""

    kind: str  # lookup table | mapping | pair | flow
    name: str
    action: str  # create | change | unchanged
    details: list[str] = field(default_factory=list)


def _part_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in SKIPPED_PART_FIELDS]


def _part_data(part: MappingPart) -> dict[str, Any]:
    data = {}
    for f in _part_fields(type(part)):
        if isinstance(f, models.ForeignKey):
            data[f.name] = getattr(part, f.name).name  # a lookup table, by name
        else:
            data[f.name] = getattr(part, f.attname)
    return data


def mapping_export(mapping: Mapping) -> dict[str, Any]:
    data: dict[str, Any] = {"name": mapping.name}
    data.update({name: getattr(mapping, name) for name in MAPPING_FIELDS})
    for key, model in PART_MODELS.items():
        parts = model.objects.filter(mapping=mapping).order_by("order", "pk")
        data[key] = [_part_data(p) for p in parts]
    return data


def lookup_table_export(table: LookupTable) -> dict[str, Any]:
    data: dict[str, Any] = {"name": table.name}
    data.update({name: getattr(table, name) for name in TABLE_FIELDS})
    data["entries"] = dict(table.entries.order_by("key").values_list("key", "value"))
    return data


def tables_used(mappings: Iterable[Mapping]) -> list[LookupTable]:
    return list(LookupTable.objects.filter(mappings__in=list(mappings)).distinct().order_by("name"))


def _diff(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {current.get(name)!r} → {value!r}"
        for name, value in wanted.items()
        if current.get(name) != value
    ]


def lookup_table_preview(data: dict[str, Any]) -> Change:
    table = LookupTable.objects.filter(name=data["name"]).first()
    if table is None:
        return Change("lookup table", data["name"], "create", [f"{len(data['entries'])} entries"])
    current = lookup_table_export(table)
    details = _diff({k: current[k] for k in TABLE_FIELDS}, {k: data[k] for k in TABLE_FIELDS})
    added = set(data["entries"]) - set(current["entries"])
    removed = set(current["entries"]) - set(data["entries"])
    changed = {k for k in set(data["entries"]) & set(current["entries"])
               if data["entries"][k] != current["entries"][k]}  # fmt: skip
    for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
        if keys:
            details.append(f"{len(keys)} entries {label} (e.g. {sorted(keys)[0]!r})")
    return Change("lookup table", data["name"], "change" if details else "unchanged", details)


def mapping_preview(data: dict[str, Any]) -> Change:
    mapping = Mapping.objects.filter(name=data["name"]).first()
    if mapping is None:
        return Change("mapping", data["name"], "create", [f"{len(data['rows'])} field rows"])
    current = mapping_export(mapping)
    details = _diff({k: current[k] for k in MAPPING_FIELDS}, {k: data[k] for k in MAPPING_FIELDS})
    for key in PART_MODELS:
        if current[key] != data.get(key, []):
            details.append(
                f"{key}: {len(current[key])} → {len(data.get(key, []))}, contents differ"
            )
    return Change("mapping", data["name"], "change" if details else "unchanged", details)


def lookup_table_apply(data: dict[str, Any]) -> LookupTable:
    table, _ = LookupTable.objects.update_or_create(
        name=data["name"], defaults={k: data[k] for k in TABLE_FIELDS}
    )
    table.full_clean()
    table.entries.all().delete()
    bulk_create_with_history(
        [LookupEntry(table=table, key=key, value=value) for key, value in data["entries"].items()],
        LookupEntry,
    )
    lookup_tables_touch(table_ids=[table.pk], reason=BUNDLE_REASON)
    return table


def mapping_apply(data: dict[str, Any]) -> Mapping:
    """Create or replace a mapping from bundle data; it must compile, or nothing is kept."""
    mapping = Mapping.objects.filter(name=data["name"]).first() or Mapping(name=data["name"])
    for name in MAPPING_FIELDS:
        setattr(mapping, name, data[name])
    mapping_save(mapping=mapping)  # its history record is the one mapping_touch writes
    for key, model in PART_MODELS.items():
        model.objects.filter(mapping=mapping).delete()
        for values in data.get(key, []):
            kwargs = dict(values)
            for f in _part_fields(model):
                if isinstance(f, models.ForeignKey) and f.name in kwargs:
                    kwargs[f.name] = _table(kwargs[f.name], mapping)
            part = model(mapping=mapping, **kwargs)
            part.full_clean()
            part.save()
    mapping_touch(mapping=mapping, reason=BUNDLE_REASON)
    try:
        mapping_compile(mapping=mapping)
    except CompileError as exc:
        raise ValidationError(f"Mapping '{mapping.name}' does not compile: {exc}") from exc
    return mapping


def _table(name: str, mapping: Mapping) -> LookupTable:
    table = LookupTable.objects.filter(name=name).first()
    if table is None:
        raise ValidationError(
            f"Mapping '{mapping.name}' uses lookup table '{name}', which is neither in the "
            "bundle nor in this installation."
        )
    return table
