"""Turning a mapping's model rows into the engine's spec, and problems back into rows.

The admin validates unsaved form instances and a run compiles saved rows; both
go through ``build_spec`` so they can never disagree. Spec ids are positions
("row 3" is the third row in order), which is also what provenance and the
ledger show a consultant; ``Parts.owner`` maps a problem back to its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mappings import engine
from mappings.engine import CompileError, Problem
from mappings.models import (
    Aggregation,
    ConditionalRule,
    Default,
    Enrichment,
    FieldMappingRow,
    LookupTable,
    Split,
)


@dataclass
class Parts:
    """The rows and rules of one mapping, each list in the order the consultant set."""

    rows: Sequence[FieldMappingRow] = ()
    rules: Sequence[ConditionalRule] = ()
    enrichments: Sequence[Enrichment] = ()
    defaults: Sequence[Default] = ()
    aggregations: Sequence[Aggregation] = ()
    splits: Sequence[Split] = ()
    _owners: dict[tuple[str, Any], Any] = field(default_factory=dict, init=False)

    def lookup_names(self) -> set[str]:
        """Tables named by ``lookup`` transforms and enrichments."""
        names = {e.lookup.name for e in self.enrichments if e.lookup_id}
        for row in self.rows:
            for step in row.transforms or ():
                if step.get("name") == "lookup":
                    table = (step.get("args") or {}).get("table")
                    if isinstance(table, str):
                        names.add(table)
        return names

    def number(self) -> dict[str, list[Any]]:
        """Each kind of part in order, and the spec id of each remembered for ``owner``."""
        ordered = {
            "rows": _ordered(self.rows),
            "rules": _ordered(self.rules),
            "enrichments": _ordered(self.enrichments),
            "aggregations": _ordered(self.aggregations),
            "splits": _ordered(self.splits)[:1],
        }
        self._owners = {
            **{("row", n): row for n, row in enumerate(ordered["rows"], 1)},
            **{("rule", n): rule for n, rule in enumerate(ordered["rules"], 1)},
            **{("row", f"E{n}"): e for n, e in enumerate(ordered["enrichments"], 1)},
            **{("row", f"A{n}"): a for n, a in enumerate(ordered["aggregations"], 1)},
            **{("row", f"S{n}"): s for n, s in enumerate(ordered["splits"], 1)},
        }
        return ordered

    def describe(self, label: str) -> str:
        """A provenance label ("row 3", "enrichment E1") with what that row says."""
        kind, _, ident = label.partition(" ")
        key = ("rule", int(ident)) if kind == "rule" and ident.isdigit() else None
        if kind == "row" and ident.isdigit():
            key = ("row", int(ident))
        elif kind in {"enrichment", "aggregation", "split"}:
            key = ("row", ident)
        owner = self._owners.get(key) if key else None
        return f"{label}: {owner}" if owner is not None else label

    def owner(self, problem: Problem) -> tuple[Any, str | None] | None:
        """The instance a compile problem is about and the model field to mark, if known."""
        if problem.rule_id is not None:
            return self._owners.get(("rule", problem.rule_id)), _model_field(problem.field)
        if problem.row_id is not None:
            return self._owners.get(("row", problem.row_id)), _model_field(problem.field)
        for default in self.defaults:
            if problem.message.startswith(f"default for {default.target}:"):
                return default, "target"
        return None


def _model_field(spec_field: str | None) -> str | None:
    """``transforms[1].args.places`` → ``transforms``; ``targets[0]`` → ``targets``."""
    if not spec_field:
        return None
    return spec_field.split("[", 1)[0].split(".", 1)[0]


def _ordered(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda item: item.order)


def _text(value: str) -> str | None:
    return value or None


def build_spec(
    parts: Parts, tables: Iterable[LookupTable], entries: dict[int, dict[str, str]]
) -> engine.MappingSpec:
    """The engine spec for ``parts``; ``entries`` holds each table's entries by table id.

    Tables missing from ``entries`` compile empty: enough to check a mapping
    when it is saved without reading every entry of every table it names.
    """
    ordered = parts.number()
    rows = []
    for n, row in enumerate(ordered["rows"], 1):
        rows.append(
            engine.FieldRow(
                id=n,
                sources=tuple(row.sources or ()),
                targets=tuple(row.targets or ()),
                transforms=tuple(_transform(step) for step in row.transforms or ()),
                template=_text(row.template),
                combine=engine.Combine(row.combine),
                separator=row.separator,
            )
        )
    rules = []
    for n, rule in enumerate(ordered["rules"], 1):
        rules.append(
            engine.Rule(
                id=n,
                condition=rule.condition,
                effect=engine.Effect(rule.effect),
                target=_text(rule.target),
                value=rule.value,
                message=rule.message,
            )
        )
    enrichments = []
    for n, enrichment in enumerate(ordered["enrichments"], 1):
        enrichments.append(
            engine.Enrichment(
                id=f"E{n}",
                target=enrichment.target,
                key=enrichment.key,
                lookup=enrichment.lookup.name if enrichment.lookup_id else "",
            )
        )
    aggregations = []
    for n, aggregation in enumerate(ordered["aggregations"], 1):
        aggregations.append(
            engine.Aggregation(
                id=f"A{n}",
                lines=aggregation.lines,
                key=tuple(aggregation.key or ()),
                sum=tuple(aggregation.sum or ()),
            )
        )
    split = None
    for split_row in ordered["splits"]:
        split = engine.Split(
            id="S1",
            lines=split_row.lines,
            key=_text(split_row.key),
            header_field=_text(split_row.header_field),
            max_lines=split_row.max_lines,
        )
    return engine.MappingSpec(
        rows=tuple(rows),
        lookups=tuple(
            engine.LookupTable(
                name=table.name,
                entries=entries.get(table.pk, {}),
                on_missing=engine.OnMissing(table.on_missing),
                default=table.default_value,
                case_sensitive=table.case_sensitive,
            )
            for table in tables
        ),
        rules=tuple(rules),
        enrichments=tuple(enrichments),
        defaults={d.target: d.value for d in parts.defaults},
        aggregations=tuple(aggregations),
        split=split,
    )


def _transform(step: dict[str, Any]) -> engine.Transform:
    """A stored ``{"name", "args"}`` step (its shape is checked by the row's form)."""
    return engine.Transform(name=step["name"], args=step.get("args") or {})


def compile_parts(
    parts: Parts, tables: Iterable[LookupTable], entries: dict[int, dict[str, str]]
) -> engine.Plan:
    """Compile; a CompileError's problems can be placed with ``parts.owner``."""
    return engine.compile_mapping(build_spec(parts, tables, entries))


__all__ = ["CompileError", "Parts", "build_spec", "compile_parts"]
