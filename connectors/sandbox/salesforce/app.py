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
* ``cdc_callback_url`` — where change events are POSTed; also settable at
  ``POST /_sandbox/cdc {"callback_url": …, "secret": …}``. [A] Real CDC is
  CometD or gRPC, never HTTP: a local transport stands in for it, with the real
  message shape, one event per POST. ``cdc_secret`` is sent with each POST in
  the ``X-Clarity-Webhook-Secret`` header, as the relay a real installation
  runs beside its CometD subscriber would, so the receiver knows who sends.
* ``apps`` / ``users`` / ``refresh_tokens`` — connected apps (consumer key ->
  ``client_secret``, ``public_key`` PEM, ``run_as`` username) and users. The
  defaults use ``DEMO_CONSUMER_KEY``, ``DEMO_CLIENT_SECRET`` and
  ``DEMO_PRIVATE_KEY`` below, public demo values that grant nothing anywhere.

The framework adds fault injection (5xx, timeouts, resets, 429) and the
created/updated counters under ``/_sandbox/``; this org adds
``POST /_sandbox/sessions/expire`` (every session ends, as after a timeout) and
``GET|POST /_sandbox/cdc``. Each change is its own event (Salesforce may merge
identical changes into one event with several ``recordIds``). Not emulated:
Composite (``/composite``), Bulk API 2.0, ``/queryAll`` and Platform Events.

Seed data (``reset_state``): 2 price books, 40 products with standard and
trade prices, 150 Accounts, about 300 Contacts, 200 Opportunities with line
items, including records that fail the way real ones do — see ``SEED_FACTS``.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import random
import re
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.sandbox.core import (
    HttpError,
    RateRule,
    Request,
    Response,
    SandboxApp,
    json_response,
)

DEMO_CONSUMER_KEY = "3MVG9demo.clarity.connect.sandbox"
DEMO_CLIENT_SECRET = "demo-client-secret-0123456789"  # noqa: S105 (public demo value)
CDC_SECRET_HEADER = "X-Clarity-Webhook-Secret"  # noqa: S105 (a header's name)
DEMO_USERNAME = "integration@clarity-demo.example"
DEMO_REFRESH_TOKEN = "5Aep861demo.refresh.token"  # noqa: S105 (public demo value)
DEMO_PRIVATE_KEY = """\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCnzBwf/HeQG1C4
5kXE6yFL+IJ2H8ENnl4tpqTVMyeM868n/fn4LuNpu1MEGMKtFHwdPr8f/HDmUApI
qUUlBsUS+TNVs4ccECJtetTLkJ20KvFgay3D3O+jtRGXWZz6csSunL2t4/OErysW
CrUnafTqIiBQ9SpTFM2jjxygLEa1MeyQsuOTZJxOGjHbLawi+1SUSqIW6Ey8JoQK
RXm2qqihmagkB8VQ0p4udiP6ET+f4+k5mp2CaCsabYXCtMFqGM7vVZJf4WbCoGdK
D6N2MSBy0MJve8wULGIcwjL+52qV+3p2dxDcc7o8SsWSTjcNRXqkJHCUWDYKqkma
rLp0c9a7AgMBAAECggEACxa/CRIbKKfVdtKo67GKOsYKgRnqHSdJHAU2QWynAXad
LaxoF5Gpr7QUcWHdg6il5xzdbpS1NVM2ysR88Ex5O57CWLiLhjw+ujNy2p0M/voT
h4atuJLiN1Rg/DqM2DQ7cTqkglhdIHifBU7h19/1sn9c2VzKVkE6scNkZeVnKtQt
Y+2WPFefJMJIcDZpZp6+WzPZ5PmcAIHzZs6deikF1DgBnsO0i3GUVFHQ5GHDvbhd
hFs9G73r1PmjiAxaARo51XtmJf5vKN+FgxJkx1Y71+5sUlMPzzz3DEAH9BmMf4/X
56plJFxzYl1JVB7JwGiyL3jOZ6FbB76ltklhsGvYmQKBgQDRN5DfteKlocum5if7
7fxq63tUDxyNNGR7j5h3LB71vNCVl/f7uaBBeiKw73G6u+kggPaITV5Ux7gl4FWl
SjZUa62T1fV4P+XuiJ6VyXYShwipSsZkysO7NSUHZ2UgtDZZcsWTwweyHRMiAG4Z
PVXG6QQ8w06rB+BgXfpBkyTAZwKBgQDNUYJaSVSZMxvQ2n3C0wtEkmUy6OlNzFOu
tRMDy7aNpBIzEgq+tK9Ft5GARSk8N5y6X9CflPhdv1KS6eKfrH2kjtBjLYAMlC8w
T/VY/sXcUatbPezmDqsDojcyFgf1DedxjLCN5o2t/fVlbCg8mKSobmczBbejariQ
sjMnQzhyjQKBgB4ffgB307Y9YXEaWk9vqJRMa2li851xGbagqjceZybClNW1F8Nq
qqRCzZPkJd/ZBmvjpZtiaF6UkvMBJdOyp7fn+Qn8GGfD63s4uHygkRuBzcFyPrZs
a1odAMPcIzdeOyUN3Vy1C/qdLRAMN83ygtMs4atOA5mkfK3jWhDu+q+pAoGAddLl
tDxKwRPUTZlk/C2yVKqSSpHgeNXd2+9rtwzreQMDsq0S33e+8YozhGGsFTNwzH95
sGqD0QCfOVHgzHLnM00FhzSwPAe5wMbR7D1gfFuds2GpFiiquQ4ZELQV4uoUvFPZ
acU53vRTI93ahVOvgjzBGkWYqb3vppGsy0ZHGW0CgYB1R0v9xMfdMnX+jRcbLnxq
urrmcIz6lspTdnedRCYCu1Q7HDrXOcwywKRcHzbQUZtu36ugRy5lD4uLbahbdbbv
0SRFRnJXScGNdPxtCNAAVLtkhteRSjCx4pRnoR+DOxryMUIKC0Pj9hcrIBuZ0LIq
bxOYYsS/Gt02K0Yzu8oMVQ==
-----END PRIVATE KEY-----

"""
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
ORG_ID = "00D5g000004ClAR"
SEED_FACTS = {
    "closed_won_zero_amount": "Opportunity ExternalID__c OPP-0999 'Brightwell annual support "
    "renewal': StageName Closed Won, Amount 0, no line items (predates the validation rule, "
    "so any update of it fails FIELD_CUSTOM_VALIDATION_EXCEPTION)",
    "account_missing_kashflow_fields": "Account ExternalID__c CUST9001 'Harbour & Quay "
    "Logistics': no AccountNumber, BillingStreet, BillingPostalCode or Phone",
    "accounts_colliding_external_id": "Accounts 'Northwind Traders Ltd' (NWT001) and "
    "'Northwind Traders (Leeds)' (nwt001): one external ID, case-insensitively",
    "bulk_import_ties": "50 Accounts share one SystemModstamp (a data-loader import)",
}


