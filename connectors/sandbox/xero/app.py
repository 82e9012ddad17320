"""The Xero sandbox: identity (OAuth 2.0), connections, and the Accounting API.

Paths on the one loopback server stand in for Xero's three hosts:

=============================================  =================================
``/identity/connect/authorize``                login.xero.com (auto-consents)
``/connect/token``, ``/connect/revocation``    identity.xero.com
``/.well-known/openid-configuration[/jwks]``   identity.xero.com (RS256 keys)
``/connections``                               api.xero.com/connections
``/api.xro/2.0/...``                           api.xero.com/api.xro/2.0
=============================================  =================================

Behaviour follows ``systems/xero.md``. Where that file marks a fact as an
assumption [A] it says so beside the code: the wording of some validation
messages (see ``schema``), 401/403/404 bodies, and that ``If-Modified-Since`` is strict
(records modified *after* the given time). A paged list (``?page=``) answers
``pagination{page,pageSize,pageCount,itemCount}`` [P], ``itemCount`` counting
every record the filters match across all pages, not just this page's.

Options (all optional): ``client_id``, ``client_secret``, ``redirect_uris``
(None accepts any), ``tenants`` ([{"tenantId", "tenantName"}]), ``demo``
({"contacts", "items", "invoices"} counts), ``limits`` ({"minute", "day",
"concurrent", "appminute"}), ``access_token_ttl``, ``refresh_grace``,
``idempotency_ttl``, ``time_scale`` (rate windows times this: 0.1 makes a
"minute" 6 s, for benchmarks), ``webhook_url``/``webhook_key`` and the ``webhook_*``
timings of ``WebhookSender``, ``seed``, ``max_body`` (bytes; a write request over it
is refused whole with 413, as Xero refuses one over its 10 MB hard cap [S]; lower it
to exercise that refusal without sending megabytes).

Control routes beyond the common ones: ``POST /_sandbox/webhooks`` {"url",
"key"} subscribes and runs the intent-to-receive check; ``GET`` shows status.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import (
    HttpError,
    RateRule,
    Request,
    Response,
    json_response,
    text_response,
)
from connectors.sandbox.xero.auth import (
    JWKS_PATH,
    SCOPES,
    AccessToken,
    RefreshToken,
    SigningKey,
    XeroAuth,
)
from connectors.sandbox.xero.events import WebhookSender
from connectors.sandbox.xero.fields import parse_date
from connectors.sandbox.xero.query import filter_rows, order_rows, parse_since, validation_error
from connectors.sandbox.xero.schema import (
    ENTITIES,
    ID_FIELDS,
    Invalid,
    Organisation,
    Record,
    from_xero_date,
    to_xero_date,
)

API = "/api.xro/2.0"
PAGED = {"Contacts", "Invoices", "Payments", "ManualJournals"}
MAX_BODY = 10 * 1024 * 1024
MAX_PAGE_SIZE = 1000
RATE_LIMIT_PROBLEMS = ("minute", "day", "concurrent", "appminute")
WEBHOOK_CATEGORIES = {"Contacts": "CONTACT", "Invoices": "INVOICE"}
DEFAULT_TENANT = {
    "tenantId": "4b3c3c4e-8e1a-4c1e-9d59-6f1f0a1d2e3f",
    "tenantName": "Demo Company (UK)",
}


@dataclass
class CachedResponse:
    fingerprint: str
    expires: float
    status: int
    body: bytes


class XeroSandbox(XeroAuth):
    name = "xero"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.client_id = options.get("client_id", "sandbox-client-id")
        self.client_secret = options.get("client_secret", "sandbox-client-secret")
        self.token_ttl = float(options.get("access_token_ttl", 1800))
        self.refresh_grace = float(options.get("refresh_grace", 1800))
        self.idempotency_ttl = float(options.get("idempotency_ttl", 360))
        self.max_body = int(options.get("max_body", MAX_BODY))
        self._signing_key = SigningKey()
        self.webhooks = WebhookSender(
            url=options.get("webhook_url"),
            key=options.get("webhook_key", ""),
            batch_delay=float(options.get("webhook_batch_delay", 0.5)),
            timeout=float(options.get("webhook_timeout", 5.0)),
            retry_delays=options.get("webhook_retry_delays", (1.0, 5.0, 30.0)),
        )
        self.webhooks.enabled = bool(options.get("webhook_url"))
        super().__init__(options)

        def tenant(request: Request) -> str | None:
            return request.header("xero-tenant-id") if request.path.startswith(API) else None

        def app(request: Request) -> str | None:
            return "app" if request.path.startswith(API) else None

        scale = float(options.get("time_scale", 1.0))  # 0.1: a "minute" lasts 6 s
        self.rate_rules = [
            RateRule("concurrent", 5, None, tenant),
            RateRule("minute", 60, 60 * scale, tenant),
            RateRule("day", 5000, 86400 * scale, tenant),
            RateRule("appminute", 10000, 60 * scale, app),
        ]
        self.route("GET", "/identity/connect/authorize", self.authorize)
        self.route("POST", "/connect/token", self.token)
        self.route("POST", "/connect/revocation", self.revoke)
        self.route("GET", "/.well-known/openid-configuration", self.discovery)
        self.route("GET", JWKS_PATH, self.jwks)
        self.route("GET", "/connections", self.list_connections)
        self.route("DELETE", "/connections/{id}", self.delete_connection)
        self.route("GET", "/_sandbox/webhooks", lambda r: json_response(self.webhooks.status()))
        self.route("POST", "/_sandbox/webhooks", self.subscribe_webhooks)
        self.route("GET", f"{API}/Organisation", self.organisation)
        for entity in ENTITIES:
            self.route("GET", f"{API}/{entity}", self.list_records)
            self.route("GET", f"{API}/{entity}/{{key}}", self.get_record)
            if entity != "TaxRates":
                self.route("PUT", f"{API}/{entity}", self.write_records)
                self.route("POST", f"{API}/{entity}", self.write_records)
                self.route("POST", f"{API}/{entity}/{{key}}", self.write_records)

    def reset_state(self) -> None:
        options = self.options
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.connections: list[dict[str, Any]] = []
        self.idempotency: dict[tuple[str, str], CachedResponse] = {}
        demo = {"contacts": 300, "items": 150, "invoices": 60, **options.get("demo", {})}
        self.orgs: dict[str, Organisation] = {}
        for tenant in options.get("tenants") or [DEFAULT_TENANT]:
            org = Organisation(tenant["tenantId"], tenant["tenantName"], self.now, self.random)
            org.seed(**demo)
            self.orgs[org.tenant_id] = org

    def close(self) -> None:
        self.webhooks.stop()

    # -- rate limits, as Xero words them ----------------------------------------

    def rate_headers(self, request: Request, remaining: Mapping[str, int]) -> dict[str, str]:
        names = {
            "minute": "X-MinLimit-Remaining",
            "day": "X-DayLimit-Remaining",
            "appminute": "X-AppMinLimit-Remaining",
        }
        return {names[k]: str(v) for k, v in remaining.items() if k in names}

    def rate_limited_response(self, request: Request, rule: str, retry_after: int) -> Response:
        # X-Rate-Limit-Problem names one of the limits Xero documents: [P]
        # developer.xero.com/documentation/guides/oauth2/limits ("minute", "day",
        # "concurrent" per tenant, "appminute" for the app across tenants); [O] xero-python
        # RateLimitException.rate_limit reads it. An injected burst is the minute limit.
        problem = rule if rule in RATE_LIMIT_PROBLEMS else "minute"
        return json_response(
            {
                "Title": "Too Many Requests",
                "Status": 429,
                "Detail": f"You have exceeded the {problem} rate limit",
            },
            429,
            {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": problem},
        )

    def server_error_response(self, request: Request, status: int) -> Response:
        return json_response(
            {"Title": "An error occurred", "Status": status, "Detail": "Please try again"},
            status,
        )

    def _problem(self, status: int, title: str, detail: str) -> Response:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
        body: dict[str, Any] = {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        }
        return json_response(body, status, headers)

    # -- accounting -----------------------------------------------------------

    def _org(self, request: Request, entity: str) -> Organisation:
        """Authenticate, authorise the scope, and find the tenant's organisation."""
        held = self._access(request)
        scopes = set(held.grant.scope.split())
        granted = SCOPES[entity]
        if request.method == "GET":
            granted = granted + tuple(f"{s}.read" for s in granted)
        if not scopes & set(granted):
            raise HttpError(self._problem(403, "Forbidden", "AuthorizationUnsuccessful"))
        tenant_id = request.header("xero-tenant-id")
        connected = any(
            c["tenantId"] == tenant_id and c["authEventId"] == held.grant.auth_event_id
            for c in self.connections
        )
        if not tenant_id or not connected or tenant_id not in self.orgs:
            raise HttpError(self._problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        return self.orgs[tenant_id]

    def _envelope(
        self, entity: str, records: list[Record], unitdp: int = 2, **extra: Any
    ) -> dict[str, Any]:
        return {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "Clarity Connect sandbox",
            "DateTimeUTC": to_xero_date(int(self.now() * 1000)),
            **extra,
            entity: [shown(record, unitdp) for record in records],
        }

    def organisation(self, request: Request) -> Response:
        org = self._org(request, "Organisation")
        record = {
            "OrganisationID": org.tenant_id,
            "Name": org.name,
            "LegalName": org.name,
            "PaysTax": True,
            "Version": "UK",
            "OrganisationType": "COMPANY",
            "BaseCurrency": "GBP",
            "CountryCode": "GB",
            "IsDemoCompany": True,
            "OrganisationStatus": "ACTIVE",
            "ShortCode": "!" + org.tenant_id[:5],
        }
        return json_response(self._envelope("Organisations", [record]))

    def list_records(self, request: Request) -> Response:
        entity = request.path.rstrip("/").rsplit("/", 1)[-1]
        entity = next(e for e in ENTITIES if e.lower() == entity.lower())
        org = self._org(request, entity)
        rows = list(org.records[entity].values())
        since = parse_since(request.header("If-Modified-Since"))
        if since is not None:
            rows = [r for r in rows if from_xero_date(r["UpdatedDateUTC"]) > since]
        rows = filter_rows(rows, entity, request)
        rows = order_rows(rows, request.arg("order"))
        extra: dict[str, Any] = {}
        page = request.arg("page")
        if entity in PAGED and page is not None:
            try:
                number = max(int(page), 1)
                size = min(max(int(request.arg("pageSize") or 100), 1), MAX_PAGE_SIZE)
            except ValueError as exc:
                raise HttpError(validation_error("page and pageSize must be numbers")) from exc
            extra["pagination"] = {
                "page": number,
                "pageSize": size,
                "pageCount": -(-len(rows) // size),
                "itemCount": len(rows),
            }
            rows = rows[(number - 1) * size : number * size]
        return json_response(self._envelope(entity, rows, _unitdp(request), **extra))

    def get_record(self, request: Request) -> Response:
        entity = next(e for e in ENTITIES if f"/{e.lower()}/" in request.path.lower())
        org = self._org(request, entity)
        record = org.get(entity, request.params["key"])
        if record is None:
            return text_response("The resource you're looking for cannot be found", 404)
        return json_response(self._envelope(entity, [record], _unitdp(request)))

    def write_records(self, request: Request) -> Response:
        entity = next(e for e in ENTITIES if request.path.lower().startswith(f"{API}/{e}".lower()))
        org = self._org(request, entity)
        if len(request.body) > self.max_body:
            return validation_error(f"The request is larger than {self.max_body} bytes", 413)
        key = request.header("Idempotency-Key")
        if key is None:
            return self._write(request, org, entity)
        if len(key) > 128:
            return validation_error("Idempotency-Key must be 128 characters or fewer")
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}?{sorted(request.query.items())}".encode()
            + request.body
        ).hexdigest()
        cached = self.idempotency.get((org.tenant_id, key))
        if cached is not None and cached.expires > self.now():
            if cached.fingerprint != fingerprint:
                return validation_error(
                    "The Idempotency-Key has already been used with a different request"
                )
            return Response(cached.status, cached.body, {"Content-Type": "application/json"})
        response = self._write(request, org, entity)
        self.idempotency[(org.tenant_id, key)] = CachedResponse(
            fingerprint, self.now() + self.idempotency_ttl, response.status, response.body
        )
        return response

    def _write(self, request: Request, org: Organisation, entity: str) -> Response:
        elements = self._elements(request, entity)
        summarize = (request.arg("summarizeErrors") or "true").lower() != "false"
        unitdp = _unitdp(request)
        update = request.method == "POST"
        snapshot = org.snapshot()
        results: list[Record] = []
        changes: list[tuple[str, Record]] = []
        failed = False
        for element in elements:
            try:
                saved = org.save(entity, element, update=update, unitdp=unitdp)
            except Invalid as exc:
                failed = True
                results.append(_with_status(entity, exc.element or {}, exc.messages))
                continue
            results.append(_with_status(entity, saved.record, []))
            changes.append(("CREATE" if saved.created else "UPDATE", saved.record))
        if failed and summarize:
            org.restore(snapshot)
            body = {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [r for r in results if r.get("ValidationErrors")],
            }
            return json_response(body, 400)
        for event_type, record in changes:
            self.count("created" if event_type == "CREATE" else "updated", entity)
            self._notify(request, org, entity, event_type, record)
        return json_response(self._envelope(entity, results, unitdp=unitdp))

    def _elements(self, request: Request, entity: str) -> list[Any]:
        body = request.json()
        if entity == "Accounts":
            if isinstance(body, dict) and isinstance(body.get("Accounts"), list):
                raise HttpError(validation_error("Accounts are created one per request"))
            if isinstance(body, dict) and request.params.get("key"):
                body = {**body, "AccountID": request.params["key"]}
            return [body]
        if isinstance(body, dict) and entity in body:
            elements = body[entity]
        elif isinstance(body, list):
            elements = body
        else:
            elements = [body]
        if not isinstance(elements, list):
            raise HttpError(validation_error(f"{entity} must be a list"))
        if request.params.get("key") and len(elements) == 1 and isinstance(elements[0], dict):
            elements = [{**elements[0], ID_FIELDS[entity]: request.params["key"]}]
        return elements

    def _notify(
        self, request: Request, org: Organisation, entity: str, event_type: str, record: Record
    ) -> None:
        category = WEBHOOK_CATEGORIES.get(entity)
        if category is None:
            return
        record_id = record[ID_FIELDS[entity]]
        self.webhooks.publish(
            {
                "resourceUrl": f"{request.base_url}{API}/{entity}/{record_id}",
                "resourceId": record_id,
                "eventDateUtc": datetime.fromtimestamp(self.now(), UTC).isoformat(),
                "eventType": event_type,
                "eventCategory": category,
                "tenantId": org.tenant_id,
                "tenantType": "ORGANISATION",
            }
        )

    def subscribe_webhooks(self, request: Request) -> Response:
        body = request.json() or {}
        if not body.get("url") or not body.get("key"):
            return json_response({"error": "url and key are required"}, 400)
        self.webhooks.configure(body["url"], body["key"])
        return json_response(self.webhooks.status())


