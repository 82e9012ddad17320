"""How each posting business object takes records in and answers per record."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.base import Record
from connectors.syspro.catalogue import ROWVERSION
from connectors.syspro.wire import text_of


@dataclass(frozen=True)
class Writer:
    """How one posting business object takes records in and answers per record."""

    business_object: str
    path: str  # Setup/Add or Transaction/Post
    root: str
    wrapper: str  # the element each record travels in
    result: str  # the output element per record
    reference: Callable[[Record], tuple[str, str]]  # (customer, external reference)
    target_id: Callable[[ET.Element, Record], str]
    parameters: Callable[[Mapping[str, Any]], dict[str, str]]
    shape: Callable[[Record], Record] = dict  # the record as the business object nests it
    update_path: str | None = None  # where an existing record goes instead (upsert)


def payment_of(record: Record) -> Mapping[str, Any]:
    payment = record.get("Payment")
    return payment if isinstance(payment, Mapping) else {}


def allocations_of(record: Record) -> list[Record]:
    """The invoices a payment is allocated to (``Invoice``: one, a list, or none)."""
    found = record.get("Invoice")
    items = found if isinstance(found, list) else [found] if found else []
    return [dict(item) for item in items if isinstance(item, Mapping)]


def split_amount(invoices: Sequence[Record], amount: Decimal) -> list[Record]:
    """``amount`` over ``invoices`` oldest first, each up to its balance; the rest on the last."""
    lines: list[Record] = []
    left = amount
    ordered = sorted(invoices, key=lambda i: str(i["Invoice"]))
    for position, invoice in enumerate(ordered):
        balance = Decimal(str(invoice.get("InvoiceBal1") or 0))
        share = left if position == len(ordered) - 1 else min(left, max(balance, Decimal(0)))
        if share > 0:
            lines.append({"Invoice": str(invoice["Invoice"]), "PaymentValue": f"{share:.2f}"})
        left -= share
    return lines


def _customer_item(record: Record) -> Record:
    """ARSSCS wants the code in ``Key``; columns SYSPRO maintains itself stay out."""
    code = str(record.get("Customer") or "").strip().upper()
    kept = {k: v for k, v in record.items() if k not in ("Customer", ROWVERSION, "DateCustAdded")}
    return {"Key": {"Customer": code}, **kept}


def _header(record: Record) -> Mapping[str, Any]:
    header = record.get("OrderHeader")
    return header if isinstance(header, Mapping) else {}


WRITERS: dict[str, Writer] = {
    "ArCustomer": Writer(
        "ARSSCS",
        "Setup/Add",
        "SetupArCustomer",
        "Item",
        "Item",
        lambda r: ("", str(r.get("Customer") or "").strip().upper()),
        lambda out, record: str(record["Customer"]).strip().upper(),
        lambda settings: {"ValidateOnly": "N"},
        _customer_item,
        "Setup/Update",
    ),
    "SorMaster": Writer(
        "SORTOI",
        "Transaction/Post",
        "SalesOrders",
        "Orders",
        "Order",
        lambda r: (
            str(_header(r).get("Customer") or ""),
            str(_header(r).get("CustomerPoNumber") or ""),
        ),
        lambda out, record: text_of(out, "SalesOrder"),
        lambda settings: {
            "Process": "Import",
            "ValidateOnly": "N",
            "IgnoreWarnings": "W",
            "AllocationAction": str(settings.get("allocation_action", "A")),
            "AlwaysUsePriceEntered": "Y",
            "AllowDuplicateOrderNumbers": "N",  # the reference guards against doubles
            "ApplyIfEntireDocumentValid": "N",  # one bad order must not hold up the rest
        },
    ),
    "ArCshJnlDet": Writer(
        "ARSTPY",
        "Transaction/Post",
        "PostArPayment",
        "Item",
        "Item",
        lambda r: (
            str(payment_of(r).get("Customer") or ""),
            str(payment_of(r).get("Reference") or ""),
        ),
        lambda out, record: "/".join(
            text_of(out, c) for c in ("TrnYear", "TrnMonth", "Journal", "EntryNumber")
        ).strip("/"),
        lambda settings: {
            "PostingPeriod": str(settings.get("posting_period", "C")),
            "ValidateOnly": "N",
            "IgnoreWarnings": "N",
        },
    ),
}
