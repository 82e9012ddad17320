"""KashFlow's records as the API shows them: a new customer and a new invoice with
every field KashFlow fills in, the fields of a list's summaries, line-item names
in their REST and SOAP spellings, payment methods, and how times and money are
written.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.sandbox.core import Response

Record = dict[str, Any]


# Canonical (REST) line-item names and their SOAP spellings.
LINE_NAMES_SOAP = {
    "VATRate": "VatRate",
    "VATAmount": "VatAmount",
    "NominalCode": "ChargeType",
    "ProductCode": "ProductID",
}


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


CENT = Decimal("0.01")


CUSTOMER_SUMMARY_FIELDS = [
    "Code",
    "Name",
    "DisplayName",
    "Source",
    "CreatedDate",
    "LastUpdatedDate",
    "IsRegisteredInEC",
    "IsRegisteredOutsideEC",
    "Note",
    "DiscountRate",
    "ShowDiscount",
    "VatNumber",
    "AutoIncludeVATNumber",
    "TotalPaidAmount",
    "InvoicedNetAmount",
    "InvoicedVATAmount",
    "UseCustomDeliveryAddress",
    "ReceivesWholesalePricing",
]


INVOICE_DETAIL_ONLY = ("LineItems", "PaymentLines", "Currency")


PAYMENT_METHODS = {1: "Cash", 2: "Cheque", 3: "BACS", 4: "Card", 5: "Direct Debit"}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def json_response_body(response: Response) -> Record:
    body: Record = json.loads(response.body)
    return body


def stamp_at(epoch: float) -> str:
    return stamp(datetime.fromtimestamp(epoch, UTC))


def new_customer(code: str, now: float) -> Record:
    created = stamp_at(now)
    return {
        "Code": code,
        "Name": "",
        "DisplayName": "",
        "Source": 0,
        "CreatedDate": created,
        "LastUpdatedDate": created,
        "IsRegisteredInEC": False,
        "IsRegisteredOutsideEC": False,
        "Note": "",
        "DiscountRate": 0.0,
        "ShowDiscount": False,
        "VatNumber": "",
        "AutoIncludeVATNumber": False,
        "TotalPaidAmount": 0.0,
        "InvoicedNetAmount": 0.0,
        "InvoicedVATAmount": 0.0,
        "UseCustomDeliveryAddress": False,
        "ReceivesWholesalePricing": False,
        "Contacts": [],
        "Addresses": [],
        "DeliveryAddresses": [],
        "PaymentTerms": {"Days": 30, "Type": "DaysAfterInvoice"},
        "Currency": {"Code": "GBP", "Name": "Pound Sterling", "ExchangeRate": 1.0},
    }


def new_invoice(number: int, now: float) -> Record:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0)
    return {
        "Number": number,
        "IssuedDate": stamp(today),
        "DueDate": stamp(today + timedelta(days=30)),
        "LastPaymentDate": None,
        "CustomerCode": "",
        "CustomerName": "",
        "NetAmount": 0.0,
        "VATAmount": 0.0,
        "GrossAmount": 0.0,
        "TotalPaidAmount": 0.0,
        "HomeCurrencyGrossAmount": 0.0,
        "CustomerReference": "",
        "VATNumber": "",
        "Currency": {"Code": "GBP", "Name": "Pound Sterling", "ExchangeRate": 1.0},
        "LineItems": [],
        "PaymentLines": [],
        "Discount": {"Rate": 0.0, "Value": 0.0},
        "Address": None,
        "Permalink": f"https://app.kashflow.com/invoice/{uuid.UUID(int=number)}",
        "LastUpdatedDate": stamp_at(now),
    }