# Dates Xero answers in its JSON date form, each with a "<name>String" twin in ISO 8601:
# every date property of the spec (``x-is-msdate``) [P]; the twin [O] Xero's own answers,
# e.g. "DateString": "2026-04-09T00:00:00" beside "Date": "/Date(1775692800000+0000)/".
JSON_DATE_FIELDS = frozenset(
    {"Date", "DueDate", "FullyPaidOnDate", "ExpectedPaymentDate", "PlannedPaymentDate"}
)


def _unitdp(request: Request) -> int:
    """[P] spec ``unitdp``: 4 opts in to four decimal places for unit amounts, else two."""
    return 4 if request.arg("unitdp") == "4" else 2


def shown(value: Any, unitdp: int = 2) -> Any:
    """A record as Xero's JSON shows it: ``"Date": "/Date(1573603200000+0000)/"`` beside
    ``"DateString": "2019-11-13T00:00:00"`` whichever form the date was sent in, and unit
    amounts to the decimal places asked for."""
    if isinstance(value, list):
        return [shown(item, unitdp) for item in value]
    if not isinstance(value, dict):
        return value
    result: Record = {}
    for name, item in value.items():
        moment = parse_date(item) if name in JSON_DATE_FIELDS else None
        if moment is not None:
            result[name] = to_xero_date(int(moment.replace(tzinfo=UTC).timestamp() * 1000))
            result[f"{name}String"] = moment.strftime("%Y-%m-%dT%H:%M:%S")
        elif name == "UnitAmount" and isinstance(item, int | float) and unitdp == 2:
            result[name] = round(item, 2)
        else:
            result[name] = shown(item, unitdp)
    return result


def _with_status(entity: str, record: Record, messages: list[str]) -> Record:
    result = {
        **record,
        "StatusAttributeString": "ERROR" if messages else "OK",
    }
    if messages:
        result["ValidationErrors"] = [{"Message": m} for m in messages]
    if entity == "Invoices":
        result["HasErrors"] = bool(messages)
    elif entity in ("Contacts", "Payments"):
        result["HasValidationErrors"] = bool(messages)
    return result


def create_app(options: Mapping[str, Any]) -> XeroSandbox:
    return XeroSandbox(options)