# -- schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"  # Salesforce's describe types
    length: int = 0
    required: bool = False  # createable, not nillable, not defaulted
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    label: str = ""

    @property
    def relationship_name(self) -> str | None:
        if self.reference_to is None or not self.name.endswith("Id"):
            return None
        return self.name[:-2]


def _text(name: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", length, **kw)


def _ref(name: str, to: str, **kw: Any) -> Field:
    return Field(name, "reference", 18, reference_to=to, **kw)


def _ro(name: str, type_: str, **kw: Any) -> Field:
    return Field(name, type_, createable=False, updateable=False, **kw)


_SYSTEM = (
    _ro("Id", "id", length=18),
    _ro("IsDeleted", "boolean"),
    _ro("CreatedDate", "datetime"),
    _ro("CreatedById", "reference", reference_to="User"),
    _ro("LastModifiedDate", "datetime"),
    _ro("LastModifiedById", "reference", reference_to="User"),
    _ro("SystemModstamp", "datetime"),
)
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
SCHEMA: dict[str, tuple[str, tuple[Field, ...]]] = {
    "Account": (
        "001",
        (
            *_SYSTEM,
            _text("Name", required=True),
            _text("AccountNumber", 40),
            Field("Type", "picklist", 255, picklist=("Customer", "Prospect", "Partner")),
            Field("Industry", "picklist", 255, picklist=("Retail", "Manufacturing", "Services")),
            Field("Phone", "phone", 40),
            Field("Website", "url", 255),
            Field("BillingStreet", "textarea", 255),
            _text("BillingCity", 40),
            _text("BillingState", 80),
            _text("BillingPostalCode", 20),
            _text("BillingCountry", 80),
            Field("ShippingStreet", "textarea", 255),
            _text("ShippingCity", 40),
            _text("ShippingPostalCode", 20),
            _text("ShippingCountry", 80),
            _ro("BillingAddress", "address"),
            Field("Description", "textarea", 32000),
            _text("ExternalID__c", 64, external_id=True),
            _text("Xero_Contact_Id__c", 36, external_id=True, unique=True),
        ),
    ),
    "Contact": (
        "003",
        (
            *_SYSTEM,
            _ref("AccountId", "Account"),
            _text("FirstName", 40),
            _text("LastName", 80, required=True),
            Field("Email", "email", 80),
            Field("Phone", "phone", 40),
            _text("Title", 128),
            _text("ExternalID__c", 64, external_id=True, unique=True),
        ),
    ),
    "Opportunity": (
        "006",
        (
            *_SYSTEM,
            _text("Name", 120, required=True),
            _ref("AccountId", "Account"),
            Field("StageName", "picklist", 255, required=True, picklist=STAGES, restricted=True),
            Field("CloseDate", "date", required=True),
            Field("Amount", "currency"),
            Field("Probability", "percent"),
            _ro("IsClosed", "boolean"),
            _ro("IsWon", "boolean"),
            _ref("Pricebook2Id", "Pricebook2"),
            Field("Description", "textarea", 32000),
            _text("ExternalID__c", 64, external_id=True, unique=True),
            # Custom fields an accounting integration adds for its write-back.
            _text("KashFlow_Invoice_Number__c", 20, label="KashFlow invoice number"),
            _text("KashFlow_Invoice_Status__c", 40, label="KashFlow invoice status"),
            Field("KashFlow_Amount_Paid__c", "currency", label="KashFlow amount paid"),
        ),
    ),
    "OpportunityLineItem": (
        "00k",
        (
            *_SYSTEM,
            _ref("OpportunityId", "Opportunity", required=True, updateable=False),
            _ref("PricebookEntryId", "PricebookEntry", updateable=False),
            _ref("Product2Id", "Product2", updateable=False),
            _ro("ProductCode", "string", length=255),
            _ro("Name", "string", length=376),
            Field("Quantity", "double", required=True),
            Field("UnitPrice", "currency"),
            _ro("ListPrice", "currency"),
            Field("TotalPrice", "currency"),
            Field("Discount", "percent"),
            Field("ServiceDate", "date"),
            _text("Description", 255),
        ),
    ),
    "Product2": (
        "01t",
        (
            *_SYSTEM,
            _text("Name", required=True),
            _text("ProductCode"),
            Field("Family", "picklist", 255, picklist=("Hardware", "Software", "Services")),
            Field("IsActive", "boolean"),
            Field("Description", "textarea", 4000),
            _text("ExternalID__c", 64, external_id=True, unique=True),
        ),
    ),
    "Pricebook2": (
        "01s",
        (
            *_SYSTEM,
            _text("Name", required=True),
            Field("IsActive", "boolean"),
            _ro("IsStandard", "boolean"),
            _text("Description"),
        ),
    ),
    "PricebookEntry": (
        "01u",
        (
            *_SYSTEM,
            _ref("Pricebook2Id", "Pricebook2", required=True, updateable=False),
            _ref("Product2Id", "Product2", required=True, updateable=False),
            Field("UnitPrice", "currency", required=True),
            Field("IsActive", "boolean"),
            Field("UseStandardPrice", "boolean"),
            _ro("Name", "string", length=255),
            _ro("ProductCode", "string", length=255),
        ),
    ),
}
CHILD_RELATIONSHIPS = {
    ("Opportunity", "OpportunityLineItems"): ("OpportunityLineItem", "OpportunityId"),
    ("Account", "Contacts"): ("Contact", "AccountId"),
    ("Account", "Opportunities"): ("Opportunity", "AccountId"),
    ("Pricebook2", "PricebookEntries"): ("PricebookEntry", "Pricebook2Id"),
    ("Product2", "PricebookEntries"): ("PricebookEntry", "Product2Id"),
}
FIELDS = {t: {f.name.lower(): f for f in fields} for t, (_, fields) in SCHEMA.items()}
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character id: prefix, pod, counter and the case-safety checksum Salesforce adds."""
    core = f"{prefix}5g{number:010d}"
    suffix = ""
    for chunk in (core[0:5], core[5:10], core[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _ID_SUFFIX[bits]
    return core + suffix


def sf_datetime(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sf_error(status: int, code: str, message: str, fields: Iterable[str] = ()) -> HttpError:
    """The REST error body: always a JSON array."""
    body = [{"message": message, "errorCode": code, "fields": list(fields)}]
    return HttpError(json_response(body, status))


class RecordError(Exception):
    """One record's failure, reported in a SaveResult (``statusCode``) or as a 400."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields)

    def as_result(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_http(self, status: int = 400) -> HttpError:
        return sf_error(status, self.code, self.message, self.fields)


# -- SOQL (the subset integrations use) --------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|[=<>(),])"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass
class Query:
    entity: str
    fields: list[str]
    children: list[tuple[str, Query]] = field(default_factory=list)
    where: Any = None  # ("and"|"or", [..]) | ("not", x) | ("cmp", field, op, value)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None
    offset: int = 0


def _malformed(message: str) -> HttpError:
    return sf_error(400, "MALFORMED_QUERY", message)


class SoqlParser:
    """Recursive descent over tokens; errors come out as Salesforce's own codes."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise _malformed(f"unexpected token: '{text[position : position + 20]}'")
            kind = match.lastgroup or "word"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self, word: str | None = None) -> bool:
        if self.at >= len(self.tokens):
            return False
        return word is None or self.tokens[self.at][1].upper() == word

    def take(self, word: str | None = None) -> str:
        if not self.peek(word):
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "end of query"
            raise _malformed(f"expecting '{word or 'a token'}', found '{found}'")
        self.at += 1
        return self.tokens[self.at - 1][1]

    def query(self, *, nested: bool = False) -> Query:
        self.take("SELECT")
        fields, children = [], []
        while True:
            if self.peek("("):
                self.take("(")
                child = self.query(nested=True)
                self.take(")")
                children.append((child.entity, child))
            else:
                fields.append(self.take())
            if not self.peek(","):
                break
            self.take(",")
        self.take("FROM")
        result = Query(self.take(), fields, children)
        if self.peek("WHERE"):
            self.take("WHERE")
            result.where = self.disjunction()
        if self.peek("ORDER"):
            self.take("ORDER")
            self.take("BY")
            while True:
                name, descending = self.take(), False
                if self.peek("ASC") or self.peek("DESC"):
                    descending = self.take().upper() == "DESC"
                result.order.append((name, descending))
                if not self.peek(","):
                    break
                self.take(",")
        if self.peek("LIMIT"):
            self.take("LIMIT")
            result.limit = int(self.take())
        if self.peek("OFFSET"):
            self.take("OFFSET")
            result.offset = int(self.take())
        if not nested and self.at < len(self.tokens):
            raise _malformed(f"unexpected token: '{self.tokens[self.at][1]}'")
        return result

    def disjunction(self) -> Any:
        parts = [self.conjunction()]
        while self.peek("OR"):
            self.take("OR")
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conjunction(self) -> Any:
        parts = [self.factor()]
        while self.peek("AND"):
            self.take("AND")
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def factor(self) -> Any:
        if self.peek("NOT"):
            self.take("NOT")
            return ("not", self.factor())
        if self.peek("("):
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        name = self.take()
        if self.peek("NOT"):
            self.take("NOT")
            self.take("IN")
            return ("not", ("cmp", name, "in", self.value_list()))
        if self.peek("IN"):
            self.take("IN")
            return ("cmp", name, "in", self.value_list())
        op = self.take().upper()
        if op not in {"=", "!=", "<>", "<", ">", "<=", ">=", "LIKE"}:
            raise _malformed(f"unexpected operator: '{op}'")
        return ("cmp", name, "!=" if op == "<>" else op, self.value())

    def value_list(self) -> list[Any]:
        self.take("(")
        values = [self.value()]
        while self.peek(","):
            self.take(",")
            values.append(self.value())
        self.take(")")
        return values

    def value(self) -> Any:
        if self.at >= len(self.tokens):
            raise _malformed("expecting a value, found end of query")
        kind, text = self.tokens[self.at]
        self.at += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "dt":
            return parse_datetime(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "num":
            return float(text)
        if text.upper() in {"TRUE", "FALSE"}:
            return text.upper() == "TRUE"
        if text.upper() == "NULL":
            return None
        raise _malformed(f"unexpected value: '{text}'")


def _comparable(value: Any, type_: str) -> Any:
    """A stored value in the form SOQL compares it: datetimes as instants, text case-blind."""
    if value is None:
        return None
    if type_ == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if type_ == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if type_ in {"double", "currency", "percent", "int"}:
        return float(value)
    if type_ in {"id", "reference", "boolean"}:
        return value
    return str(value).lower()


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.lower()
    )
    return re.compile(f"^{regex}$", re.DOTALL)


def matches(condition: Any, read: Callable[[str], tuple[Any, str]]) -> bool:
    """Evaluate a WHERE tree; ``read(name)`` gives a field's value and describe type."""
    if condition is None:
        return True
    kind = condition[0]
    if kind == "and":
        return all(matches(c, read) for c in condition[1])
    if kind == "or":
        return any(matches(c, read) for c in condition[1])
    if kind == "not":
        return not matches(condition[1], read)
    _, name, op, expected = condition
    value, type_ = read(name)
    left = _comparable(value, type_)
    if op == "in":
        return left in {_comparable(e, type_) if isinstance(e, str) else e for e in expected}
    right = _comparable(expected, type_) if isinstance(expected, str) else expected
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    if op == "LIKE":
        return bool(_like(str(expected)).match(str(left)))
    try:
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    except TypeError as exc:
        raise _malformed(f"cannot compare {name} with {expected!r}") from exc


# -- the org -----------------------------------------------------------------------------


@dataclass
class Transaction:
    """Writes of one call: undone together under allOrNone, announced only once committed."""

    snapshot: dict[str, dict[str, dict[str, Any]]]
    origin: str
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: list[tuple[str, str]] = field(default_factory=list)


class SalesforceApp(SandboxApp):
    name = "salesforce"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        opts = dict(options or {})
        self.cdc_callback_url: str | None = opts.get("cdc_callback_url")
        if self.cdc_callback_url and not self.cdc_callback_url.startswith(("http://", "https://")):
            raise ValueError("cdc_callback_url must be an http(s) address")
        self.cdc_secret: str = opts.get("cdc_secret", "")
        self.cdc_delivered = self.cdc_failed = 0
        super().__init__(opts)
        self.versions = tuple(
            self.options.get("api_versions", ("58.0", "59.0", "60.0", "61.0", "62.0"))
        )
        self.rate_rules = [
            RateRule("daily", 115_000, 86_400, self._org_scope),
            RateRule("concurrent", 25, None, self._org_scope),
        ]
        self._add_routes()
        threading.Thread(target=self._deliver, name="salesforce-cdc", daemon=True).start()

    # -- state ----------------------------------------------------------------

    def reset_state(self) -> None:
        self.data: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SCHEMA}
        self.deleted: set[str] = set()
        self.serial = itertools.count(1)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.replay = itertools.count(1)
        self.apps = self.options.get("apps") or {
            DEMO_CONSUMER_KEY: {
                "client_secret": DEMO_CLIENT_SECRET,
                "public_key": _public_pem(DEMO_PRIVATE_KEY),
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

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

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
        if rule == "burst":  # the framework's injected 429 (a proxy in front of the org)
            return super().rate_limited_response(request, rule, retry_after)
        message = {
            "daily": "TotalRequests Limit exceeded.",
            "concurrent": "ConcurrentPerOrgLongTxn Limit exceeded.",
        }[rule]
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", message).response

    def server_error_response(self, request: Request, status: int) -> Response:
        code = "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"
        message = (
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1923456-8832 (-1047)"
        )
        return sf_error(status, code, message).response

    def daily_usage(self) -> tuple[int, int]:
        rule = self.rate_rules[0]
        now = self.now()
        with self._meta_lock:
            used = sum(1 for t in self._windows[(rule.name, ORG_ID)] if t > now - rule.window)
        return used, self.limit(rule)

    # -- OAuth ----------------------------------------------------------------

    def _add_routes(self) -> None:
        self.route("POST", "/services/oauth2/token", self.token)
        self.route("GET", "/id/{org}/{user}", self.identity)
        self.route("GET", "/services/data", self.list_versions)
        self.route("GET", "/_sandbox/cdc", self.cdc_status)
        self.route("POST", "/_sandbox/cdc", self.cdc_configure)
        self.route("POST", "/_sandbox/sessions/expire", self.expire_sessions)
        api = [
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
            ("POST", "/composite/sobjects", self.collection_create),
            ("PATCH", "/composite/sobjects", self.collection_update),
            ("DELETE", "/composite/sobjects", self.collection_delete),
            ("GET", "/composite/sobjects/{sobject}", self.collection_retrieve),
            ("PATCH", "/composite/sobjects/{sobject}/{ext_field}", self.collection_upsert),
        ]
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

    def _session(self, request: Request) -> dict[str, Any]:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        session = self.sessions.get(token) if scheme in ("Bearer", "OAuth") else None
        timeout = float(self.option("session_timeout", 7200))
        if session is None or self.now() - session["last_used"] > timeout:
            self.sessions.pop(token, None)
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        session["last_used"] = self.now()
        return session

    def token(self, request: Request) -> Response:
        form = request.form()
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            app_key, username = self._verify_jwt(form.get("assertion", ""), request)
        elif grant == "client_credentials":
            app_key = self._client(form)
            username = self.apps[app_key].get("run_as") or _oauth_error(
                "invalid_grant", "no client credentials user enabled"
            )
        elif grant == "refresh_token":
            app_key = self._client(form)
            owner = self.refresh_tokens.get(form.get("refresh_token", ""))
            if owner is None or owner[0] != app_key:
                _oauth_error("invalid_grant", "expired access/refresh token")
            username = owner[1]
        else:
            _oauth_error("unsupported_grant_type", "grant type not supported")
        token = f"{ORG_ID}!{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.sessions[token] = {"user": username, "app": app_key, "last_used": self.now()}
        issued_at = str(int(self.now() * 1000))
        identity = f"{request.base_url}/id/{ORG_ID}/{self.users[username]['id']}"
        signature = base64.b64encode(f"{identity}{issued_at}".encode()).decode()
        body = {
            "access_token": token,
            "instance_url": request.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api",
        }
        return json_response(body)

    def _client(self, form: Mapping[str, str]) -> str:
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            _oauth_error("invalid_client_id", "client identifier invalid")
        if app.get("client_secret") != form.get("client_secret"):
            _oauth_error("invalid_client", "invalid client credentials")
        return form["client_id"]

    def _verify_jwt(self, assertion: str, request: Request) -> tuple[str, str]:
        """Signature, issuer, subject, audience and expiry, with Salesforce's wording."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(signature_b64)
        except ValueError:
            _oauth_error("invalid_grant", "invalid assertion")
        app = self.apps.get(claims.get("iss", ""))
        if header.get("alg") != "RS256" or app is None:
            _oauth_error("invalid_client_id", "client identifier invalid")
        public_key = serialization.load_pem_public_key(app["public_key"].encode())
        assert isinstance(public_key, rsa.RSAPublicKey)
        try:
            public_key.verify(
                signature,
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            _oauth_error("invalid_grant", "invalid assertion")
        audiences = (*LOGIN_AUDIENCES, request.base_url)
        if str(claims.get("aud", "")).rstrip("/") not in audiences:
            _oauth_error("invalid_grant", "audience is invalid")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < self.now():
            _oauth_error("invalid_grant", "expired authorization code")
        if claims.get("sub") not in self.users:
            _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return claims["iss"], claims["sub"]

    def identity(self, request: Request) -> Response:
        username = self._session(request)["user"]
        user = self.users[username]
        rest = f"{request.base_url}/services/data/v{{version}}/"
        return json_response(
            {
                "id": f"{request.base_url}/id/{ORG_ID}/{user['id']}",
                "asserted_user": True,
                "user_id": user["id"],
                "organization_id": ORG_ID,
                "username": username,
                "display_name": user["display_name"],
                "email": username,
                "active": True,
                "user_type": "STANDARD",
                "urls": {
                    "rest": rest,
                    "sobjects": rest + "sobjects/",
                    "query": rest + "query/",
                    "limits": rest + "limits/",
                },
            }
        )

    def list_versions(self, request: Request) -> Response:
        return json_response(
            [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in self.versions]
        )

    def expire_sessions(self, request: Request) -> Response:
        """Test hook: every session ends, as after the org's session timeout."""
        count = len(self.sessions)
        self.sessions.clear()
        return json_response({"expired": count})

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
                "fields": [_describe_field(f) for f in fields],
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

    def begin(self, request: Request) -> Transaction:
        client = _call_option(request.header("Sforce-Call-Options"), "client")
        origin = f"com/salesforce/api/rest/{request.params.get('version', '')}"
        return Transaction(
            snapshot={t: dict(r) for t, r in self.data.items()},
            origin=f"{origin};client={client}" if client else origin,
        )

    def commit(self, tx: Transaction) -> None:
        for action, sobject in tx.counts:
            self.count(action, sobject)
        for event in tx.events:
            self.events.append(event)
            self._outbox.put(event)
        del self.events[:-500]

    def rollback(self, tx: Transaction) -> None:
        self.data = tx.snapshot

    def deserialize(self, sobject: str, values: Any) -> dict[str, Any]:
        """Names and JSON types checked as Salesforce's parser does: one bad value fails all."""
        if not isinstance(values, Mapping):
            raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for an sObject")
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name == "attributes":
                continue
            parent = _parent_reference(self, sobject, name, value)
            if parent is not None:
                clean[parent[0]] = parent[1]
                continue
            spec = FIELDS[sobject].get(name.lower())
            if spec is None:
                raise sf_error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            clean[spec.name] = _coerce(spec, value)
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
            if existing in self.deleted:
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
        _validate_fields(self, sobject, record)
        RULES.get(sobject, _no_rule)(self, record, values, current)
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
        AFTER_SAVE.get(sobject, _no_rule)(self, record, values, current, tx=tx, user=user)
        return str(record["Id"])

    def remove(self, sobject: str, record_id: str, tx: Transaction, user: str) -> None:
        record = self.data[sobject].pop(record_id, None)
        if record is None:
            if record_id in self.deleted:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        self.deleted.add(record_id)
        user_id = self.users[user]["id"]
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

    def announce(
        self,
        tx: Transaction,
        sobject: str,
        record: Mapping[str, Any] | None,
        before: Mapping[str, Any] | None,
        user_id: str,
    ) -> None:
        """A Change Data Capture message for one committed change (sent after commit)."""
        if record is None:
            change_type, changed, body = "DELETE", [], {}
        elif before is None:
            change_type, changed = "CREATE", []
            body = {
                k: v for k, v in record.items() if v is not None and k not in ("Id", "IsDeleted")
            }
        else:
            change_type = "UPDATE"
            changed = [k for k, v in record.items() if before.get(k) != v and k != "SystemModstamp"]
            body = {k: record[k] for k in changed}
        record_id = (record or before or {})["Id"]
        header = {
            "entityName": sobject,
            "recordIds": [record_id],
            "changeType": change_type,
            "changedFields": changed,
            "nulledFields": [k for k in changed if body.get(k) is None],
            "diffFields": [],
            "changeOrigin": tx.origin,
            "transactionKey": tx.key,
            "sequenceNumber": len(tx.events) + 1,
            "commitTimestamp": int(self.now() * 1000),
            "commitNumber": 10_000_000 + next(self.replay),
            "commitUser": user_id,
        }
        tx.events.append(
            {
                "schema": f"{sobject}ChangeEvent",
                "payload": {"ChangeEventHeader": header, **body},
                "event": {"replayId": header["commitNumber"] - 10_000_000},
            }
        )

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
        sobject = self._sobject(request.params["sobject"])
        record = self.data[sobject].get(request.params["record_id"])
        if record is None:
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
        shown = []
        for record_id in ids:
            record = self.data[sobject].get(record_id)
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

        def item(record_id: str) -> Callable[[Transaction], tuple[str, bool | None]]:
            def run(tx: Transaction) -> tuple[str, bool | None]:
                sobject = self.type_of(record_id)
                if sobject is None:
                    code = (
                        "ENTITY_IS_DELETED"
                        if record_id in self.deleted
                        else "INVALID_CROSS_REFERENCE_KEY"
                    )
                    raise RecordError(
                        code,
                        "entity is deleted"
                        if code == "ENTITY_IS_DELETED"
                        else "invalid cross reference id",
                    )
                self.remove(sobject, record_id, tx, user)
                return record_id, None

            return run

        return self._collection(request, request.arg("allOrNone") == "true", [item(i) for i in ids])

    # -- SOQL -----------------------------------------------------------------

    def query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            raise _malformed("A query string is required (q=)")
        rows = self.run_query(SoqlParser(text).query(), request.params["version"])
        locator = f"01g5g{uuid.uuid4().hex[:13]}"
        self.cursors[locator] = rows
        return self._page(request, locator, 0)

    def query_more(self, request: Request) -> Response:
        locator, _, offset = request.params["locator"].rpartition("-")
        if locator not in self.cursors or not offset.isdigit():
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request, locator, int(offset))

    def _page(self, request: Request, locator: str, offset: int) -> Response:
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
            body["nextRecordsUrl"] = (
                f"/services/data/v{request.params['version']}/query/{locator}-{end}"
            )
        else:
            del self.cursors[locator]
        return json_response(body)

    def run_query(
        self, query: Query, version: str, parent: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows for a parsed query; ``parent`` (link field, id) narrows a child subquery."""
        sobject = query.entity
        if parent is None:
            try:
                sobject = self._sobject(query.entity)
            except HttpError:
                raise sf_error(
                    400, "INVALID_TYPE", f"sObject type '{query.entity}' is not supported."
                ) from None
        read = self._reader(sobject)
        for name in [*query.fields, *(n for n, _ in query.order)]:
            read({}, name)  # unknown columns fail before any row is read
        rows = [
            r
            for r in self.data[sobject].values()
            if matches(query.where, lambda n, r=r: read(r, n))
        ]
        if parent:
            rows = [r for r in rows if r.get(parent[0]) == parent[1]]
        for name, descending in reversed(query.order):
            rows.sort(key=lambda r, n=name: _sort_key(*read(r, n)), reverse=descending)
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        shown = []
        for row in rows:
            item: dict[str, Any] = {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
                }
            }
            for name in query.fields:
                _place(item, name, self, sobject, row, version)
            for relationship, child in query.children:
                key = next(
                    (
                        k
                        for k in CHILD_RELATIONSHIPS
                        if k[0] == sobject and k[1].lower() == relationship.lower()
                    ),
                    None,
                )
                if key is None:
                    raise sf_error(
                        400,
                        "INVALID_TYPE",
                        f"Didn't understand relationship '{relationship}' in FROM part of query "
                        "call.",
                    )
                child_type, link = CHILD_RELATIONSHIPS[key]
                sub = Query(
                    child_type,
                    child.fields,
                    child.children,
                    child.where,
                    child.order,
                    child.limit,
                    child.offset,
                )
                found = self.run_query(sub, version, parent=(link, row["Id"]))
                item[key[1]] = (
                    {"totalSize": len(found), "done": True, "records": found} if found else None
                )
            shown.append(item)
        return shown

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
                    raise _no_column(name, sobject)
                target = self.data[spec.reference_to].get(row.get(spec.name) or "", {})
                return self._reader(spec.reference_to)(target, rest)
            spec = FIELDS[sobject].get(name.lower())
            if spec is None:
                raise _no_column(name, sobject)
            return row.get(spec.name), spec.type

        return read

    # -- change events ------------------------------------------------------------

    def cdc_status(self, request: Request) -> Response:
        return json_response(
            {
                "callback_url": self.cdc_callback_url,
                "delivered": self.cdc_delivered,
                "failed": self.cdc_failed,
                "events": self.events[-100:],
            }
        )

    def cdc_configure(self, request: Request) -> Response:
        body = request.json() or {}
        url = body.get("callback_url")
        if url and not str(url).startswith(("http://", "https://")):
            raise HttpError(json_response({"error": "callback_url must be http(s)"}, 400))
        self.cdc_callback_url = url or None
        self.cdc_secret = str(body.get("secret", self.cdc_secret))
        return self.cdc_status(request)

    def _deliver(self) -> None:
        """POST each committed change event, in commit order, to the callback URL."""
        while True:
            event = self._outbox.get()
            url = self.cdc_callback_url
            if not url:
                continue
            headers = {"Content-Type": "application/json"}
            if self.cdc_secret:
                headers[CDC_SECRET_HEADER] = self.cdc_secret
            post = urllib.request.Request(  # noqa: S310 (http(s) checked when configured)
                url, json.dumps(event).encode(), headers, method="POST"
            )
            try:
                with urllib.request.urlopen(post, timeout=5):  # noqa: S310
                    self.cdc_delivered += 1
            except OSError:
                self.cdc_failed += 1


# -- helpers -----------------------------------------------------------------------------


def _no_column(name: str, sobject: str) -> HttpError:
    return sf_error(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name.",
    )


def _sort_key(value: Any, type_: str) -> tuple[int, Any]:
    """Nulls first, as SOQL sorts ascending by default."""
    comparable = _comparable(value, type_)
    return (0, "") if comparable is None else (1, comparable)


def _place(
    item: dict[str, Any],
    name: str,
    app: SalesforceApp,
    sobject: str,
    row: Mapping[str, Any],
    version: str,
) -> None:
    """Put a selected field in the row; ``Account.Name`` nests under ``Account`` as SOQL does."""
    head, _, rest = name.partition(".")
    if not rest:
        item[FIELDS[sobject][name.lower()].name] = row.get(FIELDS[sobject][name.lower()].name)
        return
    spec = next(
        f for f in SCHEMA[sobject][1] if (f.relationship_name or "").lower() == head.lower()
    )
    target = app.data[spec.reference_to or ""].get(row.get(spec.name) or "")
    relationship = spec.relationship_name or head
    if target is None:
        item[relationship] = None
        return
    nested = item.setdefault(
        relationship,
        {
            "attributes": {
                "type": spec.reference_to,
                "url": f"/services/data/v{version}/sobjects/{spec.reference_to}/{target['Id']}",
            }
        },
    )
    _place(nested, rest, app, spec.reference_to or "", target, version)


def _describe_field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", f.name.removesuffix("__c")),
        "type": f.type,
        "length": f.length,
        "nillable": not f.required and f.type != "boolean" and f.name != "Id",
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.type == "boolean" or not f.createable,
        "externalId": f.external_id,
        "unique": f.unique,
        "idLookup": f.external_id or f.name == "Id",
        "custom": f.name.endswith("__c"),
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "restrictedPicklist": f.restricted,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False} for v in f.picklist
        ],
    }


_NUMERIC = frozenset({"double", "currency", "percent", "int"})


def _coerce(spec: Field, value: Any) -> Any:
    """JSON value -> stored value; what Salesforce's deserializer refuses fails the whole call."""
    if value is None:
        return None
    try:
        if spec.type in _NUMERIC:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if spec.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if spec.type == "date":
            return date.fromisoformat(str(value)[:10]).isoformat()
        if spec.type == "datetime":
            return sf_datetime(parse_datetime(str(value)).timestamp())
    except ValueError:
        raise sf_error(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {spec.type} from VALUE_STRING value {value} or "
            f"request may be missing a required field",
        ) from None
    return value if isinstance(value, str) else str(value)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _validate_fields(app: SalesforceApp, sobject: str, record: dict[str, Any]) -> None:
    """Required, length, pick-list, e-mail, lookup and uniqueness checks, in Salesforce's order."""
    specs = SCHEMA[sobject][1]
    missing = [f.name for f in specs if f.required and record.get(f.name) in (None, "")]
    if missing:
        raise RecordError(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )
    for f in specs:
        value = record.get(f.name)
        if value is None or not f.createable:
            continue
        if f.length and f.type not in {"reference", "id"} and len(str(value)) > f.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{f.name}: data value too large: {str(value)[:40]} (max length={f.length})",
                [f.name],
            )
        if f.restricted and value not in f.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.name}: bad value for restricted picklist field: {value}",
                [f.name],
            )
        if f.type == "email" and not _EMAIL.match(str(value)):
            raise RecordError(
                "INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {value}", [f.name]
            )
        if f.reference_to in SCHEMA and value not in app.data[f.reference_to]:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"{f.name}: id value of incorrect type or deleted: {value}",
                [f.name],
            )
        unique = f.unique or (
            f.name == "ExternalID__c"
            and sobject == "Account"
            and app.option("unique_account_external_id", False)
        )
        if unique:
            for other in app.matching(sobject, f, value):
                if other["Id"] != record.get("Id"):
                    raise RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{other['Id']}",
                    )


