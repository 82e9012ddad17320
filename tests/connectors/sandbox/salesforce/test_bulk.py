"""The Salesforce sandbox's Bulk API 2.0 on the wire: job lifecycle, results, limits, errors."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY

V = "/services/data/v62.0"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    app = sandbox.create_app({"bulk_max_upload_bytes": 20_000, "bulk_query_page": 1000})
    with SandboxServer(app) as server:
        yield server


def login(url: str) -> requests.Session:
    token = requests.post(
        f"{url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.base = url  # type: ignore[attr-defined]
    return session


@pytest.fixture
def org(running: SandboxServer) -> Iterator[requests.Session]:
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    yield login(running.url)
    requests.post(f"{running.url}/_sandbox/bulk", json={"hold": False}, timeout=5)


def call(org: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
    return org.request(method, f"{org.base}{V}{path}", timeout=10, **kwargs)  # type: ignore[attr-defined]


def rows(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def ingest(org: requests.Session, operation: str, body: str, **spec: Any) -> str:
    created = call(
        org,
        "POST",
        "/jobs/ingest",
        json={"object": "Account", "operation": operation, "contentType": "CSV", **spec},
    )
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(
        f"/jobs/ingest/{job['id']}/batches"
    )
    upload = call(
        org, "PUT", f"/jobs/ingest/{job['id']}/batches", data=body.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    return str(job["id"])


def close(org: requests.Session, job_id: str) -> dict[str, Any]:
    closed = call(org, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "UploadComplete"
    return wait(org, job_id)


def wait(org: requests.Session, job_id: str, kind: str = "ingest") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        info = call(org, "GET", f"/jobs/{kind}/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted") or time.monotonic() > deadline:
            return dict(info)
        time.sleep(0.05)


def test_upsert_job_results_per_row_like_rest(org: requests.Session) -> None:
    """Each row is saved by the REST path's rules: new, updated, and each failure with its code."""
    body = (
        "ExternalID__c,Name,AccountNumber\n"
        "BULK-1,Bulk One,A1\n"
        "NWT001,Twin,\n"  # seeded: two Accounts share it
        "BULK-2,,A2\n"  # Name is required
        f"BULK-3,Long,{'9' * 41}\n"  # AccountNumber takes 40
        "BULK-4,Dupe A,\n"
        "bulk-4,Dupe B,\n"  # the same external ID, another case
    )
    job_id = ingest(org, "upsert", body, externalIdFieldName="ExternalID__c")
    info = close(org, job_id)
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (6, 5)
    ok = rows(call(org, "GET", f"/jobs/ingest/{job_id}/successfulResults"))
    assert [(r["ExternalID__c"], r["sf__Created"]) for r in ok] == [("BULK-1", "true")]
    assert list(ok[0])[:2] == ["sf__Id", "sf__Created"] and ok[0]["sf__Id"].startswith("001")
    failed = {r["ExternalID__c"]: r["sf__Error"] for r in
              rows(call(org, "GET", f"/jobs/ingest/{job_id}/failedResults"))}  # fmt: skip
    assert failed["NWT001"].startswith("DUPLICATE_EXTERNAL_ID:ExternalID__c: more than one record")
    assert failed["BULK-2"] == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    )
    assert failed["BULK-3"].startswith("STRING_TOO_LONG:")
    assert failed["BULK-4"].startswith("DUPLICATE_EXTERNAL_ID:Duplicate external id specified")
    assert failed["bulk-4"].startswith("DUPLICATE_EXTERNAL_ID:")
    # The same REST upsert answers the same way for the same row.
    rest = call(
        org, "PATCH", "/sobjects/Account/ExternalID__c/BULK-2", json={"AccountNumber": "A2"}
    )
    assert rest.status_code == 400 and rest.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    # Upserted again: an update now, and an empty value leaves the field as it was.
    again = close(org, ingest(org, "upsert", "ExternalID__c,Name,AccountNumber\nBULK-1,Renamed,\n",
                              externalIdFieldName="ExternalID__c"))  # fmt: skip
    [row] = rows(call(org, "GET", f"/jobs/ingest/{again['id']}/successfulResults"))
    assert row["sf__Created"] == "false" and row["sf__Id"] == ok[0]["sf__Id"]
    record = call(org, "GET", f"/sobjects/Account/{row['sf__Id']}").json()
    assert (record["Name"], record["AccountNumber"]) == ("Renamed", "A1")


