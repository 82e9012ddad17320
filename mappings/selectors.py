"""Reads of mappings and lookup tables, shaped for the services and the admin."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from mappings.compiling import Parts
from mappings.models import LookupEntry, LookupTable, Mapping


def mapping_parts(*, mapping: Mapping) -> Parts:
    """Every row and rule of a saved mapping, in a fixed number of queries."""
    return Parts(
        rows=list(mapping.fieldmappingrows.all()),
        rules=list(mapping.conditionalrules.all()),
        enrichments=list(mapping.enrichments.select_related("lookup")),
        defaults=list(mapping.defaults.all()),
        aggregations=list(mapping.aggregations.all()),
        splits=list(mapping.splits.all()),
    )


def lookup_tables_named(*, names: Iterable[str]) -> QuerySet[LookupTable]:
    return LookupTable.objects.filter(name__in=list(names))


def lookup_tables_all() -> QuerySet[LookupTable]:
    """Every table without its entries: what a mapping may name when it is saved."""
    return LookupTable.objects.all()


def lookup_entries_by_table(*, table_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """``{table id: {key: value}}`` read as tuples: a 100,000-entry table stays cheap."""
    entries: dict[int, dict[str, str]] = {}
    rows = LookupEntry.objects.filter(table_id__in=list(table_ids)).values_list(
        "table_id", "key", "value"
    )
    for table_id, key, value in rows.iterator(chunk_size=10_000):
        entries.setdefault(table_id, {})[key] = value
    return entries


def mappings_using_tables(*, table_ids: Iterable[int]) -> QuerySet[Mapping]:
    return Mapping.objects.filter(mappinglookup__table_id__in=list(table_ids)).distinct()
