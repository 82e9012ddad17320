"""Demo data for the Xero sandbox: a UK chart of accounts, VAT rates, contacts, items.

Generated from word lists with a seeded ``random.Random``, so every run of a
given seed holds the same organisation and tests can rely on it.
"""

from __future__ import annotations

import random
from typing import Any

# (Code, Name, Type, TaxType); bank accounts get BankAccountNumber too.
ACCOUNTS: list[tuple[str, str, str, str]] = [
    ("090", "Business Bank Account", "BANK", "NONE"),
    ("091", "Business Savings Account", "BANK", "NONE"),
    ("092", "Company Credit Card", "BANK", "NONE"),
    ("200", "Sales", "REVENUE", "OUTPUT2"),
    ("260", "Other Revenue", "REVENUE", "OUTPUT2"),
    ("270", "Interest Income", "REVENUE", "NONE"),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2"),
    ("320", "Direct Wages", "DIRECTCOSTS", "NONE"),
    ("400", "Advertising", "EXPENSE", "INPUT2"),
    ("404", "Bank Fees", "EXPENSE", "NONE"),
    ("408", "Cleaning", "EXPENSE", "INPUT2"),
    ("412", "Consulting & Accounting", "EXPENSE", "INPUT2"),
    ("416", "Depreciation", "EXPENSE", "NONE"),
    ("420", "Entertainment", "EXPENSE", "INPUT2"),
    ("425", "Freight & Courier", "EXPENSE", "INPUT2"),
    ("429", "General Expenses", "EXPENSE", "INPUT2"),
    ("433", "Insurance", "EXPENSE", "EXEMPTINPUT"),
    ("437", "Interest Expense", "EXPENSE", "NONE"),
    ("441", "Legal Expenses", "EXPENSE", "INPUT2"),
    ("445", "Light, Power, Heating", "EXPENSE", "INPUT2"),
    ("449", "Motor Vehicle Expenses", "EXPENSE", "INPUT2"),
    ("453", "Office Expenses", "EXPENSE", "INPUT2"),
    ("461", "Printing & Stationery", "EXPENSE", "INPUT2"),
    ("469", "Rent", "EXPENSE", "INPUT2"),
    ("473", "Repairs and Maintenance", "EXPENSE", "INPUT2"),
    ("477", "Salaries", "EXPENSE", "NONE"),
    ("485", "Subscriptions", "EXPENSE", "INPUT2"),
    ("489", "Telephone & Internet", "EXPENSE", "INPUT2"),
    ("493", "Travel - National", "EXPENSE", "INPUT2"),
    ("494", "Travel - International", "EXPENSE", "ZERORATEDINPUT"),
    ("610", "Accounts Receivable", "CURRENT", "NONE"),
    ("620", "Prepayments", "CURRENT", "NONE"),
    ("630", "Inventory", "INVENTORY", "NONE"),
    ("710", "Office Equipment", "FIXED", "INPUT2"),
    ("720", "Computer Equipment", "FIXED", "INPUT2"),
    ("800", "Accounts Payable", "CURRLIAB", "NONE"),
    ("820", "VAT", "CURRLIAB", "NONE"),
    ("825", "PAYE Payable", "CURRLIAB", "NONE"),
    ("840", "Historical Adjustment", "CURRLIAB", "NONE"),
    ("877", "Tracking Transfers", "CURRLIAB", "NONE"),
    ("900", "Loan", "TERMLIAB", "NONE"),
    ("960", "Retained Earnings", "EQUITY", "NONE"),
    ("970", "Owner A Funds Introduced", "EQUITY", "NONE"),
]

SYSTEM_ACCOUNTS = {"610": "DEBTORS", "800": "CREDITORS", "820": "GST", "840": "HISTORICAL"}

ACCOUNT_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "INVENTORY": "ASSET",
    "FIXED": "ASSET",
    "REVENUE": "REVENUE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "CURRLIAB": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
}

# (Name, TaxType, rate %, ReportTaxType, applies to revenue?)
TAX_RATES: list[tuple[str, str, float, str, bool]] = [
    ("20% (VAT on Income)", "OUTPUT2", 20.0, "OUTPUT", True),
    ("20% (VAT on Expenses)", "INPUT2", 20.0, "INPUT", False),
    ("5% (VAT on Income)", "RROUTPUT", 5.0, "OUTPUT", True),
    ("5% (VAT on Expenses)", "RRINPUT", 5.0, "INPUT", False),
    ("Zero Rated Income", "ZERORATEDOUTPUT", 0.0, "OUTPUT", True),
    ("Zero Rated Expenses", "ZERORATEDINPUT", 0.0, "INPUT", False),
    ("Exempt Income", "EXEMPTOUTPUT", 0.0, "OUTPUT", True),
    ("Exempt Expenses", "EXEMPTINPUT", 0.0, "INPUT", False),
    ("No VAT", "NONE", 0.0, "NONE", True),
    ("20% (VAT on Capital Purchases)", "CAPEXINPUT2", 20.0, "INPUT", False),
    ("EC Acquisitions (20%)", "ECACQUISITIONS", 20.0, "INPUT", False),
    ("Reverse Charge Expenses (20%)", "REVERSECHARGES", 20.0, "INPUT", False),
]

