"""Compiling a MappingSpec into a Plan, and applying the Plan to records.

Compile once (when a mapping is saved or a run starts), apply many times. The
order a record goes through is fixed and documented in ``mappings.engine``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mappings.engine.codegen import LineGroup, Operations, generate
from mappings.engine.error_codes import ErrorCode
from mappings.engine.fields import FieldOp, Target, combine_merge, field_op, target, template_merge
from mappings.engine.lookups import Lookup, compile_lookups
from mappings.engine.paths import EACH, Path, parse_path, setter
from mappings.engine.problems import CompileError, Problem, SpecError, show
from mappings.engine.reshape import Aggregator, Splitter
from mappings.engine.rules import CompiledRule, RuleSet, parse_expression
from mappings.engine.spec import (
    Combine,
    Effect,
    Enrichment,
    FieldRow,
    MappingSpec,
    RowId,
    Rule,
    Transform,
)
from mappings.engine.transforms import Step, build_transform


class Outcome(StrEnum):
    MAPPED = "mapped"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(slots=True)
class Result:
    """What became of one source record.

    ``records`` holds one target record, or several when the mapping splits;
    ``provenance`` (only with ``apply(..., trace=True)``) maps each target field
    path to what produced it: ``"row 7"``, ``"rule 3"``, ``"enrichment 2"``,
    ``"default"``, ``"aggregation 1"``, ``"split 1"``. Line fields are keyed per
    line (``LineItems[0].AccountCode``), before aggregation and splitting.

    Read-only by convention: not frozen because a frozen dataclass costs about a
    microsecond more per record to build.
    """

    outcome: Outcome
    records: tuple[dict[str, Any], ...] = ()
    problems: tuple[Problem, ...] = ()
    skip_reason: str | None = None
    provenance: Mapping[str, str] | None = None

    @property
    def record(self) -> dict[str, Any] | None:
        return self.records[0] if self.records else None


class Plan:
    """A compiled mapping. Reusable for any number of records; not shared across threads."""

    def __init__(
        self,
        *,
        rules: RuleSet | None,
        operations: Operations,
        aggregations: list[Aggregator],
        splitter: Splitter | None,
    ) -> None:
        self._rules = rules
        self._operations = operations
        self._map = generate(operations, trace=False)
        self._traced_map: Callable[..., None] | None = None  # generated on first use
        self._aggregations = aggregations
        self._splitter = splitter

    def apply(self, record: Any, *, trace: bool = False) -> Result:
        """Map one source record. Never raises: any failure comes back as a problem."""
        try:
            return self._apply(record, {} if trace else None)
        except Exception as exc:  # a record must never crash a run
            return Result(
                Outcome.FAILED,
                problems=(
                    Problem(
                        ErrorCode.INTERNAL_ERROR,
                        "the mapping engine could not process this record "
                        f"({type(exc).__name__}: {show(str(exc))}); please report it",
                    ),
                ),
            )

    def _apply(self, record: Any, trace: dict[str, str] | None) -> Result:
        if type(record) is not dict:
            problem = Problem(
                ErrorCode.NOT_AN_OBJECT, f"the record is not an object: {show(record)}"
            )
            return Result(Outcome.FAILED, problems=(problem,))
        problems: list[Problem] = []
        sets: list[CompiledRule] = []
        if self._rules is not None:
            for rule in self._rules.fired(record, problems):
                if rule.effect is Effect.SKIP:
                    reason = rule.message or f"rule {rule.id} matched: {rule.text}"
                    return Result(Outcome.SKIPPED, skip_reason=reason, provenance=trace)
                if rule.effect is Effect.FAIL:
                    message = rule.message or f"rule {rule.id} matched: {rule.text}"
                    problems.append(Problem(ErrorCode.RULE_FAILED, message, rule_id=rule.id))
                else:
                    sets.append(rule)
        out: dict[str, Any] = {}
        if trace is None:
            self._map(record, out, problems, sets)
        else:
            if self._traced_map is None:
                self._traced_map = generate(self._operations, trace=True)
            self._traced_map(record, out, problems, sets, trace)
        for aggregate in self._aggregations:
            aggregate(out, problems)
            if trace is not None:
                trace[aggregate.lines] = f"aggregation {aggregate.id}"
        records = [out]
        if self._splitter is not None and not problems:
            records = self._splitter(out, problems)
            if trace is not None:
                trace[self._splitter.lines] = f"split {self._splitter.id}"
        if problems:
            return Result(Outcome.FAILED, problems=tuple(problems), provenance=trace)
        return Result(Outcome.MAPPED, records=tuple(records), provenance=trace)


class _LineSkip:
    """Skip rules on one source line array: a line any of them matches is left out."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = [rule for rule, _ in rules.rules]
        self._fired = rules.fired

    def __call__(self, line: dict[str, Any], problems: list[Problem]) -> bool:
        return bool(self._fired(line, problems))


