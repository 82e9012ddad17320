"""Xero read by key, as a webhook's targeted run reads it, against the Xero sandbox."""

from __future__ import annotations

from typing import Any

from connectors.xero import XeroConnector


def _invoice(number: str) -> dict[str, Any]:
    line = {"Description": "Consulting", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}
    return {"Type": "ACCREC", "Contact": {"ContactNumber": "CUST-0001"},
            "InvoiceNumber": number, "Status": "AUTHORISED", "LineItems": [line]}  # fmt: skip


def _pay(xero: XeroConnector, invoice_id: str, amount: float) -> str:
    payment = {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "090"},
               "Amount": amount, "Date": "2026-01-31"}  # fmt: skip
    outcome = xero.write_batch("Payments", [payment])[0]
    assert outcome.ok, outcome.message
    return outcome.target_id or ""


def test_an_invoice_event_reads_that_invoice_and_its_payments_only(xero: XeroConnector) -> None:
    """An INVOICE event names the invoice: the invoice flow reads it by ``IDs``, the payment
    flow reads the payments whose ``Invoice.InvoiceID`` it is, and nothing else."""
    one, other = xero.write_batch("Invoices", [_invoice("WH-1"), _invoice("WH-2")])
    paid = {_pay(xero, one.target_id or "", 40), _pay(xero, one.target_id or "", 30)}
    _pay(xero, other.target_id or "", 10)

    invoices = [r for p in xero.read_keys("Invoices", [one.target_id or ""]) for r in p.records]
    assert [r["InvoiceNumber"] for r in invoices] == ["WH-1"]
    payments = [
        r
        for page in xero.read_keys("Payments", [one.target_id or ""], field="Invoice.InvoiceID")
        for r in page.records
    ]
    assert {r["PaymentID"] for r in payments} == paid


def test_keys_that_are_no_xero_id_name_nothing_and_break_nothing(xero: XeroConnector) -> None:
    """A hostile or mistyped id is not sent into a ``where`` (Xero would refuse the query)."""
    contact = next(iter(xero.read_changes("Contacts", None))).records[0]
    keys = ['x") OR (1==1', "", "not-a-guid", contact["ContactID"]]
    got = [r for page in xero.read_keys("Contacts", keys) for r in page.records]
    assert [r["ContactID"] for r in got] == [contact["ContactID"]]
    assert not [r for p in xero.read_keys("Payments", keys[:3], field="Invoice.InvoiceID")
                for r in p.records]  # fmt: skip
