"""Entities synced both ways: our own writes are not echoed back, conflicts follow the truth."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clarity.models import Flow, RecordStatus, SourceOfTruth, SyncRecord
from clarity.sync.both_ways import covers, settle_both_ways
from tests.factories import FlowFactory, PairFactory, RecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flows() -> tuple[Flow, Flow]:
    """SYSPRO customers → Xero contacts, and back; SYSPRO is the source of truth."""
    pair = PairFactory()
    out = FlowFactory(pair=pair, name="Customers → Contacts")
    back = FlowFactory(
        pair=pair,
        name="Contacts → Customers",
        source_connection=pair.connection_b,
        source_entity="Contacts",
        target_connection=pair.connection_a,
        target_entity="customers",
        source_of_truth=SourceOfTruth.TARGET,
    )
    return out, back


def no_read(entity: str, key: str) -> None:
    """These cases decide from the ledger alone; the read of the target a target-truth
    flow makes is tested end to end in tests/usecases/test_both_ways_conflicts.py."""
    raise AssertionError(f"read {entity} {key} from the target")


def new_row(flow: Flow, source_id: str, payload: dict, version: str = "2") -> SyncRecord:
    """A record just read and transformed, about to be sent."""
    row = RecordFactory(
        flow=flow, source_id=source_id, source_version=version, status=RecordStatus.PENDING
    )
    row.transformed_payload = payload
    return row


def test_a_change_we_wrote_is_not_sent_back(flows):
    out, back = flows
    # SYSPRO C1 went to Xero as contact X1 …
    RecordFactory(
        flow=out,
        source_id="C1",
        target_id="X1",
        transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"},
    )
    # … and the next Xero poll reads X1 back: mapped to SYSPRO, it is what SYSPRO holds.
    echo = new_row(back, "X1", {"Customer": "C1", "Name": "Acme Ltd"})
    send, skipped = settle_both_ways(back, out, [echo], no_read)
    assert (send, skipped) == ([], [echo])
    assert echo.status == RecordStatus.SKIPPED
    assert "No change to send" in echo.message
    assert "not synced back" in echo.message


def test_an_edit_of_a_mapped_field_still_goes_through(flows):
    out, back = flows
    RecordFactory(flow=back, source_id="X1", target_id="C1",
                  source_payload={"ContactNumber": "C1", "Name": "Acme Ltd"})  # fmt: skip
    edited = new_row(out, "C1", {"ContactNumber": "C1", "Name": "Acme Holdings Ltd"})
    assert settle_both_ways(out, back, [edited], no_read) == ([edited], [])
    assert edited.status == RecordStatus.PENDING


def test_a_record_with_no_twin_is_sent(flows):
    out, back = flows
    fresh = new_row(out, "C9", {"ContactNumber": "C9", "Name": "New Co"})
    assert settle_both_ways(out, back, [fresh], no_read) == ([fresh], [])


def test_the_newest_knowledge_of_the_twin_counts(flows):
    out, back = flows
    RecordFactory(flow=out, source_id="C1", target_id="X1",
                  transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"})  # fmt: skip
    # Xero was edited later and that edit came back to SYSPRO: Xero now holds "Acme Group".
    RecordFactory(flow=back, source_id="X1", target_id="C1", source_version="5",
                  source_payload={"ContactNumber": "C1", "Name": "Acme Group"})  # fmt: skip
    same_as_xero = new_row(out, "C1", {"ContactNumber": "C1", "Name": "Acme Group"}, "6")
    assert settle_both_ways(out, back, [same_as_xero], no_read) == ([], [same_as_xero])


def test_a_conflict_is_won_by_the_source_of_truth(flows):
    out, back = flows  # SYSPRO is the truth
    RecordFactory(flow=out, source_id="C1", target_id="X1",
                  transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"})  # fmt: skip
    # Xero's edit is read but not yet delivered to SYSPRO …
    xero_edit = RecordFactory(flow=back, source_id="X1", source_version="5",
                              status=RecordStatus.PENDING,
                              source_payload={"Name": "Acme Xero"})  # fmt: skip
    # … when SYSPRO's own edit of the same customer comes in.
    syspro_edit = new_row(out, "C1", {"ContactNumber": "C1", "Name": "Acme SYSPRO"}, "6")
    assert settle_both_ways(out, back, [syspro_edit], no_read) == ([syspro_edit], [])
    xero_edit.refresh_from_db()
    assert xero_edit.status == RecordStatus.SKIPPED
    assert "source of truth" in xero_edit.message and out.name in xero_edit.message

    # Seen from the Xero side: the target (SYSPRO) wins, Xero's edit is kept back.
    xero_again = new_row(back, "X1", {"Customer": "C1", "Name": "Acme Xero 2"}, "7")
    RecordFactory(flow=out, source_id="C1", source_version="8", status=RecordStatus.PENDING,
                  source_payload={"Customer": "C1", "Name": "Acme SYSPRO 2"})  # fmt: skip
    assert settle_both_ways(back, out, [xero_again], no_read) == ([], [xero_again])
    assert "Changed in both" in xero_again.message
    assert f"{out.source_connection.name} is the source of truth" in xero_again.message


def test_a_held_counterpart_row_is_not_superseded(flows):
    out, back = flows
    RecordFactory(flow=out, source_id="C1", target_id="X1",
                  transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"})  # fmt: skip
    in_flight = RecordFactory(flow=back, source_id="X1", source_version="5",
                              status=RecordStatus.PENDING, claimed_by="worker-2",
                              claimed_until=timezone.now() + timedelta(minutes=5),
                              source_payload={"Name": "Acme Xero"})  # fmt: skip
    settle_both_ways(out, back, [new_row(out, "C1", {"Name": "Acme SYSPRO"}, "6")], no_read)
    in_flight.refresh_from_db()
    assert in_flight.status == RecordStatus.PENDING  # another worker is sending it


def test_both_flows_must_name_the_same_system_as_the_truth(flows):
    _, back = flows
    back.source_of_truth = SourceOfTruth.SOURCE  # Xero, while the other flow says SYSPRO
    with pytest.raises(ValidationError) as caught:
        back.full_clean()
    message = caught.value.message_dict["source_of_truth"][0]
    assert "Customers → Contacts" in message
    assert "Choose one system for both flows" in message
    back.source_of_truth = SourceOfTruth.TARGET
    back.full_clean()


@pytest.mark.parametrize(
    "known, wanted, same",
    [
        ({"Name": "A", "Extra": 1}, {"Name": "A"}, True),
        ({"Amount": 12.5}, {"Amount": "12.50"}, True),
        ({"Phone": None}, {"Phone": ""}, True),
        ({}, {"Phone": ""}, True),
        ({}, {"Phone": "01"}, False),
        ({"Active": True}, {"Active": 1}, False),
        ({"Lines": [{"Code": "A", "Qty": 1}]}, {"Lines": [{"Code": "A"}]}, True),
        ({"Lines": [{"Code": "A"}]}, {"Lines": [{"Code": "A"}, {"Code": "B"}]}, False),
        ({"Address": "x"}, {"Address": {"Line1": "x"}}, False),
    ],
)
def test_covers(known, wanted, same):
    assert covers(known, wanted) is same


def test_a_linked_twin_counts_like_a_delivered_one(flows):
    """A person linked SYSPRO C1 to Xero contact X1 (the ledger's link): reading X1 back,
    mapped as SYSPRO holds C1, is an echo, not a change to send to SYSPRO."""
    out, back = flows
    RecordFactory(
        flow=out,
        source_id="C1",
        target_id="X1",
        status=RecordStatus.LINKED,
        source_payload={"Customer": "C1", "Name": "Acme Ltd"},
        transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"},
    )
    echo = new_row(back, "X1", {"Customer": "C1", "Name": "Acme Ltd"})
    send, skipped = settle_both_ways(back, out, [echo], no_read)
    assert (send, skipped) == ([], [echo])
    assert "already holds these values" in echo.message


def test_what_a_linked_row_tried_to_send_is_not_taken_as_written(flows):
    """The link names the twin, but its payload never reached Xero (Xero holds what was
    typed there by hand): the next change of C1 is sent, not skipped as "no change"."""
    out, back = flows
    RecordFactory(
        flow=out,
        source_id="C1",
        target_id="X1",
        status=RecordStatus.LINKED,
        transformed_payload={"ContactNumber": "C1", "Name": "Acme Ltd"},
    )
    change = new_row(out, "C1", {"ContactNumber": "C1", "Name": "Acme Ltd"})
    send, skipped = settle_both_ways(out, back, [change], no_read)
    assert (send, skipped) == ([change], [])
