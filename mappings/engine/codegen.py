"""One generated Python function per plan: every row, fill and line loop fused.

Calling a closure per field per line (plus the transform chain's own calls)
was most of the engine's time, so a plan's field operations are turned into
Python source - dict reads, ``is None`` checks, ``try`` blocks and dict writes
inline - and compiled once with ``compile()``. The common case of the hot
transforms and of ``multiply`` is written inline too (``mappings.engine.inline``),
other transforms cost one call each; within a line, a number a ``decimal`` row
read is kept for a ``multiply`` row reading the same field.

Safety: the source is built only from the engine's own fixed fragments
(including the transforms' inline ones) and names it makes up (``_c0``, ``_c1``,
``kept0``, ...). Everything that came from the spec -
field names, row labels, lookup functions, default values - is passed in as a
*value* bound to one of those names, never written into the source text, so no
spec can change what the generated code does. Only the builtins listed in
``_BUILTINS`` are visible to it.

A traced variant (``trace=True``) is the same code plus before/after checks
that attribute each written target to the operation that wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.fields import FieldOp, spread
from mappings.engine.paths import Path, getter, setter, simple_key
from mappings.engine.problems import Problem, TransformError, show
from mappings.engine.rules import CompiledRule
from mappings.engine.transforms import Step

_BUILTINS = {
    "enumerate": enumerate,
    "len": len,
    "list": list,
    "dict": dict,
    "type": type,
    "str": str,
}


@dataclass(slots=True)
class LineGroup:
    """The rows building one target line array, e.g. ``LineItems`` from ``Lines``."""

    target: Path
    source: Path | None = None
    ops: list[FieldOp] = field(default_factory=list)
    fills: list[FieldOp] = field(default_factory=list)
    # (line, problems) -> True to leave the line out (rules skipping lines, see ``plan``).
    skip: Callable[[dict[str, Any], list[Problem]], bool] | None = None


@dataclass(frozen=True, slots=True)
class Operations:
    """Everything a plan writes, in the order it runs (see ``mappings.engine``)."""

    header: tuple[FieldOp, ...]
    fills: tuple[FieldOp, ...]
    groups: tuple[LineGroup, ...]


def _lines_problem(message: str, value: Any, array: str) -> Problem:
    return Problem(ErrorCode.INVALID_LINES, f"{message}: {show(value)}", field=array, value=value)


def _not_a_list(array: str, value: Any) -> Problem:
    return _lines_problem(f"{array} should be a list of lines", value, array)


def _not_an_object(array: str, index: int, value: Any) -> Problem:
    return _lines_problem(f"line {index + 1} of {array} is not an object", value, array)


def _rule_provenance(rule: CompiledRule) -> str:
    return f"rule {rule.id}"


class _Source:
    """Python source under construction, with the values it refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.values: dict[str, Any] = {}
        self._names: dict[tuple[bool, Any], str] = {}
        self._depth = 2  # inside ``def _make`` and ``def run``
        # Line source path -> the variable a decimal row keeps its number in, for
        # multiply rows of the same line (``inline.NumberInline``).
        self.numbers: dict[str, str] = {}

    def const(self, value: Any) -> str:
        """A name bound to ``value`` in the generated function, one per text or object."""
        # Only text is shared by equality: 0.0 == -0.0 and 1 == True must stay apart.
        key = (True, value) if type(value) is str else (False, id(value))
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"_c{len(self.values)}"
            self.values[name] = value
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " * self._depth + line)

    def emit_all(self, lines: list[str]) -> None:
        """Emit statements (indented relative to the current block), e.g. an ``Inline``'s."""
        for line in lines:
            self.emit(line)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.emit(header)
        self._depth += 1
        yield
        self._depth -= 1

    def assign(self, obj: str, path: Path, value: str) -> None:
        """Emit a write of the expression ``value`` at ``path`` in the dict named ``obj``."""
        key = simple_key(path)
        if key is not None:
            self.emit(f"{obj}[{self.const(key)}] = {value}")
        else:
            self.emit(f"{self.const(setter(path, 'target'))}({obj}, {value})")

    def read(self, obj: str, path: Path) -> str:
        """An expression reading ``path`` from the dict named ``obj`` (None when missing)."""
        key = simple_key(path)
        if key is not None:
            return f"{obj}.get({self.const(key)})"
        return f"{self.const(getter(path))}({obj})"


