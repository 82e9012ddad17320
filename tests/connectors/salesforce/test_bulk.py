"""The Salesforce connector's Bulk API 2.0 path against the sandbox over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorKind, RetryLaterError
from connectors.http import RetryPolicy
from connectors.salesforce import SalesforceConnector
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CONSUMER_KEY, DEMO_PRIVATE_KEY, DEMO_USERNAME

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_retry_after=2.0)
Make = Callable[..., SalesforceConnector]


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield server


@pytest.fixture
def server(running: SandboxServer) -> Iterator[SandboxServer]:
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    yield running
    requests.post(f"{running.url}/_sandbox/bulk", json={"hold": False}, timeout=5)


@pytest.fixture
def make(server: SandboxServer) -> Make:
    def build(**settings: Any) -> SalesforceConnector:
        config = ConnectionConfig(
            system="salesforce",
            connection_id="sf-bulk-test",
            base_url=server.url,
            settings={
                "client_id": DEMO_CONSUMER_KEY,
                "username": DEMO_USERNAME,
                "bulk_threshold": 5,
                "bulk_poll_seconds": 0.05,
                **settings,
            },
            secrets={"private_key": DEMO_PRIVATE_KEY},
        )
        connector = SalesforceConnector(config, InMemoryTokenStore())
        connector.http.retry = connector.login_http.retry = FAST
        return connector

    return build


def stats(server: SandboxServer) -> dict[str, Any]:
    return dict(requests.get(f"{server.url}/_sandbox/stats", timeout=5).json())


def jobs(server: SandboxServer) -> list[Any]:
    return list(server.app.bulk_jobs.values())  # type: ignore[attr-defined]


def accounts(n: int, prefix: str = "BLK") -> list[dict[str, Any]]:
    return [{"ExternalID__c": f"{prefix}-{i:03}", "Name": f"Bulk {i}"} for i in range(n)]


def test_mixed_outcomes_each_record_its_own(make: Make, server: SandboxServer) -> None:
    """Results come back unordered in three files: each record still gets its own outcome."""
    sf = make()
    records = accounts(6)
    records[1] = {"ExternalID__c": "BLK-NONAME", "Name": None}  # Name is required
    records[3] = {"ExternalID__c": "NWT001", "Name": "Twin"}  # seeded: two Accounts share it
    records[4] = {"ExternalID__c": "BLK-LONG", "Name": "Long", "AccountNumber": "9" * 41}
    records.append({"Name": "No key, so created through Collections"})
    records.append({"ExternalID__c": "BLK-SAME", "Name": "a"})
    records.append({"ExternalID__c": "blk-same", "Name": "b"})
    outcomes = sf.write_batch("Account", records)
    assert len(outcomes) == len(records)
    statuses = [o.status for o in outcomes]
    assert statuses == [
        WriteStatus.CREATED,
        WriteStatus.FAILED,
        WriteStatus.CREATED,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
        WriteStatus.CREATED,
        WriteStatus.CREATED,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
    ]
    for index in (0, 2, 5):
        record = server.app.data["Account"][outcomes[index].target_id]  # type: ignore[attr-defined]
        assert record["ExternalID__c"] == records[index]["ExternalID__c"]
    # Each failure reads as the same record's failure through REST (sObject Collections).
    rest = make(bulk_threshold=0).write_batch("Account", [records[i] for i in (1, 3, 4, 7, 8)])
    for index, through_rest in zip((1, 3, 4, 7, 8), rest, strict=True):
        got = outcomes[index]
        assert (got.kind, got.code, got.message) == (
            through_rest.kind, through_rest.code, through_rest.message
        ), index  # fmt: skip
    assert outcomes[1].kind is ErrorKind.DATA and "Name" in (outcomes[1].message or "")
    assert "NWT001" in (outcomes[3].message or "")
    assert "AccountNumber" in (outcomes[4].message or "")
    assert "same batch" in (outcomes[7].message or "")
    assert outcomes[1].raw["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    [job] = jobs(server)
    assert (job.operation, job.state, job.processed) == ("upsert", "JobComplete", 6)


def test_threshold_switches_between_collections_and_bulk(make: Make, server: SandboxServer) -> None:
    sf = make(bulk_threshold=5)
    assert sf.max_batch_size("Account") == 10_000
    assert all(o.ok for o in sf.write_batch("Account", accounts(4, "UNDER")))
    assert jobs(server) == []
    before = stats(server)["requests"]
    assert all(o.ok for o in sf.write_batch("Account", accounts(300, "OVER")))
    [job] = jobs(server)
    assert job.processed == 300
    # create, upload, close, a few polls, one result file (none failed, all processed)
    assert stats(server)["requests"] - before <= 12
    updated = sf.write_batch("Account", [{"ExternalID__c": "OVER-001", "Name": "New name"}] * 1)
    assert updated[0].ok
    off = make(bulk_threshold=0)
    assert off.max_batch_size("Account") == 200
    assert all(o.ok for o in off.write_batch("Account", accounts(150, "OFF")))
    assert len(jobs(server)) == 1


def test_update_by_id_through_bulk(make: Make, server: SandboxServer) -> None:
    sf = make()
    created = sf.write_batch("Account", accounts(5, "UPD"))
    ids = [o.target_id for o in created]
    outcomes = sf.write_batch(
        "Account",
        [{"Id": i, "Phone": f"0100 {n}"} for n, i in enumerate(ids)]
        + [{"Id": "001000000000000AAA", "Phone": "1"}],
    )
    assert [o.status for o in outcomes] == [WriteStatus.UPDATED] * 5 + [WriteStatus.FAILED]
    assert (outcomes[-1].code or "").upper() == "INVALID_CROSS_REFERENCE_KEY"
    assert jobs(server)[-1].operation == "update"


def test_unknown_column_fails_every_record_as_a_mapping_fault(make: Make) -> None:
    outcomes = make().write_batch("Account", [{**r, "Nope__c": 1} for r in accounts(5, "COL")])
    assert {(o.status, o.kind, (o.code or "").upper()) for o in outcomes} == {
        (WriteStatus.FAILED, ErrorKind.CONFIG, "INVALID_FIELD")
    }
    assert "Nope__c" in (outcomes[0].message or "")


def test_crash_mid_job_is_unknown_and_settled_by_lookup_without_resend(
    make: Make, server: SandboxServer
) -> None:
    """A job closed but unfinished when the connector stops waiting: its outcome is unknown,
    the lookup waits while Salesforce still runs it, then finds every record once, unsent."""
    requests.post(f"{server.url}/_sandbox/bulk", json={"hold": True}, timeout=5)
    sf = make(bulk_max_wait_seconds=0.3)
    records = accounts(8, "CRASH")
    with pytest.raises(ConnectorError) as lost:
        sf.write_batch("Account", records)
    assert lost.value.outcome_unknown and lost.value.code == "bulk_job_unconfirmed"
    references = [r["ExternalID__c"] for r in records]
    with pytest.raises(RetryLaterError) as waiting:
        make().find_by_references("Account", references)
    assert waiting.value.code == "bulk_job_running"
    requests.post(f"{server.url}/_sandbox/bulk", json={"hold": False}, timeout=5)
    deadline = time.monotonic() + 10
    while jobs(server)[0].state != "JobComplete" and time.monotonic() < deadline:
        time.sleep(0.05)
    found = make().find_by_references("Account", references)
    assert set(found) == set(references)
    assert stats(server)["created"]["Account"] == 8  # written once, never sent again
    assert len(jobs(server)) == 1


def test_failed_upload_aborts_the_job_and_is_not_unknown(make: Make, server: SandboxServer) -> None:
    prefix = "/services/data/v62.0/jobs/ingest/"
    requests.post(
        f"{server.url}/_sandbox/faults",
        json={"next": ["5xx"], "path_prefix": prefix},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(ConnectorError) as refused:
        make().write_batch("Account", accounts(5, "UPL"))
    assert not refused.value.outcome_unknown
    assert [j.state for j in jobs(server)] == ["Aborted"]
    assert stats(server)["created"].get("Account", 0) == 0


def test_first_read_through_a_query_job_matches_rest(make: Make, server: SandboxServer) -> None:
    """A first read (no cursor) with ``bulk_query`` runs one query job, paged by
    ``Sforce-Locator``, and yields the records REST paging yields, typed the same."""
    settings = {"bulk_query_page": 40, "related_fields": {}, "child_queries": {}}
    through_rest = [r for p in make(**settings).read_changes("Account", None) for r in p.records]
    before = stats(server)["requests"]
    pages = list(make(bulk_query=True, **settings).read_changes("Account", None))
    assert len(pages) > 2 and all(p.cursor is None for p in pages[:-1])
    through_bulk = [r for p in pages for r in p.records]
    by_id = {r["Id"]: r for r in through_bulk}
    assert len(by_id) == len(through_bulk) == len(through_rest)
    for record in through_rest:
        assert by_id[record["Id"]] == record
    newest = max(through_rest, key=lambda r: (r["SystemModstamp"], r["Id"]))
    assert pages[-1].cursor is not None and pages[-1].cursor.endswith(newest["Id"])
    assert server.app.bulk_jobs  # type: ignore[attr-defined]
    assert stats(server)["requests"] - before <= len(pages) + 4


def test_a_write_under_the_threshold_failing_after_a_landed_call_is_unknown(
    make: Make, server: SandboxServer
) -> None:
    """Between 200 and the threshold a write is several Collections calls: once one has
    landed, a later refusal must leave the whole batch unknown (settled by lookup), never
    handed back as unsent, or the records written would be sent twice."""
    requests.post(f"{server.url}/_sandbox/limits", json={"daily": 1}, timeout=5)
    sf = make(bulk_threshold=1000)
    with pytest.raises(RetryLaterError) as stopped:
        sf.write_batch("Account", [{"Name": f"Plain {i}"} for i in range(450)])
    assert stopped.value.outcome_unknown
    assert stats(server)["created"]["Account"] == 200  # the first call landed
    assert jobs(server) == []


def test_values_mean_through_bulk_what_they_mean_through_rest(
    make: Make, server: SandboxServer
) -> None:
    """An empty CSV cell leaves a field as it was, so a value cleared at the source ("" or
    None) is sent as ``#N/A``; numbers arrive as numbers, however they are written."""
    sf = make()
    keys = [f"VAL-{i}" for i in range(5)]
    first = sf.write_batch("Account", [
        {"ExternalID__c": k, "Name": k, "Phone": "0100", "AccountNumber": "A1"} for k in keys
    ])  # fmt: skip
    assert all(o.ok for o in first)
    again = sf.write_batch("Account", [
        {"ExternalID__c": keys[0], "Phone": "", "AccountNumber": None},
        *({"ExternalID__c": k, "Phone": "0100"} for k in keys[1:]),
    ])  # fmt: skip
    assert all(o.status is WriteStatus.UPDATED for o in again)
    cleared = server.app.data["Account"][again[0].target_id]  # type: ignore[attr-defined]
    assert cleared["Phone"] is None and cleared["AccountNumber"] is None
    kept = server.app.data["Account"][again[1].target_id]  # type: ignore[attr-defined]
    assert kept["AccountNumber"] == "A1"  # not sent: left as it was
    opportunities = sf.write_batch("Opportunity", [
        {"ExternalID__c": f"OPP-VAL-{i}", "Name": f"Deal {i}", "StageName": "Prospecting",
         "CloseDate": "2026-03-01", "Amount": amount}
        for i, amount in enumerate((1e7, 0.1, 12.5, 3, 2.0))
    ])  # fmt: skip
    assert all(o.ok for o in opportunities), [o.message for o in opportunities]
    amounts = [server.app.data["Opportunity"][o.target_id]["Amount"] for o in opportunities]  # type: ignore[attr-defined]
    assert amounts == [1e7, 0.1, 12.5, 3.0, 2.0]
