"""Salesforce ↔ KashFlow use cases 6 to 9, end to end: the shipped template imported, real RQ
workers, Redis and PostgreSQL, both sandboxes over HTTP on loopback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clarity.models import RecordStatus, SyncRecord
from clarity.services.ledger import ledger_records_retry_code
from mappings.models import LookupEntry, LookupTable
from mappings.services import lookup_tables_touch
from tests.usecases.sf_kf_fixtures import (
    ACCOUNTS,
    CUSTOMERS_TO_ACCOUNTS,
    CUSTOMERS_TO_CONTACTS,
    INVOICES,
    PRICES,
    PRODUCTS,
    SF_PRICES,
    SF_PRODUCTS,
    WRITE_BACK,
    sf_kf,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


def new_won_opportunity(uc) -> str:
    """A new customer in Salesforce (Account + Contact) and an Opportunity it just won."""
    sf = uc.sf()
    account = sf.write_batch(
        "Account",
        [
            {
                "ExternalID__c": "NEWCO1",
                "Name": "Newco Fabrication Ltd",
                "Phone": "0113 555 0101",
                "BillingStreet": "Unit 4\nCanal Wharf",
                "BillingCity": "Leeds",
                "BillingPostalCode": "LS11 5QN",
                "BillingCountry": "United Kingdom",
            }
        ],
    )[0]
    assert account.ok, account.message
    sf.write_batch(
        "Contact",
        [
            {
                "ExternalID__c": "CON-NEWCO1",
                "AccountId": account.target_id,
                "FirstName": "Rosa",
                "LastName": "Lindqvist",
                "Email": "rosa@newco.example",
            }
        ],
    )
    entries = uc.soql(
        "SELECT Id, Pricebook2Id, UnitPrice FROM PricebookEntry "
        "WHERE Pricebook2.Name = 'Standard Price Book' ORDER BY Id LIMIT 2"
    )
    opportunity = sf.write_batch(
        "Opportunity",
        [
            {
                "ExternalID__c": "OPP-NEW-1",
                "Name": "Newco first order",
                "AccountId": account.target_id,
                "StageName": "Negotiation/Review",
                "CloseDate": "2026-01-15",
                "Pricebook2Id": entries[0]["Pricebook2Id"],
            }
        ],
    )[0]
    assert opportunity.ok, opportunity.message
    lines = sf.write_batch(
        "OpportunityLineItem",
        [
            {"OpportunityId": opportunity.target_id, "PricebookEntryId": e["Id"], "Quantity": q}
            | {"UnitPrice": e["UnitPrice"]}
            for e, q in zip(entries, (3, 1), strict=True)
        ],
    )
    assert all(line.ok for line in lines), [line.message for line in lines]
    won = sf.write_batch("Opportunity", [{"Id": opportunity.target_id, "StageName": "Closed Won"}])[
        0
    ]
    assert won.ok, won.message
    return opportunity.target_id


def test_won_opportunity_becomes_invoice_with_customer_and_write_back(sf_kf):  # noqa: F811
    uc = sf_kf()
    opportunity_id = new_won_opportunity(uc)

    # The invoice flow polled before the customers flow ran: KashFlow has no such
    # customer yet, so the invoice fails with a message naming it, and nothing is created.
    uc.run(INVOICES)
    failed = uc.records(INVOICES, source_id=opportunity_id)[-1]
    assert failed.status == RecordStatus.FAILED
    assert failed.error_kind == "data"
    assert failed.error_code == "customer_code_not_found"
    assert "NEWCO1" in failed.message and "Create the customer in KashFlow" in failed.message
    assert uc.writes().get("kashflow", {}).get("created invoices", 0) == 0
    # Zero amount and not-won opportunities are skipped with a reason, never failed.
    zero = SyncRecord.objects.get(flow=uc.flow(INVOICES), business_key="OPP-0999")
    assert zero.status == RecordStatus.SKIPPED
    assert "Amount is zero" in zero.message
    not_won = uc.records(INVOICES, status=RecordStatus.SKIPPED)
    assert any("Only Closed Won" in r.message for r in not_won)

    # The customers flow creates the KashFlow customer from the Account and its Contact.
    uc.run(ACCOUNTS)
    customer = uc.kf().read_one("customers", "NEWCO1")
    assert customer["Name"] == "Newco Fabrication Ltd"
    assert customer["ContactName"] == "Rosa Lindqvist"
    assert customer["Contacts"][0]["FirstName"] == "Rosa"
    assert customer["Contacts"][0]["LastName"] == "Lindqvist"
    address = customer["Addresses"][0]
    assert (address["Line1"], address["Line2"], address["Line3"], address["PostCode"]) == (
        "Unit 4",
        "Canal Wharf",
        "Leeds",
        "LS11 5QN",
    )
    # An Account without a billing address fails readably; one without a code is skipped.
    harbour = SyncRecord.objects.get(flow=uc.flow(ACCOUNTS), business_key="CUST9001")
    assert harbour.status == RecordStatus.FAILED
    assert "billing address" in harbour.message
    assert uc.records(ACCOUNTS, status=RecordStatus.SKIPPED, message__contains="Not linked")

    # Retry every invoice that failed for a missing customer: now they go through.
    queued, refused = ledger_records_retry_code(
        flow=uc.flow(INVOICES), error_code="customer_code_not_found", user=None
    )
    assert queued >= 1 and refused == 0
    uc.work()
    retried = SyncRecord.objects.get(pk=failed.pk)
    assert retried.status == RecordStatus.SUCCEEDED, retried.message
    invoice = uc.kf().read_one("invoices", retried.target_id)
    assert invoice["CustomerCode"] == "NEWCO1"
    assert invoice["CustomerReference"] == opportunity_id
    assert len(invoice["LineItems"]) == 2
    assert invoice["LineItems"][0]["Quantity"] == 3
    opportunity = uc.sf().read_one("Opportunity", opportunity_id)
    assert Decimal(str(invoice["NetAmount"])) == Decimal(str(opportunity["Amount"]))
    invoiced = uc.writes()["kashflow"]["created invoices"]

    # Number and status written back to the Opportunity (matched on its Id).
    uc.run(WRITE_BACK)
    opportunity = uc.sf().read_one("Opportunity", opportunity_id)
    assert opportunity["KashFlow_Invoice_Number__c"] == str(invoice["Number"])
    assert opportunity["KashFlow_Invoice_Status__c"] == "Unpaid"
    seeded = SyncRecord.objects.filter(flow=uc.flow(WRITE_BACK), business_key="1000").first()
    assert seeded.status == RecordStatus.SKIPPED
    assert "Not raised from a Salesforce Opportunity" in seeded.message

    # Use case 7: a payment in KashFlow reaches the Opportunity on the next poll.
    paid = uc.kf().write_batch(
        "payments",
        [
            {
                "InvoiceNumber": invoice["Number"],
                "Amount": invoice["GrossAmount"],
                "Date": "2026-02-01",
            }
        ],
    )[0]
    assert paid.ok, paid.message
    uc.run(WRITE_BACK)
    opportunity = uc.sf().read_one("Opportunity", opportunity_id)
    assert opportunity["KashFlow_Invoice_Status__c"] == "Paid"
    assert opportunity["KashFlow_Amount_Paid__c"] == invoice["GrossAmount"]

    # The write-back changed the Opportunity; reading it again invoices nothing twice.
    uc.run(INVOICES)
    assert uc.writes()["kashflow"]["created invoices"] == invoiced
    again = uc.records(INVOICES, source_id=opportunity_id)[-1]
    assert again.status == RecordStatus.SKIPPED
    assert "Already invoiced" in again.message


def test_customers_both_ways_settle_without_ping_pong(sf_kf):  # noqa: F811
    uc = sf_kf()
    rounds = []
    for _ in range(3):
        # In the template's order (the order the demo runs them).
        for name in (CUSTOMERS_TO_ACCOUNTS, CUSTOMERS_TO_CONTACTS, ACCOUNTS):
            uc.run(name)
        rounds.append(uc.writes())
    first = rounds[0]
    assert first["salesforce"]["created Account"] == 40 - 1  # every seeded one but NON01
    assert first["kashflow"]["created customers"] > 100
    # After the first exchange, further runs write nothing on either side.
    assert rounds[0] == rounds[1] == rounds[2], rounds

    # KashFlow → Salesforce: upsert on ExternalID__c = customer code, name split.
    code = next(c for c in uc.kf_app.customers if c not in ("NON01",) and c[:3] != "HOL")
    kf_customer = uc.kf().read_one("customers", code)
    account = uc.soql(
        f"SELECT Id, Name, BillingCity, BillingPostalCode FROM Account WHERE ExternalID__c = '{code}'"  # noqa: E501, S608
    )
    assert len(account) == 1
    assert account[0]["Name"] == kf_customer["Name"]
    assert account[0]["BillingPostalCode"] == kf_customer["Postcode"]
    assert account[0]["BillingCity"] == kf_customer["Address3"]
    contact = uc.soql(
        f"SELECT FirstName, LastName, AccountId FROM Contact WHERE ExternalID__c = '{code}'"  # noqa: S608
    )
    assert len(contact) == 1
    first = kf_customer["Contacts"][0]
    assert (contact[0]["FirstName"], contact[0]["LastName"]) == (
        first["FirstName"],
        first["LastName"],
    )
    assert contact[0]["AccountId"] == account[0]["Id"]
    # Salesforce → KashFlow: the Account's first Contact is the customer's contact, and
    # sending it back does not create a second Salesforce Contact for the same person.
    customer = uc.kf().read_one("customers", "CUST0001")
    assert customer["ContactReference"].startswith("CON-")
    assert not uc.soql("SELECT Id FROM Contact WHERE ExternalID__c = 'CUST0001'")
    # Realistic failures, readable: a nameless KashFlow customer, a code two Accounts share.
    nameless = SyncRecord.objects.filter(
        flow=uc.flow(CUSTOMERS_TO_ACCOUNTS), business_key="NON01"
    ).latest("pk")
    assert nameless.status == RecordStatus.FAILED
    assert "Name" in nameless.message
    northwind = SyncRecord.objects.filter(
        flow=uc.flow(CUSTOMERS_TO_ACCOUNTS), business_key="NWT001"
    ).latest("pk")
    assert northwind.status == RecordStatus.FAILED
    assert "More than one Account" in northwind.message


def test_kashflow_products_reach_salesforce_with_standard_prices(sf_kf):  # noqa: F811
    uc = sf_kf()
    uc.run(PRODUCTS)
    uc.run(PRICES)
    codes = sorted(uc.kf_app.products)
    wanted = ", ".join(f"'{c}'" for c in codes)
    products = uc.soql(
        f"SELECT Id, ProductCode, IsActive FROM Product2 WHERE ExternalID__c IN ({wanted})"  # noqa: S608
    )
    assert sorted(p["ProductCode"] for p in products) == codes
    assert all(p["IsActive"] for p in products)
    prices = uc.soql(
        "SELECT UnitPrice, Product2.ProductCode FROM PricebookEntry "
        "WHERE Pricebook2.Name = 'Standard Price Book' AND Product2.ExternalID__c = 'CONSULT'"
    )
    assert [p["UnitPrice"] for p in prices] == [650.0]
    before = uc.writes()["salesforce"]
    uc.run(PRODUCTS)
    uc.run(PRICES)
    assert uc.writes()["salesforce"] == before


def test_products_both_ways_settle_and_a_new_family_is_fixed_by_its_lookup(sf_kf):  # noqa: F811
    uc = sf_kf()
    sf = uc.sf()
    # Sales made a product in Salesforce, in a family the nominal code lookup does not know.
    made = sf.write_batch(
        "Product2",
        [
            {
                "ExternalID__c": "TRAIN-ONSITE",
                "ProductCode": "TRAIN-ONSITE",
                "Name": "On-site training day",
                "Description": "One trainer, up to eight delegates",
                "Family": "Training",
                "IsActive": True,
            }
        ],
    )[0]
    [standard] = uc.soql("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    priced = sf.write_batch(
        "PricebookEntry",
        [
            {
                "Pricebook2Id": standard["Id"],
                "Product2Id": made.target_id,
                "UnitPrice": 540,
                "IsActive": True,
            }
        ],
    )[0]
    assert made.ok and priced.ok, (made.message, priced.message)
    seeded = [p for p in uc.sf_app.data["Product2"].values() if p.get("Family")]
    kashflow_made = len(uc.kf_app.products)

    rounds = []
    for _ in range(3):
        for name in (PRODUCTS, PRICES, SF_PRODUCTS, SF_PRICES):
            uc.run(name)
        rounds.append(uc.writes())
    # Each product is created once on the other side; then nothing is written either way.
    first = rounds[0]
    assert first["salesforce"]["created Product2"] == kashflow_made + 1  # + the one sales made
    assert first["kashflow"]["created products"] == len(seeded) - 1  # all but the new family
    assert "updated products" not in first["kashflow"]
    assert "updated Product2" not in first["salesforce"]
    assert rounds[0] == rounds[1] == rounds[2], rounds

    # In KashFlow: the Salesforce product under its ExternalID__c, priced from the standard book.
    sample = next(p for p in seeded if p["ExternalID__c"] != "TRAIN-ONSITE")
    kf_product = uc.kf().read_one("products", sample["ExternalID__c"])
    [entry] = uc.soql(
        "SELECT UnitPrice FROM PricebookEntry WHERE Pricebook2.IsStandard = true "  # noqa: S608
        f"AND Product2.ExternalID__c = '{sample['ExternalID__c']}'"
    )
    assert kf_product["Name"] == sample["Name"]
    assert kf_product["Price"] == entry["UnitPrice"]
    assert (
        kf_product["NominalCode"]
        == {"Hardware": 4000, "Software": 4000, "Services": 4010}[sample["Family"]]
    )
    # Products that came from KashFlow are not sent back, saying why.
    echoed = uc.records(SF_PRODUCTS, business_key="CONSULT")[-1]
    assert (
        echoed.status == RecordStatus.SKIPPED
        and "KashFlow is this product's master" in echoed.message
    )

    # The new family fails, naming it and the lookup; the consultant adds it and retries.
    training = uc.records(SF_PRODUCTS, business_key="TRAIN-ONSITE")[-1]
    assert (training.status, training.error_kind, training.error_code) == (
        RecordStatus.FAILED,
        "data",
        "lookup_missing",
    )
    assert "'Training'" in training.message
    assert "Salesforce product family → KashFlow nominal code" in training.message
    assert uc.kf().read_one("products", "TRAIN-ONSITE") is None
    table = LookupTable.objects.get(name="Salesforce product family → KashFlow nominal code")
    LookupEntry.objects.create(table=table, key="Training", value="4040")
    lookup_tables_touch(table_ids=[table.pk])
    queued, refused = ledger_records_retry_code(
        flow=uc.flow(SF_PRODUCTS), error_code="lookup_missing", user=None
    )
    assert (queued, refused) == (1, 0)
    uc.work()
    training.refresh_from_db()
    assert training.status == RecordStatus.SUCCEEDED, training.message
    created = uc.kf().read_one("products", "TRAIN-ONSITE")
    assert (created["Name"], created["Price"], created["NominalCode"]) == (
        "On-site training day",
        540.0,
        4040,
    )

    # KashFlow reads the new product back to Salesforce: nothing there changes or doubles.
    before = uc.writes()
    for name in (PRODUCTS, PRICES, SF_PRODUCTS, SF_PRICES):
        uc.run(name)
    assert uc.writes() == before
    assert len(uc.soql("SELECT Id FROM Product2 WHERE ExternalID__c = 'TRAIN-ONSITE'")) == 1

    # A new standard price in Salesforce (the product itself unchanged) reaches KashFlow;
    # a price in another price book does not. Nothing comes back.
    sf.write_batch("PricebookEntry", [{"Id": priced.target_id, "UnitPrice": 560}])
    uc.run(SF_PRICES)
    assert uc.kf().read_one("products", "TRAIN-ONSITE")["Price"] == 560.0
    trade = uc.records(SF_PRICES, status=RecordStatus.SKIPPED, message__contains="Standard")
    assert trade  # the seeded Trade 2026 price book's entries
    before = uc.writes()
    for name in (PRODUCTS, PRICES, SF_PRODUCTS, SF_PRICES):
        uc.run(name)
    assert uc.writes() == before
    entries = uc.soql(
        "SELECT UnitPrice FROM PricebookEntry WHERE Product2.ExternalID__c = 'TRAIN-ONSITE'"
    )
    assert [e["UnitPrice"] for e in entries] == [560.0]

    # A price changed in KashFlow updates the standard entry in Salesforce, not a second one.
    uc.kf_app.products["CONSULT"]["Price"] = 700.0
    uc.run(PRICES)
    prices = uc.soql(
        "SELECT UnitPrice FROM PricebookEntry WHERE Product2.ExternalID__c = 'CONSULT'"
    )
    assert [p["UnitPrice"] for p in prices] == [700.0]
