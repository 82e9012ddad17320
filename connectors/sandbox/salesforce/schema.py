"""The org's sObjects: their fields (``SCHEMA``), record IDs and dates as Salesforce
writes them, the error shapes, describe output, and the field checks a save runs
(types, required, length, pick-lists, e-mail, lookups, uniqueness).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import HttpError, json_response

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp


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
    return core + _checksum(core)


def _checksum(core: str) -> str:
    """The three case-safety characters of a 15-character Id [P]: one per 5-character
    chunk, bit i set when character i is an upper-case letter, read in ``_ID_SUFFIX``.
    https://help.salesforce.com/s/articleView?id=000385008 ("18 character Id from 15")."""
    return "".join(
        _ID_SUFFIX[sum(1 << i for i, ch in enumerate(core[k : k + 5]) if "A" <= ch <= "Z")]
        for k in (0, 5, 10)
    )


def canonical_id(text: str) -> str | None:
    """An Id in its 18-character form, or None when ``text`` cannot be one.

    A 15-character Id is case-sensitive and gains its checksum; an 18-character Id is
    case-insensitive [P]: its checksum says which letters are capitals, so any casing of
    it names the same record, as Salesforce reads it.
    """
    if not isinstance(text, str) or not text.isascii() or not text.isalnum():
        return None
    if len(text) == 15:
        return text + _checksum(text)
    if len(text) != 18:
        return None
    suffix = text[15:].upper()
    if any(ch not in _ID_SUFFIX for ch in suffix):
        return None
    core = "".join(
        ch.upper() if _ID_SUFFIX.index(suffix[i // 5]) >> (i % 5) & 1 else ch.lower()
        for i, ch in enumerate(text[:15])
    )
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


def no_column(name: str, sobject: str) -> HttpError:
    return sf_error(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name.",
    )


def describe_field(f: Field) -> dict[str, Any]:
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


def coerce(spec: Field, value: Any) -> Any:
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
        if spec.type in ("id", "reference") and isinstance(value, str):
            return canonical_id(value) or value  # a 15-character Id is stored as 18 [P]
    except ValueError:
        raise sf_error(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {spec.type} from VALUE_STRING value {value} or "
            f"request may be missing a required field",
        ) from None
    return value if isinstance(value, str) else str(value)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_fields(app: SalesforceApp, sobject: str, record: dict[str, Any]) -> None:
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


@dataclass
class Transaction:
    """Writes of one call: undone together under allOrNone, announced only once committed."""

    snapshot: dict[str, dict[str, dict[str, Any]]]
    origin: str
    bin_snapshot: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: list[tuple[str, str]] = field(default_factory=list)
