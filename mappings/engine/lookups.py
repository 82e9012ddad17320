"""Lookup tables compiled into plain dict reads."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.inline import Bind
from mappings.engine.problems import SpecError, TransformError, show
from mappings.engine.spec import LookupTable, OnMissing
from mappings.engine.values import is_empty

_MISSING = object()


class Lookup:
    """A table ready to translate values with ``translate``."""

    __slots__ = ("_default", "_entries", "_fold", "_on_missing", "name", "translate")

    def __init__(self, table: LookupTable) -> None:
        self.name = table.name
        self._fold = not table.case_sensitive
        self._on_missing = OnMissing(table.on_missing)
        # A blank default (the admin's empty box) gives no value, like any blank:
        # the target is left out, so a later enrichment or default can fill it.
        self._default = None if is_empty(table.default) else table.default
        entries: dict[str, Any] = {}
        for key, value in table.entries.items():
            norm = _key(key)
            if norm is None:
                raise SpecError(
                    ErrorCode.INVALID_SPEC,
                    f'lookup "{table.name}": key {show(key)} must be text',
                    "entries",
                    lookup=table.name,
                )
            if self._fold:
                norm = norm.casefold()
                if norm in entries and entries[norm] != value:
                    raise SpecError(
                        ErrorCode.INVALID_SPEC,
                        f'lookup "{table.name}" ignores case but has two different entries '
                        f"for {show(key)}",
                        "entries",
                        lookup=table.name,
                    )
            entries[norm] = value
        self._entries = entries

        self.translate = self._translator()

    def _translator(self) -> Callable[[Any], Any]:
        """The ``lookup`` transform: a closure, cheaper per call than a method."""
        entries, fold = self._entries, self._fold

        def translate(value: Any) -> Any:
            key = value if type(value) is str else _key(value)
            if key is not None:
                found = entries.get(key.casefold() if fold else key, _MISSING)
                if found is not _MISSING:
                    return found
            return self._missing(value, key)

        return translate

    def inline(self, bind: Bind, v: str) -> list[str]:
        """``translate`` written out for a str found in the table (see ``inline``)."""
        key = f"{v}.casefold()" if self._fold else v
        entries, missing, translate = bind(self._entries), bind(_MISSING), bind(self.translate)
        return [
            f"found = {entries}.get({key}, {missing}) if type({v}) is str else {missing}",
            f"value = found if found is not {missing} else {translate}({v})",
        ]

    def _missing(self, value: Any, key: str | None) -> Any:
        if self._on_missing is OnMissing.PASS:
            return value
        if self._on_missing is OnMissing.DEFAULT:
            return self._default
        # Plain words, the value first (the ledger list shows a message's start); the
        # admin reads table and value back (clarity.selectors.ledger.lookup_missing_parts).
        if value is None or value == "":
            message = f'No value to look up in the lookup table "{self.name}"'
        elif key is None:
            message = f'{show(value)} cannot be looked up in the lookup table "{self.name}"'
        else:
            message = f'No entry for {show(value)} in the lookup table "{self.name}"'
        raise TransformError(ErrorCode.LOOKUP_MISSING, message, lookup=self.name)


def _key(value: Any) -> str | None:
    """Lookup keys are text; whole numbers from JSON match their text form."""
    if type(value) is str:
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def compile_lookups(tables: tuple[LookupTable, ...]) -> tuple[dict[str, Lookup], list[SpecError]]:
    """Compile every table, keeping going after a bad one so all errors surface at once."""
    lookups: dict[str, Lookup] = {}
    errors: list[SpecError] = []
    for table in tables:
        if table.name in lookups:
            errors.append(
                SpecError(
                    ErrorCode.DUPLICATE_LOOKUP,
                    f'two lookup tables are called "{table.name}"',
                    "name",
                    lookup=table.name,
                )
            )
            continue
        try:
            lookups[table.name] = Lookup(table)
        except (SpecError, ValueError) as exc:
            errors.append(
                exc
                if isinstance(exc, SpecError)
                else SpecError(
                    ErrorCode.INVALID_SPEC,
                    f'lookup "{table.name}": on missing must be one of '
                    f"{', '.join(m.value for m in OnMissing)}",
                    "on_missing",
                    lookup=table.name,
                )
            )
    return lookups, errors