def test_bulk_writes_count_like_rest(org: requests.Session) -> None:
    """Counted as REST writes are; their change events: pubsub/test_server.py."""
    base = org.base  # type: ignore[attr-defined]
    before = requests.get(f"{base}/_sandbox/stats", timeout=5).json()
    job_id = ingest(org, "insert", "Name,AccountNumber\nNew A,N1\nNew B,#N/A\n")
    assert close(org, job_id)["numberRecordsFailed"] == 0
    after = requests.get(f"{base}/_sandbox/stats", timeout=5).json()
    assert after["created"]["Account"] - before["created"].get("Account", 0) == 2


def test_update_and_delete_jobs(org: requests.Session) -> None:
    query = call(org, "GET", "/query", params={"q": "SELECT Id FROM Account LIMIT 2"}).json()
    first, second = (r["Id"] for r in query["records"])
    info = close(org, ingest(org, "update", f"Id,Phone\n{first},0123\n001000000000000AAA,1\n"))
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    [failed] = rows(call(org, "GET", f"/jobs/ingest/{info['id']}/failedResults"))
    assert failed["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    gone = close(org, ingest(org, "delete", f"Id\n{second}\n"))
    assert gone["numberRecordsFailed"] == 0
    assert call(org, "GET", f"/sobjects/Account/{second}").status_code == 404


def test_unknown_column_fails_the_job_and_leaves_rows_unprocessed(org: requests.Session) -> None:
    info = close(org, ingest(org, "insert", "Name,Nope__c\nA,1\nB,2\n"))
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    left = rows(call(org, "GET", f"/jobs/ingest/{info['id']}/unprocessedrecords"))
    assert [r["Name"] for r in left] == ["A", "B"]


def test_processing_is_asynchronous_and_can_be_aborted(org: requests.Session) -> None:
    base = org.base  # type: ignore[attr-defined]
    requests.post(f"{base}/_sandbox/bulk", json={"hold": True}, timeout=5).raise_for_status()
    job_id = ingest(org, "insert", "Name\nHeld\n")
    call(org, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    assert call(org, "GET", f"/jobs/ingest/{job_id}").json()["state"] == "UploadComplete"
    listed = call(org, "GET", "/jobs/ingest", params={"jobType": "V2Ingest"}).json()
    assert {"id": job_id, "state": "UploadComplete", "object": "Account"}.items() <= next(
        j for j in listed["records"] if j["id"] == job_id
    ).items()
    aborted = call(org, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    requests.post(f"{base}/_sandbox/bulk", json={"hold": False}, timeout=5)
    time.sleep(0.4)
    info = call(org, "GET", f"/jobs/ingest/{job_id}").json()
    assert (info["state"], info["numberRecordsProcessed"]) == ("Aborted", 0)
    left = rows(call(org, "GET", f"/jobs/ingest/{job_id}/unprocessedrecords"))
    assert [r["Name"] for r in left] == ["Held"]


def test_limits_and_errors_in_salesforce_array_format(org: requests.Session) -> None:
    bad = call(org, "POST", "/jobs/ingest", json={"object": "Account", "operation": "merge"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDJOB"
    no_key = call(org, "POST", "/jobs/ingest", json={"object": "Account", "operation": "upsert"})
    assert no_key.status_code == 400 and isinstance(no_key.json(), list)
    wrong_key = call(org, "POST", "/jobs/ingest", json={
        "object": "Account", "operation": "upsert", "externalIdFieldName": "Phone"})  # fmt: skip
    assert wrong_key.status_code == 404 and wrong_key.json()[0]["errorCode"] == "NOT_FOUND"
    job_id = ingest(org, "insert", "Name\nA\n")
    twice = call(org, "PUT", f"/jobs/ingest/{job_id}/batches", data=b"Name\nB\n",
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    assert twice.status_code == 400 and "Found multiple contents" in twice.json()[0]["message"]
    created = call(org, "POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"})
    too_big = call(org, "PUT", f"/jobs/ingest/{created.json()['id']}/batches",
                   data=b"Name\n" + b"a\n" * 10_001,
                   headers={"Content-Type": "text/csv"})  # fmt: skip
    assert too_big.status_code == 400 and too_big.json()[0]["errorCode"] == "INVALIDBATCH"
    crlf = call(org, "POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"})
    refused = call(org, "PUT", f"/jobs/ingest/{crlf.json()['id']}/batches",
                   data=b"Name\r\nA\r\n", headers={"Content-Type": "text/csv"})  # fmt: skip
    assert refused.status_code == 400 and "LineEnding" in refused.json()[0]["message"]
    missing = call(org, "GET", "/jobs/ingest/750000000000000AAA")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_query_job_pages_with_locator(org: requests.Session) -> None:
    soql = "SELECT Id, LastName, Account.Name FROM Contact"
    created = call(org, "POST", "/jobs/query", json={"operation": "query", "query": soql})
    assert created.status_code == 200, created.text
    job = wait(org, created.json()["id"], "query")
    assert job["state"] == "JobComplete"
    total = call(org, "GET", "/query", params={"q": "SELECT COUNT() FROM Contact"})
    expected = total.json()["totalSize"] if total.status_code == 200 else None
    seen: list[dict[str, str]] = []
    locator, pages = "", 0
    while True:
        params = {"maxRecords": 100, **({"locator": locator} if locator else {})}
        page = call(org, "GET", f"/jobs/query/{job['id']}/results", params=params)
        got = rows(page)
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(got) <= 100
        assert list(got[0]) == ["Id", "LastName", "Account.Name"]
        seen += got
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages > 1 and len({r["Id"] for r in seen}) == len(seen)
    if expected is not None:
        assert len(seen) == expected
    nested_soql = "SELECT Id, (SELECT Id FROM Contacts) FROM Account"
    nested = call(org, "POST", "/jobs/query", json={"operation": "query", "query": nested_soql})
    assert nested.status_code == 400 and isinstance(nested.json(), list)
    bad = call(org, "GET", f"/jobs/query/{job['id']}/results", params={"locator": "!!"})
    assert bad.status_code == 400


def test_daily_record_allocation_is_a_rolling_24_hours() -> None:
    with SandboxServer(sandbox.create_app({"bulk_daily_records": 3})) as server:
        session = login(server.url)
        assert close(session, ingest(session, "insert", "Name\nA\nB\n"))["state"] == "JobComplete"
        over = ingest(session, "insert", "Name\nC\nD\n")
        refused = call(session, "PATCH", f"/jobs/ingest/{over}", json={"state": "UploadComplete"})
        assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "EXCEEDED_QUOTA"
        requests.post(f"{server.url}/_sandbox/clock", json={"advance": 86_401}, timeout=5)
        assert close(login(server.url), over)["state"] == "JobComplete"


def test_parents_by_external_id_and_typed_values_as_through_rest(org: requests.Session) -> None:
    body = (
        "ExternalID__c,LastName,Account.ExternalID__c\n"
        "CON-B1,Known,CUST0005\n"
        "CON-B2,Unknown,NO-SUCH\n"
    )
    info = close(org, ingest(org, "upsert", body, externalIdFieldName="ExternalID__c",
                             object="Contact"))  # fmt: skip
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    [ok] = rows(call(org, "GET", f"/jobs/ingest/{info['id']}/successfulResults"))
    contact = call(org, "GET", f"/sobjects/Contact/{ok['sf__Id']}").json()
    assert contact["AccountId"] and contact["AccountId"].startswith("001")
    [failed] = rows(call(org, "GET", f"/jobs/ingest/{info['id']}/failedResults"))
    rest = call(org, "PATCH", "/sobjects/Contact/ExternalID__c/CON-B2",
                json={"LastName": "Unknown", "Account": {"ExternalID__c": "NO-SUCH"}})  # fmt: skip
    [error] = rest.json()
    assert failed["sf__Error"].startswith(f"{error['errorCode']}:{error['message']}:")
    deal = "StageName,Name,CloseDate,Amount\nProspecting,Deal,2026-03-01,abc\n"
    typed = close(org, ingest(org, "insert", deal, object="Opportunity"))
    [bad] = rows(call(org, "GET", f"/jobs/ingest/{typed['id']}/failedResults"))
    assert bad["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
