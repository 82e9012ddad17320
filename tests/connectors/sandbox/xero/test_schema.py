"""Xero's rules on one organisation's records, through the sandbox's API: the invoice
lifecycle Xero enforces, and the values it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer


def url(server: SandboxServer, path: str) -> str:
    return f"{server.url}/api.xro/2.0/{path}"


def contact_id(server: SandboxServer, api: requests.Session) -> str:
    return api.get(url(server, "Contacts"), timeout=10).json()["Contacts"][0]["ContactID"]


def write(
    server: SandboxServer,
    api: requests.Session,
    entity: str,
    element: dict[str, Any],
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    answer = api.request(method, url(server, entity), json={entity: [element]}, timeout=10)
    body = answer.json()
    return answer.status_code, (
        body[entity][0] if answer.status_code == 200 else body["Elements"][0]
    )


def messages(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


def new_invoice(
    server: SandboxServer, api: requests.Session, status: str, amount: float = 100
) -> dict[str, Any]:
    status_code, saved = write(
        server,
        api,
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id(server, api)},
            "Status": status,
            "LineItems": [
                {
                    "Description": "Work",
                    "Quantity": 1,
                    "UnitAmount": amount,
                    "AccountCode": "200",
                    "TaxType": "NONE",
                }
            ],
        },
        "PUT",
    )
    assert status_code == 200, saved
    return saved


def pay(
    server: SandboxServer, api: requests.Session, invoice: dict[str, Any], amount: float
) -> None:
    status, saved = write(
        server,
        api,
        "Payments",
        {
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Account": {"Code": "090"},
            "Amount": amount,
        },
        "PUT",
    )
    assert status == 200, saved


# -- the invoice lifecycle -------------------------------------------------------------


@pytest.mark.parametrize("to", ["DELETED", "DRAFT", "SUBMITTED"])
def test_an_authorised_invoice_cannot_be_deleted_or_sent_back(
    xero_module_server: SandboxServer, xero_api: requests.Session, to: str
) -> None:
    server = xero_module_server
    invoice = new_invoice(server, xero_api, "AUTHORISED")
    status, refused = write(
        server, xero_api, "Invoices", {"InvoiceID": invoice["InvoiceID"], "Status": to}
    )
    assert status == 400
    assert any(
        m.startswith("Invoice not of valid status for modification") for m in messages(refused)
    )
    kept = xero_api.get(url(server, f"Invoices/{invoice['InvoiceID']}"), timeout=10).json()[
        "Invoices"
    ][0]
    assert kept["Status"] == "AUTHORISED"


def test_an_authorised_invoice_is_voided_and_a_draft_one_deleted(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server = xero_module_server
    authorised = new_invoice(server, xero_api, "AUTHORISED")
    draft = new_invoice(server, xero_api, "DRAFT")
    assert (
        write(
            server, xero_api, "Invoices", {"InvoiceID": authorised["InvoiceID"], "Status": "VOIDED"}
        )[1]["Status"]
        == "VOIDED"
    )
    assert (
        write(server, xero_api, "Invoices", {"InvoiceID": draft["InvoiceID"], "Status": "DELETED"})[
            1
        ]["Status"]
        == "DELETED"
    )
    status, refused = write(
        server,
        xero_api,
        "Invoices",
        {"InvoiceID": new_invoice(server, xero_api, "DRAFT")["InvoiceID"], "Status": "VOIDED"},
    )
    assert status == 400 and "delete a draft invoice" in messages(refused)[0]


def test_a_part_paid_invoice_keeps_its_lines_and_cannot_be_voided(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server = xero_module_server
    invoice = new_invoice(server, xero_api, "AUTHORISED")
    pay(server, xero_api, invoice, 40)
    lines = [{"Description": "More work", "Quantity": 2, "UnitAmount": 100, "AccountCode": "200"}]
    has_payments = (
        "This document cannot be edited as it has a payment or credit note allocated to it."
    )

    edit = write(
        server, xero_api, "Invoices", {"InvoiceID": invoice["InvoiceID"], "LineItems": lines}
    )
    void = write(
        server, xero_api, "Invoices", {"InvoiceID": invoice["InvoiceID"], "Status": "VOIDED"}
    )
    reference = write(
        server, xero_api, "Invoices", {"InvoiceID": invoice["InvoiceID"], "Reference": "PO-9"}
    )

    assert edit[0] == void[0] == 400
    assert has_payments in messages(edit[1]) and has_payments in messages(void[1])
    assert reference[0] == 200 and reference[1]["AmountPaid"] == 40.0  # other fields still edit
    kept = xero_api.get(url(server, f"Invoices/{invoice['InvoiceID']}"), timeout=10).json()[
        "Invoices"
    ][0]
    assert (kept["Status"], kept["Total"], kept["AmountDue"]) == ("AUTHORISED", 100.0, 60.0)


# -- values Xero refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"LineAmountTypes": "Gross"},
            "LineAmountTypes 'Gross' is not a valid value: use one of Exclusive, Inclusive, NoTax.",
        ),
        ({"CurrencyCode": "XYZ"}, "CurrencyCode 'XYZ' is not a valid value."),
        ({"CurrencyCode": 826}, "CurrencyCode '826' is not a valid value."),
        (
            {"Status": "PENDING"},
            "Status 'PENDING' is not a valid value: use one of DRAFT, SUBMITTED, DELETED, "
            "AUTHORISED, PAID, VOIDED.",
        ),
        (
            {"Contact": {"Name": "A", "ContactNumber": "N" * 51}},
            "Contact.ContactNumber must be 50 characters or fewer.",
        ),
        ({"InvoiceNumber": "I" * 256}, "InvoiceNumber must be 255 characters or fewer."),
        (
            {"LineItems": [{"Description": "x", "Quantity": "lots", "UnitAmount": 1}]},
            "LineItems[0].Quantity 'lots' is not a valid number.",
        ),
        (
            {"LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": "NaN"}]},
            "LineItems[0].UnitAmount 'NaN' is not a valid number.",
        ),
        (
            {"LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1e300}]},
            "LineItems[0].UnitAmount '1e+300' is not a valid number.",
        ),
        ({"SentToContact": "yes"}, "SentToContact must be true or false."),
        (
            {"BrandingThemeID": "not-a-guid"},
            "BrandingThemeID 'not-a-guid' is not a valid identifier.",
        ),
        ({"DueDate": "2026-04-31"}, "DueDate '2026-04-31' is not a valid date: use YYYY-MM-DD."),
        (
            {
                "LineItems": [
                    {
                        "Description": "Refund",
                        "Quantity": 1,
                        "UnitAmount": -50,
                        "AccountCode": "200",
                    }
                ]
            },
            "The invoice total must be zero or more: raise a credit note instead.",
        ),
    ],
)
def test_an_invoice_value_xero_refuses_is_refused_with_its_field_named(
    xero_module_server: SandboxServer,
    xero_api: requests.Session,
    fields: dict[str, Any],
    expected: str,
) -> None:
    server = xero_module_server
    element = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id(server, xero_api)},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}],
        **fields,
    }
    before = len(xero_api.get(url(server, "Invoices"), timeout=10).json()["Invoices"])
    status, refused = write(server, xero_api, "Invoices", element, "PUT")
    assert status == 400
    assert expected in messages(refused)
    assert len(xero_api.get(url(server, "Invoices"), timeout=10).json()["Invoices"]) == before


def test_a_negative_bill_is_accepted_only_sales_invoices_must_not_be_negative(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server = xero_module_server
    element = {
        "Type": "ACCPAY",
        "Contact": {"ContactID": contact_id(server, xero_api)},
        "LineItems": [
            {"Description": "Refund", "Quantity": 1, "UnitAmount": -50, "AccountCode": "400"}
        ],
    }
    assert write(server, xero_api, "Invoices", element, "PUT")[0] == 200


def test_a_contact_number_over_50_characters_is_refused(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    status, refused = write(
        xero_module_server,
        xero_api,
        "Contacts",
        {"Name": "Long Number Ltd", "ContactNumber": "C" * 51},
        "PUT",
    )
    assert status == 400
    assert messages(refused) == ["ContactNumber must be 50 characters or fewer."]


def test_manual_journal_lines_carry_their_account_id(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server = xero_module_server
    accounts = {
        a["Code"]: a["AccountID"]
        for a in xero_api.get(url(server, "Accounts"), timeout=10).json()["Accounts"]
    }
    status, journal = write(
        server,
        xero_api,
        "ManualJournals",
        {
            "Narration": "Accrual",
            "JournalLines": [
                {"LineAmount": 25, "AccountCode": "400"},
                {"LineAmount": -25, "AccountID": accounts["200"]},
            ],
        },
        "PUT",
    )
    assert status == 200, journal
    assert [(line["AccountCode"], line["AccountID"]) for line in journal["JournalLines"]] == [
        ("400", accounts["400"]),
        ("200", accounts["200"]),
    ]
