"""KashFlow records as a mapping sees them: flat customer fields, payment references, times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.base import Record


def parse_stamp(value: Any) -> datetime | None:
    """KashFlow times have no zone (UK account, stored as UTC); a zone is tolerated."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def payment_reference(invoice_number: Any, date: Any, amount: Any) -> str:
    """A payment's reference, since KashFlow keeps none: ``<invoice>|<YYYY-MM-DD>|<amount>``."""
    return f"{invoice_number}|{str(date)[:10]}|{Decimal(str(amount)):.2f}"


# A customer's first contact and first address as flat fields (KashFlow's classic API
# names), so a mapping can read and write them without list positions.
PRIMARY_CONTACT = {
    "ContactEmail": "Email",
    "ContactTelephone": "Telephone",
    "ContactReference": "Reference",
}
PRIMARY_ADDRESS = {
    "Address1": "Line1",
    "Address2": "Line2",
    "Address3": "Line3",
    "Address4": "Line4",
    "Postcode": "PostCode",
    "CountryName": "CountryName",
}
FLAT_CUSTOMER_FIELDS = ("ContactName", *PRIMARY_CONTACT, *PRIMARY_ADDRESS)


def customer_flat(customer: Record) -> Record:
    """The customer with its first contact and address also as flat fields.

    ``ContactName`` is the contact's first and last name joined by a space.
    """
    contact = (customer.get("Contacts") or [{}])[0] or {}
    address = (customer.get("Addresses") or [{}])[0] or {}
    name = " ".join(
        str(part).strip() for part in (contact.get("FirstName"), contact.get("LastName")) if part
    )
    flat = {**customer, "ContactName": name or None}
    flat.update({k: contact.get(v) for k, v in PRIMARY_CONTACT.items()})
    flat.update({k: address.get(v) for k, v in PRIMARY_ADDRESS.items()})
    return flat


def customer_nested(record: Record, existing: Record | None) -> Record:
    """Flat contact and address fields folded back into the first contact and address.

    ``ContactName`` is split at its last space: "Mary Ann Smith" is first name
    "Mary Ann", last name "Smith". Fields not sent keep their current values.
    """
    body = {k: v for k, v in record.items() if k not in FLAT_CUSTOMER_FIELDS}
    if "ContactName" in record or any(k in record for k in PRIMARY_CONTACT):
        contacts = [dict(c) for c in (existing or {}).get("Contacts") or []] or [{}]
        first = contacts[0]
        if "ContactName" in record:
            words = str(record["ContactName"] or "").split()
            first["FirstName"] = " ".join(words[:-1]) if len(words) > 1 else ""
            first["LastName"] = words[-1] if words else ""
        first.update({v: record[k] for k, v in PRIMARY_CONTACT.items() if k in record})
        body.setdefault("Contacts", contacts)
    if any(k in record for k in PRIMARY_ADDRESS):
        addresses = [dict(a) for a in (existing or {}).get("Addresses") or []] or [{}]
        addresses[0].update({v: record[k] for k, v in PRIMARY_ADDRESS.items() if k in record})
        body.setdefault("Addresses", addresses)
    return body
