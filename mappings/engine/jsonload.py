"""Reading JSON that people type or paste, with its nesting bounded.

``json.loads`` recurses once per level: thousands of ``[`` raise RecursionError
(a 500 in a view that only catches JSONDecodeError), and a value a little less
deep parses but then breaks whatever walks it next (rendering, ``json.dumps``,
the engine). Every place that parses user-supplied JSON - transform args, the
try-it record, a ledger record's payload edit - goes through ``loads_bounded``,
which refuses both with one readable error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Deeper than any record or transform chain the product handles, far below the
# interpreter's recursion limit.
MAX_JSON_DEPTH = 64


class JSONInputError(ValueError):
    """User-supplied JSON that cannot be used; ``message`` says why, in plain words."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class JSONTooDeepError(JSONInputError):
    """JSON nested past the allowed depth (callers may word this their own way)."""


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, raising JSONInputError for anything that cannot be used or stored.

    Refused, each with a plain-words message: bad syntax, nesting past ``max_depth``,
    numbers too long to read, NaN/Infinity and numbers too large for a float (PostgreSQL
    jsonb has neither), and text holding a NUL character or a lone surrogate (jsonb
    cannot store them).
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONInputError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONInputError(
            f"This is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise JSONTooDeepError(_too_deep(max_depth)) from None
    except UnicodeDecodeError:
        raise JSONInputError("This is not valid JSON: it is not UTF-8 text.") from None
    except ValueError:
        # e.g. an integer longer than Python's int string-conversion limit.
        raise JSONInputError(
            "This JSON has a number with too many digits to read; check what was pasted."
        ) from None
    if json_depth(value, limit=max_depth) > max_depth:
        raise JSONTooDeepError(_too_deep(max_depth))
    _check_text(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(
        f"This JSON has {name}, which is not a number that can be stored; "
        "use a number or null instead."
    )


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise JSONInputError(
            "This JSON has a number too large to store "
            f"({literal[:20]}{'...' if len(literal) > 20 else ''}); check what was pasted."
        )
    return number


def _unstorable(text: str) -> bool:
    return "\x00" in text or _SURROGATE.search(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: Any) -> None:
    """Refuse NUL characters and lone surrogates in strings and keys (without recursion).

    Called after the depth check, so the walk is bounded by the size of the input.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _unstorable(item):
                raise JSONInputError(
                    "This JSON has text with a NUL character (\\u0000) or a lone surrogate "
                    "(an unpaired \\ud800-\\udfff escape), which cannot be stored; "
                    "remove it and try again."
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def json_depth(value: Any, *, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0); stops past ``limit``.

    Without recursion, so it is safe on exactly the values it is there to catch.
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list | tuple):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep(max_depth: int) -> str:
    return (
        f"This JSON nests lists or objects more than {max_depth} levels deep; "
        "nothing the product reads is that deep, so check what was pasted."
    )
