"""What goes wrong, in a shape the ledger and the admin can store and show."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

from mappings.engine.error_codes import ErrorCode, ProblemKind
from mappings.engine.spec import RowId

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxdict = 4
_repr.maxlevel = 2


def show(value: Any) -> str:
    """Quote a value for a message, bounded so a huge payload can't flood the ledger."""
    return _repr.repr(value)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a record (at run time) or a mapping (at compile time) is unusable.

    ``field`` is the target path at run time (``LineItems[2].AccountCode``) and
    the spec attribute at compile time (``transforms[1].args.places``) so a form
    can attach the error to the right input. ``row_id``/``rule_id``/``lookup``
    name the spec object involved; ``position`` is a 1-based column in a rule
    expression.
    """

    code: ErrorCode
    message: str
    field: str | None = None
    value: Any = None
    row_id: RowId | None = None
    rule_id: RowId | None = None
    lookup: str | None = None
    position: int | None = None

    @property
    def kind(self) -> ProblemKind:
        return self.code.kind


class CompileError(Exception):
    """A mapping that cannot be compiled, with every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class TransformError(Exception):
    """Raised by a compiled transform on bad data; the row turns it into a Problem.

    Exceptions keep the hot path free of result checks: a row pays for error
    handling only when a value is actually wrong.
    """

    def __init__(self, code: ErrorCode, message: str, lookup: str | None = None) -> None:
        self.code = code
        self.message = message
        self.lookup = lookup
        super().__init__(message)


class SpecError(Exception):
    """Raised while compiling one spec object; collected into a CompileError."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        lookup: str | None = None,
        position: int | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.field = field
        self.lookup = lookup
        self.position = position
        super().__init__(message)