_FIRST = [
    "Amber",
    "Anchor",
    "Apex",
    "Arbour",
    "Ashford",
    "Atlas",
    "Beacon",
    "Birch",
    "Bluebell",
    "Bramble",
    "Bridge",
    "Bright",
    "Castle",
    "Cedar",
    "Chalk",
    "Cobalt",
    "Copper",
    "Crown",
    "Dale",
    "Delta",
    "Dover",
    "Eagle",
    "Elm",
    "Fern",
    "Forge",
    "Fox",
    "Granite",
    "Harbour",
    "Hazel",
    "Heron",
    "Highland",
    "Iron",
    "Ivy",
    "Juniper",
    "Kestrel",
    "Lark",
    "Linden",
    "Maple",
    "Meadow",
    "Mill",
    "Moor",
    "Northgate",
    "Oak",
    "Orchard",
    "Pennine",
    "Pine",
    "Quarry",
    "Raven",
    "Ridge",
    "River",
    "Rowan",
    "Saxon",
    "Severn",
    "Silver",
    "Slate",
    "Sterling",
    "Stone",
    "Thames",
    "Thistle",
    "Tudor",
    "Vale",
    "Willow",
    "Wren",
    "Yew",
]
_TRADE = [
    "Joinery",
    "Logistics",
    "Catering",
    "Engineering",
    "Print",
    "Plumbing",
    "Electrical",
    "Bakery",
    "Brewing",
    "Consulting",
    "Design",
    "Textiles",
    "Motors",
    "Hardware",
    "Interiors",
    "Landscaping",
    "Media",
    "Pharmacy",
    "Roofing",
    "Timber",
    "Windows",
    "Coffee",
    "Dairy",
    "Foods",
    "Fabrication",
    "Glass",
    "Packaging",
    "Security",
    "Software",
    "Surveys",
]
_SUFFIX = ["Ltd", "Limited", "& Co", "Group", "Trading", "Partners", "Supplies", "Services"]
_CITIES = [
    ("London", "EC1A 1BB"),
    ("Manchester", "M1 1AE"),
    ("Birmingham", "B1 1AA"),
    ("Leeds", "LS1 4AP"),
    ("Bristol", "BS1 4DJ"),
    ("Glasgow", "G1 1XQ"),
    ("Edinburgh", "EH1 1YZ"),
    ("Cardiff", "CF10 1AA"),
    ("Newcastle upon Tyne", "NE1 4ST"),
    ("Nottingham", "NG1 5FS"),
    ("Sheffield", "S1 2HE"),
    ("Norwich", "NR2 1NR"),
]
_STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Victoria Street",
    "Market Place",
    "Park Avenue",
    "King Street",
    "Queens Road",
    "Bridge Street",
]
_PRODUCTS = [
    "Bracket",
    "Hinge",
    "Valve",
    "Gasket",
    "Bearing",
    "Sprocket",
    "Coupling",
    "Flange",
    "Bolt",
    "Washer",
    "Cable",
    "Sensor",
    "Filter",
    "Pump",
    "Motor",
    "Panel",
    "Switch",
    "Relay",
    "Fuse",
    "Lamp",
    "Tape",
    "Glue",
    "Paint",
    "Primer",
    "Sealant",
    "Brush",
    "Roller",
    "Ladder",
    "Drill",
    "Saw",
]
_FINISH = ["Steel", "Brass", "Nylon", "Oak", "Chrome", "Copper", "Black", "White", "Heavy Duty"]


def company_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(_FIRST)} {rng.choice(_TRADE)} {rng.choice(_SUFFIX)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def contact_payloads(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Contacts as a client would PUT them (the sandbox adds ids and dates)."""
    contacts = []
    for n, name in enumerate(company_names(rng, count), start=1):
        city, postcode = rng.choice(_CITIES)
        first = rng.choice(["Alex", "Sam", "Priya", "Tom", "Aisha", "Jo", "Chris", "Mei", "Owen"])
        last = rng.choice(["Smith", "Patel", "Jones", "Taylor", "Khan", "Evans", "Brown", "Wilson"])
        domain = name.split()[0].lower() + name.split()[1].lower() + ".co.uk"
        contacts.append(
            {
                "Name": name,
                "ContactNumber": f"CUST-{n:04d}",
                "AccountNumber": f"A{n:05d}",
                "FirstName": first,
                "LastName": last,
                "EmailAddress": f"{first.lower()}.{last.lower()}@{domain}",
                "IsCustomer": n % 5 != 0,
                "IsSupplier": n % 5 == 0,
                "DefaultCurrency": "GBP",
                "Addresses": [
                    {
                        "AddressType": "STREET",
                        "AddressLine1": f"{rng.randint(1, 240)} {rng.choice(_STREETS)}",
                        "City": city,
                        "PostalCode": postcode,
                        "Country": "United Kingdom",
                    }
                ],
                "Phones": [
                    {
                        "PhoneType": "DEFAULT",
                        "PhoneCountryCode": "44",
                        "PhoneAreaCode": "0" + str(rng.randint(113, 191)),
                        "PhoneNumber": str(rng.randint(2000000, 9999999)),
                    }
                ],
            }
        )
    return contacts


def item_payloads(rng: random.Random, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(items) < count:
        name = f"{rng.choice(_FINISH)} {rng.choice(_PRODUCTS)}"
        size = rng.choice(["S", "M", "L", "XL", "10mm", "25mm", "50mm"])
        full = f"{name} {size}"
        if full in seen:
            continue
        seen.add(full)
        price = round(rng.uniform(1.5, 250.0), 2)
        items.append(
            {
                "Code": f"ITM-{len(items) + 1:04d}",
                "Name": full,
                "Description": f"{full}, sold each",
                "IsSold": True,
                "IsPurchased": True,
                "SalesDetails": {"UnitPrice": price, "AccountCode": "200", "TaxType": "OUTPUT2"},
                "PurchaseDetails": {
                    "UnitPrice": round(price * 0.6, 2),
                    "AccountCode": "310",
                    "TaxType": "INPUT2",
                },
            }
        )
    return items
