"""One Xero organisation (tenant) of the sandbox: its records and Xero's rules.

``Organisation.save`` is what a PUT or POST of one element does in Xero: find
the record it updates (if any), check it the way Xero does, compute what Xero
computes (line amounts, tax, totals, amounts due, statuses) and store it with a
fresh ``UpdatedDateUTC``. Records are replaced, never mutated, so a batch can
be undone by restoring a shallow snapshot.

Messages marked [A] in ``systems/xero.md`` are assumptions about Xero's exact
wording; the connector matches them loosely.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.sandbox.xero import seed as demo
from connectors.sandbox.xero.fields import clean

Record = dict[str, Any]

ENTITIES = ("Contacts", "Invoices", "Payments", "ManualJournals", "Items", "Accounts", "TaxRates")
ID_FIELDS = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "Payments": "PaymentID",
    "ManualJournals": "ManualJournalID",
    "Items": "ItemID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
}
# The OpenAPI schema each writable entity's elements are read with.
SCHEMA_OF = {
    "Contacts": "Contact",
    "Invoices": "Invoice",
    "Payments": "Payment",
    "ManualJournals": "ManualJournal",
    "Items": "Item",
    "Accounts": "Account",
}
# Other fields Xero accepts in place of the id in a URL (/Invoices/INV-0001).
ALT_KEYS = {"Contacts": "ContactNumber", "Invoices": "InvoiceNumber", "Items": "Code"}
CENT = Decimal("0.01")
CONTACT_MISSING = (
    "The Contact must contain at least 1 of the following elements to identify the contact: "
    "Name, ContactID, ContactNumber"
)


class Invalid(Exception):
    """An element Xero refuses; ``element`` is what it read of it, echoed in the answer."""

    def __init__(self, messages: list[str], element: Record | None = None) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.element = element


def to_xero_date(ms: int) -> str:
    return f"/Date({ms}+0000)/"


def from_xero_date(value: str) -> int:
    """Milliseconds from ``/Date(1551213567813+0000)/``."""
    digits = value[len("/Date(") :].split("+")[0].split(")")[0]
    return int(digits)


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except ArithmeticError as exc:
        raise Invalid([f"'{value}' is not a valid amount"]) from exc


def cents(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class Saved:
    record: Record
    created: bool


# (the table indexed, its size then, ids by value)
_Index = tuple[dict[str, Record], int, dict[Any, list[str]]]


class Organisation:
    def __init__(
        self,
        tenant_id: str,
        name: str,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.clock = clock
        self.rng = rng
        self.records: dict[str, dict[str, Record]] = {entity: {} for entity in ENTITIES}
        self.invoice_sequence = 0
        self.unitdp = 2  # the request's ?unitdp= (2 or 4), set by ``save``
        self._last_ms = 0
        # Lookups by name / alternate key, so a tenant with 50,000 contacts answers a
        # batch in milliseconds rather than scanning every contact per element.
        self._indexes: dict[tuple[str, str], _Index] = {}

    # -- plumbing -------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def stamp(self) -> str:
        """A strictly increasing UpdatedDateUTC, so modified-since cursors never tie."""
        self._last_ms = max(int(self.clock() * 1000), self._last_ms + 1)
        return to_xero_date(self._last_ms)

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT00:00:00")

    def snapshot(self) -> tuple[dict[str, dict[str, Record]], int, int]:
        return (
            {entity: dict(rows) for entity, rows in self.records.items()},
            self.invoice_sequence,
            self._last_ms,
        )

    def restore(self, snapshot: tuple[dict[str, dict[str, Record]], int, int]) -> None:
        self.records, self.invoice_sequence, self._last_ms = snapshot

    def _index(self, entity: str, field: str) -> dict[Any, list[str]]:
        """Record ids by ``field`` (names folded); rebuilt when the table was swapped or grew
        behind our back, kept up to date by ``_put``. Hits are re-checked by the caller."""
        rows = self.records[entity]
        cached = self._indexes.get((entity, field))
        if cached is None or cached[0] is not rows or cached[1] != len(rows):
            index: dict[Any, list[str]] = {}
            for record_id, record in rows.items():
                index.setdefault(_index_value(field, record.get(field)), []).append(record_id)
            cached = (rows, len(rows), index)
            self._indexes[(entity, field)] = cached
        return cached[2]

    def _indexed(self, entity: str, field: str, value: Any) -> list[Record]:
        rows = self.records[entity]
        ids = self._index(entity, field).get(_index_value(field, value), [])
        return [rows[i] for i in ids if i in rows]

    def get(self, entity: str, key: str) -> Record | None:
        rows = self.records[entity]
        if key in rows:
            return rows[key]
        alt = ALT_KEYS.get(entity)
        if alt:
            return next((r for r in self._indexed(entity, alt, key) if r.get(alt) == key), None)
        return None

    def _put(self, entity: str, record: Record) -> None:
        rows = self.records[entity]
        record_id = record[ID_FIELDS[entity]]
        new = record_id not in rows
        rows[record_id] = record
        for (indexed_entity, field), (table, size, index) in list(self._indexes.items()):
            if indexed_entity != entity or table is not rows or size + new != len(rows):
                continue
            ids = index.setdefault(_index_value(field, record.get(field)), [])
            if record_id not in ids:
                ids.append(record_id)
            self._indexes[(entity, field)] = (table, len(rows), index)

    def account_by_code(self, code: Any) -> Record | None:
        return next(
            (
                a
                for a in self.records["Accounts"].values()
                if a["Code"] == code and a["Status"] == "ACTIVE"
            ),
            None,
        )

    def save(self, entity: str, payload: Any, *, update: bool, unitdp: int = 2) -> Saved:
        """Create (or, when ``update``, create-or-update) one element; raises Invalid.

        Every value is read and checked (``fields.clean``) before any rule runs, and every
        rule runs before anything is stored, so a refused element leaves the organisation
        exactly as it was."""
        schema = SCHEMA_OF.get(entity)
        if schema is None:
            raise Invalid([f"{entity} cannot be written through the API"])
        element, errors = clean(schema, payload)
        if errors:
            raise Invalid(errors, element)
        self.unitdp = unitdp
        try:
            return self._save(entity, element, update)
        except Invalid as exc:
            exc.element = element
            raise

    def _save(self, entity: str, payload: Record, update: bool) -> Saved:
        saver = {
            "Contacts": self._save_contact,
            "Invoices": self._save_invoice,
            "Payments": self._save_payment,
            "ManualJournals": self._save_journal,
            "Items": self._save_item,
            "Accounts": self._save_account,
        }[entity]
        return saver(payload, update)

    def _existing(self, entity: str, payload: Record, update: bool, *alt: str) -> Record | None:
        key = payload.get(ID_FIELDS[entity])
        if key:
            found = self.records[entity].get(key)
            if found is None:
                raise Invalid([f"{ID_FIELDS[entity]} '{key}' does not exist"])
            return found
        if update:
            for field in alt:
                if payload.get(field):
                    match = self.get(entity, payload[field])
                    if match:
                        return match
        return None

    # -- contacts -------------------------------------------------------------

    def _save_contact(self, payload: Record, update: bool) -> Saved:
        existing = self._existing("Contacts", payload, update, "ContactNumber")
        errors = self._contact_errors(payload, existing)
        if errors:
            raise Invalid(errors)
        record = self._contact_record(payload, existing)
        self._put("Contacts", record)
        return Saved(record, existing is None)

    def _contact_errors(self, payload: Record, existing: Record | None) -> list[str]:
        errors = []
        name = payload.get("Name", existing["Name"] if existing else None)
        if not name:
            errors.append(CONTACT_MISSING)
        elif len(name) > 255:
            errors.append("The contact name must be 255 characters or fewer.")
        else:
            clash = self._contact_named(name)
            if clash is not None and clash is not existing:
                errors.append(
                    f"The contact name {name} is already assigned to another contact. "
                    "The contact name must be unique across all active contacts."
                )
        number = payload.get("ContactNumber")
        if number and existing is None and self.get("Contacts", number) is not None:
            errors.append(f"The contact number {number} is already assigned to another contact.")
        email = payload.get("EmailAddress")
        if email and "@" not in email:
            errors.append("Email address must be valid.")
        return errors

    def _contact_record(self, payload: Record, existing: Record | None) -> Record:
        return {
            "ContactStatus": "ACTIVE",
            "Addresses": [],
            "Phones": [],
            "IsSupplier": False,
            "IsCustomer": False,
            "HasAttachments": False,
            "HasValidationErrors": False,
            **(existing or {}),
            **_without(payload, "ValidationErrors", "StatusAttributeString", "UpdatedDateUTC"),
            "ContactID": existing["ContactID"] if existing else self.new_id(),
            "UpdatedDateUTC": self.stamp(),
        }

    def _contact_named(self, name: str) -> Record | None:
        folded = name.strip().casefold()
        return next(
            (
                c
                for c in self._indexed("Contacts", "Name", name)
                if c["ContactStatus"] == "ACTIVE" and c["Name"].strip().casefold() == folded
            ),
            None,
        )

    def _resolve_contact(self, ref: Any) -> tuple[Record | None, Record | None]:
        """(the contact a document names, or None and the new contact Xero would create).

        Nothing is created here: the caller creates it only once the whole document passed."""
        if not isinstance(ref, dict) or not any(
            ref.get(k) for k in ("ContactID", "ContactNumber", "Name")
        ):
            raise Invalid([CONTACT_MISSING])
        if ref.get("ContactID"):
            found = self.records["Contacts"].get(ref["ContactID"])
            if found is None:
                raise Invalid([f"The contact with ContactID '{ref['ContactID']}' does not exist"])
            return found, None
        if ref.get("ContactNumber"):
            found = self.get("Contacts", ref["ContactNumber"])
            if found is not None:
                return found, None
        found = self._contact_named(ref["Name"]) if ref.get("Name") else None
        if found is not None:
            return found, None
        if not ref.get("Name"):
            raise Invalid([f"The contact number '{ref['ContactNumber']}' does not exist"])
        # Xero creates a contact named on a document when it does not exist yet.
        new = _without(ref, "ContactID")
        errors = self._contact_errors(new, None)
        if errors:
            raise Invalid(errors)
        return None, new

    # -- invoices -------------------------------------------------------------

    def _save_invoice(self, payload: Record, update: bool) -> Saved:
        existing = self._existing("Invoices", payload, update)
        if existing and existing["Status"] in ("PAID", "VOIDED", "DELETED"):
            raise Invalid(
                [f"This document cannot be edited as it is {existing['Status'].lower()}."]
            )
        merged = {**(existing or {}), **payload}
        errors: list[str] = []
        kind = merged.get("Type")
        if kind not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be ACCREC or ACCPAY")
        status = merged.get("Status", "DRAFT")
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED"):
            errors.append(f"Invoice Status '{status}' is not valid")
        errors += _lifecycle_errors(existing, payload, status)
        contact: Record | None = None
        new_contact: Record | None = None
        try:
            contact, new_contact = self._resolve_contact(merged.get("Contact"))
        except Invalid as exc:
            errors += exc.messages
        number = merged.get("InvoiceNumber")
        if kind == "ACCREC" and number:
            # By the index, not a scan: a tenant with 100,000 invoices (benchmarks/reconcile.py)
            # would otherwise check each new one against all of them.
            clash = next(
                (
                    i
                    for i in self._indexed("Invoices", "InvoiceNumber", number)
                    if i["Type"] == "ACCREC" and i.get("InvoiceNumber") == number
                ),
                None,
            )
            if clash is not None and clash is not existing:
                errors.append("Invoice # must be unique.")
        line_amount_types = merged.get("LineAmountTypes", "Exclusive")
        lines, line_errors = self._price_lines(
            merged.get("LineItems") or [], line_amount_types, needs_account=status != "DRAFT"
        )
        errors += line_errors
        sub_total = sum((money(li["LineAmount"]) for li in lines), Decimal(0))
        total_tax = sum((money(li["TaxAmount"]) for li in lines), Decimal(0))
        if line_amount_types == "Inclusive":
            sub_total -= total_tax
        total = sub_total + total_tax
        if kind == "ACCREC" and total < 0 and not line_errors:
            # Xero refuses a sales invoice with a negative total; a credit note is the way:
            # [S] issue #13's SDK run against Xero; the wording is [A].
            errors.append("The invoice total must be zero or more: raise a credit note instead.")
        if errors:
            raise Invalid(errors)
        if new_contact is not None:
            contact = self._save_contact(new_contact, False).record
        assert contact is not None
        if kind == "ACCREC" and not number:
            self.invoice_sequence += 1
            number = f"INV-{self.invoice_sequence:04d}"
        paid = money(existing["AmountPaid"]) if existing else Decimal(0)
        record = {
            "Date": self.today(),
            "DueDate": self.today(),
            "CurrencyCode": "GBP",
            "CurrencyRate": 1.0,
            "Reference": "",
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "AmountCredited": 0.0,
            "SentToContact": False,
            "IsDiscounted": False,
            "HasAttachments": False,
            **_without(
                merged, "ValidationErrors", "StatusAttributeString", "Warnings", "HasErrors"
            ),
            "InvoiceID": existing["InvoiceID"] if existing else self.new_id(),
            "InvoiceNumber": number or "",
            "Status": status,
            "LineAmountTypes": line_amount_types,
            "Contact": _contact_summary(contact),
            "LineItems": lines,
            "SubTotal": cents(sub_total),
            "TotalTax": cents(total_tax),
            "Total": cents(total),
            "AmountPaid": cents(paid),
            "AmountDue": cents(total - paid),
            "UpdatedDateUTC": self.stamp(),
            "HasErrors": False,
        }
        self._put("Invoices", record)
        return Saved(record, existing is None)

    def _price_lines(
        self, lines: list[Any], line_amount_types: str, *, needs_account: bool
    ) -> tuple[list[Record], list[str]]:
        priced, errors = [], []
        rates = {t["TaxType"]: t for t in self.records["TaxRates"].values()}
        for line in lines:
            if not isinstance(line, dict):
                errors.append("Each line item must be an object")
                continue
            line = dict(line)
            item_code = line.get("ItemCode")
            if item_code:
                item = self.get("Items", item_code)
                if item is None:
                    errors.append(f"Item code '{item_code}' is not valid.")
                else:
                    sales = item.get("SalesDetails") or {}
                    line.setdefault("Description", item.get("Description") or item.get("Name"))
                    line.setdefault("UnitAmount", sales.get("UnitPrice", 0))
                    line.setdefault("AccountCode", sales.get("AccountCode"))
                    line.setdefault("TaxType", sales.get("TaxType"))
            code = line.get("AccountCode")
            account = self.account_by_code(code) if code else None
            if code and (account is None or account["Type"] == "BANK"):
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            elif not code and needs_account:
                errors.append("Account code must be specified on each line.")
            tax_type = line.get("TaxType") or (account or {}).get("TaxType") or "NONE"
            if tax_type not in rates:
                errors.append(
                    f"The TaxType code '{tax_type}' does not exist or cannot be used "
                    "for this type of transaction."
                )
                continue
            try:
                quantity = money(line.get("Quantity", 1))
                # [P] spec ``unitdp``: "You can opt in to use four decimal places for unit
                # amounts"; without it Xero rounds unit amounts to two.
                unit = money(line.get("UnitAmount", 0)).quantize(
                    Decimal(1).scaleb(-self.unitdp), rounding=ROUND_HALF_UP
                )
                amount = quantity * unit
                amount *= 1 - money(line.get("DiscountRate", 0)) / 100
            except Invalid as exc:
                errors += exc.messages
                continue
            rate = money(rates[tax_type]["EffectiveRate"]) / 100
            if line_amount_types == "NoTax":
                tax = Decimal(0)
            elif line_amount_types == "Inclusive":
                tax = amount - amount / (1 + rate)
            else:
                tax = amount * rate
            line.update(
                LineItemID=line.get("LineItemID") or self.new_id(),
                Quantity=float(quantity),
                UnitAmount=float(unit),
                TaxType=tax_type,
                LineAmount=cents(amount),
                TaxAmount=cents(tax),
                Tracking=line.get("Tracking", []),
            )
            priced.append(line)
        return priced, errors

    # -- payments -------------------------------------------------------------

    def _save_payment(self, payload: Record, update: bool) -> Saved:
        if payload.get("PaymentID"):
            raise Invalid(["Payments cannot be edited; delete the payment and enter it again."])
        errors = []
        ref = payload.get("Invoice") or {}
        invoice = None
        if ref.get("InvoiceID"):
            invoice = self.records["Invoices"].get(ref["InvoiceID"])
        elif ref.get("InvoiceNumber") or payload.get("InvoiceNumber"):
            invoice = self.get("Invoices", ref.get("InvoiceNumber") or payload["InvoiceNumber"])
        if invoice is None:
            errors.append("Invoice could not be found.")
        elif invoice["Status"] != "AUTHORISED":
            errors.append("Invoice not of valid status for creating payment")
        account_ref = payload.get("Account") or {}
        account = (
            self.records["Accounts"].get(account_ref.get("AccountID", ""))
            if account_ref.get("AccountID")
            else self.account_by_code(account_ref.get("Code") or payload.get("Code"))
        )
        if account is None:
            errors.append("Account could not be found.")
        elif account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
            errors.append(f"Account code '{account['Code']}' is not a bank account.")
        amount = money(payload.get("Amount"))
        if amount <= 0:
            errors.append("Payment amount must be greater than zero.")
        elif invoice is not None and amount > money(invoice["AmountDue"]):
            errors.append("Payment amount exceeds the amount outstanding on this document.")
        if errors:
            raise Invalid(errors)
        assert invoice is not None and account is not None
        payment_id = self.new_id()
        stamp = self.stamp()
        due = money(invoice["AmountDue"]) - amount
        paid_in_full = due == 0
        record = {
            "PaymentID": payment_id,
            "Date": payload.get("Date") or self.today(),
            "Amount": cents(amount),
            "BankAmount": cents(amount),
            "CurrencyRate": payload.get("CurrencyRate", 1.0),
            "Reference": payload.get("Reference", ""),
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT" if invoice["Type"] == "ACCREC" else "ACCPAYPAYMENT",
            "IsReconciled": bool(payload.get("IsReconciled", False)),
            "HasAccount": True,
            "HasValidationErrors": False,
            "UpdatedDateUTC": stamp,
            "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
            "Invoice": {
                "InvoiceID": invoice["InvoiceID"],
                "InvoiceNumber": invoice["InvoiceNumber"],
                "Type": invoice["Type"],
                "Contact": invoice["Contact"],
            },
        }
        self._put("Payments", record)
        self._put(
            "Invoices",
            {
                **invoice,
                "AmountPaid": cents(money(invoice["AmountPaid"]) + amount),
                "AmountDue": cents(due),
                "Status": "PAID" if paid_in_full else invoice["Status"],
                "Payments": [
                    *invoice["Payments"],
                    {"PaymentID": payment_id, "Amount": cents(amount), "Date": record["Date"]},
                ],
                **({"FullyPaidOnDate": record["Date"]} if paid_in_full else {}),
                "UpdatedDateUTC": self.stamp(),
            },
        )
        return Saved(record, True)

    # -- manual journals ------------------------------------------------------

    def _save_journal(self, payload: Record, update: bool) -> Saved:
        existing = self._existing("ManualJournals", payload, update)
        merged = {**(existing or {}), **payload}
        errors = []
        if not merged.get("Narration"):
            errors.append("Narration is a required field.")
        lines = merged.get("JournalLines") or []
        if len(lines) < 2:
            errors.append("A manual journal must have at least two journal lines.")
        debits = credits = Decimal(0)
        posted = []
        for line in lines:
            # [P] spec ManualJournalLine has AccountID beside AccountCode; Xero answers both.
            if line.get("AccountID"):
                account = self.records["Accounts"].get(line["AccountID"])
            else:
                account = self.account_by_code(line.get("AccountCode"))
            if account is None:
                code = line.get("AccountCode") or line.get("AccountID")
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            else:
                posted.append(
                    {**line, "AccountID": account["AccountID"], "AccountCode": account["Code"]}
                )
            amount = money(line.get("LineAmount"))
            if amount > 0:
                debits += amount
            else:
                credits += amount
        if lines and debits + credits != 0:
            errors.append(
                f"The total debits ({cents(debits):.2f}) must equal total credits "
                f"({cents(credits):.2f})"
            )
        if errors:
            raise Invalid(errors)
        record = {
            "Date": self.today(),
            "Status": "DRAFT",
            "LineAmountTypes": "NoTax",
            "ShowOnCashBasisReports": True,
            "HasAttachments": False,
            **_without(merged, "ValidationErrors", "StatusAttributeString", "Warnings"),
            "ManualJournalID": existing["ManualJournalID"] if existing else self.new_id(),
            "JournalLines": [
                {"TaxType": "NONE", "Tracking": [], "IsBlank": False, **line} for line in posted
            ],
            "UpdatedDateUTC": self.stamp(),
        }
        self._put("ManualJournals", record)
        return Saved(record, existing is None)

    # -- items and accounts ---------------------------------------------------

    def _save_item(self, payload: Record, update: bool) -> Saved:
        existing = self._existing("Items", payload, update, "Code")
        errors = []
        code = payload.get("Code", existing["Code"] if existing else None)
        if not code:
            errors.append("Item Code is a required field.")
        elif len(code) > 30:
            errors.append("The Code must be 30 characters or fewer.")
        elif existing is None and self.get("Items", code) is not None:
            errors.append(f"Item code '{code}' already exists.")
        if len(payload.get("Name") or "") > 50:
            errors.append("The Name must be 50 characters or fewer.")
        rates = {t["TaxType"] for t in self.records["TaxRates"].values()}
        for details in ("SalesDetails", "PurchaseDetails"):
            given = payload.get(details) or {}
            for field in ("AccountCode", "COGSAccountCode"):
                account_code = given.get(field)
                if account_code and self.account_by_code(account_code) is None:
                    errors.append(
                        f"Account code '{account_code}' is not a valid code for this document."
                    )
            if given.get("TaxType") and given["TaxType"] not in rates:
                errors.append(f"The TaxType code '{given['TaxType']}' does not exist.")
        merged = {**(existing or {}), **payload}
        tracked = merged.get("InventoryAssetAccountCode")
        if tracked:
            # Tracked items need an INVENTORY account and a cost of goods sold account [P, spec].
            asset = self.account_by_code(tracked)
            if asset is None or asset["Type"] != "INVENTORY":
                errors.append(f"Account code '{tracked}' is not a valid inventory asset account.")
            if not (merged.get("PurchaseDetails") or {}).get("COGSAccountCode"):
                errors.append("A COGS account code is required for a tracked inventory item.")
        if errors:
            raise Invalid(errors)
        record = {
            "Name": "",
            "Description": "",
            "IsSold": True,
            "IsPurchased": True,
            **(existing or {}),
            **_without(payload, "ValidationErrors", "StatusAttributeString"),
            "IsTrackedAsInventory": bool(tracked),  # Xero's own, from the accounts set
            "ItemID": existing["ItemID"] if existing else self.new_id(),
            "UpdatedDateUTC": self.stamp(),
        }
        self._put("Items", record)
        return Saved(record, existing is None)

    def _save_account(self, payload: Record, update: bool) -> Saved:
        existing = self._existing("Accounts", payload, update)
        merged = {**(existing or {}), **payload}
        errors = []
        code, name, kind = merged.get("Code"), merged.get("Name"), merged.get("Type")
        others = [a for a in self.records["Accounts"].values() if a is not existing]
        if not code or len(code) > 10:
            errors.append("Please enter a Code of up to 10 characters.")
        elif any(a["Code"] == code for a in others):
            errors.append("Please enter a unique Code.")
        if not name:
            errors.append("Please enter a Name.")
        elif any(a["Name"] == name for a in others):
            errors.append("Please enter a unique Name.")
        if kind not in demo.ACCOUNT_CLASS:
            errors.append(f"Account Type '{kind}' is not valid.")
        if kind == "BANK" and not merged.get("BankAccountNumber"):
            errors.append("Please enter a Bank Account Number.")
        if errors:
            raise Invalid(errors)
        record = self._account_record(merged, existing)
        self._put("Accounts", record)
        return Saved(record, existing is None)

    def _account_record(self, merged: Record, existing: Record | None) -> Record:
        kind = merged["Type"]
        return {
            "Status": "ACTIVE",
            "Description": "",
            "TaxType": "NONE",
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": False,
            "HasAttachments": False,
            "AddToWatchlist": False,
            "ReportingCode": "",
            **(
                {"BankAccountType": "BANK", "CurrencyCode": "GBP"}
                if kind == "BANK"
                else {"BankAccountType": ""}
            ),
            **_without(merged, "ValidationErrors", "StatusAttributeString"),
            "AccountID": existing["AccountID"] if existing else self.new_id(),
            "Class": demo.ACCOUNT_CLASS[kind],
            "UpdatedDateUTC": self.stamp(),
        }

    # -- demo data ------------------------------------------------------------

    def seed(self, *, contacts: int, items: int, invoices: int) -> None:
        for name, tax_type, rate, report, revenue in demo.TAX_RATES:
            self.records["TaxRates"][tax_type] = {
                "Name": name,
                "TaxType": tax_type,
                "ReportTaxType": report,
                "Status": "ACTIVE",
                "CanApplyToAssets": not revenue,
                "CanApplyToEquity": not revenue,
                "CanApplyToExpenses": not revenue,
                "CanApplyToLiabilities": not revenue,
                "CanApplyToRevenue": revenue,
                "DisplayTaxRate": rate,
                "EffectiveRate": rate,
                "TaxComponents": [{"Name": "VAT", "Rate": rate, "IsCompound": False}],
            }
        for n, (code, name, kind, tax_type) in enumerate(demo.ACCOUNTS):
            account = {"Code": code, "Name": name, "Type": kind, "TaxType": tax_type}
            if kind == "BANK":
                account["BankAccountNumber"] = f"40-12-34 {31000000 + n * 7919:08d}"
            if code in demo.SYSTEM_ACCOUNTS:
                account["SystemAccount"] = demo.SYSTEM_ACCOUNTS[code]
            self._put("Accounts", self._account_record(account, None))
        for payload in demo.contact_payloads(self.rng, contacts):
            self._save_contact(payload, False)
        for payload in demo.item_payloads(self.rng, items):
            self._save_item(payload, False)
        self._seed_invoices(invoices)

    def _seed_invoices(self, count: int) -> None:
        customers = [c for c in self.records["Contacts"].values() if c["IsCustomer"]]
        items = list(self.records["Items"].values())
        if not customers or not items:
            return
        for n in range(count):
            status = ("AUTHORISED", "AUTHORISED", "DRAFT", "SUBMITTED")[n % 4]
            lines = [
                {"ItemCode": self.rng.choice(items)["Code"], "Quantity": self.rng.randint(1, 12)}
                for _ in range(self.rng.randint(1, 4))
            ]
            invoice = self._save_invoice(
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": self.rng.choice(customers)["ContactID"]},
                    "Status": status,
                    "LineItems": lines,
                    "Reference": f"PO-{4000 + n}",
                },
                False,
            ).record
            if status == "AUTHORISED" and n % 3 == 0:
                self._save_payment(
                    {
                        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                        "Account": {"Code": "090"},
                        "Amount": invoice["AmountDue"],
                        "Reference": f"BACS {invoice['InvoiceNumber']}",
                    },
                    False,
                )


# [O] waynerobinson/xeroizer#557 quotes Xero's answers to changing a paid or authorised
# invoice: "Invoice not of valid status for modification" and "This document cannot be
# edited as it has a payment or credit note allocated to it."; [S] systems/xero.md: DELETED
# applies to draft or submitted invoices, VOIDED to authorised invoices with no payments.
NOT_MODIFIABLE = "Invoice not of valid status for modification"
HAS_PAYMENTS = "This document cannot be edited as it has a payment or credit note allocated to it."


def _lifecycle_errors(existing: Record | None, payload: Record, status: str) -> list[str]:
    """The status moves and edits Xero refuses on an invoice, given what it is now."""
    if existing is None:
        if status in ("DELETED", "VOIDED"):
            return [f"An invoice cannot be created as {status.lower()}: create it as DRAFT."]
        return []
    before = existing["Status"]
    paid = money(existing.get("AmountPaid")) > 0
    errors = []
    if before == "AUTHORISED" and status in ("DRAFT", "SUBMITTED"):
        errors.append(f"{NOT_MODIFIABLE}: an authorised invoice cannot go back to {status}.")
    if before == "AUTHORISED" and status == "DELETED":
        errors.append(f"{NOT_MODIFIABLE}: void an authorised invoice instead of deleting it.")
    if before in ("DRAFT", "SUBMITTED") and status == "VOIDED":
        errors.append(f"{NOT_MODIFIABLE}: delete a draft invoice instead of voiding it.")
    if paid and (status == "VOIDED" or "LineItems" in payload):
        errors.append(HAS_PAYMENTS)
    return errors


def _index_value(field: str, value: Any) -> Any:
    if field == "Name" and isinstance(value, str):
        return value.strip().casefold()
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _without(record: Record, *fields: str) -> Record:
    return {k: v for k, v in record.items() if k not in fields}


def _contact_summary(contact: Record) -> Record:
    keys = ("ContactID", "ContactNumber", "Name", "ContactStatus", "EmailAddress")
    return {k: contact[k] for k in keys if k in contact} | {"HasValidationErrors": False}
