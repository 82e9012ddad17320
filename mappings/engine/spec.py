"""The input a mapping is compiled from: plain frozen dataclasses.

The Django layer builds these from model rows (one ``FieldRow`` per mapping row,
one ``LookupTable`` per lookup table, ...); tests build them by hand. Every
object carries an ``id`` (the model's pk or any label) so that a compile error
or a runtime problem can point back at the row the consultant must edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RowId = str | int


@dataclass(frozen=True, slots=True)
class Transform:
    """One step of a row's transform chain, e.g. ``Transform("decimal", {"places": 2})``."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


class Combine(StrEnum):
    """How a many:1 row merges its source values before the transform chain."""

    JOIN = "join"  # text of the non-empty values joined with ``separator``
    FIRST = "first"  # the first non-empty value
    SUM = "sum"  # decimal sum
    MULTIPLY = "multiply"  # decimal product, e.g. Qty * Price
    LIST = "list"  # the raw list, for a transform (e.g. "concat") to handle


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One mapping row: source path(s) -> transform chain -> target path(s).

    - 1:1: one source, one target.
    - many:1: several sources merged by ``template`` (``"{FirstName} {LastName}"``,
      placeholders name the sources) or by ``combine``.
    - 1:many: several targets; a list value (from ``split`` or ``address``) is
      spread over them in order, any other value is copied to each.
    - no source: the chain must produce the value (``constant``).
    - ``Lines[].StockCode`` -> ``LineItems[].ItemCode`` maps per line; a source
      without ``[]`` in a line row reads the header (e.g. the order's region).
    """

    id: RowId
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    transforms: tuple[Transform, ...] = ()
    template: str | None = None
    combine: Combine = Combine.JOIN
    separator: str = " "


class OnMissing(StrEnum):
    FAIL = "fail"  # the record fails with a data problem naming value and table
    PASS = "pass"  # noqa: S105 - the source value goes through untranslated
    DEFAULT = "default"  # the table's ``default`` is used


@dataclass(frozen=True, slots=True)
class LookupTable:
    """A named code translation, shared between mappings (``"EFT"`` -> ``"090"``)."""

    name: str
    entries: Mapping[str, Any]
    on_missing: OnMissing = OnMissing.FAIL
    default: Any = None
    case_sensitive: bool = True


class Effect(StrEnum):
    SET = "set"  # set header target ``target`` to ``value`` after the rows ran
    SKIP = "skip"  # skip the record with ``message`` as the reason
    FAIL = "fail"  # fail the record with ``message``


@dataclass(frozen=True, slots=True)
class Rule:
    """``if <condition> then <effect>``; the condition reads the *source* record.

    Conditions use a safe expression language (simpleeval): field names,
    literals, ``and/or/not``, comparisons, ``in``, arithmetic, ``Contact.Name``
    for nested fields, and the functions listed in ``rules.FUNCTIONS``.
    A missing field reads as ``None``.
    """

    id: RowId
    condition: str
    effect: Effect
    target: str | None = None
    value: Any = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Enrichment:
    """Fill ``target`` from ``lookup`` keyed on the source field ``key``.

    Runs after the rows and rules and only fills a target they left empty,
    e.g. ``LineItems[].AccountCode`` from ``Lines[].StockCode``.
    """

    id: RowId
    target: str
    key: str
    lookup: str


@dataclass(frozen=True, slots=True)
class Aggregation:
    """Merge the target lines of ``lines`` that share the ``key`` fields.

    ``sum`` fields are added as decimals; every other field keeps the value of
    the first line of its group. Groups keep first-seen order.
    """

    id: RowId
    lines: str
    key: tuple[str, ...]
    sum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Split:
    """Turn one target record into several.

    Lines of ``lines`` are grouped by their ``key`` field (one record per value,
    first-seen order; the value is copied to header field ``header_field`` when
    given) and/or cut into chunks of at most ``max_lines``. Header fields are
    shared by every resulting record.
    """

    id: RowId
    lines: str
    key: str | None = None
    header_field: str | None = None
    max_lines: int | None = None


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """Everything one mapping needs; ``defaults`` maps target path -> value."""

    rows: tuple[FieldRow, ...] = ()
    lookups: tuple[LookupTable, ...] = ()
    rules: tuple[Rule, ...] = ()
    enrichments: tuple[Enrichment, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    aggregations: tuple[Aggregation, ...] = ()
    split: Split | None = None
