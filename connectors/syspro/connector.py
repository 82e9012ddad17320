"""SYSPRO 8 connector: e.net business objects over the e.net Communications Service REST endpoint.

Why it looks the way it does:

* Every call is a GET with XML in the query string (``base_url`` ends in
  ``/SYSPROWCFService/Rest``). So a GET here can be a write: writes are sent
  ``idempotent=False`` so the shared client never repeats one on its own, and
  credentials and UserIds ride in query strings that ``connectors.http`` never logs.
* SYSPRO answers failures with HTTP 200: ``ERROR…`` text for the whole call,
  ``<ErrorDescription>`` inside the output for one record. The body may come
  bare, JSON-quoted or in ``<string>``, with element names in any case; all are read.
* A session (UserId GUID from ``Logon``) holds a licence seat and can vanish
  (idle expiry, service restart, another logon by the same operator). It lives
  in the ``TokenStore`` and is replaced under ``refresh_locked`` so workers
  sharing a connection log on once, not once each.
* SYSPRO has no change feed and no last-changed dates: reads poll COMFND by the
  tables' ``TimeStamp`` rowversion and the key (keyset paging, never offsets), so
  the cursor only moves forward. An order's lines are rows of their own with
  their own rowversion, so a poll also reads the lines changed since the last one
  and hands over their orders. A flow may poll another column (``read_changes_by``),
  or read everything in key order (``read_all``) for a full scan.
* SYSPRO has no idempotency key: before creating, each record's external
  reference (customer code, customer PO number, payment reference) is looked
  up and an existing record is reported instead of created again.

ConnectionConfig: ``base_url`` (the REST root, or just ``http(s)://host:port``);
settings ``company_id``, ``operator``, and optionally ``page_size`` (COMFND
``ReturnRows``, default 1000), ``max_url_length`` (default 16384, the e.net
service's IIS limit), ``allocation_action`` (SORTOI, default ``A``),
``posting_period`` (ARSTPY, default ``C``), ``batch_sizes`` ({entity: n}),
``timeout`` (read seconds), ``calls_per_minute`` / ``concurrent_calls`` /
``rate_limit_max_wait`` (the shared limiter; SYSPRO itself publishes no
limits), ``through_agent`` and ``credentials_held_by`` (``agent``, the default, or
``server``: see ``connectors.agents``); secrets ``operator_password`` and ``company_password``
(none when the agent holds them).
Entities are SYSPRO's table names; ``ALIASES`` maps the product's names
(``customers``, ``sales_orders``, ``ar_payments`` …) onto them.
"""

from __future__ import annotations

import contextlib
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import quote_plus, urlsplit

import requests

from connectors.agents.transport import AGENT_OFFLINE, SESSION_AGENT, agent_session_mode
from connectors.base import (
    ChangePage,
    ConnectionCheck,
    ConnectionConfig,
    Connector,
    EntitySchema,
    FoundRecord,
    Record,
    Tokens,
    TokenStore,
    WriteOutcome,
)
from connectors.circuit import CircuitBreaker
from connectors.errors import ConnectorError, ErrorCode, ErrorKind
from connectors.factory import Shared, connector_factory, http_client
from connectors.http import not_the_api
from connectors.ratelimit import RateLimiter, RateLimits
from connectors.syspro.catalogue import (
    ALIASES,
    ENTITIES,
    ROWVERSION,
    Child,
    Entity,
    Group,
    group_document,
    grouped,
)
from connectors.syspro.dependencies import DEPENDENCIES
from connectors.syspro.duplicates import DUPLICATES
from connectors.syspro.errors import (
    CALL_DEFAULT,
    CALL_RULES,
    NOT_FOUND,
    RECORD_DEFAULT,
    RECORD_RULES,
    SESSION_GONE,
    classify,
    describe_http_error,
    enet_text,
)
from connectors.syspro.wire import (
    SESSION_ID,
    after,
    children,
    comfnd,
    document,
    errors_of,
    flat,
    parse_xml,
    row_of,
    text_of,
    unwrap,
)
from connectors.syspro.writers import WRITERS, Writer, allocations_of, payment_of, split_amount

