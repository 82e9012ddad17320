"""Field operations: what one mapping row, enrichment or default does.

An operation is a description - resolved paths, the merge, the transform steps
and how to report a bad value - not a function: ``mappings.engine.codegen``
turns all of a plan's operations into one generated function, because calling
a closure per field per line was most of the engine's time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.inline import Bind, MergeInline
from mappings.engine.paths import Getter, Path, Setter, getter, setter, simple_key
from mappings.engine.problems import Problem, SpecError, TransformError
from mappings.engine.spec import Combine, RowId
from mappings.engine.transforms import Step
from mappings.engine.values import FAST_ERRORS, as_decimal, as_text, in_range, is_empty, join_text

Merge = Callable[[list[Any]], Any]
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_merge(template: str, sources: list[Path]) -> Merge:
    """Compile ``"{FirstName} {LastName}"``; placeholders name sources (or number them)."""
    names = {path.text: i for i, path in enumerate(sources)}
    pieces: list[str | int] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append(template[position : match.start()])
        name = match.group(1).strip()
        index = names.get(name, int(name) if name.isdigit() else None)
        if index is None or index >= len(sources):
            raise SpecError(
                ErrorCode.INVALID_SPEC,
                f"template placeholder {{{name}}} is not one of this row's sources "
                f"({', '.join(names)})",
                "template",
            )
        pieces.append(index)
        position = match.end()
    pieces.append(template[position:])

    return _Template(pieces)


class _Template:
    """A compiled template: text pieces and source positions, rendered whatever the number
    of sources (a combine of one source is just that source)."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[str | int]) -> None:
        self.pieces = pieces

    def __call__(self, values: list[Any]) -> str | None:
        """The text; None (no value) when it comes out blank."""
        text = "".join(
            piece if isinstance(piece, str) else _text_or_blank(values[piece])
            for piece in self.pieces
        ).strip()
        return text or None


def _text_or_blank(value: Any) -> str:
    return "" if value is None else as_text(value).strip()


def _first(values: list[Any]) -> Any:
    return next((v for v in values if not is_empty(v)), None)


def _sum(values: list[Any]) -> Decimal | None:
    present = [as_decimal(v) for v in values if not is_empty(v)]
    return sum(present, Decimal(0)) if present else None


def _product(values: list[Any]) -> Decimal | None:
    product = None  # not Decimal(1): one multiplication fewer, and 1 * x is exactly x
    for value in values:
        if is_empty(value):  # a blank quantity or price: no amount, as for a missing one
            return None
        number = as_decimal(value)
        product = number if product is None else product * number
    return product


def _product_inline(
    bind: Bind, sources: list[str], values: str, numbers: list[str | None]
) -> list[str]:
    """``_product`` written out for sources that are all numeric text (see ``inline``).

    Sources another row already read as numbers (``numbers``) are not read again.
    """
    number, slow = bind(Decimal), f"{bind(_product)}({values})"
    names = [f"number{i}" for i in range(len(sources))]
    read = [
        f"if {' and '.join(f'type({v}) is str' for v in sources)}:",
        "    try:",
        *(f"        {n} = {number}({v})" for n, v in zip(names, sources, strict=True)),
        f"        value = {' * '.join(names)} "
        f"if {' and '.join(in_range(bind, n) for n in names)} else {slow}",
        f"    except {bind(FAST_ERRORS)}:",
        f"        value = {slow}",
        "else:",
        f"    value = {slow}",
    ]
    kept = [n for n in numbers if n]
    if len(kept) < len(numbers):
        return read
    return [
        f"if {' and '.join(f'{n} is not None' for n in kept)}:",
        f"    value = {' * '.join(kept)}",
        f"el{read[0]}",
        *read[1:],
    ]


_MERGE_INLINES: dict[Merge, MergeInline] = {_product: _product_inline}


def combine_merge(combine: Combine, separator: str) -> Merge:
    if combine is Combine.JOIN:
        return lambda values: join_text(values, separator)
    merges: dict[Combine, Merge] = {
        Combine.FIRST: _first,
        Combine.SUM: _sum,
        Combine.MULTIPLY: _product,
        Combine.LIST: list,
    }
    return merges[combine]


@dataclass(frozen=True, slots=True)
class Target:
    path: Path  # as written, for messages and provenance
    get: Getter  # reads it back from the object being built
    set: Setter


def target(path: Path, field: str) -> Target:
    inner = path.in_line
    return Target(path, getter(inner), setter(inner, field))


Report = Callable[[TransformError, Any, list[Problem], int | None], None]


@dataclass(frozen=True, slots=True)
class FieldOp:
    """A compiled row, enrichment or default, ready for code generation.

    The generated code reads ``sources`` (several: a list for ``merge``), runs
    ``steps`` in order, and writes a non-None result to the targets - only when
    the first target is still empty if ``fill_only``. A ``TransformError``
    goes to ``report`` with the value read and the line index (None for the
    header), which turns it into a Problem naming the field and the row.
    """

    label: str
    sources: tuple[Path, ...]
    targets: tuple[Target, ...]
    merge: Merge | None
    steps: tuple[Step, ...]
    fill_only: bool
    report: Report
    # Set when the op reads only header fields into one plain line field: a line
    # group can then run it once per record instead of once per line.
    per_record_key: str | None = None
    # The merge written out (``inline``); the generated code then reads each source
    # into its own variable and builds the list only when it falls back.
    merge_inline: MergeInline | None = None


def spread(targets: tuple[Target, ...]) -> Setter:
    """Write a 1:many row's value: a list goes over the targets in order, else to each."""

    def write(out: dict[str, Any], value: Any) -> None:
        if isinstance(value, list | tuple):
            for t, item in zip(targets, value, strict=False):
                if item is not None:
                    t.set(out, item)
        elif value is not None:
            for t in targets:
                t.set(out, value)

    return write


def field_op(
    *,
    row_id: RowId | None,
    label: str,
    sources: list[Path],
    targets: list[Target],
    merge: Merge | None,
    steps: list[Step],
    fill_only: bool = False,
) -> FieldOp:
    """Describe one operation; ``merge`` is used when there are several sources, or always
    when it is a template (``"Goods on order {SalesOrder}"`` has one source to render)."""
    source_text = " + ".join(p.text for p in sources) or "a constant"

    def report(exc: TransformError, value: Any, problems: list[Problem], index: int | None) -> None:
        if index is None:
            where = f"{targets[0].path.text} from {source_text}"
        else:
            where = (
                f"{targets[0].path.at_line(index)} from "
                f"{' + '.join(p.at_line(index) for p in sources) or 'a constant'}"
                f", line {index + 1}"
            )
        problems.append(
            Problem(
                exc.code,
                f"{exc.message} ({where}; {label})",
                field=targets[0].path.text if index is None else targets[0].path.at_line(index),
                value=value,
                row_id=row_id,
                lookup=exc.lookup,
            )
        )

    per_record_key = None
    if not fill_only and len(targets) == 1 and all(p.line_array is None for p in sources):
        per_record_key = simple_key(targets[0].path.in_line)
    merge = merge if len(sources) > 1 or isinstance(merge, _Template) else None
    return FieldOp(
        label,
        tuple(sources),
        tuple(targets),
        merge,
        tuple(steps),
        fill_only,
        report,
        per_record_key,
        None if merge is None else _MERGE_INLINES.get(merge),
    )
