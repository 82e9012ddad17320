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
from typing import Any

# Deeper than any record or transform chain the product handles, far below the
# interpreter's recursion limit.
MAX_JSON_DEPTH = 64


class JSONInputError(ValueError):
    """User-supplied JSON that cannot be used; ``message`` says why, in plain words."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, raising JSONInputError for bad syntax and for nesting past ``max_depth``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONInputError(
            f"This is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise JSONInputError(_too_deep(max_depth)) from None
    if json_depth(value, limit=max_depth) > max_depth:
        raise JSONInputError(_too_deep(max_depth))
    return value


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
