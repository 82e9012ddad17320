"""The contract for transforms and merges that write their hot path into generated code.

Even one Python call per value is a large share of the engine's time on line
items (most line fields are a ``decimal``, ``trim`` or ``lookup``), so the
common case of those is emitted straight into the plan's function by
``mappings.engine.codegen``. An ``Inline`` returns statements that set the
local ``value`` from the variable(s) it is given; it refers to anything else
(the compiled function, a lookup's dict, a Decimal exponent) only through
names from ``bind``, so the same safety rule as the rest of the generated code
holds: spec text is only ever data.

An inline fast path must give exactly what the function it stands for gives.
Whenever a value is anything but the common case it calls that function
instead, which raises the same ``TransformError`` (same code, same message).
Temporaries it needs are named ``number``, ``number0``, ``number1``, ... or
``found``; it must assign ``value`` last, since its input may be ``value`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Bind = Callable[[Any], str]
# (bind, input variable) -> statements setting ``value``.
Inline = Callable[[Bind, str], list[str]]
# An Inline that also leaves the Decimal it read its input as (as ``as_decimal``
# would) in the named variable, so a later multiply row need not read it again:
# (bind, input variable, variable to keep the number in) -> statements.
NumberInline = Callable[[Bind, str, str], list[str]]


class InlineKeepingNumber(Protocol):
    """One function serving as both: an ``Inline``, or a ``NumberInline`` given ``keep``."""

    def __call__(self, bind: Bind, v: str, keep: str = "") -> list[str]: ...


# (bind, one variable per source, expression for the list of them, per source the
# variable a NumberInline kept its number in or None) -> statements.
MergeInline = Callable[[Bind, list[str], str, list[str | None]], list[str]]