@dataclass(frozen=True)
class MissingParent:
    """A parent named by an external ID that matches no record, or (``matches``) several;
    the save fails on it the way Salesforce does."""

    sobject: str
    field: str
    value: Any
    matches: tuple[str, ...] = ()


def _parent_reference(
    app: SalesforceApp, sobject: str, name: str, value: Any
) -> tuple[str, Any] | None:
    """``"Account": {"ExternalID__c": "SHA01"}`` -> ``("AccountId", <the Account's Id>)``.

    Salesforce lets a write name a parent by its external ID instead of its Id.
    """
    if not isinstance(value, Mapping):
        return None
    spec = next(
        (f for f in SCHEMA[sobject][1] if (f.relationship_name or "").lower() == name.lower()),
        None,
    )
    if spec is None or spec.reference_to not in SCHEMA:
        return None
    keys = [k for k in value if k != "attributes"]
    if len(keys) != 1:
        raise sf_error(
            400, "JSON_PARSER_ERROR", f"{name} must name its parent by exactly one external ID"
        )
    parent = spec.reference_to or ""
    ext = app._external_field(parent, keys[0])
    found = app.matching(parent, ext, value[keys[0]])
    if len(found) == 1:
        return spec.name, found[0]["Id"]
    if found:
        ids = tuple(str(r["Id"]) for r in found)
        return spec.name, MissingParent(parent, ext.name, value[keys[0]], ids)
    return spec.name, MissingParent(parent, ext.name, value[keys[0]])


