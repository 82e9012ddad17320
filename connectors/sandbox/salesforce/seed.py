"""The demo org: price books, products, Accounts, Contacts and Opportunities stamped
over 90 days, plus the records that fail the way real ones do (``SEED_FACTS``).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from connectors.sandbox.salesforce.schema import SCHEMA, STAGES, sf_datetime

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp

SEED_FACTS = {
    "closed_won_zero_amount": "Opportunity ExternalID__c OPP-0999 'Brightwell annual support "
    "renewal': StageName Closed Won, Amount 0, no line items (predates the validation rule, "
    "so any update of it fails FIELD_CUSTOM_VALIDATION_EXCEPTION)",
    "account_missing_kashflow_fields": "Account ExternalID__c CUST9001 'Harbour & Quay "
    "Logistics': no AccountNumber, BillingStreet, BillingPostalCode or Phone",
    "accounts_colliding_external_id": "Accounts 'Northwind Traders Ltd' (NWT001) and "
    "'Northwind Traders (Leeds)' (nwt001): one external ID, case-insensitively",
    "bulk_import_ties": "50 Accounts share one SystemModstamp (a data-loader import)",
}


_COMPANIES = (
    "Acme",
    "Brightwell",
    "Calder",
    "Dunmore",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Hartfield",
    "Ivybridge",
    "Juniper",
    "Kestrel",
    "Larkspur",
    "Marlow",
    "Newbury",
    "Oakhurst",
    "Penrose",
    "Quarry Hill",
    "Redcliffe",
    "Stanton",
    "Thornbury",
    "Upton",
    "Westbrook",
    "Yarrow",
    "Zenith",
)


_SUFFIXES = ("Ltd", "Supplies", "Engineering", "Foods", "Retail", "Holdings")


_CITIES = (
    ("Leeds", "LS1 4AP"),
    ("Bristol", "BS1 5TR"),
    ("Manchester", "M2 3HN"),
    ("York", "YO1 7HH"),
)


_FIRST = ("Amelia", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack")


_LAST = ("Patel", "Smith", "Jones", "Khan", "Taylor", "Brown", "Evans", "Walsh", "Wright")


def seed_org(app: SalesforceApp) -> None:
    """Hundreds of realistic records, stamped over 90 days, plus the ones that fail (SEED_FACTS)."""
    rng = random.Random(app.options.get("seed", 1))
    start = app.now() - 90 * 86_400
    user_id = app.users[next(iter(app.users))]["id"]

    def put(sobject: str, moment: float, **values: Any) -> dict[str, Any]:
        stamp = sf_datetime(moment)
        record: dict[str, Any] = {f.name: None for f in SCHEMA[sobject][1]}
        record.update(
            values,
            Id=app.new_id(sobject),
            IsDeleted=False,
            CreatedDate=stamp,
            CreatedById=user_id,
            LastModifiedDate=stamp,
            LastModifiedById=user_id,
            SystemModstamp=stamp,
        )
        app.data[sobject][record["Id"]] = record
        return record

    standard = put("Pricebook2", start, Name="Standard Price Book", IsActive=True, IsStandard=True)
    trade = put("Pricebook2", start, Name="Trade 2026", IsActive=True, IsStandard=False)
    entries: list[dict[str, Any]] = []
    for n in range(1, 41):
        family = ("Hardware", "Software", "Services")[n % 3]
        product = put(
            "Product2",
            start + n * 60,
            Name=f"{family} item {n:02d}",
            ProductCode=f"PRD-{n:04d}",  # orgs keep the code and its external id alike
            Family=family,
            IsActive=True,
            ExternalID__c=f"PRD-{n:04d}",
        )
        price = float(rng.choice((25, 49.5, 120, 310, 899)))
        for book, amount in ((standard, price), (trade, round(price * 0.9, 2))):
            if book is trade and n > 30:
                continue
            entries.append(
                put(
                    "PricebookEntry",
                    start + n * 60,
                    Pricebook2Id=book["Id"],
                    Product2Id=product["Id"],
                    UnitPrice=amount,
                    IsActive=True,
                    UseStandardPrice=False,
                    Name=product["Name"],
                    ProductCode=product["ProductCode"],
                )
            )
    accounts = []
    import_moment = start + 5 * 86_400  # one data-loader run stamped 50 Accounts alike
    for n in range(1, 151):
        city, postcode = _CITIES[n % len(_CITIES)]
        moment = import_moment if n <= 50 else start + rng.uniform(6, 89) * 86_400
        accounts.append(
            put(
                "Account",
                moment,
                Name=f"{_COMPANIES[n % len(_COMPANIES)]} {_SUFFIXES[n % len(_SUFFIXES)]} {n}",
                AccountNumber=f"ACC-{10000 + n}",
                Type="Customer",
                Industry="Retail",
                Phone=f"0113 496 {n:04d}",
                BillingStreet=f"{n} Market Street",
                BillingCity=city,
                BillingPostalCode=postcode,
                BillingCountry="United Kingdom",
                ExternalID__c=f"CUST{n:04d}" if n <= 120 else None,
            )
        )
    late = app.now() - 3_600
    put(
        "Account",
        late,
        Name="Harbour & Quay Logistics",
        Type="Customer",
        BillingCity="Hull",
        BillingCountry="United Kingdom",
        ExternalID__c="CUST9001",
    )
    for name, ext in (("Northwind Traders Ltd", "NWT001"), ("Northwind Traders (Leeds)", "nwt001")):
        accounts.append(
            put(
                "Account",
                late + 60,
                Name=name,
                AccountNumber=f"ACC-{ext}",
                Phone="0113 496 0000",
                BillingStreet="1 Wharf Road",
                BillingCity="Leeds",
                BillingPostalCode="LS2 7EH",
                BillingCountry="United Kingdom",
                ExternalID__c=ext,
            )
        )
    contact_number = 0
    for account in accounts:
        for _ in range(rng.randint(1, 3)):
            contact_number += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            put(
                "Contact",
                app.now() - rng.uniform(1, 80) * 86_400,
                AccountId=account["Id"],
                FirstName=first,
                LastName=last,
                Email=f"{first}.{last}{contact_number}@example.co.uk".lower(),
                ExternalID__c=f"CON-{contact_number:05d}",
            )
    trade_entries = [e for e in entries if e["Pricebook2Id"] == trade["Id"]]
    for n in range(1, 201):
        account = accounts[n % len(accounts)]
        stage = STAGES[n % len(STAGES)]
        moment = app.now() - rng.uniform(1, 60) * 86_400
        opportunity = put(
            "Opportunity",
            moment,
            Name=f"{account['Name']} order {n}",
            AccountId=account["Id"],
            StageName=stage,
            CloseDate=(date.today() + timedelta(days=rng.randint(-30, 60))).isoformat(),
            Probability=100.0 if stage == "Closed Won" else 0.0 if stage == "Closed Lost" else 50.0,
            IsClosed=stage.startswith("Closed"),
            IsWon=stage == "Closed Won",
            Pricebook2Id=trade["Id"],
            ExternalID__c=f"OPP-{n:04d}",
            Amount=0.0,
        )
        total = 0.0
        for entry in rng.sample(trade_entries, rng.randint(1, 4)):
            quantity = float(rng.randint(1, 20))
            line_total = round(quantity * entry["UnitPrice"], 2)
            total += line_total
            put(
                "OpportunityLineItem",
                moment,
                OpportunityId=opportunity["Id"],
                PricebookEntryId=entry["Id"],
                Product2Id=entry["Product2Id"],
                ProductCode=entry["ProductCode"],
                Name=f"{opportunity['Name']} {entry['Name']}",
                Quantity=quantity,
                UnitPrice=entry["UnitPrice"],
                ListPrice=entry["UnitPrice"],
                TotalPrice=line_total,
            )
        opportunity["Amount"] = round(total, 2)
    put(
        "Opportunity",
        late + 120,
        Name="Brightwell annual support renewal",
        AccountId=accounts[1]["Id"],
        StageName="Closed Won",
        CloseDate=date.today().isoformat(),
        Amount=0.0,
        Probability=100.0,
        IsClosed=True,
        IsWon=True,
        ExternalID__c="OPP-0999",
    )
