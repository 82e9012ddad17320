"""The promised link action: a record the target refused as a duplicate is linked, through
the ledger's admin pages, to the record the target already holds; the next sync updates
that record instead of creating a second one. Against the SYSPRO and Xero sandboxes."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.models.ledger import TARGET_KNOWN
from clarity.services.ledger import LINK, ledger_record_duplicate
from connectors.configs import connector_for
from connectors.registry import SYSTEMS, duplicates_of, system_entry
from tests.factories import ConnectionFactory, FlowFactory, PairFactory, RecordFactory
from tests.usecases.conftest import syspro_xero_usecase  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "Customers → Contacts"


def page(client: Client, record: SyncRecord) -> str:
    response = client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    assert response.status_code == 200
    return unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def counts(usecase) -> tuple[int, int]:
    stats = usecase.xero_control.stats()
    return (
        stats.get("created", {}).get("Contacts", 0),
        stats.get("updated", {}).get("Contacts", 0),
    )


@pytest.fixture
def refused(syspro_xero_usecase, finance):  # noqa: F811 - the imported fixture
    """A customer keyed in by hand in Xero years ago (another case, no number), then the
    first sync of its SYSPRO twin, refused as a duplicate contact name."""
    usecase = syspro_xero_usecase()
    customer = usecase.syspro_app.table("ArCustomer")[7]
    name = customer["Name"].strip()
    connector = connector_for(usecase.xero)
    [typed] = connector.write_batch("Contacts", [{"Name": name.upper()}])
    assert typed.ok
    usecase.run(CUSTOMERS)
    record = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (record.status, record.error_code) == (RecordStatus.FAILED, "duplicate_contact_name")
    assert "Link this record to that contact" in record.message
    return usecase, customer, record, typed.target_id


def test_link_then_next_sync_updates_the_existing_contact(refused, finance_client):
    usecase, customer, record, existing_id = refused
    name = customer["Name"].strip()

    # The record page offers the link, naming what it links to.
    assert f"Link to the existing contact '{name}'" in page(finance_client, record)

    # The confirmation page looks the contact up in Xero (read-only) and shows it.
    before = counts(usecase)
    url = reverse("admin:clarity_syncrecord_link", args=[record.pk])
    shown = finance_client.get(url)
    assert shown.status_code == 200
    assert shown.context["twin"].target_id == existing_id
    assert existing_id in shown.content.decode()
    assert counts(usecase) == before, "looking up writes nothing"

    # Confirming links it: resolved, with the id, a note and an audit row.
    done = finance_client.post(url, {"target_id": existing_id}, follow=True)
    assert any("Linked" in m for m in messages_of(done))
    record.refresh_from_db()
    assert record.status == RecordStatus.LINKED and record.status in TARGET_KNOWN
    assert record.target_id == existing_id
    assert record.resolved_by.username == "finance1"
    assert name in record.resolution_note
    event = AuditEvent.objects.get(record=record, action=LINK.audit)
    assert event.detail["before"] == {"status": "failed", "target_id": ""}
    assert event.detail["after"]["target_id"] == existing_id
    assert "Link to the existing" not in page(finance_client, record), "offered once"

    # The next change of the customer in SYSPRO updates that contact: 0 created, 1 updated.
    usecase.syspro_app.touch(customer, Email="accounts@linked.example")
    before = counts(usecase)
    usecase.run(CUSTOMERS)
    created, updated = counts(usecase)
    assert (created - before[0], updated - before[1]) == (0, 1)
    contacts = usecase.xero_get("/Contacts", where=f'ContactNumber=="{customer["Customer"]}"')
    [contact] = contacts["Contacts"]
    assert contact["ContactID"] == existing_id
    assert contact["EmailAddress"] == "accounts@linked.example"
    latest = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (latest.status, latest.target_id) == (RecordStatus.SUCCEEDED, existing_id)


def test_link_refuses_what_it_did_not_show_and_who_may_not_settle(
    refused, finance_client, consultant_client
):
    usecase, _, record, existing_id = refused
    url = reverse("admin:clarity_syncrecord_link", args=[record.pk])
    # A consultant reads the ledger but does not settle records.
    assert consultant_client.get(url).status_code == 403
    assert consultant_client.post(url, {"target_id": existing_id}).status_code == 403
    # Another id than the contact Xero holds by that name links nothing.
    other = next(
        r for r in usecase.xero_get("/Contacts")["Contacts"] if r["ContactID"] != existing_id
    )
    refused_link = finance_client.post(url, {"target_id": other["ContactID"]}, follow=True)
    assert any("nothing was linked" in m for m in messages_of(refused_link))
    record.refresh_from_db()
    assert (record.status, record.target_id) == (RecordStatus.FAILED, "")
    assert not AuditEvent.objects.filter(record=record, action=LINK.audit).exists()


def test_only_already_exists_failures_offer_a_link(refused, finance_client):
    usecase, _, record, _ = refused
    other = SyncRecord.objects.filter(flow=record.flow, status=RecordStatus.SUCCEEDED).first()
    text = page(finance_client, other)
    assert not re.search(r"Link to the existing", text)
    url = reverse("admin:clarity_syncrecord_link", args=[other.pk])
    answer = finance_client.get(url, follow=True)
    assert any("nothing to link" in m for m in messages_of(answer))
    # The contact renamed in Xero since: nothing to link to, said so, nothing changed.
    connector = connector_for(usecase.xero)
    existing = connector.find_by_field("Contacts", "Name", record.transformed_payload["Name"])
    assert existing is not None
    [renamed] = connector.write_batch(
        "Contacts", [{"ContactID": existing.target_id, "Name": "Renamed since Ltd"}]
    )
    assert renamed.ok
    gone = finance_client.get(
        reverse("admin:clarity_syncrecord_link", args=[record.pk]), follow=True
    )
    assert any("no longer holds" in m for m in messages_of(gone))
    record.refresh_from_db()
    assert record.status == RecordStatus.FAILED


# -- every system's "already exists" codes ---------------------------------------------------


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_each_declared_duplicate_code_is_one_the_system_gives(system):
    """A declaration naming a code the system's error table never gives would offer nothing."""
    kinds = system_entry(system).error_kinds
    for code, declared in duplicates_of(system).items():
        assert code in kinds, (system, code)
        assert declared and all(d.id_pattern or (d.field and d.value_paths) for d in declared)


