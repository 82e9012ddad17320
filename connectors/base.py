"""The one interface the sync core uses for every external system.

A connector knows its system and nothing else: it receives a plain
``ConnectionConfig`` and a ``TokenStore`` (never a Django model), speaks the
system's wire format, and hands back native records and one classified outcome
per record written. Everything here is plain Python so a connector can be read,
tested and benchmarked without Django.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from connectors.errors import ConnectorError, ErrorKind

if TYPE_CHECKING:
    from connectors.circuit import CircuitBreaker
    from connectors.dependencies import Dependency
    from connectors.duplicates import Duplicates
    from connectors.ratelimit import Headroom, RateLimiter
    from connectors.webhooks import WebhookParser

Record = dict[str, Any]
"""A record exactly as the system sends and accepts it (its own field names)."""


@dataclass(frozen=True)
class ConnectionConfig:
    """Everything a connector needs to reach one connection of one system.

    ``connection_id`` keys shared state (rate limits, token locks) across worker
    processes. ``auth_urls`` holds the identity endpoints where they live apart
    from ``base_url`` (e.g. Xero's ``authorize``, ``token``, ``connections``), so
    a sandbox can stand in for them. ``secrets`` never appears in ``repr``.
    """

    system: str
    connection_id: str
    base_url: str
    auth_urls: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        hidden = ", ".join(sorted(self.secrets))
        return (
            f"ConnectionConfig(system={self.system!r}, connection_id={self.connection_id!r}, "
            f"base_url={self.base_url!r}, settings={dict(self.settings)!r}, "
            f"secrets=[{hidden}])"
        )


@dataclass(frozen=True)
class Tokens:
    """An OAuth (or session) token set; ``extra`` keeps system data such as a tenant id."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Tokens(expires_at={self.expires_at!r}, extra={dict(self.extra)!r})"

    def expires_within(self, seconds: float, *, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - now <= seconds

    def with_extra(self, **values: Any) -> Tokens:
        return replace(self, extra={**self.extra, **values})


class TokenStore(Protocol):
    """Where one connection's tokens live between calls and across processes.

    Refresh tokens rotate (Xero): two workers refreshing at once would each
    spend the same refresh token and one would be locked out. So refreshes go
    through ``refresh_locked``, which holds a per-connection lock (the Django
    side uses ``select_for_update``), re-reads the *current* tokens, passes them
    to ``refresh`` — which may return them unchanged if another worker already
    refreshed — and saves the result before returning it, so a rotated pair is
    stored before it is ever used.
    """

    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens) -> None: ...

    def refresh_locked(self, refresh: Callable[[Tokens | None], Tokens]) -> Tokens: ...


class InMemoryTokenStore:
    """A ``TokenStore`` for tests, benchmarks and the sandbox demo (one process only)."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self.saves = 0

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self.saves += 1

    def refresh_locked(self, refresh: Callable[[Tokens | None], Tokens]) -> Tokens:
        with self._lock:
            current = self._tokens
            fresh = refresh(current)
            if fresh != current:
                self.save(fresh)
            return fresh


class WriteStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    FAILED = "failed"


@dataclass(frozen=True)
class WriteOutcome:
    """What became of one record of a written batch.

    ``raw`` keeps the system's own answer for that record so staff can see
    exactly what the system said; ``message`` is the plain-English version.
    """

    status: WriteStatus
    target_id: str | None = None
    kind: ErrorKind | None = None
    code: str | None = None
    message: str | None = None
    raw: Any = None

    @classmethod
    def created(cls, target_id: str, raw: Any = None) -> WriteOutcome:
        return cls(WriteStatus.CREATED, target_id=target_id, raw=raw)

    @classmethod
    def updated(cls, target_id: str, raw: Any = None) -> WriteOutcome:
        return cls(WriteStatus.UPDATED, target_id=target_id, raw=raw)

    @classmethod
    def failed(cls, kind: ErrorKind, code: str, message: str, raw: Any = None) -> WriteOutcome:
        return cls(WriteStatus.FAILED, kind=kind, code=code, message=message, raw=raw)

    @property
    def ok(self) -> bool:
        return self.status is not WriteStatus.FAILED


@dataclass(frozen=True)
class ChangePage:
    """One page of changed records.

    ``cursor`` is safe to store once this page *and every earlier one* have
    outcomes: connectors order their reads so that it only moves forward.
    ``total`` is how many records the whole read yields, every page together,
    where the system says so (Salesforce's ``totalSize``, Xero's
    ``pagination.itemCount``); None where it does not. A run's page shows a
    progress bar by it.
    """

    records: list[Record]
    cursor: str | None
    total: int | None = None


def match_text(value: Any) -> str:
    """How two values are compared when records are matched: case folded, spaces collapsed and
    trimmed (``"  ACME   ltd "`` and ``"Acme Ltd"`` are one). The one such rule, for the
    connectors' lookups and the sync core's matching alike; None and "" are "".
    """
    if value is None:
        return ""
    return " ".join(str(value).casefold().split())


def match_word(value: str) -> str:
    """The longest word of a value, lower-cased: what a broad lookup asks a system for (its
    ``Contains``/``LIKE``, which ignore case but not spaces) when it cannot compare as
    ``match_text`` does. Every value ``match_text`` makes equal to ``value`` contains it,
    lower-cased — words whose case folding is not their lower case (German ß folds to
    "ss") are passed over where another word will do, as the system lower-cases them.
    """
    words = str(value).lower().split()
    plain = [w for w in words if w.casefold() == w] or words
    return max(plain, key=len) if plain else ""


def field_value(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a native record (``Contact.Name``); None when absent."""
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


@dataclass(frozen=True)
class FoundRecord:
    target_id: str
    record: Record


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # string | number | integer | boolean | date | datetime | object | array
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class EntitySchema:
    name: str
    fields: tuple[FieldSpec, ...]
    key_field: str  # the system's own id
    reference_field: str | None = None  # an external reference usable for lookups
    # True where records carry related records the schema lists as relationships, not
    # fields (Salesforce's ``Account.Name``, ``OpportunityLineItems[]``): a path leading
    # into a name the schema lacks is not an unknown field there.
    relationship_paths: bool = False


@dataclass(frozen=True)
class ConnectionCheck:
    """The answer to the admin's "Test connection" button."""

    reachable: bool
    connected_as: str | None = None
    headroom: Headroom | None = None
    message: str = ""
    kind: ErrorKind | None = None


class Connector(ABC):
    """Base class of every system's connector.

    Subclasses set ``system`` and implement the abstract methods; entity names
    are the system's own (``Invoices``, ``Account``, ``SORTOI`` …). ``breaker``
    is the connection's circuit breaker, which a subclass hands to its HTTP client.
    """

    system: ClassVar[str]
    # What the core reads of the system beside its records: how its webhooks are read (None:
    # it sends none, it is polled), and which of its error codes mean a missing reference.
    webhooks: ClassVar[WebhookParser | None] = None
    dependencies: ClassVar[Mapping[str, Dependency]] = {}
    # Which of its error codes mean "already exists there" (connectors.duplicates).
    duplicates: ClassVar[Duplicates] = {}

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.limiter = limiter
        self.breaker = breaker
        # find_by_fields' full reads, by (entity, field): kept as long as the connector (a run).
        self._field_indexes: dict[tuple[str, str], dict[str, list[Record]]] = {}

    @abstractmethod
    def entities(self) -> list[str]:
        """Entity names this connector can read or write."""

    @abstractmethod
    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        """Every record changed since ``cursor`` (all when None), page by page to the end."""

    def read_changes_by(
        self, entity: str, change_field: str, cursor: str | None
    ) -> Iterator[ChangePage]:
        """``read_changes`` by a column the flow names instead of the system's own marker.

        Only a system whose reads filter and sort on any column offers it (SYSPRO's
        COMFND); the others refuse it as a configuration error.
        """
        raise ConnectorError(
            ErrorKind.CONFIG,
            "change_field_unsupported",
            f"{self.system} tells its changes by its own marker; clear the flow's change field.",
        )

    def read_all(self, entity: str) -> Iterator[ChangePage]:
        """Every record of ``entity``, page by page, for a full scan (the core compares each
        record's content with what it last saw). Pages carry no cursor to keep."""
        for page in self.read_changes(entity, None):
            yield ChangePage(page.records, None, page.total)

    @abstractmethod
    def read_one(self, entity: str, key: str) -> Record | None:
        """One record by the system's own key, or None when it does not exist."""

    def read_keys(
        self, entity: str, keys: Sequence[str], *, field: str | None = None
    ) -> Iterator[ChangePage]:
        """The records an event named, as ``read_changes`` returns them, in pages without a
        cursor; a key that matches nothing (a record deleted since) is left out.

        ``field`` names a field of ``entity`` the keys are values of, where an event names
        related records (Xero: the payments of an invoice, ``Invoice.InvoiceID``); None:
        the entity's own key. This default reads one record at a time by its key; a system
        that filters by a list of keys overrides it, so 100 keys cost one call, not 100.
        """
        if field is not None:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "read_keys_field_unsupported",
                f"{self.system} reads {entity} by their own key only, not by {field}.",
            )
        records: list[Record] = []
        for key in dict.fromkeys(keys):
            record = self.read_one(entity, key)
            if record is not None:
                records.append(record)
        yield ChangePage(records, None, len(records))

    @abstractmethod
    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Write up to ``max_batch_size(entity)`` records; one outcome per record, in order.

        A failure of the whole call (timeout, 5xx after retries, auth) raises
        ``ConnectorError``; a record the system rejects is a failed outcome.
        """

    @abstractmethod
    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        """Find a record by an external reference (idempotency, settling unknown outcomes)."""

    def find_by_field(self, entity: str, field: str, value: str) -> FoundRecord | None:
        """Read-only: the record whose ``field`` (one the system keeps unique, e.g. a contact's
        name) is ``value``, compared as the system compares it; None when none is.

        This default knows the entity's own key and its reference field; a system whose
        reads filter on other fields overrides it.
        """
        schema = self.describe(entity)
        if field == schema.key_field:
            found = self.read_one(entity, value)
            return FoundRecord(str(found.get(field, value)), found) if found else None
        if field == schema.reference_field:
            return self.find_by_reference(entity, value)
        raise ConnectorError(
            ErrorKind.CONFIG,
            "find_by_field_unsupported",
            f"{self.system} cannot look {entity} up by {field}.",
        )

    def find_by_fields(self, entity: str, field: str, values: Sequence[str]) -> list[FoundRecord]:
        """Read-only and batched: the records whose ``field`` may equal one of ``values`` when
        both are compared as ``match_text`` compares them (case and spaces ignored).

        A superset is fine: the caller compares each candidate again (clarity.sync.matching),
        so a system whose filter is case-sensitive is asked broadly enough (a word of each
        value, case folded by the filter) rather than exactly. This default reads the whole
        entity once per connector (one run) and keeps an index of it by ``field``; a system
        that filters by a list of values overrides it, so 50 values cost one call, not a
        full read.
        """
        wanted = {match_text(v) for v in values} - {""}
        if not wanted:
            return []
        index = self._field_indexes.get((entity, field))
        if index is None:
            index = {}
            for page in self.read_all(entity):
                for record in page.records:
                    key = match_text(field_value(record, field))
                    if key:
                        index.setdefault(key, []).append(record)
            self._field_indexes[(entity, field)] = index
        key_field = self.describe(entity).key_field
        return [
            FoundRecord(str(field_value(record, key_field)), record)
            for key in sorted(wanted)
            for record in index.get(key, ())
        ]

    def find_by_references(self, entity: str, references: Sequence[str]) -> dict[str, FoundRecord]:
        """Find many records by external reference: ``{reference: found}``, the missing left out.

        Settling a batch whose answer was lost asks for every record of it. This
        default asks one at a time; a system that filters by a list of references
        overrides it, so a batch of 50 costs one call of the rate limit, not 50.
        """
        found: dict[str, FoundRecord] = {}
        for reference in dict.fromkeys(references):
            record = self.find_by_reference(entity, reference)
            if record is not None:
                found[reference] = record
        return found

    @abstractmethod
    def describe(self, entity: str) -> EntitySchema:
        """The fields of an entity, for the mapping editor's catalogue."""

    @abstractmethod
    def test_connection(self) -> ConnectionCheck:
        """Reachability, identity and rate-limit headroom; never raises."""

    @abstractmethod
    def max_batch_size(self, entity: str) -> int:
        """The largest batch ``write_batch`` accepts for this entity."""

    def max_request_bytes(self, entity: str) -> int | None:
        """The most one write request may carry, in bytes; None where no limit is known.

        A system that documents a limit overrides this with it (Xero: 10 MB); a
        connection's ``max_request_bytes`` setting overrides both, for a limit
        learnt the hard way. The sync core fails a record larger than this
        before sending it, and packs batches to stay under it.
        """
        configured = self.config.settings.get("max_request_bytes")
        return int(configured) if configured else None

    def request_bytes(self, entity: str, record: Record) -> int:
        """What ``record`` adds to a write request, in bytes: its JSON as ``requests`` sends it
        (non-ASCII escaped). A system with another wire format overrides this."""
        return len(json.dumps(record, default=str))

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Give back what a session holds once a run is done (SYSPRO: its licence seat).

        Most systems hold nothing between calls; never raises.
        """

    def cursor_at(self, entity: str, moment: datetime) -> str:
        """The cursor that makes ``read_changes`` start at ``moment``: how a backfill re-reads.

        Most systems take a UTC timestamp (Xero's If-Modified-Since, KashFlow's
        LastUpdatedDate); a system whose cursor has another shape overrides this.
        """
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
