"""Field paths: parsed once at compile time into getters and setters.

Syntax: keys separated by dots (``Contact.Name``); a key may end in ``[n]`` to
take item ``n`` of a list (``Lines[0].StockCode``) or in ``[]`` to mean "each
line" (``Lines[].StockCode``). At most one ``[]`` per path: the engine maps one
level of line items. Keys cannot contain ``.``, ``[`` or ``]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.problems import SpecError

Getter = Callable[[Any], Any]
Setter = Callable[[dict[str, Any], Any], None]

EACH = "[]"
_SEGMENT = re.compile(r"([^.\[\]]+)(\[\]|\[-?\d+\])?")


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    index: int | None = None  # [n]
    each: bool = False  # []


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    segments: tuple[Segment, ...]

    @property
    def line_array(self) -> Path | None:
        """The part up to and including ``[]`` (as a plain path), if this is a line path."""
        for i, segment in enumerate(self.segments):
            if segment.each:
                head = (*self.segments[:i], Segment(segment.key))
                return Path(".".join(_render(s) for s in head), head)
        return None

    @property
    def in_line(self) -> Path:
        """The part after ``[]``: the path inside one line."""
        for i, segment in enumerate(self.segments):
            if segment.each:
                rest = self.segments[i + 1 :]
                return Path(".".join(_render(s) for s in rest), rest)
        return self

    def at_line(self, index: int) -> str:
        """The path of this field on line ``index``, for messages."""
        return self.text.replace(EACH, f"[{index}]", 1)


def _render(segment: Segment) -> str:
    if segment.each:
        return f"{segment.key}[]"
    if segment.index is not None:
        return f"{segment.key}[{segment.index}]"
    return segment.key


def parse_path(text: Any, field: str) -> Path:
    """Parse ``text`` or raise a SpecError that names the spec attribute ``field``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(ErrorCode.INVALID_PATH, f"{field}: a field path is required", field)
    segments: list[Segment] = []
    for part in text.strip().split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise SpecError(
                ErrorCode.INVALID_PATH,
                f"{field}: {text!r} is not a valid field path (problem near {part!r}); "
                "use Name, Contact.Name, Lines[].StockCode or Lines[0].StockCode",
                field,
            )
        key, suffix = match.groups()
        if suffix == EACH:
            segments.append(Segment(key, each=True))
        elif suffix:
            segments.append(Segment(key, index=int(suffix[1:-1])))
        else:
            segments.append(Segment(key))
    path = Path(".".join(_render(s) for s in segments), tuple(segments))
    if sum(s.each for s in segments) > 1:
        raise SpecError(
            ErrorCode.INVALID_PATH,
            f"{field}: {text!r} has more than one [] - only one level of line items is mapped",
            field,
        )
    if segments[-1].each:
        raise SpecError(
            ErrorCode.INVALID_PATH,
            f"{field}: {text!r} ends in [] - name the field inside the line, "
            f"e.g. {text.strip()}.StockCode",
            field,
        )
    return path


def simple_key(path: Path) -> str | None:
    """The key of a one-segment path (``Name``), which callers can read with ``dict.get``."""
    if len(path.segments) == 1 and path.segments[0].index is None and not path.segments[0].each:
        return path.segments[0].key
    return None


def _step(segment: Segment) -> Getter:
    key, index = segment.key, segment.index
    if index is None:
        return lambda obj: obj.get(key) if type(obj) is dict else None

    def step(obj: Any) -> Any:
        items = obj.get(key) if type(obj) is dict else None
        if type(items) is list and -len(items) <= index < len(items):
            return items[index]
        return None

    return step


def getter(path: Path) -> Getter:
    """A function reading ``path`` from a dict; anything missing or mistyped reads as None."""
    steps = [_step(s) for s in path.segments]
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2 and path.segments[0].index is None:
        first, second = path.segments[0].key, steps[1]
        return lambda obj: second(obj.get(first)) if type(obj) is dict else None

    def get(obj: Any) -> Any:
        for step in steps:
            obj = step(obj)
        return obj

    return get


def setter(path: Path, field: str) -> Setter:
    """A function writing a value at ``path``, creating intermediate objects."""
    if any(s.index is not None or s.each for s in path.segments):
        raise SpecError(
            ErrorCode.INVALID_PATH,
            f"{field}: a target path cannot pick a list item ({path.text!r})",
            field,
        )
    *parents, last = (s.key for s in path.segments)
    if not parents:

        def set_top(target: dict[str, Any], value: Any) -> None:
            target[last] = value

        return set_top

    def set_nested(target: dict[str, Any], value: Any) -> None:
        for key in parents:
            child = target.get(key)
            if type(child) is not dict:
                child = target[key] = {}
            target = child
        target[last] = value

    return set_nested
