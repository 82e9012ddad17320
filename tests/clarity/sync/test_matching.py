"""Matching what already exists (#16), against the SYSPRO and Xero sandboxes over HTTP: a
contact typed into Xero by hand is found by the flow's rules, so the first sync updates it;
several or partial matches wait for a person; lookups are batched."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clarity.models import (
    AuditEvent,
    Decision,
    MatchBy,
    MatchDecision,
    MatchingRule,
    MatchOutcome,
    RecordStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.models.ledger import NEEDS_ACTION, RETRYABLE
from clarity.services.ledger import (
    ledger_record_decide_create,
    ledger_record_decide_link,
    ledger_records_skip,
)
from clarity.services.runs import flow_run_enqueue
from clarity.sync.matching import twins_find
from connectors.configs import connector_for
from tests.usecases.conftest import syspro_xero_usecase  # noqa: F401 - the fixture
from tests.usecases.sf_kf_fixtures import ACCOUNTS, CUSTOMERS_TO_ACCOUNTS, sf_kf  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "Customers → Contacts"


def contact_counts(usecase) -> tuple[int, int]:
    stats = usecase.xero_control.stats()
    return (
        stats.get("created", {}).get("Contacts", 0),
        stats.get("updated", {}).get("Contacts", 0),
    )


def hand_typed(usecase, **fields) -> str:
    """A contact keyed into Xero by hand (no ContactNumber): its id."""
    [written] = connector_for(usecase.xero).write_batch("Contacts", [fields])
    assert written.ok, written.message
    return written.target_id


def run_for(usecase, customer: dict) -> SyncRun:
    """A targeted run of the customers flow for one SYSPRO customer."""
    flow = usecase.flow(CUSTOMERS)
    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL, record_ids=[customer["Customer"]])
    usecase.work()
    run.refresh_from_db()
    return run


def rule(usecase, keys: str = "", match_by: str = MatchBy.KEYS, position: int = 0):
    made = MatchingRule(flow=usecase.flow(CUSTOMERS), keys=keys, match_by=match_by,
                        position=position)  # fmt: skip
    made.full_clean()
    made.save()
    return made


@pytest.fixture
def usecase(syspro_xero_usecase):  # noqa: F811 - the imported fixture
    return syspro_xero_usecase()


def customer_at(usecase, index: int, **values: str) -> dict:
    customer = usecase.syspro_app.table("ArCustomer")[index]
    return usecase.syspro_app.touch(customer, **values) if values else customer


def test_hand_typed_contact_in_another_case_and_spacing_is_updated_not_doubled(usecase):
    customer = customer_at(usecase, 7, Name="Acme Widgets Ltd", Email="Accounts@Acme.example")
    existing = hand_typed(
        usecase, Name="  ACME   widgets LTD ", EmailAddress=" accounts@ACME.example"
    )
    rule(usecase, "Name, EmailAddress")
    before = contact_counts(usecase)

    run_for(usecase, customer)

    created, updated = contact_counts(usecase)
    assert (created - before[0], updated - before[1]) == (0, 1)
    row = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, existing)
    contact = usecase.xero_get(f"/Contacts/{existing}")["Contacts"][0]
    assert contact["ContactNumber"] == customer["Customer"]
    link = AuditEvent.objects.get(record=row, action="link")
    assert link.user is None and link.detail["after"]["target_id"] == existing
    assert "Name and EmailAddress" in link.detail["after"]["note"]


def test_reference_rule_links_by_contact_number(usecase):
    customer = customer_at(usecase, 8)
    existing = hand_typed(usecase, Name="Someone else entirely", ContactNumber=customer["Customer"])
    rule(usecase, match_by=MatchBy.REFERENCE)
    before = contact_counts(usecase)

    run_for(usecase, customer)

    created, updated = contact_counts(usecase)
    assert (created - before[0], updated - before[1]) == (0, 1)
    row = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, existing)


def undecided_by_email(usecase) -> tuple[dict, SyncRecord, str, str]:
    """Two contacts typed into Xero with the customer's email (Xero refuses two active
    contacts of one name, not of one email): the first sync leaves it to a person."""
    customer = customer_at(usecase, 9, Name="Twin Traders", Email="Buy@Twin.example")
    first = hand_typed(usecase, Name="Twin Traders Ltd", EmailAddress="buy@twin.example")
    second = hand_typed(usecase, Name="Twin Traders (old)", EmailAddress=" BUY@twin.example")
    rule(usecase, "EmailAddress")
    before = contact_counts(usecase)
    run_for(usecase, customer)
    assert contact_counts(usecase) == before, "nothing written"
    return customer, usecase.ledger(CUSTOMERS, customer["Customer"]), first, second


def test_two_candidates_wait_for_a_decision_and_nothing_is_sent(usecase):
    _customer, row, first, second = undecided_by_email(usecase)
    assert row.status == RecordStatus.UNDECIDED and row.status in NEEDS_ACTION
    assert row.status not in RETRYABLE, "retry all leaves it to the person"
    assert row.message == (
        "2 Xero contacts match 'buy@twin.example' by EmailAddress: choose one, create new, or skip."
    )
    decision = MatchDecision.objects.get(record=row)
    assert decision.outcome == MatchOutcome.AMBIGUOUS
    assert {c["target_id"] for c in decision.candidates} == {first, second}
    assert all(c["agreed"] == ["EmailAddress"] for c in decision.candidates)


def test_link_to_the_chosen_one_updates_it(usecase, finance):
    _customer, row, _first, second = undecided_by_email(usecase)
    before = contact_counts(usecase)
    ledger_record_decide_link(record=row, target_id=second, user=finance)
    usecase.work()
    created, updated = contact_counts(usecase)
    assert (created - before[0], updated - before[1]) == (0, 1)
    row.refresh_from_db()
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, second)
    assert MatchDecision.objects.get(record=row).decision == Decision.LINK
    assert AuditEvent.objects.filter(record=row, action="link", user=finance).exists()


def test_create_new_sends_it_once_and_never_matches_it_again(usecase, finance):
    customer, row, first, second = undecided_by_email(usecase)
    before = contact_counts(usecase)
    ledger_record_decide_create(record=row, user=finance)
    usecase.work()
    row.refresh_from_db()
    assert row.status == RecordStatus.SUCCEEDED and row.target_id not in (first, second)
    assert contact_counts(usecase)[0] - before[0] == 1
    # Its next change updates the contact it created; nothing asks for a decision again.
    usecase.syspro_app.touch(customer, Telephone="0123")
    run_for(usecase, customer)
    latest = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (latest.status, latest.target_id) == (RecordStatus.SUCCEEDED, row.target_id)
    assert contact_counts(usecase)[0] - before[0] == 1


def test_skip_closes_it_with_the_note_and_sends_nothing(usecase, finance):
    _customer, row, first, _second = undecided_by_email(usecase)
    before = contact_counts(usecase)
    counts = ledger_records_skip(
        records=SyncRecord.objects.filter(pk=row.pk), user=finance, note="Xero's is right"
    )
    assert counts == (1, 0)
    usecase.work()
    row.refresh_from_db()
    assert (row.status, row.resolution_note) == (RecordStatus.SKIPPED, "Xero's is right")
    assert contact_counts(usecase) == before
    assert MatchDecision.objects.get(record=row).decision == Decision.SKIP
    with pytest.raises(ValidationError, match="only undecided records can be linked"):
        ledger_record_decide_link(record=row, target_id=first, user=finance)


def test_a_match_in_part_waits_for_a_decision(usecase):
    customer = customer_at(usecase, 10, Name="Partial Parts", Email="new@parts.example")
    existing = hand_typed(usecase, Name="PARTIAL  parts", EmailAddress="old@parts.example")
    rule(usecase, "Name, EmailAddress")
    before = contact_counts(usecase)
    run_for(usecase, customer)
    assert contact_counts(usecase) == before
    row = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert row.status == RecordStatus.UNDECIDED
    assert "only in part (by Name, not by EmailAddress)" in row.message
    [candidate] = MatchDecision.objects.get(record=row).candidates
    assert (candidate["target_id"], candidate["differing"]) == (existing, ["EmailAddress"])


def test_a_later_rule_matching_in_full_wins_over_a_partial_one(usecase):
    customer = customer_at(usecase, 11, Name="Ordered Co", Email="a@ordered.example")
    existing = hand_typed(usecase, Name="Ordered Co", EmailAddress="b@ordered.example")
    rule(usecase, "Name, EmailAddress", position=0)
    rule(usecase, "Name", position=1)
    run_for(usecase, customer)
    row = usecase.ledger(CUSTOMERS, customer["Customer"])
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, existing)


def test_lookups_are_batched_not_one_per_record(usecase):
    names = [f"Batch Customer {n:03d}" for n in range(120)]
    connector = connector_for(usecase.xero)
    for start in range(0, 120, 50):
        connector.write_batch(
            "Contacts",
            [
                {"Name": n.upper(), "EmailAddress": f"{n[-3:]}@b.example"}
                for n in names[start : start + 50]
            ],
        )
    flow = usecase.flow(CUSTOMERS)
    made = rule(usecase, "Name, EmailAddress")
    payloads = [{"Name": f" {n} ", "EmailAddress": f"{n[-3:]}@B.example"} for n in names]
    before = usecase.xero_control.stats()["requests"]
    found = twins_find(flow=flow, target=connector_for(usecase.xero), payloads=payloads,
                       rules=[made])  # fmt: skip
    asked = usecase.xero_control.stats()["requests"] - before
    assert [m.outcome for m in found] == [MatchOutcome.UNIQUE] * 120
    # Two keys, 50 values a request, pages of 100: a handful of GETs, not 120 or 240.
    assert asked <= 12, asked


# -- Salesforce and KashFlow targets --------------------------------------------------------


def sf_kf_rule(env, flow_name: str, keys: str) -> None:
    made = MatchingRule(flow=env.flow(flow_name), keys=keys, match_by=MatchBy.KEYS)
    made.full_clean()
    made.save()


def targeted(env, flow_name: str, key: str) -> None:
    flow_run_enqueue(flow=env.flow(flow_name), trigger=Trigger.MANUAL, record_ids=[key])
    env.work()


def written(env, system: str, what: str) -> int:
    return env.writes().get(system, {}).get(what, 0)


def test_an_account_typed_into_salesforce_is_updated_by_the_first_sync(sf_kf):  # noqa: F811
    env = sf_kf()
    customer = next(iter(env.kf().read_changes("customers", None))).records[3]
    [typed] = env.sf().write_batch("Account", [{"Name": f"  {customer['Name'].upper()}  "}])
    sf_kf_rule(env, CUSTOMERS_TO_ACCOUNTS, "Name")
    created = written(env, "salesforce", "created Account")
    updated = written(env, "salesforce", "updated Account")

    targeted(env, CUSTOMERS_TO_ACCOUNTS, customer["Code"])

    assert written(env, "salesforce", "created Account") == created
    assert written(env, "salesforce", "updated Account") == updated + 1
    [row] = env.records(CUSTOMERS_TO_ACCOUNTS, source_id=customer["Code"])
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, typed.target_id)
    assert env.sf().read_one("Account", typed.target_id)["ExternalID__c"] == customer["Code"]


def test_a_customer_typed_into_kashflow_is_updated_by_the_first_sync(sf_kf):  # noqa: F811
    env = sf_kf()
    [account] = env.sf().write_batch(
        "Account",
        [
            {
                "Name": "Globex Trading",
                "ExternalID__c": "SFX001",
                "BillingStreet": "1 Mill Lane",
                "BillingPostalCode": "LS1 1AA",
            }
        ],
    )
    [typed] = env.kf().write_batch("customers", [{"Code": "GLOB01", "Name": "GLOBEX   trading"}])
    sf_kf_rule(env, ACCOUNTS, "Name")
    created = written(env, "kashflow", "created customers")
    updated = written(env, "kashflow", "updated customers")

    targeted(env, ACCOUNTS, account.target_id)

    assert written(env, "kashflow", "created customers") == created
    assert written(env, "kashflow", "updated customers") == updated + 1
    [row] = env.records(ACCOUNTS, source_id=account.target_id)
    assert (row.status, row.target_id) == (RecordStatus.SUCCEEDED, typed.target_id)
