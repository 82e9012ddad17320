"""Aggregation (many target lines -> fewer) and splitting (one record -> several).

Both work on the *target* record after the rows ran, so they see converted,
looked-up values (e.g. lines grouped by the Xero AccountCode an enrichment found).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.problems import Problem, SpecError, TransformError, show
from mappings.engine.spec import Aggregation, RowId, Split
from mappings.engine.values import as_decimal, is_empty


def line_field(name: Any, field: str) -> str:
    """Aggregation and split keys are plain fields of a target line."""
    if not isinstance(name, str) or not name or any(c in name for c in ".[]"):
        raise SpecError(
            ErrorCode.INVALID_SPEC,
            f"{field}: {show(name)} must be the name of a field of the target line",
            field,
        )
    return name


def _group_key(value: Any) -> Any:
    hash(value)
    return value


class Aggregator:
    def __init__(self, spec: Aggregation, lines: str) -> None:
        self.id: RowId = spec.id
        self.lines = lines
        if not spec.key:
            raise SpecError(ErrorCode.INVALID_AGGREGATION, "key: name at least one field", "key")
        self.key = tuple(line_field(k, f"key[{i}]") for i, k in enumerate(spec.key))
        self.sum = tuple(line_field(k, f"sum[{i}]") for i, k in enumerate(spec.sum))

    def __call__(self, out: dict[str, Any], problems: list[Problem]) -> None:
        lines = out.get(self.lines)
        if type(lines) is not list:
            return
        groups: dict[Any, dict[str, Any]] = {}
        try:
            for line in lines:
                key = _group_key(tuple(line.get(k) for k in self.key))
                merged = groups.get(key)
                if merged is None:
                    merged = groups[key] = dict(line)
                    for name in self.sum:  # a blank amount adds nothing, as a missing one
                        if is_empty(line.get(name)):
                            merged.pop(name, None)
                        else:
                            merged[name] = as_decimal(line[name])
                    continue
                for name in self.sum:
                    value = line.get(name)
                    # ``not is_empty(value)`` without a call per line: most are Decimals.
                    if value is not None and (type(value) is not str or value.strip()):
                        merged[name] = merged.get(name, Decimal(0)) + as_decimal(value)
        except TransformError as exc:
            problems.append(self._problem(exc.message, exc.code))
            return
        except TypeError:
            problems.append(
                self._problem(f"lines cannot be grouped by a list or object in {self.key}")
            )
            return
        out[self.lines] = list(groups.values())

    def _problem(self, detail: str, code: ErrorCode = ErrorCode.AGGREGATION_FAILED) -> Problem:
        return Problem(
            code,
            f"cannot add up {self.lines} lines by {', '.join(self.key)}: {detail} "
            f"(aggregation {self.id})",
            field=self.lines,
            row_id=self.id,
        )


class Splitter:
    def __init__(self, spec: Split, lines: str) -> None:
        self.id: RowId = spec.id
        self.lines = lines
        self.key = None if spec.key is None else line_field(spec.key, "key")
        self.header_field = spec.header_field
        if spec.header_field is not None:
            line_field(spec.header_field, "header_field")
        if spec.max_lines is not None and (
            not isinstance(spec.max_lines, int) or spec.max_lines < 1
        ):
            raise SpecError(ErrorCode.INVALID_SPLIT, "max_lines must be at least 1", "max_lines")
        if self.key is None and spec.max_lines is None:
            raise SpecError(ErrorCode.INVALID_SPLIT, "give a key, max_lines or both", "key")
        self.max_lines = spec.max_lines

    def __call__(self, out: dict[str, Any], problems: list[Problem]) -> list[dict[str, Any]]:
        lines = out.get(self.lines)
        if type(lines) is not list or not lines:
            return [out]
        groups: dict[Any, list[dict[str, Any]]] = {}
        key = self.key
        for line in lines:
            value = None if key is None else line.get(key)
            try:
                groups.setdefault(_group_key(value), []).append(line)
            except TypeError:
                problems.append(
                    Problem(
                        ErrorCode.AGGREGATION_FAILED,
                        f"cannot split {self.lines} by {key}: {show(value)} is a list or object "
                        f"(split {self.id})",
                        field=self.lines,
                        row_id=self.id,
                    )
                )
                return []
        size = self.max_lines or len(lines)
        records = []
        for value, group in groups.items():
            for start in range(0, len(group), size):
                record = {**out, self.lines: group[start : start + size]}
                if self.header_field is not None:
                    record[self.header_field] = value
                records.append(record)
        return records
