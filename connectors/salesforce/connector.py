"""Salesforce REST API connector (sObjects, SOQL, sObject Collections).

Salesforce is an org-wide API: one login yields an ``instance_url`` and every
later call goes there, not to the login host. Sessions carry no expiry, so a
401 ``INVALID_SESSION_ID`` is the signal to log in again; the JWT-bearer and
client-credentials flows issue no refresh token, so "refresh" means minting a
new assertion (or re-sending the client secret). A refresh token is only used
when a web-server flow stored one.

Changes are read with SOQL keyset paging on ``(SystemModstamp, Id)`` so a run
stopped between pages resumes exactly where it stopped, and written through
sObject Collections upsert on an external-ID field so a retried batch can never
create a second record.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from connectors.base import (
    ChangePage,
    ConnectionCheck,
    ConnectionConfig,
    Connector,
    EntitySchema,
    FieldSpec,
    FoundRecord,
    Record,
    Tokens,
    TokenStore,
    WriteOutcome,
    match_word,
)
from connectors.circuit import CircuitBreaker
from connectors.compare import already_held
from connectors.errors import ConnectorError, ErrorKind, RateLimitedError, RetryLaterError
from connectors.factory import Shared, connector_factory, http_client
from connectors.http import not_the_api
from connectors.ratelimit import Headroom, RateLimiter, RateLimits
from connectors.salesforce import bulk
from connectors.salesforce.auth import sign_jwt
from connectors.salesforce.catalogue import (
    DEFAULT_CHILDREN,
    DEFAULT_ENTITIES,
    DEFAULT_RELATED_FIELDS,
    FIELD_TYPES,
)
from connectors.salesforce.duplicates import DUPLICATES
from connectors.salesforce.errors import call_kind, describe_error, error_list, oauth_error
from connectors.salesforce.soql import (
    SOQL_NAME,
    changes_query,
    soql_datetime,
    soql_literal,
)

# [P] an Id is 15 case-sensitive or 18 case-insensitive letters and digits (Object Reference,
# "Field Types: ID"); any other text in an Id filter fails the query as MALFORMED_QUERY.
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
DEFAULT_API_VERSION = "62.0"
DEFAULT_EXTERNAL_ID_FIELD = "ExternalID__c"
COLLECTION_LIMIT = 200  # sObject Collections' per-call cap
BULK_THRESHOLD = 2_000  # Salesforce advises Bulk API 2.0 above 2,000 records (see bulk.py)
BULK_MAX_RECORDS = 10_000  # the most one write_batch takes with Bulk on (a flow's batch cap)
JWT_LIFETIME = 180  # seconds; Salesforce accepts at most a few minutes
# What Salesforce sends beside a record's fields: not compared when deciding whether a
# write would change anything (the key's Id is the record itself).
NOT_FIELDS = ("attributes", "Id")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
# Salesforce's own allowance is per org and per day and reported in Sforce-Limit-Info;
# the limiter caps what every worker together keeps in flight.
SALESFORCE_LIMITS = RateLimits(concurrent=25)


class SalesforceConnector(Connector):
    """Salesforce over REST, for one org.

    Settings: ``client_id`` (consumer key), ``auth_flow`` (``jwt_bearer`` or
    ``client_credentials``), ``username`` and ``audience`` (JWT only),
    ``api_version``, ``external_id_field`` (or per entity in
    ``external_id_fields``), ``entities``, ``query_batch_size``,
    ``cursor_overlap_seconds``, ``call_options_client`` (tags our writes so
    change events they cause can be dropped), ``bulk_threshold`` (a write of
    this many records or more goes through a Bulk API 2.0 job; 0 turns Bulk
    off; default 2,000), ``bulk_max_records``, ``bulk_poll_seconds``,
    ``bulk_max_wait_seconds``, ``bulk_query`` (a first read, with no cursor,
    runs as a Bulk API 2.0 query job). Secrets: ``private_key`` (PEM,
    JWT) or ``client_secret``. ``auth_urls["token"]`` overrides the token
    endpoint, which otherwise lives on ``base_url`` (login host or My Domain).
    """

    # No webhooks: Salesforce pushes change events over its Pub/Sub API only (subscriber.py).
    system: ClassVar[str] = "salesforce"
    duplicates = DUPLICATES

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(config, tokens, limiter, breaker)
        settings = self.config.settings
        self.api_version = str(settings.get("api_version", DEFAULT_API_VERSION))
        self.api_usage: tuple[int, int] | None = None  # (used, max) from Sforce-Limit-Info
        self._sent = threading.local()  # the session each thread last sent
        self._fields: dict[str, EntitySchema] = {}
        self.http = http_client(
            self,
            self.config.base_url,
            auth=self._auth_header,
            reauthenticate=self._relogin,
            describe_error=self._describe_response,
            on_response=self._note_usage,
            extra_origins=self._token_origins,
        )
        # A sign-in is not an API call Salesforce counts, but one to an org that is down
        # waits on the breaker like any call.
        self.login_http = http_client(
            self,
            self.config.base_url,
            limited=False,
            describe_error=self._describe_response,
            extra_origins=lambda: [self.config.auth_urls.get("token", "")],
        )

    def _token_origins(self) -> list[str]:
        """The org's own hosts, as its token endpoint (on the bound base URL) named them."""
        tokens = self.tokens.load()
        extra = tokens.extra if tokens else {}
        return [str(extra.get("instance_url") or ""), str(extra.get("id") or "")]

    # -- auth -------------------------------------------------------------

    def _required(self, name: str) -> str:
        value = self.config.settings.get(name) or self.config.secrets.get(name)
        if not value:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "missing_setting",
                f"The Salesforce connection has no {name.replace('_', ' ')} set. Add it to the "
                "connection.",
            )
        return str(value)

    def _login(self) -> Tokens:
        settings, secrets = self.config.settings, self.config.secrets
        flow = settings.get("auth_flow") or (
            "jwt_bearer" if "private_key" in secrets else "client_credentials"
        )
        if flow == "jwt_bearer":
            claims = {
                "iss": self._required("client_id"),
                "sub": self._required("username"),
                "aud": settings.get("audience", self.config.base_url),
                "exp": int(time.time()) + JWT_LIFETIME,
            }
            try:
                assertion = sign_jwt(claims, self._required("private_key"))
            except (ValueError, TypeError) as exc:
                raise ConnectorError(
                    ErrorKind.CONFIG,
                    "invalid_private_key",
                    "The connection's private key is not a readable RSA key in PEM form.",
                ) from exc
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            }
        elif flow == "client_credentials":
            form = {
                "grant_type": "client_credentials",
                "client_id": self._required("client_id"),
                "client_secret": self._required("client_secret"),
            }
        else:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "unknown_auth_flow",
                f"The connection's auth flow '{flow}' is not one Salesforce supports here.",
            )
        return self._token_call(form)

    def _refresh(self, tokens: Tokens) -> Tokens:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token or "",
            "client_id": self._required("client_id"),
            "client_secret": self.config.secrets.get("client_secret", ""),
        }
        fresh = self._token_call(form)
        # Rotation is optional: keep the old refresh token unless a new one came back.
        return (
            fresh
            if fresh.refresh_token
            else Tokens(fresh.access_token, tokens.refresh_token, extra=fresh.extra)
        )

    def _token_call(self, form: Mapping[str, str]) -> Tokens:
        url = self.config.auth_urls.get("token", "/services/oauth2/token")
        try:
            response = self.login_http.request("POST", url, data=dict(form), authenticated=False)
        except ConnectorError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise ConnectorError(
                    ErrorKind.AUTH, exc.code, exc.message, status=exc.status, raw=exc.raw
                ) from exc
            raise
        try:
            body = response.json()
            return Tokens(
                access_token=str(body["access_token"]),
                refresh_token=body.get("refresh_token"),
                extra={
                    "instance_url": str(body["instance_url"]).rstrip("/"),
                    "id": body.get("id"),
                    "issued_at": body.get("issued_at"),
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise not_the_api("Salesforce sign-in", response) from None

    def _current(self) -> Tokens:
        tokens = self.tokens.load()
        if tokens is None:
            tokens = self.tokens.refresh_locked(lambda current: current or self._login())
        return tokens

    def _auth_header(self) -> Mapping[str, str]:
        tokens = self._current()
        self._sent.token = tokens.access_token
        headers = {"Authorization": f"Bearer {tokens.access_token}"}
        client = self.config.settings.get("call_options_client")
        if client:
            headers["Sforce-Call-Options"] = f"client={client}"
        return headers

    def _relogin(self) -> None:
        """Log in again after a 401, once per connection even with many workers.

        If another worker already replaced the session we were refused with, its
        session is used as is rather than logging in a second time.
        """
        refused = getattr(self._sent, "token", None)

        def renew(current: Tokens | None) -> Tokens:
            if current is not None and current.access_token != refused:
                return current
            if current is not None and current.refresh_token:
                return self._refresh(current)
            return self._login()

        self.tokens.refresh_locked(renew)

    # -- http helpers -----------------------------------------------------

    def _instance_url(self) -> str:
        """Where this org's API lives; a store that kept no ``extra`` falls back to settings."""
        extra = self._current().extra
        found = extra.get("instance_url") or self.config.settings.get("instance_url")
        return str(found or self.config.base_url).rstrip("/")

    def _url(self, path: str) -> str:
        instance = self._instance_url()
        if path.startswith("/services/"):
            return f"{instance}{path}"
        return f"{instance}/services/data/v{self.api_version}/{path.lstrip('/')}"

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call, its failure kind taken from Salesforce's errorCode, not the status alone.

        A spent daily allowance is a 403 here (no 429), so it becomes a wait
        instead of a permissions alarm; a 400 ``INVALID_FIELD`` is the mapping's
        fault, not the record's.
        """
        try:
            return self.http.request(method, self._url(path), **kwargs)
        except ConnectorError as exc:
            if exc.code == "request_limit_exceeded":
                raise RateLimitedError(
                    3600.0, limit="day", message=exc.message, status=exc.status, raw=exc.raw
                ) from exc
            kind = call_kind(exc)
            if kind is exc.kind or exc.outcome_unknown:
                raise
            raise ConnectorError(
                kind, exc.code, exc.message, status=exc.status, raw=exc.raw
            ) from exc

    def _describe_response(
        self, response: requests.Response, body: Any
    ) -> tuple[str, str] | tuple[str, str, ErrorKind] | None:
        if isinstance(body, Mapping) and "error" in body:
            return oauth_error(body)
        errors = error_list(body)
        if not errors:
            return None
        entity = self._entity_of(response.url)
        _, code, message = describe_error(entity, errors[0])
        return code, message

    @staticmethod
    def _entity_of(url: str) -> str:
        match = re.search(r"/sobjects/(\w+)", url)
        return match.group(1) if match else "record"

    def _note_usage(self, response: requests.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))

    # -- the interface ----------------------------------------------------

    def entities(self) -> list[str]:
        return list(self.config.settings.get("entities", DEFAULT_ENTITIES))

    def max_batch_size(self, entity: str) -> int:
        if not self._bulk_threshold():
            return COLLECTION_LIMIT
        return max(COLLECTION_LIMIT, int(self.config.settings.get("bulk_max_records",
                                                                  BULK_MAX_RECORDS)))  # fmt: skip

    def _bulk_threshold(self) -> int:
        return int(self.config.settings.get("bulk_threshold", BULK_THRESHOLD) or 0)

    def external_id_field(self, entity: str) -> str:
        per_entity = self.config.settings.get("external_id_fields", {})
        return str(
            per_entity.get(entity)
            or self.config.settings.get("external_id_field", DEFAULT_EXTERNAL_ID_FIELD)
        )

    def describe(self, entity: str) -> EntitySchema:
        if entity not in self._fields:
            try:
                body = self._call("GET", f"sobjects/{entity}/describe").json()
            except ConnectorError as exc:
                if exc.status != 404:
                    raise
                raise ConnectorError(
                    ErrorKind.CONFIG,
                    "unknown_entity",
                    f"Salesforce has no object called {entity}.",
                    status=404,
                    raw=exc.raw,
                ) from exc
            fields = tuple(
                FieldSpec(
                    name=f["name"],
                    type=FIELD_TYPES.get(f["type"], "string"),
                    required=bool(
                        f.get("createable")
                        and not f.get("nillable")
                        and not f.get("defaultedOnCreate")
                    ),
                    description=f.get("label", ""),
                )
                for f in body["fields"]
            )
            names = {f["name"] for f in body["fields"] if f.get("externalId")}
            reference = self.external_id_field(entity)
            self._fields[entity] = EntitySchema(
                name=entity,
                fields=fields,
                key_field="Id",
                reference_field=reference if reference in names else None,
                relationship_paths=True,  # [P] describe's childRelationships, relationshipName
            )
        return self._fields[entity]

    def _select_fields(self, entity: str) -> list[str]:
        """Every plain field, the configured parent fields, and the child rows.

        Settings ``related_fields`` ({entity: ["Account.ExternalID__c", …]}) and
        ``child_queries`` ({entity: [relationship, [fields], condition?]}) replace the
        defaults; a condition is one ``Field = value`` comparison.
        """
        body_types = {f.name: f.type for f in self.describe(entity).fields}
        fields = [n for n, t in body_types.items() if t != "object"]
        settings = self.config.settings
        fields += list(settings.get("related_fields", DEFAULT_RELATED_FIELDS).get(entity, ()))
        child = settings.get("child_queries", DEFAULT_CHILDREN).get(entity)
        if child:
            relationship, names, *where = child
            condition = f" WHERE {where[0]}" if where else ""
            fields.append(f"(SELECT {', '.join(names)} FROM {relationship}{condition})")  # noqa: S608
        return fields

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        overlap = float(self.config.settings.get("cursor_overlap_seconds", 0))
        fields = self._select_fields(entity)
        soql = changes_query(entity, fields, cursor, overlap=overlap)
        # A first read (a backfill) as a query job, where Bulk 2.0 can run the query: it has
        # no child subqueries.
        nested = any(f.startswith("(") for f in fields)
        if cursor is None and self.config.settings.get("bulk_query") and not nested:
            yield from self._read_bulk(entity, soql)
            return
        headers = {}
        if size := self.config.settings.get("query_batch_size"):
            headers["Sforce-Query-Options"] = f"batchSize={int(size)}"
        response = self._call("GET", "query", params={"q": soql}, headers=headers)
        while True:
            body = response.json()
            records = [self._native(r) for r in body["records"]]
            if records:
                last = records[-1]
                cursor = f"{soql_datetime(last['SystemModstamp'])} {last['Id']}"
            yield ChangePage(records=records, cursor=cursor, total=body.get("totalSize"))
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            response = self._call("GET", body["nextRecordsUrl"], headers=headers)

    def _read_bulk(self, entity: str, soql: str) -> Iterator[ChangePage]:
        """A first read as one Bulk API 2.0 query job: CSV pages typed back by describe.

        The cursor (the newest ``SystemModstamp``, ``Id``) comes with the last
        page only: the rows' order within the job is not relied on.
        """
        types = {f.name.lower(): f.type for f in self.describe(entity).fields}
        settings = self.config.settings
        pages = bulk.query_rows(
            self._call,
            soql,
            page=int(settings.get("bulk_query_page", 50_000)),
            poll=float(settings.get("bulk_poll_seconds", 0.5)),
            max_wait=float(settings.get("bulk_max_wait_seconds", 600)),
        )
        newest: tuple[str, str] | None = None
        ready: list[Record] | None = None
        for rows in pages:
            if ready is not None:
                yield ChangePage(records=ready, cursor=None)
            ready = [bulk.typed_row(row, types) for row in rows]
            for record in ready:
                mark = (str(record.get("SystemModstamp") or ""), str(record.get("Id") or ""))
                newest = max(newest or mark, mark)
        cursor = f"{soql_datetime(newest[0])} {newest[1]}" if newest and newest[0] else None
        yield ChangePage(records=ready or [], cursor=cursor)

    @staticmethod
    def _native(record: Mapping[str, Any]) -> Record:
        """The record without SOQL's ``attributes`` envelopes; child lists flattened to rows."""
        native: Record = {}
        for name, value in record.items():
            if name == "attributes":
                continue
            if isinstance(value, Mapping) and "records" in value:
                value = [SalesforceConnector._native(r) for r in value["records"]]
            native[name] = value
        return native

    def cursor_at(self, entity: str, moment: datetime) -> str:
        """A ``SystemModstamp`` with its zone and no Id: every record changed after it."""
        return moment.astimezone(UTC).isoformat()

    def read_keys(
        self, entity: str, keys: Sequence[str], *, field: str | None = None
    ) -> Iterator[ChangePage]:
        """The records by Id (or ``field``), with the same fields, parents and child rows a
        change read selects: ``WHERE Id IN (…)`` 200 literals a query [P] (SOQL and SOSL
        Reference, "IN and NOT IN": the list is limited by the 100,000-character query
        length; 200 keeps a URL short), so an event names an opportunity and its invoice
        still carries its line items.
        """
        path = field or "Id"
        fields = self._select_fields(entity)
        if not all(SOQL_NAME.match(name) for name in (entity, path, *fields)):
            raise ConnectorError(
                ErrorKind.CONFIG, "read_keys_field_unsupported",
                f"Salesforce cannot read {entity} by {path!r}.",
            )  # fmt: skip
        wanted = list(dict.fromkeys(keys))
        if path == "Id":
            # Salesforce refuses the whole query for one malformed id ("invalid ID field"):
            # a key that is no Salesforce id names no record, so it is left out.
            wanted = [key for key in wanted if _SALESFORCE_ID.match(key)]
        for chunk in self._in_lists(entity, path, wanted):
            soql = (
                f"SELECT {', '.join(fields)} FROM {entity} WHERE {path} IN ({chunk}) "  # noqa: S608
                "ORDER BY SystemModstamp, Id"
            )
            yield ChangePage(self._query_all(soql), None)

    def read_one(self, entity: str, key: str) -> Record | None:
        response = self._call("GET", f"sobjects/{entity}/{quote(key, safe='')}", accept=(404,))
        return None if response.status_code == 404 else self._native(response.json())

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        field = self.external_id_field(entity)
        path = f"sobjects/{entity}/{field}/{quote(reference, safe='')}"
        response = self._call("GET", path, accept=(404,))
        if response.status_code == 404:
            return None
        if response.status_code == 300:
            kind, code, message = describe_error(
                entity,
                {"statusCode": "DUPLICATE_EXTERNAL_ID", "fields": [field]},
                {field: reference},
            )
            raise ConnectorError(kind, code, message, status=300, raw=response.json())
        record = self._native(response.json())
        return FoundRecord(target_id=record["Id"], record=record)

    def find_by_fields(self, entity: str, field: str, values: Sequence[str]) -> list[FoundRecord]:
        """SOQL, 200 values a query: ``field LIKE '%word%' OR …`` on the longest word of each
        value for a text field — LIKE ignores case [P] (SOQL and SOSL Reference, "Comparison
        Operators": "The LIKE operator … is case-insensitive"), but not spaces, so the
        caller compares the candidates as it compares — else ``field IN (…)`` [P] ("IN and
        NOT IN"). A ``%`` or ``_`` in a word is left unescaped: it only widens the match.
        """
        fields = self._select_fields(entity)
        if not all(SOQL_NAME.match(name) for name in (entity, field, *fields)):
            raise ConnectorError(
                ErrorKind.CONFIG, "find_by_field_unsupported",
                f"Salesforce cannot look {entity} up by {field!r}.",
            )  # fmt: skip
        owner, _, name = field.rpartition(".")
        described = self.describe(owner.rsplit(".", 1)[-1] or entity).fields
        field_type = next((f.type for f in described if f.name.lower() == name.lower()), "string")
        selected = f"SELECT {', '.join(fields)} FROM {entity} WHERE "  # noqa: S608 - names checked above
        if field_type == "string":
            words = sorted({w for v in values if (w := match_word(v))})
            conditions = [
                " OR ".join(f"{field} LIKE {soql_literal(f'%{w}%', 'string')}" for w in chunk)
                for chunk in (
                    words[i : i + COLLECTION_LIMIT] for i in range(0, len(words), COLLECTION_LIMIT)
                )
            ]
        else:
            conditions = [
                f"{field} IN ({chunk})" for chunk in self._in_lists(entity, field, values)
            ]
        found: dict[str, FoundRecord] = {}
        for condition in conditions:
            for record in self._query_all(selected + condition):
                found.setdefault(str(record["Id"]), FoundRecord(str(record["Id"]), record))
        return list(found.values())

    def find_by_references(self, entity: str, references: Sequence[str]) -> dict[str, FoundRecord]:
        """Records by external ID, 200 to a SOQL query; none while a bulk job on the object runs.

        Why wait: these are looked up to settle writes whose answer was lost,
        and a bulk job closed before a crash may still be writing them; "not
        there" now would send them again. The rows stay unknown and the run
        continues once the job is done (``RetryLaterError``).
        """
        if self._bulk_threshold() and (running := bulk.jobs_in_flight(self._call, entity)):
            wait = RetryLaterError(
                ErrorKind.TRANSIENT,
                "bulk_job_running",
                f"Salesforce is still processing bulk job {', '.join(running)} on {entity}; "
                "its records are looked up once it has finished.",
            )
            wait.retry_after = 30.0
            raise wait
        field = self.external_id_field(entity)
        wanted = list(dict.fromkeys(r for r in references if r))
        if not SOQL_NAME.match(entity) or not SOQL_NAME.match(field):
            return super().find_by_references(entity, wanted)
        rows: dict[str, list[Record]] = {}
        for chunk in self._in_lists(entity, field, wanted):
            soql = f"SELECT Id, {field} FROM {entity} WHERE {field} IN ({chunk})"  # noqa: S608
            for row in self._query_all(soql):
                rows.setdefault(str(row.get(field)).lower(), []).append(row)
        found: dict[str, FoundRecord] = {}
        for reference in wanted:
            matches = rows.get(reference.lower(), [])
            if len(matches) > 1:
                kind, code, message = describe_error(
                    entity,
                    {"statusCode": "DUPLICATE_EXTERNAL_ID", "fields": [field]},
                    {field: reference},
                )
                raise ConnectorError(kind, code, message, status=300, raw=matches)
            if matches:
                found[reference] = FoundRecord(target_id=str(matches[0]["Id"]), record=matches[0])
        return found

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Bulk API 2.0 from ``bulk_threshold`` records on, else sObject Collections.

        Through Bulk go the records with a key to match their result rows by
        (the external ID: upsert; else the Id: update); the rest are creates,
        sent by Collections. Bulk writes every record sent, unchanged or not
        (``skip_unchanged`` would cost a query per 200 records).
        """
        limit = self.max_batch_size(entity)
        if len(records) > limit:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "batch_too_large",
                f"Salesforce takes at most {limit} records a call.",
            )
        threshold = self._bulk_threshold()
        if not threshold or len(records) < threshold:
            return self._write_collections(entity, records)
        if entity == "PricebookEntry":
            records = self._entries_by_id(records)
        field = self.external_id_field(entity)
        groups: dict[str, list[int]] = {"upsert": [], "update": [], "create": []}
        for index, record in enumerate(records):
            mode = _write_mode(record, field)
            groups[mode].append(index)
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        settings = self.config.settings
        for mode, key in (("upsert", field), ("update", "Id")):
            if groups[mode]:
                written = bulk.write_keyed(
                    self._call,
                    entity,
                    [records[i] for i in groups[mode]],
                    operation=mode,
                    key=key,
                    poll=float(settings.get("bulk_poll_seconds", 0.5)),
                    max_wait=float(settings.get("bulk_max_wait_seconds", 600)),
                )
                for i, outcome in zip(groups[mode], written, strict=True):
                    outcomes[i] = outcome
        if groups["create"]:
            created = self._write_collections(entity, [records[i] for i in groups["create"]])
            for i, outcome in zip(groups["create"], created, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _write_collections(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Collections calls of 200; once one has landed, a later failure leaves the whole
        batch's outcome unknown (settled by lookup), so nothing written is sent twice."""
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            try:
                outcomes += self._write_collection(
                    entity, records[start : start + COLLECTION_LIMIT]
                )
            except ConnectorError as exc:
                if start:
                    exc.outcome_unknown = True
                raise
        return outcomes

    def _write_collection(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Update by Id where a record has one, else upsert on the external ID, else create.

        Each group is one Collections call with ``allOrNone=false`` so one bad
        record never holds back the others; results come back in request order.
        """
        field = self.external_id_field(entity)
        if entity == "PricebookEntry":
            records = self._entries_by_id(records)
        groups: dict[str, list[int]] = {"upsert": [], "update": [], "create": []}
        for index, record in enumerate(records):
            mode = _write_mode(record, field)
            groups[mode].append(index)
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        if self.config.settings.get("skip_unchanged", True):
            for mode, key in (("upsert", field), ("update", "Id")):
                same = self._unchanged(entity, key, [(i, records[i]) for i in groups[mode]])
                for i, target_id in same.items():
                    outcomes[i] = WriteOutcome.updated(target_id, raw={"unchanged": True})
                groups[mode] = [i for i in groups[mode] if i not in same]
        calls = {
            "upsert": ("PATCH", f"composite/sobjects/{entity}/{field}", True),
            "update": ("PATCH", "composite/sobjects", True),
            "create": ("POST", "composite/sobjects", False),
        }
        for mode, indexes in groups.items():
            if not indexes:
                continue
            method, path, idempotent = calls[mode]
            payload = {
                "allOrNone": False,
                "records": [{"attributes": {"type": entity}, **records[i]} for i in indexes],
            }
            response = self._call(method, path, json=payload, idempotent=idempotent)
            for i, result in zip(indexes, response.json(), strict=True):
                outcomes[i] = self._outcome(entity, mode, result, records[i])
        return [o for o in outcomes if o is not None]

    def _entries_by_id(self, records: Sequence[Record]) -> list[Record]:
        """Price book entries that already exist become updates of them, by Id.

        Why: a PricebookEntry has no external ID. It is the one entry of its
        product in its price book, and Salesforce refuses a second
        (``DUPLICATE_VALUE``), so sending it again (a new price) must update the
        entry there, with only the fields an update may change — also when the
        record already carries the entry's Id (a flow re-sending it). The product is
        named by ``Product2Id`` or by its external ID (``{"Product2": {"ExternalID__c": …}}``).
        """
        product_field = self.external_id_field("Product2")
        columns = {"Product2Id": "Product2Id", "Product2": f"Product2.{product_field}"}
        wanted: dict[str, set[str]] = {}
        for record in records:
            column, value = self._entry_product(record, product_field)
            if column and not record.get("Id") and record.get("Pricebook2Id"):
                wanted.setdefault(columns[column], set()).add(value)
        found: dict[tuple[str, str], str] = {}
        for column, values in wanted.items():
            if not SOQL_NAME.match(column):
                continue
            for chunk in self._in_lists("PricebookEntry", column, sorted(values)):
                where = f"{column} IN ({chunk})"
                soql = f"SELECT Id, Pricebook2Id, {column} FROM PricebookEntry WHERE {where}"  # noqa: S608
                for row in self._query_all(soql):
                    product = row.get("Product2Id") if column == "Product2Id" else None
                    if product is None:
                        product = (row.get("Product2") or {}).get(product_field)
                    found[(str(row["Pricebook2Id"]), str(product).lower())] = str(row["Id"])
        resolved = []
        for record in records:
            _, value = self._entry_product(record, product_field)
            entry = record.get("Id") or found.get((str(record.get("Pricebook2Id")), value.lower()))
            if not entry:
                resolved.append(record)
                continue
            fixed = ("Id", "Pricebook2Id", "Product2Id", "Product2")
            resolved.append({"Id": entry, **{k: v for k, v in record.items() if k not in fixed}})
        return resolved

    @staticmethod
    def _entry_product(record: Record, product_field: str) -> tuple[str, str]:
        """How an entry names its product: (``Product2Id`` or ``Product2``, value), or ("", "")."""
        if record.get("Product2Id"):
            return "Product2Id", str(record["Product2Id"])
        product = record.get("Product2")
        if isinstance(product, Mapping) and product.get(product_field):
            return "Product2", str(product[product_field])
        return "", ""

    def _in_lists(self, entity: str, path: str, values: Sequence[str]) -> Iterator[str]:
        """``values`` as SOQL ``IN (…)`` lists of at most 200 literals, each written for
        the type of ``path`` (``Field`` or ``Parent.Field``, by describe).

        Why: Salesforce refuses a quoted number, boolean or date (``INVALID_FIELD``), so
        a numeric external ID must go bare. A value the field cannot hold matches no
        record and is left out.
        """
        owner, _, name = path.rpartition(".")
        try:
            fields = self.describe(owner.rsplit(".", 1)[-1] or entity).fields
        except ConnectorError:
            fields = ()
        field_type = next((f.type for f in fields if f.name.lower() == name.lower()), "string")
        literals = []
        for value in values:
            try:
                literals.append(soql_literal(value, field_type))
            except ValueError:
                continue
        for start in range(0, len(literals), COLLECTION_LIMIT):
            yield ", ".join(literals[start : start + COLLECTION_LIMIT])

    def _query_all(self, soql: str) -> list[Record]:
        body = self._call("GET", "query", params={"q": soql}).json()
        rows = list(body.get("records", []))
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = self._call("GET", body["nextRecordsUrl"]).json()
            rows += body.get("records", [])
        return [self._native(row) for row in rows]

    def _unchanged(self, entity: str, key: str, items: list[tuple[int, Record]]) -> dict[int, str]:
        """Records Salesforce already holds exactly as they would be written: {index: Id}.

        Salesforce stamps a new ``SystemModstamp`` on every update, even one that
        changes nothing, and the other side of a both-ways sync would read that
        stamp as a change and send it back. So an upsert or update first reads
        the records it would touch (one SOQL query per batch) and leaves out the
        ones where every field sent already has that value. A parent named by
        external ID (``{"Account": {"ExternalID__c": "X"}}``) is compared through
        the relationship field (``Account.ExternalID__c``).
        """
        keys = [str(r[key]) for _, r in items if r.get(key) not in (None, "")]
        if not keys:
            return {}
        names: set[str] = {"Id", key}
        for _, record in items:
            for name, value in record.items():
                if isinstance(value, Mapping):
                    names.update(f"{name}.{sub}" for sub in value if sub != "attributes")
                elif name != "attributes":
                    names.add(name)
        if not all(SOQL_NAME.match(n) for n in (entity, key, *names)):
            return {}
        found: dict[str, list[Record]] = {}
        for chunk in self._in_lists(entity, key, keys):
            soql = f"SELECT {', '.join(sorted(names))} FROM {entity} WHERE {key} IN ({chunk})"  # noqa: S608
            try:
                rows = self._query_all(soql)
            except ConnectorError as exc:
                if exc.kind in (ErrorKind.CONFIG, ErrorKind.DATA):
                    return {}  # a field the query cannot read: write as usual
                raise
            for native in rows:
                found.setdefault(str(native.get(key)).lower(), []).append(native)
        same: dict[int, str] = {}
        for index, record in items:
            rows = found.get(str(record.get(key)).lower(), [])
            if len(rows) == 1 and already_held(record, rows[0], ignore=NOT_FIELDS):
                same[index] = str(rows[0]["Id"])
        return same

    @staticmethod
    def _outcome(entity: str, mode: str, result: Mapping[str, Any], record: Record) -> WriteOutcome:
        if result.get("success"):
            created = result.get("created", mode == "create")
            maker = WriteOutcome.created if created else WriteOutcome.updated
            return maker(result["id"], raw=result)
        errors = result.get("errors") or [{}]
        kind, code, message = describe_error(entity, errors[0], record)
        return WriteOutcome.failed(kind, code, message, raw=result)

    def test_connection(self) -> ConnectionCheck:
        try:
            identity_url = self._current().extra.get("id")
            who = None
            if identity_url:
                me = _api_object(self.http.request("GET", identity_url), "username")
                who = f"{me.get('display_name')} <{me.get('username')}>"
            limits = _api_object(self._call("GET", "limits"), "DailyApiRequests")
            limits = limits["DailyApiRequests"]
            if not isinstance(limits, dict):
                raise not_the_api("Salesforce")
        except ConnectorError as exc:
            return ConnectionCheck(reachable=False, message=exc.message, kind=exc.kind)
        local = self.limiter.headroom() if self.limiter else None
        headroom = Headroom(
            minute_remaining=local.minute_remaining if local else None,
            day_remaining=limits.get("Remaining"),
            concurrent_free=local.concurrent_free if local else None,
        )
        return ConnectionCheck(
            reachable=True,
            connected_as=who,
            headroom=headroom,
            message=(
                f"Connected to {self._instance_url()}; "
                f"{limits.get('Remaining')} of {limits.get('Max')} daily API calls left."
            ),
        )


def _api_object(response: requests.Response, key: str) -> dict[str, Any]:
    """The JSON object of a Salesforce answer that has ``key``, else not_the_api."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or key not in body:
        raise not_the_api("Salesforce", response)
    return body


# -- the factory -------------------------------------------------------------------

# Salesforce's allowance is per org and per day, reported in Sforce-Limit-Info [P]; the
# shared limiter caps what every worker of one connection keeps in flight.
salesforce_connector = connector_factory(
    SalesforceConnector, Shared("Salesforce", SALESFORCE_LIMITS)
)


def _write_mode(record: Record, external_id_field: str) -> str:
    """How a record is written: ``update`` by its Id where it has one — the Id names the
    record exactly, also one typed in by hand and linked to (its external ID empty, which
    an upsert on the external ID would not find and so create a second record) — else
    ``upsert`` on its external ID, else ``create``. The external ID then goes along as a
    field of the update [P] (sObject Collections: update takes records with an Id and
    any writable fields, developer.salesforce.com "Update Multiple Records")."""
    if record.get("Id"):
        return "update"
    return "upsert" if record.get(external_id_field) else "create"