SALESFORCE_ID = "001Hs00003AbCdEIAV"


@pytest.mark.parametrize(
    ("pair_b", "entity", "code", "failure", "sent", "expected"),
    [
        ("xero", "Contacts", "duplicate_contact_name", {}, {"Name": " Acme "}, ("contact", "Acme")),
        ("xero", "Items", "duplicate_code", {}, {"Code": "BOLT-1"}, ("item", "BOLT-1")),
        ("xero", "Contacts", "duplicate_code", {}, {"ContactNumber": "C9"}, ("contact", "C9")),
        (
            "salesforce",
            "Account",
            "duplicate_value",
            {
                "target_response": [
                    {
                        "errorCode": "DUPLICATE_VALUE",
                        "message": "duplicate value found: ExternalID__c duplicates value on "
                        f"record with id: {SALESFORCE_ID}",
                    }
                ]
            },
            {"Name": "Acme"},
            ("record", SALESFORCE_ID),
        ),
        (
            "salesforce",
            "Contact",
            "duplicates_detected",
            {
                "target_response": [
                    {
                        "errorCode": "DUPLICATES_DETECTED",
                        "duplicateResult": {
                            "matchResults": [{"matchRecords": [{"record": {"Id": SALESFORCE_ID}}]}]
                        },
                    }
                ]
            },
            {"LastName": "Smith"},
            ("record", SALESFORCE_ID),
        ),
        (
            "kashflow",
            "customers",
            "code_already_exists",
            {},
            {"Code": "ACM01"},
            ("customer", "ACM01"),
        ),
        ("kashflow", "invoices", "number_already_exists", {}, {"Number": 42}, ("invoice", "42")),
        (
            "kashflow",
            "products",
            "product_code_already_exists",
            {},
            {"Code": "P1"},
            ("product", "P1"),
        ),
        ("syspro", "SORTOI", "duplicate_po", {}, {"CustomerPoNumber": "PO-7"}, ("order", "PO-7")),
    ],
)
def test_what_each_system_says_already_exists(pair_b, entity, code, failure, sent, expected):
    flow = FlowFactory(
        pair=PairFactory(connection_b=ConnectionFactory(system=pair_b)), target_entity=entity
    )
    record = RecordFactory(
        flow=flow,
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code=code,
        transformed_payload=sent,
        **failure,
    )
    found = ledger_record_duplicate(record)
    assert found is not None
    assert (found[0].what, found[1]) == expected
    # Not a duplicate code, or not failed: nothing to link.
    record.error_code = "validation"
    assert ledger_record_duplicate(record) is None
    record.error_code, record.status = code, RecordStatus.IGNORED
    assert ledger_record_duplicate(record) is None