SERVICE_PATH = "/SYSPROWCFService/Rest"
DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_URL_LENGTH = 16384
# e.net does not publish a batch cap; the URL length is the real bound and
# write_batch splits further to stay under it [A].
DEFAULT_BATCH_SIZE = 50


def service_url(base_url: str) -> str:
    """The REST root, also when a connection holds only the server (``http://host:port``)."""
    base = base_url.rstrip("/")
    return base if SERVICE_PATH.lower() in base.lower() else base + SERVICE_PATH


def rate_limits(config: ConnectionConfig) -> RateLimits:
    """SYSPRO publishes no call limits; an operator may still cap calls (settings) [A]."""
    settings = config.settings
    return RateLimits(
        per_minute=settings.get("calls_per_minute"),
        concurrent=settings.get("concurrent_calls"),
    )


class SysproConnector(Connector):
    """One SYSPRO company reached as one e.net operator."""

    system = "syspro"
    dependencies = DEPENDENCIES
    duplicates = DUPLICATES

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        *,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(config, tokens, limiter, breaker)
        settings = config.settings
        self.page_size = int(settings.get("page_size", DEFAULT_PAGE_SIZE))
        self.max_url_length = int(settings.get("max_url_length", DEFAULT_MAX_URL_LENGTH))
        # Through an agent that holds the operator's password, the agent logs on and adds
        # the session to each call: this side never logs on, off, or sees a UserId.
        self.agent_holds_session = agent_session_mode(settings) == SESSION_AGENT
        self.http = http_client(
            self,
            service_url(config.base_url),
            timeout=(5.0, float(settings.get("timeout", 60.0))),
            describe_error=describe_http_error,
            session=session,
        )

    # -- sessions -------------------------------------------------------------------

    def _logon(self) -> Tokens:
        settings, secrets = self.config.settings, self.config.secrets
        response = self.http.request(
            "GET",
            "Logon",
            params={
                "Operator": settings.get("operator", ""),
                "OperatorPassword": secrets.get("operator_password", ""),
                "CompanyId": settings.get("company_id", ""),
                "CompanyPassword": secrets.get("company_password", ""),
            },
            authenticated=False,
        )
        text = unwrap(response.text)
        if text.upper().startswith("ERROR") or not text:
            raise ConnectorError(*classify(enet_text(text), CALL_RULES, CALL_DEFAULT), raw=text)
        if not SESSION_ID.fullmatch(text):
            raise not_the_api("SYSPRO e.net", response)  # a web page, not a session GUID
        return Tokens(
            access_token=text,
            extra={"operator": settings.get("operator"), "logged_on_at": time.time()},
        )

    def _user_id(self, stale: str | None = None) -> str:
        """The session to use: the stored one, or a new logon when it is missing or ``stale``.

        Under ``refresh_locked`` a worker that finds another already replaced
        the stale session uses that one: one logon per connection, not per worker.
        """
        if self.agent_holds_session:
            return ""  # the agent adds its own session to each call
        current = self.tokens.load()
        if current is not None and current.access_token and current.access_token != stale:
            return current.access_token

        def refresh(latest: Tokens | None) -> Tokens:
            if latest is not None and latest.access_token and latest.access_token != stale:
                return latest
            return self._logon()

        return self.tokens.refresh_locked(refresh).access_token

    def close(self) -> None:
        with contextlib.suppress(ConnectorError):
            self.logoff()

    def logoff(self) -> None:
        """Give the licence seat back (sessions otherwise hold it until they idle out)."""
        if self.agent_holds_session:
            return  # the agent's session is the agent's to end
        current = self.tokens.load()
        if current is None or not current.access_token:
            return
        self.http.request("GET", "Logoff", params={"UserId": current.access_token})
        self.tokens.save(Tokens(access_token="", extra=current.extra))

    def _call(self, path: str, params: Mapping[str, str], *, write: bool = False) -> str:
        """One e.net call in the session, logging on again once if SYSPRO lost the session.

        A lost session means the business object never ran, so even a write is
        safe to send again.
        """
        stale: str | None = None
        for attempt in (1, 2):
            user_id = self._user_id(stale)
            response = self.http.request(
                "GET", path, params={"UserId": user_id, **params}, idempotent=not write
            )
            text = unwrap(response.text)
            if not text.upper().startswith("ERROR"):
                return text
            if SESSION_GONE.search(text):
                if attempt == 1:
                    stale = user_id
                    continue
                raise ConnectorError(
                    ErrorKind.TRANSIENT,
                    "session_lost",
                    "SYSPRO ended the session again straight after logon; another program may "
                    "be using the same operator. Give this connection an operator of its own.",
                    raw=text,
                )
            raise ConnectorError(*classify(enet_text(text), CALL_RULES, CALL_DEFAULT), raw=text)
        raise AssertionError("unreachable")

    def _query(self, business_object: str, xml_in: str) -> ET.Element:
        text = self._call("Query/Query", {"BusinessObject": business_object, "XmlIn": xml_in})
        return parse_xml(text)

    def find_rows(
        self,
        table: str,
        columns: Sequence[str],
        where: Sequence[Sequence[tuple[str, str, str]]],
        order: Sequence[str],
        names: Mapping[str, str],
    ) -> list[Record]:
        root = self._query("COMFND", comfnd(table, columns, where, order, self.page_size))
        return [flat(row, names) for row in children(root, "Row")]

    def find_all_rows(
        self,
        table: str,
        columns: Sequence[str],
        where: Callable[[Sequence[str] | None], list[list[tuple[str, str, str]]]],
        order: Sequence[str],
        names: Mapping[str, str],
    ) -> Iterator[list[Record]]:
        """Pages of rows to the end; ``where(last)`` adds the keyset past the last row.

        The end is an empty page, not a short one: SYSPRO may cap ReturnRows
        below ``page_size`` and a short page would then look like the end.
        """
        last: Sequence[str] | None = None
        while True:
            clause = where(last)
            if last is not None and not clause:
                return
            rows = self.find_rows(table, columns, clause, order, names)
            if not rows:
                return
            yield rows
            last = [rows[-1][c] for c in order]

    def attach_children(
        self, entity: Entity, rows: list[Record], seen: dict[str, int] | None = None
    ) -> int:
        """Read the rows' lines into them; returns the highest line rowversion read (or 0).

        ``seen`` collects each line's rowversion by its key, for ``_changed_lines``.
        """
        child = entity.child
        if child is None or not rows:
            return 0
        parents = sorted({str(row[child.link]) for row in rows})
        lines: dict[str, list[Record]] = {p: [] for p in parents}
        for chunk in self.chunks_of(parents):

            def where(
                last: Sequence[str] | None, chunk: list[str] = chunk
            ) -> list[list[tuple[str, str, str]]]:
                if last is None:
                    return [[(child.link, "EQ", p)] for p in chunk]
                # The keyset past (last parent, last line) restricted to this chunk's parents.
                return [
                    [(child.link, "EQ", p)]
                    + ([(child.keys[1], "GT", last[1])] if p == last[0] else [])
                    for p in chunk
                    if p >= last[0]
                ]

            for page in self.find_all_rows(
                child.table, child.columns, where, child.keys, child.names
            ):
                for line in page:
                    lines.setdefault(str(line[child.link]), []).append(line)
        newest = 0
        for found in lines.values():
            for line in found:
                newest = max(newest, _version(line))
                if seen is not None:
                    seen[_line_key(child, line)] = _version(line)
        for row in rows:
            row[child.table] = [child.record(line) for line in lines.get(str(row[child.link]), [])]
        return newest

    def chunks_of(self, values: Sequence[str], most: int | None = None) -> Iterator[list[str]]:
        """Values per OR'ed lookup so the URL stays under ``max_url_length``."""
        size = max(1, min((self.max_url_length - 1500) // 250, most or len(values) or 1))
        for start in range(0, len(values), size):
            yield list(values[start : start + size])

    # -- the interface --------------------------------------------------------------

    def entity(self, name: str) -> Entity:
        try:
            return ENTITIES[ALIASES.get(name, name)]
        except KeyError:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "unknown_entity",
                f"SYSPRO has no entity '{name}' here. Choose one of: {', '.join(ENTITIES)}.",
            ) from None

    def entities(self) -> list[str]:
        return list(ENTITIES)

    def describe(self, entity: str) -> EntitySchema:
        spec = self.entity(entity)
        return EntitySchema(entity, spec.fields, "/".join(spec.keys), spec.reference)

    def max_batch_size(self, entity: str) -> int:
        spec = self.entity(entity)
        if spec.table not in WRITERS:
            return 0
        return int(self.config.settings.get("batch_sizes", {}).get(spec.table, DEFAULT_BATCH_SIZE))

    def cursor_at(self, entity: str, moment: datetime) -> str:
        """SYSPRO marks changes with a rowversion, not a time, so no date places a cursor."""
        raise ConnectorError(
            ErrorKind.CONFIG,
            "no_change_date",
            f"SYSPRO marks changes to {entity} with a row version, not a date, so a read "
            "cannot start at a date. Clear the cursor to read everything again: records "
            "already delivered unchanged are skipped.",
        )

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        """Rows changed since ``cursor``, by the entity's rowversion (GL history by key)."""
        spec = self.entity(entity)
        return self._read(spec, spec.change, cursor)

    def read_changes_by(
        self, entity: str, change_field: str, cursor: str | None
    ) -> Iterator[ChangePage]:
        """Rows changed since ``cursor`` by the flow's own column (e.g. ``DateLastSale``)."""
        spec = self.entity(entity)
        if spec.group is not None or not change_field.isidentifier():
            raise ConnectorError(
                ErrorKind.CONFIG,
                "bad_change_field",
                f"'{change_field}' cannot mark changes to SYSPRO {entity}. Name one column of "
                f"{spec.table} (e.g. {ROWVERSION}), or clear the flow's change field.",
            )
        return self._read(spec, change_field, cursor)

    def _read(self, spec: Entity, change: str | None, cursor: str | None) -> Iterator[ChangePage]:
        """Rows in (change, key) order from the cursor, page by page; then changed lines.

        A cursor is the last row's ordering values. A new poll starts *at* the
        cursor's change value, not after its row: a date column has a resolution
        of a day or a second, and a row saved later at the same value may sort
        before it by key. The few rows read twice carry the same version, which
        the ledger skips. GL history, only ever appended to, pages strictly by key.

        With the rowversion, an entity with lines (orders, invoices, stock per
        warehouse) also keeps the newest line rowversion it has handed over: lines
        are rows of their own, so a line changed without its header is found by its
        own rowversion and its header read again. On a first read that mark is the
        newest rowversion of the first page: rowversions only grow, so any line
        changed after that page was read is above it.
        """
        if spec.group is not None:
            yield from self._read_documents(spec, spec.group, cursor)
            return
        order = spec.order(change)
        columns = list(dict.fromkeys([*spec.columns, *order]))
        names = {**spec.names, **{c.lower(): c for c in order}}
        with_lines = change == ROWVERSION and spec.child is not None
        start, lines_from = _parse_cursor(cursor, order, change)

        def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
            if last is not None:
                return after(order, last)
            if start is None:
                return []
            if change:
                return [[(change, "GE", start[0])]]
            return after(order, start)

        last_values = start
        seen: dict[str, int] = {}  # this read's lines: handed over already, at this version
        for rows in self.find_all_rows(spec.table, columns, where, order, names):
            newest = self.attach_children(spec, rows, seen)
            if with_lines and lines_from is None:
                lines_from = max([newest, *(_version(row) for row in rows)])
            last_values = [rows[-1][c] for c in order]
            yield ChangePage(
                _fields_only(spec, rows), _cursor_text(last_values, lines_from, with_lines)
            )
        if with_lines and last_values is not None:
            yield from self._changed_lines(spec, columns, names, last_values, lines_from or 0, seen)

    def _changed_lines(
        self,
        spec: Entity,
        columns: Sequence[str],
        names: Mapping[str, str],
        last_values: Sequence[str],
        lines_from: int,
        seen: dict[str, int],
    ) -> Iterator[ChangePage]:
        """Headers whose lines changed after ``lines_from``, read again with all their lines.

        Lines this read already handed over at the same rowversion (with a header
        read above) are no change; the others' headers are read again, once.
        """
        child = spec.child
        assert child is not None
        order = (ROWVERSION, child.link, child.line)

        def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
            if last is None:
                return [[(ROWVERSION, "GT", str(lines_from))]]
            return after(order, last)

        line_names = {c.lower(): c for c in order}
        for lines in self.find_all_rows(child.table, list(order), where, order, line_names):
            changed = [line for line in lines if seen.get(_line_key(child, line)) != _version(line)]
            parents = sorted({str(line[child.link]) for line in changed})
            rows: list[Record] = []
            for chunk in self.chunks_of(parents):
                clause = [[(spec.keys[0], "EQ", parent)] for parent in chunk]
                rows += self.find_rows(spec.table, columns, clause, spec.keys, names)
            self.attach_children(spec, rows, seen)
            lines_from = max(lines_from, *(_version(line) for line in lines))
            yield ChangePage(_fields_only(spec, rows), _cursor_text(last_values, lines_from, True))

    def read_all(self, entity: str) -> Iterator[ChangePage]:
        """Every record in key order, for a full scan; pages carry no cursor.

        COMFND keyset pages, not COMBRW: COMBRW answers each value inside its own
        element with a ``DataType`` beside it [O, wildland/syspro-ruby combrw_parser.rb],
        three elements per value against COMFND's one, and 10,000 customers took 12.2 s
        to browse against 4.3 s to find (measured on the sandbox, #13).
        """
        spec = self.entity(entity)
        for page in self._read(spec, None, None):
            yield ChangePage(page.records, None)

    def _read_documents(
        self, spec: Entity, group: Group, cursor: str | None
    ) -> Iterator[ChangePage]:
        """Whole documents (journals) from their rows; the cursor is a document's last row.

        The rows of the document still being read when a page ends wait for the
        next page, so every page holds whole documents and a resumed read starts
        at the first row after the last document handed over.
        """
        rows_spec = ENTITIES[group.table]
        start = json.loads(cursor) if cursor else None

        def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
            if last is not None:
                return after(rows_spec.keys, last)
            return after(rows_spec.keys, start) if start is not None else []

        held: list[Record] = []
        for rows in self.find_all_rows(
            rows_spec.table, rows_spec.columns, where, rows_spec.keys, rows_spec.names
        ):
            documents = grouped(held + rows, group.by)
            held = documents.pop()
            if documents:
                yield ChangePage(
                    [group_document(group, d) for d in documents],
                    json.dumps([documents[-1][-1][c] for c in rows_spec.keys]),
                )
        if held:
            yield ChangePage(
                [group_document(group, held)], json.dumps([held[-1][c] for c in rows_spec.keys])
            )

    def read_one(self, entity: str, key: str) -> Record | None:
        spec = self.entity(entity)
        if spec.group is not None:
            values = key.split("/")
            if len(values) != len(spec.group.by):
                return None
            rows_spec = ENTITIES[spec.group.table]
            match = list(zip(spec.group.by, ["EQ"] * len(values), values, strict=True))

            def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
                if last is None:
                    return [match]
                return [match + terms for terms in after(rows_spec.keys, last)]

            lines: list[Record] = []
            for page in self.find_all_rows(
                rows_spec.table, rows_spec.columns, where, rows_spec.keys, rows_spec.names
            ):
                lines.extend(page)
            return group_document(spec.group, lines) if lines else None
        if spec.query_object is not None:
            query = {"Key": {spec.keys[0]: key}}
            if spec.query_options:
                query["Option"] = dict.fromkeys(spec.query_options, "Y")
            xml_in = document("Query", None, [query])
            try:
                return row_of(self._query(spec.query_object, xml_in), spec)
            except ConnectorError as exc:
                if isinstance(exc.raw, str) and NOT_FOUND.search(exc.raw):
                    return None
                raise
        values = key.split("/")
        if len(values) != len(spec.keys):
            return None
        rows = self.find_rows(
            spec.table,
            spec.columns,
            [list(zip(spec.keys, ["EQ"] * len(values), values, strict=True))],
            spec.keys,
            spec.names,
        )
        self.attach_children(spec, rows[:1])
        return rows[0] if rows else None

    # find_by_fields is the base's indexed full read (COMFND pages), kept for the run: the
    # COMFND conditions we hold evidence of are comparisons (EQ …, systems/syspro.md [P]);
    # a LIKE that ignores case is not documented there, so a name is not asked for by a word.

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        spec = self.entity(entity)
        found = self._existing(spec, [reference])
        match = found.get(reference)
        if not match:
            return None
        self.attach_children(spec, match[:1])
        return FoundRecord(spec.target_id(match[0]), match[0])

    def _existing(self, spec: Entity, references: Sequence[str]) -> dict[str, list[Record]]:
        """Rows whose reference column holds one of ``references``, by reference."""
        if spec.reference is None:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "no_reference",
                f"SYSPRO {spec.table} records have no external reference to look up.",
            )
        # One row per reference is the norm, so a page always holds a chunk's matches.
        found: dict[str, list[Record]] = {}
        for chunk in self.chunks_of(sorted(set(filter(None, references))), self.page_size // 2):
            clause = [[(spec.reference, "EQ", value)] for value in chunk]
            for row in self.find_rows(spec.table, spec.columns, clause, spec.keys, spec.names):
                found.setdefault(str(row[spec.reference]), []).append(row)
        return found

    def test_connection(self) -> ConnectionCheck:
        headroom = self.limiter.headroom() if self.limiter is not None else None
        try:
            profile = parse_xml(self._call("GetLogonProfile", {}))
            if not (text_of(profile, "OperatorCode") or text_of(profile, "CompanyId")):
                raise not_the_api("SYSPRO e.net")  # XML, but no logon profile
        except ConnectorError as exc:
            unreachable = exc.code in (
                ErrorCode.CONNECTION_FAILED,
                ErrorCode.TIMEOUT,
                AGENT_OFFLINE,  # through an agent, none of which is online
            )
            return ConnectionCheck(not unreachable, None, headroom, exc.message, exc.kind)
        who = (
            f"{text_of(profile, 'OperatorCode')} on {text_of(profile, 'CompanyName')} "
            f"({text_of(profile, 'CompanyId')})"
        )
        return ConnectionCheck(True, who, headroom, "Connected to SYSPRO.")

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Post the batch; records already in SYSPRO (by reference) are not sent again.

        Customers are upserted (Add or Update by customer code). Orders and
        payments whose reference exists are reported created with the existing
        id, so a retry after a lost answer never doubles them.
        """
        spec = self.entity(entity)
        writer = WRITERS.get(spec.table)
        if writer is None:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "read_only_entity",
                f"SYSPRO {entity} records cannot be written here.",
            )
        if len(records) > self.max_batch_size(entity):
            raise ConnectorError(
                ErrorKind.CONFIG,
                "batch_too_large",
                f"At most {self.max_batch_size(entity)} SYSPRO {entity} can be sent at once.",
            )
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        references = [writer.reference(record) for record in records]
        existing = self._existing(spec, [ref for _, ref in references])
        sends: dict[str, list[int]] = {}
        for index, (customer, reference) in enumerate(references):
            if not reference:
                outcomes[index] = WriteOutcome.failed(
                    ErrorKind.DATA,
                    "reference_missing",
                    f"The record has no {spec.reference}, so SYSPRO could not tell a retry from "
                    f"a new record. Map a value into {spec.reference}, then retry.",
                )
                continue
            match = [
                row
                for row in existing.get(reference, [])
                if not customer or str(row.get("Customer", "")) == customer
            ]
            if match and writer.update_path is None:
                outcomes[index] = WriteOutcome.created(
                    spec.target_id(match[0]),
                    raw={"already_in_syspro": match[0]},
                )
                continue
            path = writer.update_path if match and writer.update_path else writer.path
            sends.setdefault(path, []).append(index)
        if spec.table == "ArCshJnlDet":
            records = self._allocated(records, sends, outcomes)
        for path, indexes in sends.items():
            for chunk, too_large in self._batches(writer, path, records, indexes):
                for index in too_large:
                    # The code every system uses for a record over the request limit
                    # (ErrorCode.TOO_LARGE, data: shortening the record is the usual fix).
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.DATA,
                        ErrorCode.TOO_LARGE,
                        "The record is too long to send to SYSPRO in one request "
                        f"(over {self.max_url_length} characters). Shorten its text fields or "
                        "raise the e.net service's URL limit and max_url_length.",
                    )
                if chunk:
                    self._post(writer, path, records, chunk, outcomes)
        return [o for o in outcomes if o is not None]

    def _allocated(
        self,
        records: Sequence[Record],
        sends: dict[str, list[int]],
        outcomes: list[WriteOutcome | None],
    ) -> list[Record]:
        """Payments allocated by sales order get SYSPRO's invoice numbers instead.

        ARSTPY allocates a payment to invoices, but the other system only knows
        the order it billed (Xero's ``SO-…`` invoice); SYSPRO keeps that order on
        its invoices (``ArInvoice.SalesOrder``). An order invoiced in parts has
        several: the payment goes to the oldest first, each up to its balance,
        and anything left over to the last, which ARSTPY refuses as an
        overpayment. An order with no invoice fails its payment here, unsent.
        """
        wanted = {
            index: allocations_of(records[index]) for indexes in sends.values() for index in indexes
        }
        orders = {
            str(a["SalesOrder"]) for found in wanted.values() for a in found if "SalesOrder" in a
        }
        invoices: dict[str, list[Record]] = {}
        columns = ["Invoice", "Customer", "SalesOrder", "InvoiceBal1"]
        names = {c.lower(): c for c in columns}
        for chunk in self.chunks_of(sorted(orders)):
            clause = [[("SalesOrder", "EQ", order)] for order in chunk]
            for row in self.find_rows("ArInvoice", columns, clause, ["Invoice"], names):
                invoices.setdefault(str(row["SalesOrder"]), []).append(row)
        resolved = list(records)
        for index, allocations in wanted.items():
            customer = str(payment_of(records[index]).get("Customer") or "")
            lines: list[Record] = []
            for allocation in allocations:
                if "SalesOrder" not in allocation:
                    lines.append(allocation)
                    continue
                order = str(allocation["SalesOrder"])
                billed = [i for i in invoices.get(order, []) if str(i["Customer"]) == customer]
                if not billed:
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.DATA,
                        "invoice_not_found",
                        f"SYSPRO has no invoice for sales order {order} of customer "
                        f"'{customer}', so the payment cannot be allocated to it. Invoice the "
                        "order in SYSPRO (or check it belongs to this customer), then retry.",
                    )
                    break
                value = allocation.get("PaymentValue") or 0
                try:
                    lines += split_amount(billed, Decimal(str(value)))
                except InvalidOperation:
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.DATA,
                        "invalid_amount",
                        f"The amount to allocate to sales order {order} ('{value}') is not a "
                        "number. Correct the mapping of Invoice.PaymentValue, then retry.",
                    )
                    break
            if outcomes[index] is None:
                resolved[index] = {**records[index], "Invoice": lines}
        for path, indexes in sends.items():
            sends[path] = [i for i in indexes if outcomes[i] is None]
        return resolved

    def _parameters(self, writer: Writer) -> str:
        return document(writer.root, "Parameters", [writer.parameters(self.config.settings)])

    def _batches(
        self, writer: Writer, path: str, records: Sequence[Record], indexes: list[int]
    ) -> Iterator[tuple[list[int], list[int]]]:
        """(records to send in one call, records too long for any call), by URL length."""
        overhead = len(self.http.url(path)) + len(quote_plus(self._parameters(writer))) + 200
        overhead += len(quote_plus(document(writer.root, None, [])))
        chunk: list[int] = []
        used = overhead
        for index in indexes:
            size = len(quote_plus(document("x", writer.wrapper, [writer.shape(records[index])])))
            if overhead + size > self.max_url_length:
                yield [], [index]
                continue
            if chunk and used + size > self.max_url_length:
                yield chunk, []
                chunk, used = [], overhead
            chunk.append(index)
            used += size
        if chunk:
            yield chunk, []

    def _post(
        self,
        writer: Writer,
        path: str,
        records: Sequence[Record],
        chunk: list[int],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        params = {
            "BusinessObject": writer.business_object,
            "XmlParameters": self._parameters(writer),
            "XmlIn": document(
                writer.root, writer.wrapper, [writer.shape(records[i]) for i in chunk]
            ),
        }
        root = parse_xml(self._call(path, params, write=True))
        results = children(root, writer.result)
        if len(results) != len(chunk):
            raise ConnectorError(
                ErrorKind.TRANSIENT,
                ErrorCode.OUTCOME_UNKNOWN,
                "SYSPRO's answer did not list every record sent; each will be looked up "
                "before it is sent again.",
                raw=ET.tostring(root, encoding="unicode"),
                outcome_unknown=True,
            )
        for index, result in zip(chunk, results, strict=True):
            outcomes[index] = self._outcome(writer, path, records[index], result)

    def _outcome(
        self, writer: Writer, path: str, record: Record, result: ET.Element
    ) -> WriteOutcome:
        raw = ET.tostring(result, encoding="unicode")
        errors = errors_of(result)
        if errors:
            kind, code, message = classify(enet_text(errors[0]), RECORD_RULES, RECORD_DEFAULT)
            if len(errors) > 1:
                message += " SYSPRO also said: " + "; ".join(errors[1:])
            return WriteOutcome.failed(kind, code, message, raw)
        target = writer.target_id(result, record)
        if not target:
            return WriteOutcome.failed(
                ErrorKind.DATA,
                "not_created",
                "SYSPRO did not create the record and gave no reason. Check it in SYSPRO, "
                "then retry.",
                raw,
            )
        if path == writer.update_path:
            return WriteOutcome.updated(target, raw)
        return WriteOutcome.created(target, raw)


def _fields_only(spec: Entity, rows: list[Record]) -> list[Record]:
    """Rows as records: what was read only to order and page them (the rowversion, a
    flow's change column) left out, so a record's version is its content."""
    fields = set(spec.columns)
    if spec.child is not None:
        fields.add(spec.child.table)
    return [{k: v for k, v in row.items() if k in fields} for row in rows]


def _line_key(child: Child, line: Record) -> str:
    return f"{line[child.link]}\x00{line[child.line]}"


def _version(row: Record) -> int:
    """A row's rowversion as read (0 when the row has none)."""
    value = str(row.get(ROWVERSION, "") or "0")
    return int(value) if value.isdigit() else 0


def _parse_cursor(
    cursor: str | None, order: Sequence[str], change: str | None
) -> tuple[list[str] | None, int | None]:
    """(the ordering values to start at, the line rowversion handed over) from a cursor.

    A cursor written for other columns (a flow's change field changed, or one kept
    from before SYSPRO was polled by rowversion) cannot place a read: it reads
    everything again, and the ledger skips what was delivered unchanged.
    """
    if not cursor:
        return None, None
    try:
        value = json.loads(cursor)
    except ValueError:
        return None, None
    lines = value.get("lines") if isinstance(value, dict) else None
    start = value.get("rows") if isinstance(value, dict) else value
    if not isinstance(start, list) or len(start) != len(order):
        return None, None
    if change == ROWVERSION and not str(start[0]).isdigit():
        return None, None
    return [str(v) for v in start], lines if isinstance(lines, int) else None


def _cursor_text(values: Sequence[str], lines_from: int | None, with_lines: bool) -> str:
    if with_lines:
        return json.dumps({"rows": list(values), "lines": lines_from or 0})
    return json.dumps(list(values))


# -- the factory -------------------------------------------------------------------


def company_on_server(config: ConnectionConfig, tokens: TokenStore) -> str:
    """SYSPRO's scope: every connection to one company on one e.net server shares a budget
    (e.net publishes none; it is the server and its licence seats that tire) [A]."""
    host = urlsplit(service_url(config.base_url)).netloc
    return f"{host}:{config.settings.get('company_id', '')}"


syspro_connector = connector_factory(
    SysproConnector, Shared("SYSPRO", rate_limits, limit_scope=company_on_server)
)
