"""The Xero connector: reads, batched writes, lookups.

``xero_connector(config, tokens, redis=...)`` gives a connector with the
shared rate limiter for that tenant (``.test_connection()`` on it checks the
connection); the "Connect to Xero" flow is in ``connectors.xero.auth``.

Xero's access tokens last 30 minutes and its refresh tokens rotate, so every
refresh happens under ``TokenStore.refresh_locked`` and the new pair is saved
before it is used. Writes go in batches with ``summarizeErrors=false`` (one
outcome per record) and an ``Idempotency-Key`` derived from the batch itself,
so a retried batch is the same request to Xero and is not applied twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

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
    match_word,
)
from connectors.circuit import CircuitBreaker
from connectors.errors import ConnectorError, ErrorKind, RateLimitedError
from connectors.factory import Shared, connector_factory, http_client
from connectors.http import RetryPolicy, not_the_api, refuse_redirects
from connectors.ratelimit import Headroom, RateLimiter, RateLimits
from connectors.xero.auth import (
    checked_url,
    client_auth,
    oauth_failure,
    raise_for_server_error,
    tokens_from,
    transient_identity_failure,
)
from connectors.xero.catalogue import ENTITIES, entity_info
from connectors.xero.dependencies import DEPENDENCIES
from connectors.xero.duplicates import DUPLICATES
from connectors.xero.errors import (
    XeroErrorCode,
    describe_error,
    rejected_batch_outcomes,
    write_outcome,
)
from connectors.xero.webhooks import XeroWebhooks

DEFAULT_LIMITS = RateLimits(per_minute=60, per_day=5000, concurrent=5)
REFRESH_MARGIN = 120.0  # refresh this long before the access token expires
LOOKUP_CHUNK = 50  # references per lookup GET: a write batch's worth, a URL of a few KB
# Xero's ids are GUIDs [P] (xero_accounting.yaml: "format: uuid"); a key that is not one names
# nothing, and in a ``where`` it would only make Xero refuse the whole query.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # Xero's hard cap per request [S]; 413 above it


# -- the connector -------------------------------------------------------------


class XeroConnector(Connector):
    system = "xero"
    webhooks = XeroWebhooks()
    dependencies = DEPENDENCIES
    duplicates = DUPLICATES

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        clock: Callable[[], float] = time.time,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(config, tokens, limiter, breaker)
        self.clock = clock
        self.server_limits: dict[str, int] = {}
        self._sent_token: str | None = None
        self._sent_tenant: str | None = None
        self.http = http_client(
            self,
            config.base_url,
            timeout=timeout,
            retry=retry,
            auth=self._auth_headers,
            reauthenticate=self._refresh_after_401,
            describe_error=describe_error,
            rate_limit_of=lambda r: r.headers.get("X-Rate-Limit-Problem"),
            on_response=self._note_limits,
        )

    # -- tokens ---------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        tokens = self.tokens.load()
        if tokens is None:
            raise ConnectorError(
                ErrorKind.AUTH,
                XeroErrorCode.NOT_CONNECTED,
                "This connection is not signed in to Xero yet. Use Connect to Xero.",
            )
        if tokens.expires_within(REFRESH_MARGIN, now=self.clock()):
            tokens = self.tokens.refresh_locked(self._refresh_if_stale)
        self._sent_token = tokens.access_token
        self._sent_tenant = _tenant_id(self.config, tokens)
        return {
            "Authorization": f"Bearer {tokens.access_token}",
            "xero-tenant-id": self._sent_tenant,
            "Accept": "application/json",
        }

    def _refresh_if_stale(self, current: Tokens | None) -> Tokens:
        """Run under the lock: another worker may have refreshed while we waited."""
        if current is not None and not current.expires_within(REFRESH_MARGIN, now=self.clock()):
            return current
        return self._refresh(current)

    def _refresh_after_401(self) -> None:
        failed = self._sent_token

        def refresh(current: Tokens | None) -> Tokens:
            if current is not None and current.access_token != failed:
                return current  # someone already replaced the token that was refused
            return self._refresh(current)

        self.tokens.refresh_locked(refresh)

    def _refresh(self, current: Tokens | None) -> Tokens:
        if current is None or not current.refresh_token:
            raise ConnectorError(
                ErrorKind.AUTH,
                XeroErrorCode.NOT_CONNECTED,
                "This connection has no Xero sign-in to renew. Use Connect to Xero.",
            )
        try:
            token = self._request_refresh(current.refresh_token)
        except ConnectorError as exc:
            if exc.kind is not ErrorKind.TRANSIENT:
                raise
            # Safe to repeat: Xero still honours the previous refresh token for 30 minutes.
            time.sleep(1)
            token = self._request_refresh(current.refresh_token)
        return tokens_from(token, extra=current.extra)

    def _request_refresh(self, refresh_token: str) -> dict[str, Any]:
        session = OAuth2Session(self.config.secrets["client_id"], token={"token_type": "Bearer"})
        refuse_redirects(session)
        session.register_compliance_hook("refresh_token_response", raise_for_server_error)
        try:
            token: dict[str, Any] = session.refresh_token(
                checked_url(self.config.auth_urls["token"]),
                refresh_token=refresh_token,
                auth=client_auth(self.config),
                timeout=30,
            )
        except OAuth2Error as exc:
            raise oauth_failure(exc) from exc
        except requests.RequestException as exc:
            raise transient_identity_failure(exc) from exc
        except ValueError:  # an answer that is no token response at all
            raise not_the_api("Xero identity") from None
        return token

    def _note_limits(self, response: requests.Response) -> None:
        for header, name in (
            ("X-MinLimit-Remaining", "minute"),
            ("X-DayLimit-Remaining", "day"),
            ("X-AppMinLimit-Remaining", "appminute"),
        ):
            if header in response.headers:
                self.server_limits[name] = int(response.headers[header])

    # -- the interface --------------------------------------------------------

    def entities(self) -> list[str]:
        return list(ENTITIES)

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        """Pages ordered by UpdatedDateUTC, so each page's cursor is safe to store."""
        info = entity_info(entity)
        headers = {"If-Modified-Since": cursor} if cursor else {}
        size = min(int(self.config.settings.get("page_size", 100)), 1000)
        params: dict[str, Any] = {"order": "UpdatedDateUTC ASC"}
        page = 1
        while True:
            if info.paged:
                params.update(page=page, pageSize=size)
            body = self.http.request("GET", f"/{entity}", params=params, headers=headers).json()
            records = body.get(entity) or []
            stamps = [r["UpdatedDateUTC"] for r in records if r.get("UpdatedDateUTC")]
            if stamps:
                cursor = max(_cursor_from(s) for s in stamps)
            yield ChangePage(records, cursor, total=(body.get("pagination") or {}).get("itemCount"))
            pages = (body.get("pagination") or {}).get("pageCount")
            last = page >= pages if pages is not None else len(records) < size
            if not info.paged or last:
                return
            page += 1

    def read_keys(
        self, entity: str, keys: Sequence[str], *, field: str | None = None
    ) -> Iterator[ChangePage]:
        """One GET per ``LOOKUP_CHUNK`` keys: ``IDs=a,b`` where Xero offers it [P]
        (XeroAPI/Xero-OpenAPI xero_accounting.yaml, getInvoices/getContacts ``IDs``: "a
        comma separated list"), else ``where`` with ``Guid("…")`` ``OR``s on the id field or
        on ``field`` [P] (developer.xero.com/documentation/api/accounting/payments, "where":
        ``Invoice.InvoiceID`` is one of the filters Xero optimises). Keys that are no GUID
        name no Xero record and are left out (they would only make Xero refuse the query).
        """
        info = entity_info(entity)
        wanted = [k for k in dict.fromkeys(keys) if _GUID.match(k)]
        path = field or info.id_field
        if not re.fullmatch(r"[A-Za-z]+(\.[A-Za-z]+)?", path):
            raise ConnectorError(
                ErrorKind.CONFIG, "read_keys_field_unsupported",
                f"Xero cannot filter {entity} by {path!r}.",
            )  # fmt: skip
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            if field is None and entity in ("Invoices", "Contacts"):
                params: dict[str, Any] = {"IDs": ",".join(chunk)}
            else:
                params = {"where": " OR ".join(f'{path}==Guid("{key}")' for key in chunk)}
            page = 1
            while True:
                if info.paged:
                    params["page"] = page
                body = self.http.request("GET", f"/{entity}", params=params).json()
                records = body.get(entity) or []
                yield ChangePage(records, None)
                pages = (body.get("pagination") or {}).get("pageCount")
                if not info.paged or not records or (pages is not None and page >= pages):
                    break
                if pages is None and len(records) < 100:  # [P] 100 a page without pageSize
                    break
                page += 1

    def read_one(self, entity: str, key: str) -> Record | None:
        entity_info(entity)
        response = self.http.request("GET", f"/{entity}/{quote(key, safe='')}", accept=(404,))
        if response.status_code == 404:
            return None
        records: list[Record] = response.json().get(entity) or []
        return records[0] if records else None

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        info = entity_info(entity)
        if not records:
            return []
        if len(records) > self.max_batch_size(entity):
            raise ConnectorError(
                ErrorKind.CONFIG,
                "batch_too_large",
                f"{len(records)} {entity} exceed the batch size for Xero",
            )
        if entity == "Accounts":
            return [self._write_account(record) for record in records]
        response = self.http.request(
            "POST",
            f"/{entity}",
            params={"summarizeErrors": "false"},
            json={entity: list(records)},
            headers={"Idempotency-Key": self._idempotency_key(entity, records)},
            idempotent=True,
            accept=(400,),
        )
        body = response.json()
        if response.status_code == 400:
            return rejected_batch_outcomes(entity, records, body)
        elements = body.get(entity) or []
        if len(elements) != len(records):
            raise ConnectorError(
                ErrorKind.TRANSIENT,
                XeroErrorCode.BATCH_REJECTED,
                f"Xero answered for {len(elements)} of {len(records)} {entity}; "
                "the batch will be checked and sent again.",
                raw=body,
                outcome_unknown=True,
            )
        return [write_outcome(info, sent, got) for sent, got in zip(records, elements, strict=True)]

    def _write_account(self, record: Record) -> WriteOutcome:
        account_id = record.get("AccountID")
        response = self.http.request(
            "POST" if account_id else "PUT",
            f"/Accounts/{account_id}" if account_id else "/Accounts",
            json=record,
            headers={"Idempotency-Key": self._idempotency_key("Accounts", [record])},
            idempotent=True,
            accept=(400,),
        )
        body = response.json()
        if response.status_code == 400:
            return rejected_batch_outcomes("Accounts", [record], body)[0]
        return write_outcome(ENTITIES["Accounts"], record, body["Accounts"][0])

    def _idempotency_key(self, entity: str, records: Sequence[Record]) -> str:
        """Same records, same key: a retried batch is recognised by Xero (for ~6 minutes).

        The tenant is the one the last call went to: reading the tokens again for it
        cost every write a second query of the connection (only a re-connect changes it).
        """
        tenant = self._sent_tenant or _tenant_id(self.config, self.tokens.load())
        canonical = json.dumps([tenant, entity, list(records)], sort_keys=True, default=str)
        return "clarity-" + hashlib.sha256(canonical.encode()).hexdigest()

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        return self.find_by_references(entity, [reference]).get(reference)

    def find_by_field(self, entity: str, field: str, value: str) -> FoundRecord | None:
        """One GET with ``where``: ``field.ToLower()=="value"`` (Xero compares names without
        case [S]: community answers on "contact name already assigned" clashing on case),
        active contacts only, as Xero's uniqueness of names counts them [P]
        (developer.xero.com/documentation/api/accounting/contacts, ContactStatus). ``ToLower``
        in ``where`` is documented [P] (requests-and-responses, "Retrieving a filtered set").
        """
        info = entity_info(entity)
        if not re.fullmatch(r"[A-Za-z]+", field):
            raise ConnectorError(
                ErrorKind.CONFIG, "find_by_field_unsupported",
                f"Xero cannot look {entity} up by {field!r}.",
            )  # fmt: skip
        wanted = value.strip().lower()
        # As sent and trimmed: a name may have been saved with spaces around it, and a clash
        # ignores them [A] (as the sandbox does, connectors/sandbox/xero/schema.py).
        asked = dict.fromkeys((value.lower(), wanted))
        quoted = (a.replace("\\", "\\\\").replace('"', '\\"') for a in asked)
        where = " OR ".join(f'{field}.ToLower()=="{q}"' for q in quoted)
        if entity == "Contacts":
            where = f'({where}) AND ContactStatus=="ACTIVE"'
        params: dict[str, Any] = {"where": where}
        if info.paged:
            params["page"] = "1"
        body = self.http.request("GET", f"/{entity}", params=params).json()
        for record in body.get(entity) or []:
            if str(record.get(field, "")).strip().lower() == wanted:
                return FoundRecord(str(record[info.id_field]), record)
        return None

    def find_by_fields(self, entity: str, field: str, values: Sequence[str]) -> list[FoundRecord]:
        """One ``where`` per ``LOOKUP_CHUNK`` values, every page of it: ``OR``-ed
        ``field.ToLower().Contains("word")`` on the longest word of each value [P]
        (developer.xero.com/documentation/api/accounting/requests-and-responses, "Retrieving
        a filtered set": ``Name.Contains("Peter")``, ``.ToLower()``, ``OR``; the ``where``
        grammar of XeroAPI/Xero-OpenAPI xero_accounting.yaml). Why a word, not ``==``: Xero's
        ``==`` compares text exactly (case and spaces), and a name typed by hand as "ACME
        ltd " is the "Acme Ltd" sent; the caller compares the candidates as it compares.
        Contacts: active ones only, as a name's uniqueness counts them [P] (contacts,
        ContactStatus), so an archived twin is never updated instead of a live one.
        """
        info = entity_info(entity)
        if not re.fullmatch(r"[A-Za-z]+(\.[A-Za-z]+)?", field):
            raise ConnectorError(
                ErrorKind.CONFIG, "find_by_field_unsupported",
                f"Xero cannot look {entity} up by {field!r}.",
            )  # fmt: skip
        words = sorted({w for v in values if (w := match_word(v))})
        found: dict[str, FoundRecord] = {}
        for start in range(0, len(words), LOOKUP_CHUNK):
            chunk = words[start : start + LOOKUP_CHUNK]
            quoted = (w.replace("\\", "\\\\").replace('"', '\\"') for w in chunk)
            where = " OR ".join(f'{field}.ToLower().Contains("{q}")' for q in quoted)
            if entity == "Contacts":
                where = f'({where}) AND ContactStatus=="ACTIVE"'
            page = 1
            while True:
                params: dict[str, Any] = {"where": where}
                if info.paged:
                    params["page"] = page
                body = self.http.request("GET", f"/{entity}", params=params).json()
                records = body.get(entity) or []
                for record in records:
                    key = str(record[info.id_field])
                    found.setdefault(key, FoundRecord(key, record))
                pages = (body.get("pagination") or {}).get("pageCount")
                if not info.paged or not records or (pages is not None and page >= pages):
                    break
                if pages is None and len(records) < 100:  # [P] 100 a page without pageSize
                    break
                page += 1
        return list(found.values())

    def find_by_references(self, entity: str, references: Sequence[str]) -> dict[str, FoundRecord]:
        """One GET per ``LOOKUP_CHUNK`` references: ``InvoiceNumbers=a,b`` for invoices (a
        number with a comma in it goes by ``where``), else ``where`` with ``OR``s.

        Only the first page (100 records) is read, as for one reference before: it
        holds every match unless references repeat in Xero, where the first wins.
        """
        info = entity_info(entity)
        wanted = list(dict.fromkeys(references))
        found: dict[str, FoundRecord] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            if entity == "Invoices" and not any("," in r for r in chunk):
                params = {"InvoiceNumbers": ",".join(chunk)}
            else:
                quoted = (r.replace("\\", "\\\\").replace('"', '\\"') for r in chunk)
                params = {"where": " OR ".join(f'{info.reference_field}=="{q}"' for q in quoted)}
            if info.paged:
                params["page"] = "1"
            body = self.http.request("GET", f"/{entity}", params=params).json()
            asked = set(chunk)
            for record in body.get(entity) or []:
                reference = record.get(info.reference_field)
                if reference in asked and reference not in found:
                    found[reference] = FoundRecord(str(record[info.id_field]), record)
        return found

    def describe(self, entity: str) -> EntitySchema:
        info = entity_info(entity)
        return EntitySchema(entity, info.fields, info.id_field, info.reference_field)

    def test_connection(self) -> ConnectionCheck:
        try:
            response = self.http.request("GET", "/Organisation")
            organisation = _organisation_name(response)
        except RateLimitedError as exc:
            return ConnectionCheck(
                reachable=True,
                headroom=self._headroom(),
                message=f"Xero is reachable but its {exc.limit or 'call'} limit is used up; "
                f"calls resume in about {int(exc.retry_after)} seconds.",
                kind=ErrorKind.TRANSIENT,
            )
        except ConnectorError as exc:
            return ConnectionCheck(
                reachable=exc.kind is not ErrorKind.TRANSIENT, message=exc.message, kind=exc.kind
            )
        tokens = self.tokens.load()
        user = tokens.extra.get("user") if tokens else None
        who = f"{organisation} (as {user})" if user else organisation
        return ConnectionCheck(
            reachable=True,
            connected_as=who,
            headroom=self._headroom(),
            message=f"Connected to the Xero organisation {organisation}.",
        )

    def _headroom(self) -> Headroom:
        """The tighter of our shared count and what Xero's headers last said."""
        ours = self.limiter.headroom() if self.limiter else Headroom(None, None, None)

        def tighter(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        return Headroom(
            minute_remaining=tighter(ours.minute_remaining, self.server_limits.get("minute")),
            day_remaining=tighter(ours.day_remaining, self.server_limits.get("day")),
            concurrent_free=ours.concurrent_free,
        )

    def max_batch_size(self, entity: str) -> int:
        sizes = self.config.settings.get("batch_sizes", {})
        return int(sizes.get(entity, entity_info(entity).batch_size))

    def max_request_bytes(self, entity: str) -> int | None:
        """Xero refuses a request over 10 MB with 413 [S: systems/xero.md, "the hard cap is
        the request size: 10 MB"]; a connection's setting may set it lower."""
        return super().max_request_bytes(entity) or MAX_REQUEST_BYTES


# -- helpers -------------------------------------------------------------------


def _organisation_name(response: requests.Response) -> str:
    """The organisation's name from ``GET /Organisation``, or not_the_api when it is not one."""
    try:
        name = response.json()["Organisations"][0]["Name"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise not_the_api("Xero", response) from None
    if not isinstance(name, str):
        raise not_the_api("Xero", response)
    return name


def _tenant_id(config: ConnectionConfig, tokens: Tokens | None) -> str:
    tenant = config.settings.get("tenant_id") or (tokens.extra.get("tenant_id") if tokens else None)
    if not tenant:
        raise ConnectorError(
            ErrorKind.CONFIG,
            XeroErrorCode.NO_TENANT,
            "No Xero organisation is chosen for this connection. Use Connect to Xero.",
        )
    return str(tenant)


def _cursor_from(xero_date: str) -> str:
    """``/Date(1551213567813+0000)/`` -> ISO 8601 UTC with milliseconds."""
    ms = int(re.sub(r"[^\d].*", "", xero_date.removeprefix("/Date(")))
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


# -- the factory -------------------------------------------------------------------

# Xero counts its limits per organisation [P] (developer.xero.com/documentation/guides/
# oauth2/limits: 60 calls a minute, 5,000 a day, 5 at once, per tenant), so every
# connection to one organisation shares one limiter; a breaker covers one connection.
xero_connector = connector_factory(
    XeroConnector,
    Shared(
        "Xero",
        DEFAULT_LIMITS,
        limit_scope=lambda config, tokens: _tenant_id(config, tokens.load()),
    ),
)
