"""The failure vocabulary shared by every connector.

The sync core decides what to do with a failure from its *kind* alone:
transient failures retry by themselves with backoff, the other kinds wait for
a person. The *code* lets staff retry every record failing one way at once, and
the *message* is what a finance user reads, so it names the record and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, overload


class ErrorKind(StrEnum):
    """The one list of failure kinds: connectors raise them, the ledger stores them
    (``clarity.models.ledger`` takes its choices from here), the admin filters by them."""

    TRANSIENT = "transient"  # try again later; nothing for a person to do
    DATA = "data"  # the record itself is wrong: fix the data or a lookup
    CONFIG = "config"  # the connection or mapping is set up wrong
    AUTH = "auth"  # credentials expired, revoked or lacking a permission

    @property
    def label(self) -> str:
        """The kind as the ledger shows it to a finance user."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    ErrorKind.TRANSIENT: "Temporary (retries by itself)",
    ErrorKind.DATA: "Data problem",
    ErrorKind.CONFIG: "Configuration problem",
    ErrorKind.AUTH: "Authentication problem",
}


class ErrorCode(StrEnum):
    """Codes common to every system; connectors add system codes as plain strings."""

    TIMEOUT = "timeout"
    CONNECTION_FAILED = "connection_failed"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    CIRCUIT_OPEN = "circuit_open"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    VALIDATION = "validation"
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    OUTCOME_UNKNOWN = "outcome_unknown"


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.TIMEOUT: "The system did not answer in time. It will be tried again.",
    ErrorCode.CONNECTION_FAILED: "The system could not be reached. It will be tried again.",
    ErrorCode.SERVER_ERROR: "The system reported an internal error. It will be tried again.",
    ErrorCode.RATE_LIMITED: "The system's call limit was reached. It will be tried again later.",
    ErrorCode.CIRCUIT_OPEN: (
        "The system has been failing, so calls to it are paused. It will be tried again."
    ),
    ErrorCode.UNAUTHORIZED: "The connection's sign-in has expired or was revoked. Reconnect it.",
    ErrorCode.FORBIDDEN: "The connection is not allowed to do this. Check its permissions.",
    ErrorCode.NOT_FOUND: "The record was not found in the system.",
    ErrorCode.VALIDATION: "The system rejected the record.",
    ErrorCode.BAD_REQUEST: "The system rejected the request.",
    ErrorCode.TOO_LARGE: (
        "The record is larger than the system takes in one request. Shorten it at the source "
        "(long descriptions, very many lines), then retry."
    ),
    ErrorCode.OUTCOME_UNKNOWN: (
        "The system stopped answering mid-write; whether the record was saved "
        "will be checked before it is sent again."
    ),
}


class ConnectorError(Exception):
    """A classified failure of a whole call (not of one record in a batch)."""

    def __init__(
        self,
        kind: ErrorKind,
        code: str,
        message: str,
        *,
        status: int | None = None,
        raw: Any = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.status = status
        self.raw = raw
        # True when a write may have been applied before the failure: the sync
        # core must settle it by looking the record up before sending it again.
        self.outcome_unknown = outcome_unknown

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}, {self.code!r}, {self.message!r})"


class RetryLaterError(ConnectorError):
    """The call was held back on our side; try again ``retry_after`` seconds later.

    Nothing was sent by the call that raised it (though, with
    ``outcome_unknown``, an earlier try of the same call may have landed), so
    the sync core defers the run and hands its records back unsent instead of
    failing them: there is nothing for a person to do.
    """

    retry_after: float


class RateLimitedError(RetryLaterError):
    """Raised instead of sleeping when the wait is longer than a caller should block.

    The caller (an RQ job) reschedules itself ``retry_after`` seconds later.
    """

    def __init__(
        self,
        retry_after: float,
        *,
        limit: str | None = None,
        message: str | None = None,
        status: int | None = None,
        raw: Any = None,
    ) -> None:
        super().__init__(
            ErrorKind.TRANSIENT,
            ErrorCode.RATE_LIMITED,
            message or DEFAULT_MESSAGES[ErrorCode.RATE_LIMITED],
            status=status,
            raw=raw,
        )
        self.retry_after = retry_after
        self.limit = limit


