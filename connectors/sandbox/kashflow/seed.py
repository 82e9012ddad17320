"""The KashFlow sandbox's demo company: its nominal codes, bank accounts and
products, hundreds of plausible customers and invoices (some paid), and the three
records that fail the way real data does (see the ``app`` docstring).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors.sandbox.kashflow.schema import new_customer, new_invoice, stamp_at

if TYPE_CHECKING:
    from connectors.sandbox.kashflow.app import KashFlowSandbox

SEED_EPOCH = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)


NOMINAL_CODES = [
    (1200, "Bank Current Account", "Bank"),
    (1210, "Bank Deposit Account", "Bank"),
    (1230, "Petty Cash", "Bank"),
    (4000, "Sales - Products", "Sales"),
    (4010, "Sales - Services", "Sales"),
    (4020, "Consultancy Fees", "Sales"),
    (4030, "Maintenance Contracts", "Sales"),
    (4040, "Training", "Sales"),
    (4900, "Other Income", "Sales"),
    (5000, "Cost of Sales", "Expense"),
    (7100, "Rent and Rates", "Expense"),
    (7500, "Office Costs", "Expense"),
]


BANK_ACCOUNTS = [
    {"Id": 1, "Code": 1200, "Name": "Current Account"},
    {"Id": 2, "Code": 1210, "Name": "Deposit Account"},
    {"Id": 3, "Code": 1230, "Name": "Petty Cash"},
]


_NAME_FIRST = [
    "Shaw",
    "Abbott",
    "Barton",
    "Carver",
    "Dalton",
    "Ellis",
    "Fenwick",
    "Garside",
    "Hartley",
    "Ingram",
    "Jessop",
    "Kendal",
    "Lambert",
    "Marsden",
    "Norbury",
    "Oakley",
    "Pickering",
    "Quarry",
    "Redfern",
    "Sefton",
    "Thornton",
    "Upton",
    "Varley",
    "Walsh",
    "Yardley",
    "Ashworth",
    "Brindley",
    "Cheshire",
    "Dunmore",
    "Eastwood",
    "Fairburn",
    "Greaves",
    "Hallam",
]


_NAME_TRADE = [
    "Engineering",
    "Joinery",
    "Plumbing",
    "Electrical",
    "Logistics",
    "Catering",
    "Print",
    "Design",
    "Dental",
    "Veterinary",
    "Landscapes",
    "Roofing",
    "Motors",
    "Optics",
    "Bakery",
    "Brewing",
    "Textiles",
    "Software",
    "Surveying",
]


_NAME_SUFFIX = ("Ltd", "Ltd", "Ltd", "plc", "LLP", "& Sons", "Group Ltd")


_TOWNS = (
    ("Leeds", "LS1"),
    ("Bradford", "BD1"),
    ("Harrogate", "HG1"),
    ("York", "YO1"),
    ("Sheffield", "S1"),
    ("Manchester", "M1"),
    ("Preston", "PR1"),
    ("Hull", "HU1"),
)


PRODUCTS = [
    ("WIDGET-S", "Widget, small", 4.5, 4000),
    ("WIDGET-L", "Widget, large", 12.0, 4000),
    ("BRACKET", "Steel bracket", 2.75, 4000),
    ("HINGE-BR", "Brass hinge", 3.2, 4000),
    ("CABLE-10", "Cable, 10 m", 18.0, 4000),
    ("PANEL-OAK", "Oak panel", 64.0, 4000),
    ("INSTALL", "Installation, per hour", 55.0, 4010),
    ("CALLOUT", "Call-out charge", 85.0, 4010),
    ("CONSULT", "Consultancy, per day", 650.0, 4020),
    ("SUPPORT-M", "Support contract, monthly", 120.0, 4030),
    ("TRAIN-D", "Training, per delegate day", 295.0, 4040),
    ("DELIVERY", "Delivery", 15.0, 4900),
]


def _company(rng: random.Random) -> str:
    return f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_TRADE)} {rng.choice(_NAME_SUFFIX)}"


def seed_company(app: KashFlowSandbox, rng: random.Random) -> None:
    """Hundreds of plausible records, plus the three that fail like real data does."""
    base = SEED_EPOCH.timestamp()
    for _ in range(int(app.settings["customers"]) - 3):
        _customer(app, rng, _company(rng), base - rng.randint(1, 360) * 86400.0)
    _customer(app, rng, "Holloway Joinery Ltd", base - 200 * 86400.0, "HOL01")
    _customer(app, rng, "Holloway Joinery Ltd", base - 20 * 86400.0, "HOL02")
    nameless = new_customer("NON01", base - 90 * 86400.0)
    nameless["Note"] = "Imported from the old system; name missing."
    app.customers["NON01"] = nameless
    codes = sorted(code for code in app.customers if code != "NON01")
    count = int(app.settings["invoices"])
    for number in range(1000, 1000 + count):
        issued = base - (count - (number - 1000)) * 0.9 * 86400
        invoice = new_invoice(number, issued)
        invoice["CustomerCode"] = rng.choice(codes)
        invoice["CustomerReference"] = f"PO-{rng.randint(10000, 99999)}"
        products = rng.sample(sorted(app.products), rng.randint(1, 4))
        app._invoice_fields(
            invoice,
            {"LineItems": [{"ProductCode": p, "Quantity": rng.randint(1, 12)} for p in products]},
        )
        invoice["LastUpdatedDate"] = stamp_at(issued + 3600)
        app.invoices[number] = invoice
        share = rng.random()
        if share < 0.6:
            amount = invoice["GrossAmount"] if share < 0.45 else math.floor(share * 100)
            paid = issued + rng.randint(5, 40) * 86400
            app._pay(
                invoice,
                {"AccountId": 1, "Method": 3, "Comment": "Seeded"},
                stamp_at(paid),
                {"Amount": min(amount, invoice["GrossAmount"])},
            )
            invoice["LastUpdatedDate"] = stamp_at(paid)
    ghost = app.invoices[1000 + count - 1]
    ghost["CustomerCode"], ghost["CustomerName"] = "GHO01", "Ghost Fittings Ltd"


def _customer(
    app: KashFlowSandbox, rng: random.Random, name: str, created: float, code: str = ""
) -> None:
    code = code or app._new_code(name)
    customer = new_customer(code, created)
    town, postcode = rng.choice(_TOWNS)
    first, last = rng.choice(("Sam", "Priya", "Tom", "Aisha", "Gareth", "Mei")), name.split()[0]
    customer.update(
        Name=name,
        DisplayName=name,
        VatNumber=f"GB{rng.randint(100000000, 999999999)}" if rng.random() < 0.6 else "",
        Contacts=[
            {
                "FirstName": first,
                "LastName": last,
                "Email": f"{first.lower()}@{last.lower()}.example.co.uk",
                "Telephone": f"0113 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            }
        ],
        Addresses=[
            {
                "Line1": f"{rng.randint(1, 180)} {rng.choice(('Mill', 'Park', 'Station'))} Road",
                "Line2": "",
                "Line3": town,
                "Line4": "",
                "PostCode": f"{postcode} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}Q",
                "CountryName": "United Kingdom",
            }
        ],
        LastUpdatedDate=stamp_at(created + rng.randint(0, 30) * 86400),
    )
    app.customers[code] = customer
