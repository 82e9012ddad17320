"""A local Salesforce org: OAuth, REST sObjects, SOQL, sObject Collections, limits, CDC.

Follows ``/work/shared/systems/salesforce.md``. The behaviour below is what
the real API does ([P]/[S]); options change the parts the doc marks [A] or
that tests want small:

* ``api_versions`` — versions served (default 58.0 to 62.0).
* ``upsert_200_from`` — [A] from this version an upsert that updates answers
  200 with a body, before it 204 (default ``46.0``).
* ``session_timeout`` — seconds a session lives unused before calls get 401
  ``INVALID_SESSION_ID`` (default 7200, the org default).
* ``query_batch_size`` / ``query_min_batch_size`` — SOQL page size and the
  smallest ``Sforce-Query-Options: batchSize`` honoured (default 2000 / 200).
* ``limits`` — ``{"daily": n, "concurrent": n}``; ``daily`` is the rolling 24 h
  API allocation (default 115 000 = 100 000 + 15 Enterprise licences), answered
  with 403 ``REQUEST_LIMIT_EXCEEDED`` when spent, as Salesforce does; there is
  no 429 except the framework's injected ``429`` fault. ``concurrent`` [A]
  caps calls in flight (Salesforce only counts calls of 20 s or more).
* ``unique_account_external_id`` — when False (default) ``Account.ExternalID__c``
  is an external ID without the unique flag, which is how two seeded Accounts
  collide on it; Contact, Opportunity and Product2 external IDs are unique.
* ``validation_rules`` — the org's "Closed Won needs an Amount" rule (default on).
* Pub/Sub API (``pubsub/``, gRPC beside the HTTP server): ``pubsub_port``
  (default 10 above the HTTP port asked for, or a free one; ``GET /_sandbox/pubsub``
  says where), ``pubsub_keepalive_seconds`` (270, Salesforce's most),
  ``pubsub_retention_seconds`` (72 h), ``pubsub_max_streams`` (64) and
  ``cdc_entities`` (the objects selected for Change Data Capture; default all).
  Every committed write publishes its change event there in Avro;
  ``cdc_merge_same_changes`` merges a transaction's identical changes into one event
  with several ``recordIds``, as Salesforce sometimes does (default off).
* ``apps`` / ``users`` / ``refresh_tokens`` — connected apps (consumer key ->
  ``client_secret``, ``public_key`` PEM, ``run_as`` username) and users. The
  defaults use ``DEMO_CONSUMER_KEY``, ``DEMO_CLIENT_SECRET`` and
  ``DEMO_PRIVATE_KEY`` (``auth``), public demo values that grant nothing anywhere.

The framework adds fault injection (5xx, timeouts, resets, 429) and the
created/updated counters under ``/_sandbox/``; this org adds
``POST /_sandbox/sessions/expire`` (every session ends, as after a timeout). Change
events reach subscribers only as Salesforce's do, over the Pub/Sub API (there is no HTTP
relay: Salesforce delivers CDC over CometD or the gRPC Pub/Sub API, never as HTTP webhooks
[P] shared/systems/salesforce.md "Change events"). Each change is its own event
(Salesforce may merge identical changes into one event with several ``recordIds``).
Records are named by 15- or 18-character Ids in any case; a deleted record goes to the recycle bin,
answers ``ENTITY_IS_DELETED`` and is still seen by ``/queryAll``. ``/composite``
runs up to 25 subrequests with ``@{ref}`` references and ``allOrNone``. Every
error body is Salesforce's array, the framework's own refusals included. Platform
events are published through ``POST /_sandbox/pubsub/event`` onto the Pub/Sub API;
``POST /sobjects/X__e`` is not emulated.

Seed data (``reset_state``): 2 price books, 40 products with standard and
trade prices, 150 Accounts, about 300 Contacts, 200 Opportunities with line
items, including records that fail the way real ones do — see ``seed.SEED_FACTS``.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from http.client import HTTPMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.sandbox.core import (
    CONTROL_PREFIX,
    HttpError,
    RateRule,
    Request,
    Response,
    json_response,
)
from connectors.sandbox.salesforce.auth import (
    DEMO_CLIENT_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_PRIVATE_KEY,
    DEMO_REFRESH_TOKEN,
    DEMO_USERNAME,
    ORG_ID,
    SalesforceAuth,
    public_pem,
)
from connectors.sandbox.salesforce.bulk import BulkApi, BulkJob
from connectors.sandbox.salesforce.events import ChangeEvents
from connectors.sandbox.salesforce.pubsub import control as pubsub_control
from connectors.sandbox.salesforce.pubsub.server import PubSubServer
from connectors.sandbox.salesforce.pubsub.stream import EventBus, EventLog
from connectors.sandbox.salesforce.rules import (
    AFTER_SAVE,
    RULES,
    MissingParent,
    no_rule,
    parent_reference,
    roll_up_amount,
)
from connectors.sandbox.salesforce.schema import (
    CHILD_RELATIONSHIPS,
    FIELDS,
    SCHEMA,
    Field,
    RecordError,
    Transaction,
    canonical_id,
    coerce,
    describe_field,
    no_column,
    salesforce_id,
    sf_datetime,
    sf_error,
    validate_fields,
)
from connectors.sandbox.salesforce.seed import seed_org
from connectors.sandbox.salesforce.soql import (
    Query,
    SoqlParser,
    check_literals,
    malformed,
    matches,
    place,
    sort_key,
)


class SalesforceApp(SalesforceAuth, ChangeEvents):
    name = "salesforce"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        opts = dict(options or {})
        self._group: list[Transaction] | None = None  # a composite request's writes, held
        self.pubsub_bus = EventBus(self)  # the Pub/Sub API's event bus (pubsub/stream.py)
        self.pubsub_server: PubSubServer | None = None
        self.pubsub_endpoint: str | None = None
        super().__init__(opts)
        self.bulk = BulkApi(self)  # Bulk API 2.0 (bulk.py)
        self.versions = tuple(
            self.options.get("api_versions", ("58.0", "59.0", "60.0", "61.0", "62.0"))
        )
        self.rate_rules = [
            RateRule("daily", 115_000, 86_400, self._org_scope),
            RateRule("concurrent", 25, None, self._org_scope),
        ]
        self._add_routes()

    # -- state ----------------------------------------------------------------

    def reset_state(self) -> None:
        self.data: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SCHEMA}
        # Deleted records stay in the recycle bin, where /queryAll still sees them.
        self.recycle_bin: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SCHEMA}
        self.serial = itertools.count(1)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.replay = itertools.count(1)
        self.event_log = EventLog()
        with self.pubsub_bus.changed:  # open streams learn the stream was reset
            self.pubsub_bus.changed.notify_all()
        self.bulk_jobs: dict[str, BulkJob] = {}
        self.apps = self.options.get("apps") or {
            DEMO_CONSUMER_KEY: {
                "client_secret": DEMO_CLIENT_SECRET,
                "public_key": public_pem(DEMO_PRIVATE_KEY),
                "run_as": DEMO_USERNAME,
            }
        }
        self.users = self.options.get("users") or {
            DEMO_USERNAME: {"id": salesforce_id("005", 1), "display_name": "Clarity Integration"}
        }
        self.refresh_tokens = dict(
            self.options.get("refresh_tokens")
            or {DEMO_REFRESH_TOKEN: (DEMO_CONSUMER_KEY, DEMO_USERNAME)}
        )
        seed_org(self)

    def _org_scope(self, request: Request) -> str | None:
        return ORG_ID if request.path.lower().startswith("/services/data/v") else None

    def new_id(self, sobject: str) -> str:
        return salesforce_id(SCHEMA[sobject][0], next(self.serial))

    def type_of(self, record_id: str) -> str | None:
        for sobject, records in self.data.items():
            if record_id in records:
                return sobject
        return None

    # -- rate limits: Salesforce answers a spent allocation with 403, not 429 ----

    def rate_headers(self, request: Request, remaining: Mapping[str, int]) -> dict[str, str]:
        if "daily" not in remaining:
            return {}
        limit = self.limit(self.rate_rules[0])
        return {"Sforce-Limit-Info": f"api-usage={limit - remaining['daily']}/{limit}"}

    def rate_limited_response(self, request: Request, rule: str, retry_after: int) -> Response:
        if rule == "burst":
            # The framework's injected 429 (an edge in front of the org) [A]: still
            # Salesforce's array body, with the wait in Retry-After.
            response = sf_error(
                429, "REQUEST_LIMIT_EXCEEDED", "Too many requests. Try again later."
            ).response
            response.headers["Retry-After"] = str(retry_after)
            return response
        message = {
            "daily": "TotalRequests Limit exceeded.",
            "concurrent": "ConcurrentPerOrgLongTxn Limit exceeded.",
        }[rule]
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", message).response

    def _dispatch(self, request: Request) -> Response:
        """Every REST answer's error in Salesforce's array shape [P], also those the
        framework gives (no route, wrong method, unreadable JSON): clients such as
        simple-salesforce read ``body[0]["errorCode"]``. OAuth keeps its own shape."""
        response = super()._dispatch(request)
        path = request.path
        if response.status < 400 or path.startswith((CONTROL_PREFIX, "/services/oauth2/")):
            return response
        try:
            body = json.loads(response.body or b"null")
        except ValueError:
            body = None
        if isinstance(body, list):
            return response
        detail = str(body.get("error", "")) if isinstance(body, dict) else ""
        if response.status == 404:
            error = sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        elif response.status == 405:
            error = sf_error(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."
            )
        elif response.status == 400:
            error = sf_error(400, "JSON_PARSER_ERROR", detail or "The request body is not JSON")
        else:
            error = sf_error(response.status, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        error.response.headers.update(
            {k: v for k, v in response.headers.items() if k != "Content-Type"}
        )
        return error.response

    def server_error_response(self, request: Request, status: int) -> Response:
        code = "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"
        message = (
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1923456-8832 (-1047)"
        )
        return sf_error(status, code, message).response

    def daily_usage(self) -> tuple[int, int]:
        rule = self.rate_rules[0]
        assert rule.window is not None  # the first rule is the daily limit, not a cap in flight
        now = self.now()
        with self._meta_lock:
            used = sum(1 for t in self._windows[(rule.name, ORG_ID)] if t > now - rule.window)
        return used, self.limit(rule)

    # -- OAuth ----------------------------------------------------------------

    def _add_routes(self) -> None:
        self.route("POST", "/services/oauth2/token", self.token)
        self.route("GET", "/id/{org}/{user}", self.identity)
        self.route("GET", "/services/data", self.list_versions)
        self.route("POST", "/_sandbox/sessions/expire", self.expire_sessions)
        self.route("POST", "/_sandbox/bulk", self.bulk.control)
        pubsub_control.add_routes(self)
        api: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/limits", self.limits),
            ("GET", "/sobjects", self.describe_global),
            ("GET", "/sobjects/{sobject}/describe", self.describe),
            ("POST", "/sobjects/{sobject}", self.create),
            ("GET", "/sobjects/{sobject}/{record_id}", self.retrieve),
            ("PATCH", "/sobjects/{sobject}/{record_id}", self.update),
            ("DELETE", "/sobjects/{sobject}/{record_id}", self.delete),
            ("GET", "/sobjects/{sobject}/{ext_field}/{ext_value}", self.retrieve_by_external_id),
            ("PATCH", "/sobjects/{sobject}/{ext_field}/{ext_value}", self.upsert),
            ("GET", "/query", self.query),
            ("GET", "/query/{locator}", self.query_more),
            ("GET", "/queryAll", self.query_all),
            ("GET", "/queryAll/{locator}", self.query_more),
            ("POST", "/composite", self.composite),
            ("POST", "/composite/sobjects", self.collection_create),
            ("PATCH", "/composite/sobjects", self.collection_update),
            ("DELETE", "/composite/sobjects", self.collection_delete),
            ("GET", "/composite/sobjects/{sobject}", self.collection_retrieve),
            ("PATCH", "/composite/sobjects/{sobject}/{ext_field}", self.collection_upsert),
        ]
        api += self.bulk.routes()
        for method, path, handler in api:
            self.route(method, "/services/data/v{version}" + path, self._api(handler))

    def _api(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Every versioned call: a served version and a live session first, as Salesforce checks."""

        def guarded(request: Request) -> Response:
            if request.params["version"] not in self.versions:
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            request.params["user"] = self._session(request)["user"]
            return handler(request)

        return guarded

    def list_versions(self, request: Request) -> Response:
        return json_response(
            [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in self.versions]
        )

    def limits(self, request: Request) -> Response:
        used, limit = self.daily_usage()
        return json_response(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 1024, "Remaining": 1000},
                "ConcurrentPerOrgLongTxn": {
                    "Max": self.limit(self.rate_rules[1]),
                    "Remaining": self.limit(self.rate_rules[1]),
                },
            }
        )

    # -- describe -------------------------------------------------------------

    def _sobject(self, name: str) -> str:
        for sobject in SCHEMA:
            if sobject.lower() == name.lower():
                return sobject
        raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def describe_global(self, request: Request) -> Response:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {"name": s, "label": s, "keyPrefix": prefix, "queryable": True}
                    for s, (prefix, _) in SCHEMA.items()
                ],
            }
        )

    def describe(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        prefix, fields = SCHEMA[sobject]
        return json_response(
            {
                "name": sobject,
                "label": sobject,
                "keyPrefix": prefix,
                "createable": True,
                "updateable": True,
                "queryable": True,
                "fields": [describe_field(f) for f in fields],
                "childRelationships": [
                    {"childSObject": child, "field": link, "relationshipName": rel}
                    for (parent, rel), (child, link) in CHILD_RELATIONSHIPS.items()
                    if parent == sobject
                ],
            }
        )

    # -- records --------------------------------------------------------------

    def out(self, sobject: str, record: Mapping[str, Any], version: str) -> dict[str, Any]:
        """A record as the REST API shows it: ``attributes`` first, every field, compounds built."""
        shown: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}",
            }
        }
        for f in SCHEMA[sobject][1]:
            shown[f.name] = record.get(f.name)
        if sobject == "Account":
            shown["BillingAddress"] = {
                "street": record.get("BillingStreet"),
                "city": record.get("BillingCity"),
                "state": record.get("BillingState"),
                "postalCode": record.get("BillingPostalCode"),
                "country": record.get("BillingCountry"),
            }
        return shown

    def begin(self, request: Request, api: str = "rest") -> Transaction:
        """A call's transaction; its change events' ``changeOrigin`` is
        ``com/salesforce/api/<api>/<version>;client=<Sforce-Call-Options client>``, ``api``
        being ``rest`` or ``bulkapi`` [P Apex ``EventBus.ChangeEventHeader.changeorigin``,
        https://developer.salesforce.com/docs/platform/apex-ref/references/apex-ref/apex-class-eventbus-changeeventheader.html]."""
        client = _call_option(request.header("Sforce-Call-Options"), "client")
        origin = f"com/salesforce/api/{api}/{request.params.get('version', '')}"
        return Transaction(
            snapshot={t: dict(r) for t, r in self.data.items()},
            origin=f"{origin};client={client}" if client else origin,
            bin_snapshot={t: dict(r) for t, r in self.recycle_bin.items()},
        )

    def commit(self, tx: Transaction) -> None:
        """Announce a call's writes; inside a composite request, once the whole request stands."""
        if self._group is not None:
            self._group.append(tx)
            return
        for action, sobject in tx.counts:
            self.count(action, sobject)
        for event in tx.events:
            self.events.append(event)
        self.pubsub_bus.publish_changes(tx.events)
        del self.events[:-500]

    def start_listeners(self, host: str, http_port: int) -> None:
        """The Pub/Sub API's gRPC server: on ``pubsub_port``, else 10 above the HTTP port
        asked for (8703 -> 8713) when that is free, else any free port; ``GET
        /_sandbox/pubsub`` says which."""
        if "pubsub_port" in self.options:
            ports = [int(self.options["pubsub_port"])]
        else:
            ports = [http_port + 10, 0] if http_port else [0]
        self.pubsub_server = PubSubServer(self, self.pubsub_bus, host, ports).start()
        self.pubsub_endpoint = self.pubsub_server.endpoint

    def close(self) -> None:
        if self.pubsub_server is not None:
            self.pubsub_server.stop()
            self.pubsub_server = None

    def rollback(self, tx: Transaction) -> None:
        self.data = tx.snapshot
        self.recycle_bin = tx.bin_snapshot

    def deleted_type(self, record_id: str) -> str | None:
        """The sObject a record in the recycle bin was, or None when it is not there."""
        return next((t for t, records in self.recycle_bin.items() if record_id in records), None)

    def deserialize(self, sobject: str, values: Any) -> dict[str, Any]:
        """Names and JSON types checked as Salesforce's parser does: one bad value fails all."""
        if not isinstance(values, Mapping):
            raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for an sObject")
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name == "attributes":
                continue
            parent = parent_reference(self, sobject, name, value)
            if parent is not None:
                clean[parent[0]] = parent[1]
                continue
            spec = FIELDS[sobject].get(name.lower())
            if spec is None:
                raise sf_error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            clean[spec.name] = coerce(spec, value)
        return clean

    def save(
        self,
        sobject: str,
        values: dict[str, Any],
        tx: Transaction,
        user: str,
        existing: str | None = None,
    ) -> str:
        """Validate and store one record the way the org would; raises RecordError."""
        values = dict(values)
        values.pop("Id", None)
        existing = canonical_id(existing) or existing if existing else None
        for name, value in values.items():
            if isinstance(value, MissingParent) and value.matches:
                # What Salesforce answers when a parent's external ID matches several records.
                raise RecordError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{value.field}: more than one record found for external id field: "
                    f"[{', '.join(value.matches)}]",
                    [name],
                )
            if isinstance(value, MissingParent):
                raise RecordError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {value.value} not found for field "
                    f"{value.field} in entity {value.sobject}",
                    [name],
                )
        current = self.data[sobject].get(existing) if existing else None
        if existing and current is None:
            if self.deleted_type(existing):
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        fields = FIELDS[sobject]
        allowed = "updateable" if current else "createable"
        locked = [n for n in values if not getattr(fields[n.lower()], allowed)]
        if locked:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                locked,
            )
        record = {**(current or {}), **values}
        validate_fields(self, sobject, record)
        RULES.get(sobject, no_rule)(self, record, values, current)
        now = sf_datetime(self.now())
        user_id = self.users[user]["id"]
        if current is None:
            record.update(
                Id=self.new_id(sobject), CreatedDate=now, CreatedById=user_id, IsDeleted=False
            )
        record.update(LastModifiedDate=now, LastModifiedById=user_id, SystemModstamp=now)
        self.data[sobject][record["Id"]] = record
        tx.counts.append(("updated" if current else "created", sobject))
        self.announce(tx, sobject, record, current, user_id)
        AFTER_SAVE.get(sobject, no_rule)(self, record, values, current, tx=tx, user=user)
        return str(record["Id"])

    def remove(self, sobject: str, record_id: str, tx: Transaction, user: str) -> None:
        record = self.data[sobject].pop(record_id, None)
        if record is None:
            if self.deleted_type(record_id):
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        user_id = self.users[user]["id"]
        now = sf_datetime(self.now())
        self.recycle_bin[sobject][record_id] = {
            **record,
            "IsDeleted": True,
            "LastModifiedDate": now,
            "LastModifiedById": user_id,
            "SystemModstamp": now,
        }
        self.announce(tx, sobject, None, record, user_id)
        if sobject == "Opportunity":
            for line in [
                r
                for r in self.data["OpportunityLineItem"].values()
                if r["OpportunityId"] == record_id
            ]:
                self.remove("OpportunityLineItem", line["Id"], tx, user)
        if sobject == "OpportunityLineItem" and record["OpportunityId"] in self.data["Opportunity"]:
            roll_up_amount(self, record["OpportunityId"], tx, user)

    # -- sObject REST -----------------------------------------------------------

    def _one(self, request: Request, write: Callable[[Transaction], Any]) -> Any:
        tx = self.begin(request)
        try:
            result = write(tx)
        except RecordError as exc:
            self.rollback(tx)
            raise exc.as_http() from exc
        self.commit(tx)
        return result

    def create(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        values = self.deserialize(sobject, request.json())
        new_id = self._one(
            request, lambda tx: self.save(sobject, values, tx, request.params["user"])
        )
        return json_response({"id": new_id, "success": True, "errors": []}, 201)

    def _record(self, request: Request) -> tuple[str, dict[str, Any]]:
        """The record a URL names, by its 15- or 18-character Id in any case [P].

        A deleted record answers 404 ``ENTITY_IS_DELETED`` to GET, PATCH and DELETE
        alike [S: answers quoted by integrators, e.g. restforce/restforce issues]; an Id
        that cannot be one is ``MALFORMED_ID`` [A: wording from forum answers].
        """
        sobject = self._sobject(request.params["sobject"])
        given = request.params["record_id"]
        record_id = canonical_id(given)
        if record_id is None:
            if request.method == "GET":
                raise sf_error(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {given}",
                )
            raise sf_error(
                400, "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {given}", ["Id"]
            )
        record = self.data[sobject].get(record_id)
        if record is None:
            if self.deleted_type(record_id) == sobject:
                raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return sobject, record

    def retrieve(self, request: Request) -> Response:
        sobject, record = self._record(request)
        shown = self.out(sobject, record, request.params["version"])
        wanted = request.arg("fields")
        if wanted:
            names = [n.strip() for n in wanted.split(",")]
            unknown = [n for n in names if n.lower() not in FIELDS[sobject]]
            if unknown:
                raise sf_error(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{unknown[0]}' on sobject of type {sobject}",
                )
            shown = {
                "attributes": shown["attributes"],
                **{
                    FIELDS[sobject][n.lower()].name: shown[FIELDS[sobject][n.lower()].name]
                    for n in names
                },
            }
        return json_response(shown)

    def update(self, request: Request) -> Response:
        sobject, record = self._record(request)
        values = self.deserialize(sobject, request.json())
        self._one(
            request, lambda tx: self.save(sobject, values, tx, request.params["user"], record["Id"])
        )
        return Response(204)

    def delete(self, request: Request) -> Response:
        sobject, record = self._record(request)
        self._one(
            request, lambda tx: self.remove(sobject, record["Id"], tx, request.params["user"])
        )
        return Response(204)

    def _external_field(self, sobject: str, name: str) -> Field:
        spec = FIELDS[sobject].get(name.lower())
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise sf_error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return spec

    def matching(self, sobject: str, spec: Field, value: Any) -> list[dict[str, Any]]:
        """Records whose external ID equals ``value``; the match ignores case [S]."""
        wanted = str(value).lower()
        return [
            r
            for r in self.data[sobject].values()
            if r.get(spec.name) is not None and str(r[spec.name]).lower() == wanted
        ]

    def _several(self, sobject: str, found: list[dict[str, Any]], version: str) -> Response:
        urls = [f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}" for r in found]
        return json_response(urls, 300)

    def retrieve_by_external_id(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        spec = self._external_field(sobject, request.params["ext_field"])
        found = self.matching(sobject, spec, request.params["ext_value"])
        if not found:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(found) > 1:
            return self._several(sobject, found, request.params["version"])
        return json_response(self.out(sobject, found[0], request.params["version"]))

    def upsert(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        spec = self._external_field(sobject, request.params["ext_field"])
        version = request.params["version"]
        values = self.deserialize(sobject, request.json())
        value = request.params["ext_value"]
        found = self.matching(sobject, spec, value)
        if len(found) > 1:
            return self._several(sobject, found, version)
        if not found and request.arg("updateOnly") == "true":
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        existing = found[0]["Id"] if found else None
        if not found:
            values[spec.name] = value
        record_id = self._one(
            request, lambda tx: self.save(sobject, values, tx, request.params["user"], existing)
        )
        if not found:
            return json_response(
                {"id": record_id, "success": True, "errors": [], "created": True}, 201
            )
        if float(version) < float(self.option("upsert_200_from", "46.0")):
            return Response(204)
        return json_response({"id": record_id, "success": True, "errors": [], "created": False})

    # -- sObject Collections ------------------------------------------------------

    def _batch(self, request: Request) -> tuple[bool, list[Any]]:
        body = request.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
            raise sf_error(
                400, "JSON_PARSER_ERROR", "Collections need a JSON object with records[]"
            )
        records = body["records"]
        if len(records) > 200:
            raise sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return bool(body.get("allOrNone", False)), records

    def _typed(self, raw: Any) -> tuple[str, dict[str, Any]]:
        kind = raw.get("attributes", {}).get("type") if isinstance(raw, Mapping) else None
        if not kind:
            raise sf_error(400, "INVALID_TYPE", "Must specify a type for each record in attributes")
        sobject = self._sobject(kind)
        return sobject, self.deserialize(sobject, raw)

    def _collection(
        self,
        request: Request,
        all_or_none: bool,
        items: list[Callable[[Transaction], tuple[str, bool | None]]],
    ) -> Response:
        """Per-record SaveResults in request order; with allOrNone one failure undoes them all."""
        tx = self.begin(request)
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                record_id, created = item(tx)
            except RecordError as exc:
                results.append({"id": None, "success": False, "errors": [exc.as_result()]})
                continue
            result: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
            if created is not None:
                result["created"] = created
            results.append(result)
        if all_or_none and not all(r["success"] for r in results):
            self.rollback(tx)
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
            results = [
                r if not r["success"] else {"id": None, "success": False, "errors": [rolled]}
                for r in results
            ]
            return json_response(results)
        self.commit(tx)
        return json_response(results)

    def collection_create(self, request: Request) -> Response:
        all_or_none, raws = self._batch(request)
        typed = [self._typed(raw) for raw in raws]
        user = request.params["user"]

        def item(
            sobject: str, values: dict[str, Any]
        ) -> Callable[[Transaction], tuple[str, bool | None]]:
            def run(tx: Transaction) -> tuple[str, bool | None]:
                if "Id" in values:
                    raise RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                        ["Id"],
                    )
                return self.save(sobject, values, tx, user), None

            return run

        return self._collection(request, all_or_none, [item(s, v) for s, v in typed])

    def collection_update(self, request: Request) -> Response:
        all_or_none, raws = self._batch(request)
        typed = [self._typed(raw) for raw in raws]
        user = request.params["user"]

        def item(
            sobject: str, values: dict[str, Any]
        ) -> Callable[[Transaction], tuple[str, bool | None]]:
            def run(tx: Transaction) -> tuple[str, bool | None]:
                if not values.get("Id"):
                    raise RecordError(
                        "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                return self.save(sobject, values, tx, user, values["Id"]), None

            return run

        return self._collection(request, all_or_none, [item(s, v) for s, v in typed])

    def collection_upsert(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        spec = self._external_field(sobject, request.params["ext_field"])
        all_or_none, raws = self._batch(request)
        typed = [self._typed(raw) for raw in raws]
        if any(s != sobject for s, _ in typed):
            raise sf_error(400, "INVALID_TYPE", f"Every record must be of type {sobject}")
        user = request.params["user"]
        keys = [str(v.get(spec.name) or "").lower() for _, v in typed]
        repeated = {k for k in keys if k and keys.count(k) > 1}

        def item(values: dict[str, Any]) -> Callable[[Transaction], tuple[str, bool | None]]:
            def run(tx: Transaction) -> tuple[str, bool | None]:
                value = values.get(spec.name)
                if not value:
                    raise RecordError("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
                if str(value).lower() in repeated:
                    raise RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {value}",
                        [spec.name],
                    )
                found = self.matching(sobject, spec, value)
                if len(found) > 1:
                    ids = ", ".join(r["Id"] for r in found)
                    raise RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{spec.name}: more than one record found for external id field: [{ids}]",
                        [spec.name],
                    )
                existing = found[0]["Id"] if found else None
                return self.save(sobject, values, tx, user, existing), existing is None

            return run

        return self._collection(request, all_or_none, [item(v) for _, v in typed])

    def collection_retrieve(self, request: Request) -> Response:
        sobject = self._sobject(request.params["sobject"])
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        names = [n for n in (request.arg("fields") or "").split(",") if n]
        if not ids or not names:
            raise sf_error(400, "MALFORMED_QUERY", "ids and fields are required")
        if any(n.lower() not in FIELDS[sobject] for n in names):
            raise sf_error(400, "INVALID_FIELD", f"No such column on sobject of type {sobject}")
        shown: list[dict[str, Any] | None] = []
        for record_id in ids:
            record = self.data[sobject].get(canonical_id(record_id) or record_id)
            if record is None:
                shown.append(None)
                continue
            full = self.out(sobject, record, request.params["version"])
            picked = {FIELDS[sobject][n.lower()].name for n in names}
            shown.append({k: v for k, v in full.items() if k == "attributes" or k in picked})
        return json_response(shown)

    def collection_delete(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if len(ids) > 200:
            raise sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        user = request.params["user"]

        def item(given: str) -> Callable[[Transaction], tuple[str, bool | None]]:
            def run(tx: Transaction) -> tuple[str, bool | None]:
                record_id = canonical_id(given) or given
                sobject = self.type_of(record_id) or self.deleted_type(record_id)
                if sobject is None:
                    raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                self.remove(sobject, record_id, tx, user)
                return record_id, None

            return run

        return self._collection(request, request.arg("allOrNone") == "true", [item(i) for i in ids])

    # -- Composite --------------------------------------------------------------

    def composite(self, request: Request) -> Response:
        """``POST /composite``: up to 25 subrequests run in order as one API call [P].

        A later subrequest names an earlier result with ``@{referenceId.field}`` (also
        ``.records[0].Id``). With ``allOrNone`` one failure rolls every write back and
        the others answer ``PROCESSING_HALTED``; without it, only the subrequests that
        refer to a failed one halt. Change events go out once the request stands.
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm
        """
        body = request.json()
        subrequests = body.get("compositeRequest") if isinstance(body, Mapping) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise sf_error(400, "JSON_PARSER_ERROR", "compositeRequest must list the subrequests")
        if len(subrequests) > COMPOSITE_LIMIT:
            raise sf_error(
                400,
                "INVALID_API_INPUT",  # [A] wording
                f"A composite request can contain at most {COMPOSITE_LIMIT} subrequests",
            )
        seen: set[str] = set()
        for sub in subrequests:
            ref = sub.get("referenceId") if isinstance(sub, Mapping) else None
            if (
                not isinstance(ref, str)
                or not re.fullmatch(r"[A-Za-z0-9_]+", ref)
                or ref in seen
                or sub.get("method") not in ("GET", "POST", "PATCH", "PUT", "DELETE")
                or not isinstance(sub.get("url"), str)
            ):
                raise sf_error(
                    400,
                    "JSON_PARSER_ERROR",
                    "Each subrequest needs a method, a url and a unique referenceId "
                    "of letters, digits and underscores",
                )
            seen.add(ref)
        all_or_none = body.get("allOrNone") is True
        before = self.begin(request)
        self._group = []
        try:
            results, failed = self._run_subrequests(request, subrequests)
            held, self._group = self._group, None
            if all_or_none and failed:
                self.rollback(before)
                halted = _halted(
                    "The transaction was rolled back since another operation in "
                    "the same transaction failed."
                )
                results = [
                    r if r["referenceId"] in failed else {**halted, "referenceId": r["referenceId"]}
                    for r in results
                ]
            else:
                for tx in held:
                    self.commit(tx)
        finally:
            self._group = None
        return json_response({"compositeResponse": results})

    def _run_subrequests(
        self, request: Request, subrequests: list[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """Each subrequest's answer, and the referenceIds that failed on their own."""
        answers: dict[str, Any] = {}
        failed: set[str] = set()
        results: list[dict[str, Any]] = []
        for sub in subrequests:
            ref = str(sub["referenceId"])
            try:
                url = _resolve(str(sub["url"]), answers)
                payload = _resolve(sub.get("body"), answers)
            except LookupError as missing:
                results.append({**_halted(str(missing)), "referenceId": ref})
                continue
            response = self._subrequest(request, str(sub["method"]), url, payload, sub)
            parsed = json.loads(response.body) if response.body else None
            headers = {k: v for k, v in response.headers.items() if k != "Content-Type"}
            if response.status == 201 and isinstance(parsed, Mapping) and parsed.get("id"):
                headers["Location"] = f"{urlsplit(url).path.rstrip('/')}/{parsed['id']}"
            results.append(
                {
                    "body": parsed,
                    "httpHeaders": headers,
                    "httpStatusCode": response.status,
                    "referenceId": ref,
                }
            )
            if response.status < 300:
                answers[ref] = parsed
            else:
                failed.add(ref)
        return results, failed

    def _subrequest(
        self, request: Request, method: str, url: str, payload: Any, sub: Mapping[str, Any]
    ) -> Response:
        parts = urlsplit(url)
        if not re.match(r"/services/data/v[\d.]+/(?!composite/?$)", parts.path):
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist").response
        headers = HTTPMessage()
        for name in ("Host", "Authorization", "Sforce-Call-Options"):
            if request.header(name):
                headers[name] = request.header(name) or ""
        extra = sub.get("httpHeaders")
        for name, value in extra.items() if isinstance(extra, Mapping) else ():
            del headers[str(name)]
            headers[str(name)] = str(value)
        inner = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=json.dumps(payload).encode() if payload is not None else b"",
        )
        return self._dispatch(inner)

    # -- SOQL -----------------------------------------------------------------

    def query(self, request: Request) -> Response:
        return self._query(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        """``/queryAll``: the same SOQL, deleted records (``IsDeleted: true``) included [P]."""
        return self._query(request, include_deleted=True)

    def _query(self, request: Request, *, include_deleted: bool) -> Response:
        text = request.arg("q")
        if not text:
            raise malformed("A query string is required (q=)")
        query = SoqlParser(text).query()
        rows = self.run_query(query, request.params["version"], include_deleted=include_deleted)
        if query.count == "rows":  # COUNT(): the number in totalSize, no records [P]
            return json_response({"totalSize": len(rows), "done": True, "records": []})
        locator = f"01g5g{uuid.uuid4().hex[:13]}"
        self.cursors[locator] = rows
        return self._page(request, locator, 0, "queryAll" if include_deleted else "query")

    def query_more(self, request: Request) -> Response:
        locator, _, offset = request.params["locator"].rpartition("-")
        if locator not in self.cursors or not offset.isdigit():
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        resource = request.path.rstrip("/").split("/")[-2]
        return self._page(request, locator, int(offset), resource)

    def _page(self, request: Request, locator: str, offset: int, resource: str) -> Response:
        rows = self.cursors[locator]
        size = int(self.option("query_batch_size", 2000))
        asked = _call_option(request.header("Sforce-Query-Options"), "batchSize")
        if asked and asked.isdigit():
            size = min(max(int(asked), int(self.option("query_min_batch_size", 200))), size)
        end = offset + size
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": rows[offset:end],
        }
        if end < len(rows):
            version = request.params["version"]
            # [A] a /queryAll cursor continues under /queryAll/
            body["nextRecordsUrl"] = f"/services/data/v{version}/{resource}/{locator}-{end}"
        else:
            del self.cursors[locator]
        return json_response(body)

    def run_query(
        self,
        query: Query,
        version: str,
        parent: tuple[str, str] | None = None,
        *,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows for a parsed query; ``parent`` (link field, id) narrows a child subquery.

        Every name and literal is checked before a row is read, as Salesforce refuses a
        query whole; ``COUNT()`` gives one empty row per match, ``COUNT(field)`` one
        ``AggregateResult``.
        """
        sobject = query.entity
        if parent is None:
            try:
                sobject = self._sobject(query.entity)
            except HttpError:
                raise sf_error(
                    400, "INVALID_TYPE", f"sObject type '{query.entity}' is not supported."
                ) from None
        read = self._reader(sobject)
        for name in [*query.fields, *(n for n, _, _ in query.order)]:
            read({}, name)  # unknown columns fail before any row is read
        if query.count_field:
            read({}, query.count_field)
        relationships = [(self._child(sobject, rel), child) for rel, child in query.children]
        where = check_literals(query, query.where, read)
        today = datetime.fromtimestamp(self.now(), UTC).date()
        pool = list(self.data[sobject].values())
        if include_deleted:
            pool += self.recycle_bin[sobject].values()
        rows = [r for r in pool if matches(where, partial(read, r), today)]
        if parent:
            rows = [r for r in rows if r.get(parent[0]) == parent[1]]
        for name, descending, nulls_last in reversed(query.order):
            rows.sort(
                key=partial(_order_key, read, name, nulls_last ^ descending), reverse=descending
            )
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        if query.count == "rows":
            return [{} for _ in rows]
        if query.count:
            counted = sum(1 for r in rows if read(r, query.count_field or "Id")[0] is not None)
            return [{"attributes": {"type": "AggregateResult"}, query.count: counted}]
        shown = []
        for row in rows:
            item: dict[str, Any] = {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
                }
            }
            for name in query.fields:
                place(item, name, self, sobject, row, version)
            for (relationship, child_type, link), child in relationships:
                sub = Query(
                    child_type,
                    child.fields,
                    child.children,
                    child.where,
                    child.order,
                    child.limit,
                    child.offset,
                    child.text,
                )
                found = self.run_query(
                    sub, version, parent=(link, row["Id"]), include_deleted=include_deleted
                )
                item[relationship] = (
                    {"totalSize": len(found), "done": True, "records": found} if found else None
                )
            shown.append(item)
        return shown

    def _child(self, sobject: str, relationship: str) -> tuple[str, str, str]:
        """(relationship name, child sObject, link field) of a parent-to-child subquery."""
        for (parent, name), (child, link) in CHILD_RELATIONSHIPS.items():
            if parent == sobject and name.lower() == relationship.lower():
                return name, child, link
        raise sf_error(
            400,
            "INVALID_TYPE",
            f"Didn't understand relationship '{relationship}' in FROM part of query call. "
            "If you are attempting to use a custom relationship, be sure to append the '__r' "
            "after the custom relationship name.",
        )

    def _reader(self, sobject: str) -> Callable[[Mapping[str, Any], str], tuple[Any, str]]:
        def read(row: Mapping[str, Any], name: str) -> tuple[Any, str]:
            head, _, rest = name.partition(".")
            if rest:
                spec = next(
                    (
                        f
                        for f in SCHEMA[sobject][1]
                        if (f.relationship_name or "").lower() == head.lower()
                    ),
                    None,
                )
                if spec is None or spec.reference_to not in SCHEMA:
                    raise no_column(name, sobject)
                target = self.data[spec.reference_to].get(row.get(spec.name) or "", {})
                return self._reader(spec.reference_to)(target, rest)
            spec = FIELDS[sobject].get(name.lower())
            if spec is None:
                raise no_column(name, sobject)
            return row.get(spec.name), spec.type

        return read


COMPOSITE_LIMIT = 25  # subrequests in one /composite call [P]
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")


def _halted(message: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
    }


def _resolve(value: Any, answers: Mapping[str, Any]) -> Any:
    """``@{ref.path}`` references replaced by earlier answers; LookupError names a missing one.

    A string that is one reference takes the value as it is (a number stays a number).
    """
    if isinstance(value, Mapping):
        return {k: _resolve(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, answers) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def lookup(match: re.Match[str]) -> Any:
        ref, path = match.group(1), match.group(2)
        found: Any = answers.get(ref)
        for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
            try:
                found = found[step[0]] if step[0] else found[int(step[1])]
            except (KeyError, IndexError, TypeError):
                found = None
            if found is None:
                break
        if found is None:
            raise LookupError(
                f"Invalid reference specified. No value for {ref}{path} found in {ref}."
            )
        return found

    whole = _REFERENCE.fullmatch(value)
    if whole:
        return lookup(whole)
    return _REFERENCE.sub(lambda m: str(lookup(m)), value)


def _call_option(header: str | None, name: str) -> str | None:
    """A value from ``Sforce-Call-Options``/``Sforce-Query-Options`` (``a=1, b=2``)."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def create_app(options: Mapping[str, Any]) -> SalesforceApp:
    return SalesforceApp(options)


def _order_key(
    read: Callable[[Mapping[str, Any], str], tuple[Any, str]],
    name: str,
    nulls_last: bool,
    row: Mapping[str, Any],
) -> tuple[int, Any]:
    """One ORDER BY field's sort key for ``row`` (``read`` gives its value and describe type)."""
    return sort_key(*read(row, name), nulls_last)
