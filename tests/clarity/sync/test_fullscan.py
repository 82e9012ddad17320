"""Full scan: a flow reads every source record and sends only those whose content changed.

Real parts: PostgreSQL, the SYSPRO and Xero sandboxes over loopback HTTP, the flow run
as a worker runs it. The core names no system: the scan is a flow option any connector
serves through ``Connector.read_all``.
"""

from __future__ import annotations

from typing import Any

import pytest

from clarity.models import Flow, ReadMode, RecordStatus, SourceHash, SyncRecord, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import flow_run_execute
from connectors.configs import connector_for
from connectors.sandbox.syspro import seed

pytestmark = pytest.mark.django_db(transaction=True)


def run(flow: Flow) -> SyncRun:
    queued = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    return flow_run_execute(run_id=queued.pk)


def contact_name(flow: Flow, code: str) -> str:
    """The name Xero holds for the contact of SYSPRO customer ``code``."""
    xero = connector_for(flow.target_connection)
    found = xero.find_by_reference("Contacts", code)
    assert found is not None
    return str(found.record["Name"])


@pytest.fixture
def scanned(syspro_xero: dict[str, Any]) -> dict[str, Any]:
    flow = syspro_xero["flow"]
    Flow.objects.filter(pk=flow.pk).update(read_mode=ReadMode.FULL_SCAN, source_version_field="")
    flow.refresh_from_db()
    first = run(flow)
    assert first.total_count == seed.CUSTOMER_COUNT
    assert SourceHash.objects.filter(flow=flow).count() == seed.CUSTOMER_COUNT
    return syspro_xero


def test_a_full_scan_sends_only_the_records_whose_content_changed(scanned) -> None:
    flow, app = scanned["flow"], scanned["syspro_server"].app
    rows_before = SyncRecord.objects.filter(flow=flow).count()
    for code in ("0000003", "0000044", "0000101"):
        row = app.find("ArCustomer", Customer=code)
        app.touch(row, Name=f"{row['Name']} (new name)")
    app.touch(app.find("ArCustomer", Customer="0000200"))  # written again, content the same

    second = run(flow)

    assert (second.total_count, second.skipped_count) == (seed.CUSTOMER_COUNT, 317)
    new = SyncRecord.objects.filter(flow=flow, run=second)
    assert sorted(new.values_list("source_id", flat=True)) == ["0000003", "0000044", "0000101"]
    assert set(new.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert SyncRecord.objects.filter(flow=flow).count() == rows_before + 3
    assert contact_name(flow, "0000044").endswith("(new name)")
    assert run(flow).skipped_count == seed.CUSTOMER_COUNT  # nothing changed since


def test_content_that_returns_to_an_earlier_state_is_sent_again(scanned) -> None:
    """The ledger alone would take the old content's key for "already delivered"."""
    flow, app = scanned["flow"], scanned["syspro_server"].app
    row = app.find("ArCustomer", Customer="0000012")
    original = row["Name"]
    app.touch(row, Name="Interim Name Ltd")
    run(flow)
    assert contact_name(flow, "0000012") == "Interim Name Ltd"
    app.touch(row, Name=original)

    back = run(flow)

    record = SyncRecord.objects.get(flow=flow, run=back)
    assert (record.source_id, record.status) == ("0000012", RecordStatus.SUCCEEDED)
    assert contact_name(flow, "0000012") == original
    assert SourceHash.objects.get(flow=flow, source_id="0000012").revision == 3


def test_a_change_field_the_source_cannot_poll_fails_the_run_saying_so(syspro_xero) -> None:
    flow = syspro_xero["flow"]
    Flow.objects.filter(pk=flow.pk).update(change_field="no such column!")
    flow.refresh_from_db()
    failed = run(flow)
    assert "cannot mark changes" in failed.message
    assert not SyncRecord.objects.filter(flow=flow).exists()
