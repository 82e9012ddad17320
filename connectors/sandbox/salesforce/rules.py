"""The org's validation rules and triggers: parent references by external ID,
Opportunity and price-book rules, and the roll-up of line items into the
Opportunity's Amount.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox.salesforce.schema import (
    SCHEMA,
    RecordError,
    Transaction,
    sf_datetime,
    sf_error,
)

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp


@dataclass(frozen=True)
class MissingParent:
    """A parent named by an external ID that matches no record, or (``matches``) several;
    the save fails on it the way Salesforce does."""

    sobject: str
    field: str
    value: Any
    matches: tuple[str, ...] = ()


def parent_reference(
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


def no_rule(*args: Any, **kwargs: Any) -> None:
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
    book_id: str = next(b["Id"] for b in app.data["Pricebook2"].values() if b.get("IsStandard"))
    return book_id


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
