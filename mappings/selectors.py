"""Reads of mappings and lookup tables, shaped for the services and the admin."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, Q, QuerySet, UniqueConstraint

from mappings.compiling import Parts
from mappings.models import MAPPING_FIELDS, MAPPING_PART_MODELS, LookupEntry, LookupTable, Mapping


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


# History ---------------------------------------------------------------------

HISTORY_LINES_PER_TABLE = 20


@dataclass(frozen=True)
class HistoryLine:
    """One line of a change as the history page shows it: what, and its old and new text."""

    field: str
    old: str
    new: str


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if value in ("", None):
        return "(blank)"
    return str(value)


def _record_lines(record: Any, label: str) -> list[HistoryLine]:
    """What one historical record of a row, rule or entry changed, in words."""
    if record.history_type == "+":
        return [HistoryLine(label, "(none)", "added")]
    if record.history_type == "-":
        return [HistoryLine(label, "present", "deleted")]
    previous = record.prev_record
    if previous is None:
        return [HistoryLine(label, "(unknown)", "changed")]
    delta = record.diff_against(previous, foreign_keys_are_objs=False)
    return [
        HistoryLine(f"{label}: {change.field}", _text(change.old), _text(change.new))
        for change in delta.changes
    ]


def _part_label(record: Any) -> str:
    return f"{record.instance_type._meta.verbose_name} “{record.instance}”"


def mapping_history_changes(
    *, mapping: Mapping, records: Sequence[Any]
) -> dict[int, list[HistoryLine]]:
    """For each history record of ``mapping``: every change it closes, in words.

    ``services.mapping_touch`` writes one mapping record after every change of
    the mapping, its rows, rules, enrichments, defaults, aggregations, splits or
    the lookup tables it uses; a record's changes are all the history of those
    between the mapping's record before it and this one.
    """
    if not records:
        return {}
    ordered = sorted(records, key=lambda r: r.history_date)
    dates = [r.history_date for r in ordered]
    before = (
        Mapping.history.filter(id=mapping.pk, history_date__lt=dates[0])
        .order_by("-history_date")
        .values_list("history_date", flat=True)
        .first()
    ) or dt.datetime.min.replace(tzinfo=dt.UTC)
    lines: dict[int, list[HistoryLine]] = {r.history_id: [] for r in ordered}
    hidden: dict[tuple[int, str], int] = {}

    def place(when: dt.datetime) -> int:
        return ordered[min(bisect.bisect_left(dates, when), len(ordered) - 1)].history_id

    for record in ordered:
        previous = record.prev_record
        if previous is not None:
            delta = record.diff_against(previous)
            lines[record.history_id] += [
                HistoryLine(f"mapping: {c.field}", _text(c.old), _text(c.new))
                for c in delta.changes
            ]
    window = {"history_date__gt": before, "history_date__lte": dates[-1]}
    for model in MAPPING_PART_MODELS:
        for record in model.history.filter(mapping_id=mapping.pk, **window).order_by(
            "history_date"
        ):
            lines[place(record.history_date)] += _record_lines(record, _part_label(record))
    tables = {t.pk: t.name for t in mapping.lookup_tables.all()}
    for record in LookupTable.history.filter(id__in=list(tables), **window):
        lines[place(record.history_date)] += _record_lines(record, f"lookup table {record.name}")
    entries = LookupEntry.history.filter(table_id__in=list(tables), **window)
    for record in entries.order_by("history_date").iterator(chunk_size=2_000):
        owner = place(record.history_date)
        name = tables[record.table_id]
        shown = sum(1 for line in lines[owner] if line.field.startswith(f"lookup {name} "))
        if shown >= HISTORY_LINES_PER_TABLE:
            hidden[(owner, name)] = hidden.get((owner, name), 0) + 1
            continue
        lines[owner] += _record_lines(record, f"lookup {name} entry {record.key!r}")
    for (owner, name), count in hidden.items():
        lines[owner].append(HistoryLine(f"lookup {name}", "", f"and {count} more entries changed"))
    return lines


@dataclass
class RestorePlan:
    """How one kind of object gets back to a point in time: what goes, changes and returns."""

    model: type[Model]
    delete: list[Model] = field(default_factory=list)
    update: list[tuple[Model, Model]] = field(default_factory=list)  # (now, then)
    create: list[Model] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.delete or self.update or self.create)

    def lines(self, label: Any) -> list[HistoryLine]:
        """The plan in words; ``label(obj)`` names an object."""
        out = [HistoryLine(label(o), "present", "deleted") for o in self.delete]
        for now, then in self.update:
            out += [
                HistoryLine(f"{label(now)}: {name}", _text(getattr(now, name)),
                            _text(getattr(then, name)))
                for name in self.fields
                if getattr(now, name) != getattr(then, name)
            ]  # fmt: skip
        out += [HistoryLine(label(o), "(none)", "restored") for o in self.create]
        return out


def restore_plan(
    *,
    model: type[Model],
    current: Iterable[Model],
    wanted: Iterable[Model],
    only: Sequence[str] = (),
) -> RestorePlan:
    """Compare objects as they are with objects as they were (same primary keys).

    ``only`` limits the fields compared and restored (a table's settings, not its version).

    An object whose unique fields change is deleted and created again, so two
    rows that swapped a unique value never collide half-way.
    """
    names = list(only) or [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    unique = [
        model._meta.get_field(name).attname
        for constraint in model._meta.constraints
        if isinstance(constraint, UniqueConstraint)
        for name in constraint.fields
    ]
    now = {obj.pk: obj for obj in current}
    then = {obj.pk: obj for obj in wanted}
    plan = RestorePlan(model=model, fields=names)
    for pk, obj in now.items():
        old = then.get(pk)
        if old is None or any(getattr(obj, n) != getattr(old, n) for n in unique):
            plan.delete.append(obj)
        elif any(getattr(obj, n) != getattr(old, n) for n in names):
            plan.update.append((obj, old))
    gone = {obj.pk for obj in plan.delete}
    plan.create = [obj for pk, obj in then.items() if pk not in now or pk in gone]
    return plan


def _tracked(model: type[Model], objects: QuerySet[Any]) -> list[Any]:
    """The objects that have a history: one without (made by a bulk write before history
    was kept) has no known past, so a revert leaves it as it is."""
    known = model.history.filter(id__in=objects.values("pk")).values("id")  # type: ignore[attr-defined]
    return list(objects.filter(pk__in=known))


TABLE_SETTINGS = ("description", "on_missing", "default_value", "case_sensitive")


def mapping_restore_plans(*, mapping: Mapping, when: dt.datetime) -> list[RestorePlan]:
    """What reverting ``mapping`` to ``when`` changes: its parts, then its lookup tables.

    The tables are those the mapping used at ``when`` that still exist; their
    settings and entries go back to what they were then.
    """
    plans = []
    parts: dict[str, list[Any]] = {}
    for model in MAPPING_PART_MODELS:
        wanted = list(model.history.as_of(when).filter(mapping_id=mapping.pk))
        parts[model._meta.model_name] = wanted
        current = _tracked(model, model.objects.filter(mapping=mapping))
        plans.append(restore_plan(model=model, current=current, wanted=wanted))
    named = Parts(rows=parts["fieldmappingrow"]).lookup_names()
    enriched = [e.lookup_id for e in parts["enrichment"]]
    for table in LookupTable.objects.filter(Q(name__in=named) | Q(pk__in=enriched)):
        then = list(LookupTable.history.as_of(when).filter(id=table.pk))
        if then:
            plans.append(
                restore_plan(model=LookupTable, current=[table], wanted=then, only=TABLE_SETTINGS)
            )
        wanted = list(LookupEntry.history.as_of(when).filter(table_id=table.pk))
        current = _tracked(LookupEntry, table.entries.all())
        plans.append(restore_plan(model=LookupEntry, current=current, wanted=wanted))
    return plans


def restore_plans_tables(*, plans: Iterable[RestorePlan]) -> set[int]:
    """The lookup tables whose settings or entries the plans change."""
    tables: set[int] = set()
    for plan in plans:
        touched = [*plan.delete, *plan.create, *(now for now, _ in plan.update)]
        if plan.model is LookupEntry:
            tables |= {o.table_id for o in touched}
        elif plan.model is LookupTable:
            tables |= {o.pk for o in touched}
    return tables


def _restore_label(obj: Any) -> str:
    if isinstance(obj, LookupEntry):
        return f"lookup {obj.table.name} entry {obj.key!r}"
    if isinstance(obj, LookupTable):
        return f"lookup table {obj.name}"
    return f"{obj._meta.verbose_name} “{obj}”"


REVERT_PREVIEW_LINES = 500


@dataclass(frozen=True)
class RevertPreview:
    """What reverting a mapping to a history record would change, before it is done."""

    lines: list[HistoryLine]
    more: int  # lines not shown
    shared_with: list[str]  # other mappings using a lookup table the revert changes


def mapping_revert_preview(*, mapping: Mapping, record: Any) -> RevertPreview:
    lines = [
        HistoryLine(f"mapping: {name}", _text(getattr(mapping, name)), _text(getattr(record, name)))
        for name in MAPPING_FIELDS
        if getattr(mapping, name) != getattr(record, name)
    ]
    plans = mapping_restore_plans(mapping=mapping, when=record.history_date)
    for plan in plans:
        lines += plan.lines(_restore_label)
    tables = restore_plans_tables(plans=plans)
    shared = mappings_using_tables(table_ids=tables).exclude(pk=mapping.pk)
    return RevertPreview(
        lines=lines[:REVERT_PREVIEW_LINES],
        more=max(0, len(lines) - REVERT_PREVIEW_LINES),
        shared_with=sorted(m.name for m in shared),
    )