def _no_rule(*args: Any, **kwargs: Any) -> None:
    return None


def _opportunity_rules(
    app: SalesforceApp, record: dict[str, Any], values: Mapping[str, Any], current: Any
) -> None:
    record["IsClosed"] = record["StageName"] in ("Closed Won", "Closed Lost")
    record["IsWon"] = record["StageName"] == "Closed Won"
    if (
        app.option("validation_rules", True)
        and record["IsWon"]
        and not (record.get("Amount") or 0) > 0
    ):
        raise RecordError(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "A Closed Won opportunity must have an Amount greater than zero.",
            ["Amount"],
        )


def _line_item_rules(
    app: SalesforceApp, record: dict[str, Any], values: Mapping[str, Any], current: Any
) -> None:
    """Price-book rules: an active entry from the Opportunity's price book, and one price only."""
    opportunity = app.data["Opportunity"][record["OpportunityId"]]
    if current is None:
        entry = app.data["PricebookEntry"].get(record.get("PricebookEntryId") or "")
        if entry is None and record.get("Product2Id"):
            book = opportunity.get("Pricebook2Id") or _standard_book(app)
            entry = next(
                (
                    e
                    for e in app.data["PricebookEntry"].values()
                    if e["Product2Id"] == record["Product2Id"] and e["Pricebook2Id"] == book
                ),
                None,
            )
        if entry is None:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [PricebookEntryId]",
                ["PricebookEntryId"],
            )
        if opportunity.get("Pricebook2Id") not in (None, entry["Pricebook2Id"]):
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry is in a different "
                "pricebook than the one assigned to the opportunity)",
                ["PricebookEntryId"],
            )
        if not entry.get("IsActive"):
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry is inactive)",
                ["PricebookEntryId"],
            )
        product = app.data["Product2"][entry["Product2Id"]]
        record.update(
            PricebookEntryId=entry["Id"],
            Product2Id=entry["Product2Id"],
            ProductCode=product.get("ProductCode"),
            ListPrice=entry["UnitPrice"],
            Name=f"{opportunity['Name']} {product['Name']}"[:376],
        )
    if values.get("UnitPrice") is not None and values.get("TotalPrice") is not None:
        raise RecordError(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: TotalPrice (only one of unit price or total price may be "
            "specified)",
            ["TotalPrice"],
        )
    factor = record["Quantity"] * (1 - (record.get("Discount") or 0) / 100)
    if values.get("TotalPrice") is not None:
        record["UnitPrice"] = round(record["TotalPrice"] / factor, 2) if factor else 0.0
    elif record.get("UnitPrice") is not None:
        record["TotalPrice"] = round(record["UnitPrice"] * factor, 2)
    else:
        raise RecordError(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: unknown (must specify either unit price or total price)",
        )


def _entry_rules(
    app: SalesforceApp, record: dict[str, Any], values: Mapping[str, Any], current: Any
) -> None:
    if current is not None:
        return
    book = app.data["Pricebook2"][record["Pricebook2Id"]]
    product = app.data["Product2"][record["Product2Id"]]
    entries = app.data["PricebookEntry"].values()
    if any(e["Pricebook2Id"] == book["Id"] and e["Product2Id"] == product["Id"] for e in entries):
        raise RecordError(
            "DUPLICATE_VALUE", "This price definition already exists in this price book"
        )
    standard = _standard_book(app)
    if book["Id"] != standard and not any(
        e["Pricebook2Id"] == standard and e["Product2Id"] == product["Id"] for e in entries
    ):
        raise RecordError(
            "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product"
        )
    record.update(Name=product["Name"], ProductCode=product.get("ProductCode"))
    record.setdefault("IsActive", False)
    record.setdefault("UseStandardPrice", False)


def _standard_book(app: SalesforceApp) -> str:
    return next(b["Id"] for b in app.data["Pricebook2"].values() if b.get("IsStandard"))


def roll_up_amount(app: SalesforceApp, opportunity_id: str, tx: Transaction, user: str) -> None:
    """Line items drive the Opportunity's Amount, which changes its SystemModstamp too."""
    lines = [
        r for r in app.data["OpportunityLineItem"].values() if r["OpportunityId"] == opportunity_id
    ]
    before = app.data["Opportunity"][opportunity_id]
    after = {
        **before,
        "Amount": round(sum(r["TotalPrice"] for r in lines), 2),
        "LastModifiedDate": sf_datetime(app.now()),
        "SystemModstamp": sf_datetime(app.now()),
    }
    after["Pricebook2Id"] = before.get("Pricebook2Id") or (
        app.data["PricebookEntry"][lines[0]["PricebookEntryId"]]["Pricebook2Id"] if lines else None
    )
    app.data["Opportunity"][opportunity_id] = after
    tx.counts.append(("updated", "Opportunity"))
    app.announce(tx, "Opportunity", after, before, app.users[user]["id"])


def _after_line_item(
    app: SalesforceApp,
    record: dict[str, Any],
    values: Any,
    current: Any,
    *,
    tx: Transaction,
    user: str,
) -> None:
    roll_up_amount(app, record["OpportunityId"], tx, user)


RULES: dict[str, Callable[..., None]] = {
    "Opportunity": _opportunity_rules,
    "OpportunityLineItem": _line_item_rules,
    "PricebookEntry": _entry_rules,
}
AFTER_SAVE: dict[str, Callable[..., None]] = {"OpportunityLineItem": _after_line_item}


def _call_option(header: str | None, name: str) -> str | None:
    """A value from ``Sforce-Call-Options``/``Sforce-Query-Options`` (``a=1, b=2``)."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _oauth_error(code: str, description: str) -> Any:
    raise HttpError(json_response({"error": code, "error_description": description}, 400))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# -- seed --------------------------------------------------------------------------------

_COMPANIES = (
    "Acme",
    "Brightwell",
    "Calder",
    "Dunmore",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Hartfield",
    "Ivybridge",
    "Juniper",
    "Kestrel",
    "Larkspur",
    "Marlow",
    "Newbury",
    "Oakhurst",
    "Penrose",
    "Quarry Hill",
    "Redcliffe",
    "Stanton",
    "Thornbury",
    "Upton",
    "Westbrook",
    "Yarrow",
    "Zenith",
)
_SUFFIXES = ("Ltd", "Supplies", "Engineering", "Foods", "Retail", "Holdings")
_CITIES = (
    ("Leeds", "LS1 4AP"),
    ("Bristol", "BS1 5TR"),
    ("Manchester", "M2 3HN"),
    ("York", "YO1 7HH"),
)
_FIRST = ("Amelia", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack")
_LAST = ("Patel", "Smith", "Jones", "Khan", "Taylor", "Brown", "Evans", "Walsh", "Wright")


def seed_org(app: SalesforceApp) -> None:
    """Hundreds of realistic records, stamped over 90 days, plus the ones that fail (SEED_FACTS)."""
    rng = random.Random(app.options.get("seed", 1))
    start = app.now() - 90 * 86_400
    user_id = app.users[next(iter(app.users))]["id"]

    def put(sobject: str, moment: float, **values: Any) -> dict[str, Any]:
        stamp = sf_datetime(moment)
        record = {f.name: None for f in SCHEMA[sobject][1]}
        record.update(
            values,
            Id=app.new_id(sobject),
            IsDeleted=False,
            CreatedDate=stamp,
            CreatedById=user_id,
            LastModifiedDate=stamp,
            LastModifiedById=user_id,
            SystemModstamp=stamp,
        )
        app.data[sobject][record["Id"]] = record
        return record

    standard = put("Pricebook2", start, Name="Standard Price Book", IsActive=True, IsStandard=True)
    trade = put("Pricebook2", start, Name="Trade 2026", IsActive=True, IsStandard=False)
    entries: list[dict[str, Any]] = []
    for n in range(1, 41):
        family = ("Hardware", "Software", "Services")[n % 3]
        product = put(
            "Product2",
            start + n * 60,
            Name=f"{family} item {n:02d}",
            ProductCode=f"PRD-{n:04d}",  # orgs keep the code and its external id alike
            Family=family,
            IsActive=True,
            ExternalID__c=f"PRD-{n:04d}",
        )
        price = float(rng.choice((25, 49.5, 120, 310, 899)))
        for book, amount in ((standard, price), (trade, round(price * 0.9, 2))):
            if book is trade and n > 30:
                continue
            entries.append(
                put(
                    "PricebookEntry",
                    start + n * 60,
                    Pricebook2Id=book["Id"],
                    Product2Id=product["Id"],
                    UnitPrice=amount,
                    IsActive=True,
                    UseStandardPrice=False,
                    Name=product["Name"],
                    ProductCode=product["ProductCode"],
                )
            )
    accounts = []
    import_moment = start + 5 * 86_400  # one data-loader run stamped 50 Accounts alike
    for n in range(1, 151):
        city, postcode = _CITIES[n % len(_CITIES)]
        moment = import_moment if n <= 50 else start + rng.uniform(6, 89) * 86_400
        accounts.append(
            put(
                "Account",
                moment,
                Name=f"{_COMPANIES[n % len(_COMPANIES)]} {_SUFFIXES[n % len(_SUFFIXES)]} {n}",
                AccountNumber=f"ACC-{10000 + n}",
                Type="Customer",
                Industry="Retail",
                Phone=f"0113 496 {n:04d}",
                BillingStreet=f"{n} Market Street",
                BillingCity=city,
                BillingPostalCode=postcode,
                BillingCountry="United Kingdom",
                ExternalID__c=f"CUST{n:04d}" if n <= 120 else None,
            )
        )
    late = app.now() - 3_600
    put(
        "Account",
        late,
        Name="Harbour & Quay Logistics",
        Type="Customer",
        BillingCity="Hull",
        BillingCountry="United Kingdom",
        ExternalID__c="CUST9001",
    )
    for name, ext in (("Northwind Traders Ltd", "NWT001"), ("Northwind Traders (Leeds)", "nwt001")):
        accounts.append(
            put(
                "Account",
                late + 60,
                Name=name,
                AccountNumber=f"ACC-{ext}",
                Phone="0113 496 0000",
                BillingStreet="1 Wharf Road",
                BillingCity="Leeds",
                BillingPostalCode="LS2 7EH",
                BillingCountry="United Kingdom",
                ExternalID__c=ext,
            )
        )
    contact_number = 0
    for account in accounts:
        for _ in range(rng.randint(1, 3)):
            contact_number += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            put(
                "Contact",
                app.now() - rng.uniform(1, 80) * 86_400,
                AccountId=account["Id"],
                FirstName=first,
                LastName=last,
                Email=f"{first}.{last}{contact_number}@example.co.uk".lower(),
                ExternalID__c=f"CON-{contact_number:05d}",
            )
    trade_entries = [e for e in entries if e["Pricebook2Id"] == trade["Id"]]
    for n in range(1, 201):
        account = accounts[n % len(accounts)]
        stage = STAGES[n % len(STAGES)]
        moment = app.now() - rng.uniform(1, 60) * 86_400
        opportunity = put(
            "Opportunity",
            moment,
            Name=f"{account['Name']} order {n}",
            AccountId=account["Id"],
            StageName=stage,
            CloseDate=(date.today() + timedelta(days=rng.randint(-30, 60))).isoformat(),
            Probability=100.0 if stage == "Closed Won" else 0.0 if stage == "Closed Lost" else 50.0,
            IsClosed=stage.startswith("Closed"),
            IsWon=stage == "Closed Won",
            Pricebook2Id=trade["Id"],
            ExternalID__c=f"OPP-{n:04d}",
            Amount=0.0,
        )
        total = 0.0
        for entry in rng.sample(trade_entries, rng.randint(1, 4)):
            quantity = float(rng.randint(1, 20))
            line_total = round(quantity * entry["UnitPrice"], 2)
            total += line_total
            put(
                "OpportunityLineItem",
                moment,
                OpportunityId=opportunity["Id"],
                PricebookEntryId=entry["Id"],
                Product2Id=entry["Product2Id"],
                ProductCode=entry["ProductCode"],
                Name=f"{opportunity['Name']} {entry['Name']}",
                Quantity=quantity,
                UnitPrice=entry["UnitPrice"],
                ListPrice=entry["UnitPrice"],
                TotalPrice=line_total,
            )
        opportunity["Amount"] = round(total, 2)
    put(
        "Opportunity",
        late + 120,
        Name="Brightwell annual support renewal",
        AccountId=accounts[1]["Id"],
        StageName="Closed Won",
        CloseDate=date.today().isoformat(),
        Amount=0.0,
        Probability=100.0,
        IsClosed=True,
        IsWon=True,
        ExternalID__c="OPP-0999",
    )


def create_app(options: Mapping[str, Any]) -> SalesforceApp:
    return SalesforceApp(options)