class CircuitOpenError(RetryLaterError):
    """The connection's circuit breaker is open: the system has been failing, so no call is sent.

    ``retry_after`` is the time until the breaker lets a probe through (see
    ``connectors.circuit``).
    """

    def __init__(
        self,
        retry_after: float,
        *,
        message: str,
        open_since: datetime | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(
            ErrorKind.TRANSIENT,
            ErrorCode.CIRCUIT_OPEN,
            message,
            outcome_unknown=outcome_unknown,
        )
        self.retry_after = retry_after
        self.open_since = open_since


# -- One rule shape and one classify() for every system's error table ---------------------
#
# Codes are spelt one way across systems: lower snake case naming what went wrong, with no
# system prefix (``invoice_not_found``, ``period_closed``): the ledger row already says
# which system answered, the README and the ledger's filters use these words, and a code
# common to every system is one of ``ErrorCode``. A vendor's own name for an error
# (Salesforce's ``DUPLICATE_VALUE``, KashFlow's ``CodeAlreadyExists``) becomes its snake
# case (``duplicate_value``, ``code_already_exists``). One code means one thing: where two
# systems' words differ in meaning they get different codes.

CODE_STYLE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")

Facts = Mapping[str, Any]
"""What a system's extractor read from its error beside the text: the record's values,
the entity, the vendor's own message... A rule's message may name any of them."""


@dataclass(frozen=True)
class ErrorRule:
    """One line of a system's error table.

    A rule applies when every test it sets passes: ``name`` equals the system's own
    error name (Salesforce's errorCode, KashFlow's Error, Xero's exception Type),
    ``statuses`` holds the HTTP status, ``pattern`` is found in the error's text, and
    each fact in ``needs`` is present. ``message`` is a ``str.format`` template over
    ``text``, the pattern's named groups and the facts, or, where the advice needs to
    search the record (which lines hold the value), a function of those values.
    """

    code: str
    kind: ErrorKind
    message: str | Callable[[Facts], str]
    name: str | None = None
    statuses: tuple[int, ...] = ()
    pattern: re.Pattern[str] | None = None
    needs: tuple[str, ...] = ()

    def applies(self, text: str, name: str | None, status: int | None, facts: Facts) -> bool:
        return (
            (self.name is None or self.name == name)
            and (not self.statuses or status in self.statuses)
            and (self.pattern is None or self.pattern.search(text) is not None)
            and all(facts.get(fact) not in (None, "") for fact in self.needs)
        )

    def worded(self, text: str, facts: Facts) -> str:
        found = self.pattern.search(text) if self.pattern is not None else None
        values = {"text": text, **facts, **(found.groupdict(default="") if found else {})}
        if callable(self.message):
            return self.message(values)
        return self.message.format_map(values)


def rule(
    code: str,
    kind: ErrorKind,
    message: str | Callable[[Facts], str],
    *,
    name: str | None = None,
    statuses: tuple[int, ...] = (),
    pattern: str | re.Pattern[str] | None = None,
    needs: tuple[str, ...] = (),
) -> ErrorRule:
    """An ``ErrorRule``; a pattern given as text ignores case (vendors' wording varies in
    case), a compiled one is taken as it is."""
    if isinstance(pattern, str):
        pattern = re.compile(pattern, re.IGNORECASE)
    return ErrorRule(
        code, kind, message, name=name, statuses=statuses, pattern=pattern, needs=needs
    )


class Classified(NamedTuple):
    kind: ErrorKind
    code: str
    message: str


@overload
def classify(
    text: str,
    rules: Iterable[ErrorRule],
    default: ErrorRule,
    *,
    name: str | None = None,
    status: int | None = None,
    facts: Facts | None = None,
) -> Classified: ...


@overload
def classify(
    text: str,
    rules: Iterable[ErrorRule],
    default: None = None,
    *,
    name: str | None = None,
    status: int | None = None,
    facts: Facts | None = None,
) -> Classified | None: ...


def classify(
    text: str,
    rules: Iterable[ErrorRule],
    default: ErrorRule | None = None,
    *,
    name: str | None = None,
    status: int | None = None,
    facts: Facts | None = None,
) -> Classified | None:
    """A system's error -> (kind, code, a message a finance user can act on).

    The first rule that applies wins, so a table lists the particular before the
    general; ``default`` (its tests ignored) answers when none applies, else None.
    """
    facts = facts or {}
    for candidate in rules:
        if candidate.applies(text, name, status, facts):
            return Classified(candidate.kind, candidate.code, candidate.worded(text, facts))
    if default is None:
        return None
    return Classified(default.kind, default.code, default.worded(text, facts))


def table_kinds(*tables: Iterable[ErrorRule]) -> dict[str, ErrorKind]:
    """The kind of each code the tables give, for the registry and the conformance tests."""
    return {r.code: r.kind for table in tables for r in table}


def vendor_code(name: str) -> str:
    """A vendor's error name in the one code style: ``DUPLICATE_VALUE`` -> ``duplicate_value``,
    ``CodeAlreadyExists`` -> ``code_already_exists``."""
    if name.isupper() or "_" in name:
        return name.lower()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