class _Compiler:
    """Compiles a spec, collecting every problem instead of stopping at the first."""

    def __init__(self, spec: MappingSpec) -> None:
        self.spec = spec
        self.problems: list[Problem] = []
        self.lookups: dict[str, Lookup] = {}
        self.groups: dict[str, LineGroup] = {}
        self.header: list[FieldOp] = []
        self.fills: list[FieldOp] = []

    @contextmanager
    def owner(
        self,
        name: str,
        *,
        row_id: RowId | None = None,
        rule_id: RowId | None = None,
        prefix: str = "",
    ) -> Iterator[None]:
        """Turn errors raised while compiling one spec object into problems naming it."""
        try:
            yield
        except SpecError as exc:
            self.problems.append(
                Problem(
                    exc.code,
                    f"{name}: {exc.message}",
                    field=f"{prefix}{exc.field}" if exc.field else None,
                    row_id=row_id,
                    rule_id=rule_id,
                    lookup=exc.lookup,
                    position=exc.position,
                )
            )
        except (TypeError, AttributeError, ValueError) as exc:
            self.problems.append(
                Problem(ErrorCode.INVALID_SPEC, f"{name}: {exc}", row_id=row_id, rule_id=rule_id)
            )

    def compile(self) -> Plan:
        lookups, errors = compile_lookups(tuple(self.spec.lookups))
        self.lookups = lookups
        for error in errors:
            with self.owner(f'lookup "{error.lookup}"'):
                raise error
        for row in self.spec.rows:
            with self.owner(f"row {row.id}", row_id=row.id):
                self.row(row)
        rules: list[CompiledRule] = []
        line_rules: list[CompiledRule] = []
        for rule in self.spec.rules:
            with self.owner(f"rule {rule.id}", rule_id=rule.id):
                compiled = self.rule(rule)
                (rules if compiled.lines is None else line_rules).append(compiled)
        for enrichment in self.spec.enrichments:
            with self.owner(f"enrichment {enrichment.id}", row_id=enrichment.id):
                self.enrichment(enrichment)
        for path_text, value in dict(self.spec.defaults).items():
            with self.owner(f"default for {path_text}"):
                self.default(path_text, value)
        groups = []
        for group in self.groups.values():
            with self.owner(f"lines {group.target.text}[]"):
                if group.source is None:
                    raise SpecError(
                        ErrorCode.INVALID_LINE_MAPPING,
                        f"fields are mapped into {group.target.text}[] but no row reads a source "
                        "line: map at least one field like Lines[].StockCode",
                    )
                groups.append(group)
        for line_rule in line_rules:
            with self.owner(f"rule {line_rule.id}", rule_id=line_rule.id):
                self.line_rule(line_rule, groups)
        aggregations = []
        for aggregation in self.spec.aggregations:
            with self.owner(f"aggregation {aggregation.id}", row_id=aggregation.id):
                aggregations.append(Aggregator(aggregation, self.lines(aggregation.lines)))
        splitter = None
        if self.spec.split is not None:
            with self.owner(f"split {self.spec.split.id}", row_id=self.spec.split.id):
                splitter = Splitter(self.spec.split, self.lines(self.spec.split.lines))
        if self.problems:
            raise CompileError(self.problems)
        return Plan(
            rules=RuleSet(rules) if rules else None,
            operations=Operations(tuple(self.header), tuple(self.fills), tuple(groups)),
            aggregations=aggregations,
            splitter=splitter,
        )

    def lines(self, text: Any) -> str:
        """The top-level target line array named by an aggregation or split."""
        name = text.removesuffix("[]") if isinstance(text, str) else text
        if name not in self.groups or "." in name:
            known = ", ".join(f"{g}[]" for g in self.groups) or "none"
            raise SpecError(
                ErrorCode.INVALID_LINE_MAPPING,
                f"{show(text)} is not a target line array mapped by a row (mapped: {known})",
                "lines",
            )
        return name

    def placed(
        self, sources: list[Path], targets: list[Path], target_fields: list[str]
    ) -> tuple[LineGroup | None, list[Target]]:
        """Check sources and targets agree on header vs line; find the line group if any."""
        arrays = {t.line_array.text for t in targets if t.line_array is not None}
        source_arrays = {s.line_array.text for s in sources if s.line_array is not None}
        if not arrays:
            if source_arrays:
                raise SpecError(
                    ErrorCode.INVALID_LINE_MAPPING,
                    f"{sources[0].text} is a line field, so its target must be one too "
                    "(e.g. LineItems[].ItemCode); to read one line use Lines[0].Field",
                    "targets[0]",
                )
            return None, [target(t, f) for t, f in zip(targets, target_fields, strict=True)]
        if len(arrays) > 1 or any(t.line_array is None for t in targets):
            raise SpecError(
                ErrorCode.INVALID_LINE_MAPPING,
                "all targets of a row must be in the same line array, or all in the header",
                "targets",
            )
        line_array = next(t.line_array for t in targets if t.line_array is not None)
        if "." in line_array.text or line_array.segments[0].index is not None:
            raise SpecError(
                ErrorCode.INVALID_LINE_MAPPING,
                f"target line arrays must be top-level fields ({line_array.text}[])",
                "targets[0]",
            )
        group = self.groups.setdefault(line_array.text, LineGroup(line_array))
        if len(source_arrays) > 1:
            raise SpecError(
                ErrorCode.INVALID_LINE_MAPPING,
                f"a row can read lines of one source array only ({', '.join(source_arrays)})",
                "sources",
            )
        for source in sources:
            if source.line_array is None:
                continue
            if group.source is None:
                group.source = source.line_array
            elif group.source.text != source.line_array.text:
                raise SpecError(
                    ErrorCode.INVALID_LINE_MAPPING,
                    f"{line_array.text}[] is built from {group.source.text}[] lines, "
                    f"so this row cannot read {source.text}",
                    "sources",
                )
        return group, [target(t, f) for t, f in zip(targets, target_fields, strict=True)]

    def transforms(self, transforms: tuple[Transform, ...]) -> list[Step]:
        steps = []
        for i, transform in enumerate(transforms):
            try:
                steps.append(build_transform(transform, self.lookups))
            except SpecError as exc:
                exc.field = f"transforms[{i}].{exc.field}" if exc.field else f"transforms[{i}]"
                raise
        return steps

    def row(self, row: FieldRow) -> None:
        sources = [parse_path(s, f"sources[{i}]") for i, s in enumerate(row.sources)]
        target_fields = [f"targets[{i}]" for i in range(len(row.targets))]
        targets = [parse_path(t, f) for t, f in zip(row.targets, target_fields, strict=True)]
        if not targets:
            raise SpecError(ErrorCode.INVALID_SPEC, "name at least one target field", "targets")
        group, placed = self.placed(sources, targets, target_fields)
        steps = self.transforms(tuple(row.transforms))
        if not sources and not steps:
            raise SpecError(
                ErrorCode.INVALID_SPEC,
                "a row without a source needs a transform (e.g. constant) to give it a value",
                "sources",
            )
        if row.template is not None:
            merge = template_merge(row.template, sources)
        else:
            merge = combine_merge(Combine(row.combine), row.separator)
        op = field_op(
            row_id=row.id,
            label=f"row {row.id}",
            sources=sources,
            targets=placed,
            merge=merge,
            steps=steps,
        )
        (self.header if group is None else group.ops).append(op)

    def rule(self, rule: Rule) -> CompiledRule:
        effect = Effect(rule.effect)
        tree = parse_expression(rule.condition)
        set_target = None
        lines = None
        if effect is Effect.SKIP and isinstance(rule.target, str) and rule.target.endswith(EACH):
            lines = self.skipped_lines(rule.target)  # other targets of a skip are not read
        elif effect is Effect.SET:
            path = parse_path(rule.target, "target")
            if path.line_array is not None:
                raise SpecError(
                    ErrorCode.INVALID_RULE, "a rule can only set a header field", "target"
                )
            set_target = setter(path, "target")
        elif not isinstance(rule.message, str):
            raise SpecError(ErrorCode.INVALID_RULE, "the message must be text", "message")
        return CompiledRule(
            rule.id,
            rule.condition,
            tree,
            effect,
            rule.message,
            set_target,
            rule.target,
            rule.value,
            lines,
        )

    @staticmethod
    def skipped_lines(text: str) -> str:
        """The source line array a skip rule's target names (``SorDetail[]``), as a plain path."""
        path = parse_path(text.removesuffix(EACH), "target")
        if path.line_array is not None or any(s.index is not None for s in path.segments):
            raise SpecError(
                ErrorCode.INVALID_RULE, f"{show(text)} is not a source line array", "target"
            )
        return path.text

    @staticmethod
    def line_rule(rule: CompiledRule, groups: list[LineGroup]) -> None:
        """Have every target line array built from the rule's source lines skip what it matches."""
        built = [g for g in groups if g.source is not None and g.source.text == rule.lines]
        if not built:
            read = ", ".join(f"{g.source.text}[]" for g in groups if g.source) or "none"
            raise SpecError(
                ErrorCode.INVALID_RULE,
                f"no row maps lines of {rule.lines}[], so there are no lines to skip "
                f"(rows read lines of: {read})",
                "target",
            )
        for group in built:
            held = group.skip.rules if isinstance(group.skip, _LineSkip) else []
            group.skip = _LineSkip(RuleSet([*held, rule]))

    def enrichment(self, enrichment: Enrichment) -> None:
        key = parse_path(enrichment.key, "key")
        goal = parse_path(enrichment.target, "target")
        group, placed = self.placed([key], [goal], ["target"])
        try:
            lookup = build_transform(
                Transform("lookup", {"table": enrichment.lookup}), self.lookups
            )
        except SpecError as exc:
            exc.field = "lookup"
            raise
        op = field_op(
            row_id=enrichment.id,
            label=f"enrichment {enrichment.id}",
            sources=[key],
            targets=placed,
            merge=None,
            steps=[lookup],
            fill_only=True,
        )
        (self.fills if group is None else group.fills).append(op)

    def default(self, path_text: str, value: Any) -> None:
        goal = parse_path(path_text, "target")
        group, placed = self.placed([], [goal], ["target"])
        op = field_op(
            row_id=None,
            label="default",
            sources=[],
            targets=placed,
            merge=None,
            steps=[Step(lambda _: value, keeps_none=False)],
            fill_only=True,
        )
        (self.fills if group is None else group.fills).append(op)


def compile_mapping(spec: MappingSpec) -> Plan:
    """Validate and compile a mapping; raises CompileError listing every problem found."""
    if not isinstance(spec, MappingSpec):
        raise CompileError([Problem(ErrorCode.INVALID_SPEC, "expected a MappingSpec")])
    return _Compiler(spec).compile()