def _op(code: _Source, op: FieldOp, src: str, out: str, index: str, trace: bool) -> None:
    """Emit one operation reading from ``src`` (a line or the record) into ``out``."""
    if trace:
        for i, t in enumerate(op.targets):
            code.emit(f"before{i} = {code.const(t.get)}({out})")
    if op.fill_only:
        first = op.targets[0]
        with code.block(f"if {code.read(out, first.path.in_line)} is None:"):
            _compute(code, op, src, out, index)
    else:
        _compute(code, op, src, out, index)
    if trace:
        for i, t in enumerate(op.targets):
            code.emit(f"after = {code.const(t.get)}({out})")
            where = (
                code.const(t.path.text)
                if index == "None"
                else f"{code.const(t.path.at_line)}(len(lines))"  # skipped lines leave gaps
            )
            with code.block(f"if after is not None and after is not before{i}:"):
                code.emit(f"trace[{where}] = {code.const(op.label)}")


def _source(code: _Source, path: Path, src: str) -> str:
    if path.line_array is not None:
        return code.read(src, path.in_line)
    return code.read("record", path)


def _compute(code: _Source, op: FieldOp, src: str, out: str, index: str) -> None:
    reads = [_source(code, path, src) for path in op.sources]
    kept = [code.numbers.get(path.text) for path in op.sources]
    if op.merge_inline is not None:  # each source in a variable; the list only if needed
        names = [f"raw{i}" for i in range(len(reads))]
        for name, read in zip(names, reads, strict=True):
            code.emit(f"{name} = {read}")
        raw = f"[{', '.join(names)}]"
    else:
        one = len(reads) == 1 and op.merge is None  # a merge always takes the list
        raw = "None" if not reads else reads[0] if one else f"[{', '.join(reads)}]"
        if op.merge is None and not op.steps:  # a plain copy
            code.emit(f"value = {raw}")
            _write(code, op, out)
            return
        code.emit(f"raw = {raw}")
        raw = "raw"
    steps = list(op.steps)
    # Every step passing None through means an empty source leaves the target alone.
    skip_empty = op.merge is None and all(step.keeps_none for step in steps)
    with _maybe(code, "if raw is not None:" if skip_empty else None):
        with code.block("try:"):
            value = raw
            if op.merge_inline is not None:
                code.emit_all(op.merge_inline(code.const, names, raw, kept))
                value = "value"
            elif op.merge is not None:
                code.emit(f"value = {code.const(op.merge)}(raw)")
                value = "value"
            for step in steps:
                checked = step.keeps_none and not (skip_empty and value == "raw")
                keep = kept[0] if value == "raw" and len(kept) == 1 else None
                _step(code, step, value, checked, keep)
                value = "value"
        with code.block(f"except {code.const(TransformError)} as exc:"):
            code.emit(f"{code.const(op.report)}(exc, {raw}, problems, {index})")
        with code.block("else:"):
            _write(code, op, out)


def _step(code: _Source, step: Step, value: str, checked: bool, keep: str | None) -> None:
    """Emit one transform of ``value`` into ``value``; None stays None if ``checked``.

    ``keep``: the variable to leave the number read from ``value`` in, if the step can.
    """
    if step.inline is None:
        call = f"{code.const(step.fn)}({value})"
        code.emit(f"value = None if {value} is None else {call}" if checked else f"value = {call}")
        return
    if keep and step.number_inline is not None:
        lines = step.number_inline(code.const, value, keep)
    else:
        lines = step.inline(code.const, value)
    if not checked:
        code.emit_all(lines)
        return
    if value != "value":
        code.emit("value = None")
    with code.block(f"if {value} is not None:"):
        code.emit_all(lines)


@contextmanager
def _maybe(code: _Source, header: str | None) -> Iterator[None]:
    if header is None:
        yield
    else:
        with code.block(header):
            yield


def _write(code: _Source, op: FieldOp, out: str) -> None:
    if len(op.targets) > 1:
        code.emit(f"{code.const(spread(op.targets))}({out}, value)")
        return
    with code.block("if value is not None:"):
        code.assign(out, op.targets[0].path.in_line, "value")


def _group(code: _Source, group: LineGroup, trace: bool) -> None:
    """Emit the loop building one target line array."""
    assert group.source is not None  # the compiler refuses line rows without a source line
    array = group.source.text
    ops = [*group.ops, *group.fills]
    keys = [t.path.in_line.text for op in ops for t in op.targets]
    # Header-only rows (e.g. the order's tax code on every line) run once per
    # record; their values seed each line. Only when no other op writes the field,
    # and not when tracing, which attributes every line's fields.
    shared = [
        op
        for op in group.ops
        if not trace and op.per_record_key and keys.count(op.per_record_key) == 1
    ]
    multiplied = {
        path.text
        for op in ops
        if op.merge_inline is not None
        for path in op.sources
        if path.line_array is not None
    }
    code.numbers = {text: f"kept{i}" for i, text in enumerate(sorted(multiplied))}
    code.emit(f"items = {code.read('record', group.source)}")
    with code.block("if type(items) is list:"):
        for op in shared:
            if op is shared[0]:
                code.emit("seed = {}")
            _op(code, op, "record", "seed", "None", trace)
        code.emit("lines = []")
        with code.block("for index, line in enumerate(items):"):
            with code.block("if type(line) is not dict:"):
                bad = code.const(partial(_not_an_object, array))
                code.emit(f"problems.append({bad}(index, line))")
                code.emit("continue")
            if group.skip is not None:
                with code.block(f"if {code.const(group.skip)}(line, problems):"):
                    code.emit("continue")
            code.emit("built = seed.copy()" if shared else "built = {}")
            if code.numbers:
                code.emit(f"{' = '.join(code.numbers.values())} = None")
            for op in ops:
                if op not in shared:
                    _op(code, op, "line", "built", "index", trace)
            code.emit("lines.append(built)")
        code.assign("out", group.target, "lines")
    code.numbers = {}
    with code.block("elif items is not None:"):
        code.emit(f"problems.append({code.const(partial(_not_a_list, array))}(items))")


def generate(operations: Operations, *, trace: bool) -> Callable[..., None]:
    """Compile ``operations`` into ``run(record, out, problems, sets[, trace])``.

    ``sets`` are the rules with a SET effect that fired; their values land after
    the header rows and before fills, as documented in ``mappings.engine``.
    """
    code = _Source()
    for op in operations.header:
        _op(code, op, "record", "out", "None", trace)
    with code.block("for rule in sets:"):
        code.emit("rule.set(out, rule.value)")
        if trace:
            code.emit(f"trace[rule.target] = {code.const(_rule_provenance)}(rule)")
    for op in operations.fills:
        _op(code, op, "record", "out", "None", trace)
    for group in operations.groups:
        _group(code, group, trace)
    params = "record, out, problems, sets, trace" if trace else "record, out, problems, sets"
    source = "\n".join(
        [
            f"def _make({', '.join(code.values)}):",
            f"    def run({params}):",
            *code.lines,
            "    return run",
        ]
    )
    namespace: dict[str, Any] = {"__builtins__": _BUILTINS}
    exec(compile(source, "<mapping plan>", "exec"), namespace)  # noqa: S102 - engine-built source
    make: Callable[..., Callable[..., None]] = namespace["_make"]
    return make(**code.values)
