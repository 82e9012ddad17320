"""The Salesforce sandbox on the wire: status codes, bodies and events the real API gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY
from connectors.sandbox.salesforce.seed import SEED_FACTS

V = "/services/data/v62.0"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({"query_min_batch_size": 10})) as server:
        yield server


@pytest.fixture
def org(running: SandboxServer) -> requests.Session:
    """A session on a freshly seeded org, logged in with client credentials."""
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    token = requests.post(
        f"{running.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    assert token["instance_url"] == running.url and token["token_type"] == "Bearer"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.base = running.url  # type: ignore[attr-defined]
    return session


def call(org: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
    return org.request(method, f"{org.base}{path}", timeout=5, **kwargs)  # type: ignore[attr-defined]


def soql(org: requests.Session, query: str) -> list[dict[str, Any]]:
    response = call(org, "GET", f"{V}/query", params={"q": query})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def test_seeded_failures_are_there(org: requests.Session) -> None:
    [zero] = soql(
        org, "SELECT Id, StageName, Amount FROM Opportunity WHERE ExternalID__c = 'OPP-0999'"
    )
    assert (zero["StageName"], zero["Amount"]) == ("Closed Won", 0.0)
    [harbour] = soql(
        org,
        "SELECT AccountNumber, BillingStreet, BillingPostalCode FROM Account "
        "WHERE Name LIKE 'Harbour%'",
    )
    assert harbour["AccountNumber"] is None and harbour["BillingPostalCode"] is None
    twins = call(org, "GET", f"{V}/sobjects/Account/ExternalID__c/NWT001")
    assert twins.status_code == 300 and len(twins.json()) == 2
    counts = {
        name: len(soql(org, f"SELECT Id FROM {name}"))  # noqa: S608 - fixed names
        for name in ("Account", "Contact", "Opportunity", "OpportunityLineItem")
    }
    assert sum(counts.values()) > 1000
    assert set(SEED_FACTS) >= {"closed_won_zero_amount", "accounts_colliding_external_id"}


def test_session_required_and_limit_header(org: requests.Session) -> None:
    denied = requests.get(f"{org.base}{V}/limits", timeout=5)  # type: ignore[attr-defined]
    assert denied.status_code == 401
    assert denied.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]
    limits = call(org, "GET", f"{V}/limits")
    assert limits.headers["Sforce-Limit-Info"] == "api-usage=2/115000"
    assert limits.json()["DailyApiRequests"] == {"Max": 115000, "Remaining": 115000 - 2}
    versions = call(org, "GET", "/services/data/")
    assert "Sforce-Limit-Info" not in versions.headers  # not counted
    assert {"label": "v62.0", "url": V, "version": "62.0"} in versions.json()
    assert call(org, "GET", "/services/data/v12.0/limits").status_code == 404


def test_session_expires_after_the_timeout(org: requests.Session) -> None:
    requests.post(f"{org.base}/_sandbox/clock", json={"advance": 7300}, timeout=5)  # type: ignore[attr-defined]
    assert call(org, "GET", f"{V}/limits").json()[0]["errorCode"] == "INVALID_SESSION_ID"


@pytest.mark.parametrize(("version", "status"), [("62.0", 200), ("58.0", 200)])
def test_single_upsert_status_codes(org: requests.Session, version: str, status: int) -> None:
    path = f"/services/data/v{version}/sobjects/Account/ExternalID__c/UP1"
    created = call(org, "PATCH", path, json={"Name": "Up One"})
    assert created.status_code == 201 and created.json()["created"] is True
    updated = call(org, "PATCH", path.replace("UP1", "up1"), json={"Name": "Up One Ltd"})
    assert updated.status_code == status and updated.json()["created"] is False
    missing = call(org, "PATCH", f"{V}/sobjects/Account/Nope__c/1", json={"Name": "x"})
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    only = call(
        org, "PATCH", f"{V}/sobjects/Account/ExternalID__c/UP2?updateOnly=true", json={"Name": "x"}
    )
    assert only.status_code == 404


def test_upsert_answers_204_before_the_cutover(running: SandboxServer) -> None:
    app = sandbox.create_app({"upsert_200_from": "60.0"})
    with SandboxServer(app) as server:
        token = requests.post(
            f"{server.url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_CONSUMER_KEY,
                "client_secret": DEMO_CLIENT_SECRET,
            },
            timeout=5,
        ).json()["access_token"]
        url = f"{server.url}/services/data/v58.0/sobjects/Account/ExternalID__c/CUST0001"
        headers = {"Authorization": f"Bearer {token}"}
        response = requests.patch(url, json={"Phone": "1"}, headers=headers, timeout=5)
        assert response.status_code == 204


def test_crud_round_trip(org: requests.Session) -> None:
    created = call(org, "POST", f"{V}/sobjects/Contact", json={"LastName": "Okafor"})
    assert created.status_code == 201 and created.json()["success"] is True
    record_id = created.json()["id"]
    assert len(record_id) == 18 and record_id.startswith("003")
    assert (
        call(org, "PATCH", f"{V}/sobjects/Contact/{record_id}", json={"Title": "CFO"}).status_code
        == 204
    )
    shown = call(org, "GET", f"{V}/sobjects/Contact/{record_id}", params={"fields": "Title"}).json()
    assert shown == {"attributes": shown["attributes"], "Title": "CFO"}
    assert call(org, "DELETE", f"{V}/sobjects/Contact/{record_id}").status_code == 204
    gone = call(org, "GET", f"{V}/sobjects/Contact/{record_id}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    bad = call(org, "POST", f"{V}/sobjects/Contact", json={"FirstName": "No Last"})
    assert bad.status_code == 400
    assert bad.json() == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]


def test_collections_cap_and_all_or_none(org: requests.Session) -> None:
    too_many = {"records": [{"attributes": {"type": "Account"}, "Name": "x"}] * 201}
    response = call(org, "POST", f"{V}/composite/sobjects", json=too_many)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    batch = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Kept?"},
            {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
        ],
    }
    results = call(org, "POST", f"{V}/composite/sobjects", json=batch).json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
    ]
    assert soql(org, "SELECT Id FROM Account WHERE Name = 'Kept?'") == []
    batch["allOrNone"] = False
    results = call(org, "POST", f"{V}/composite/sobjects", json=batch).json()
    assert [r["success"] for r in results] == [True, False]
    upsert = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Product2"}, "Name": "A", "ExternalID__c": "P-1"},
            {"attributes": {"type": "Product2"}, "Name": "B", "ExternalID__c": "p-1"},
        ],
    }
    results = call(
        org, "PATCH", f"{V}/composite/sobjects/Product2/ExternalID__c", json=upsert
    ).json()
    assert [r["errors"][0]["statusCode"] for r in results] == ["DUPLICATE_EXTERNAL_ID"] * 2


def test_soql_paging_and_errors(org: requests.Session) -> None:
    response = call(
        org,
        "GET",
        f"{V}/query",
        params={"q": "SELECT Id, Account.Name FROM Contact ORDER BY Id LIMIT 150"},
        headers={"Sforce-Query-Options": "batchSize=100"},
    )
    body = response.json()
    assert (body["totalSize"], body["done"], len(body["records"])) == (150, False, 100)
    assert body["records"][0]["Account"]["attributes"]["type"] == "Account"
    rest = call(org, "GET", body["nextRecordsUrl"]).json()
    assert rest["done"] is True and len(rest["records"]) == 50
    malformed = call(org, "GET", f"{V}/query", params={"q": "SELECT FROM"})
    assert malformed.status_code == 400 and malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    column = call(org, "GET", f"{V}/query", params={"q": "SELECT Colour__c FROM Account"})
    assert column.json()[0]["errorCode"] == "INVALID_FIELD"
    kind = call(org, "GET", f"{V}/query", params={"q": "SELECT Id FROM Invoice__c"})
    assert kind.json()[0]["errorCode"] == "INVALID_TYPE"


def test_describe_lists_fields_and_types(org: requests.Session) -> None:
    body = call(org, "GET", f"{V}/sobjects/Opportunity/describe").json()
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["CloseDate"]["type"] == "date" and not fields["CloseDate"]["nillable"]
    assert fields["ExternalID__c"]["externalId"] and fields["ExternalID__c"]["unique"]
    assert "Closed Won" in [v["value"] for v in fields["StageName"]["picklistValues"]]
    assert {
        "relationshipName": "OpportunityLineItems",
        "childSObject": "OpportunityLineItem",
        "field": "OpportunityId",
    } in body["childRelationships"]


def test_line_items_roll_up_and_price_book_rules(org: requests.Session) -> None:
    [opp] = soql(
        org,
        "SELECT Id, Amount, Pricebook2Id, SystemModstamp FROM Opportunity "
        "WHERE ExternalID__c = 'OPP-0010'",
    )
    [entry] = soql(
        org,
        "SELECT Id, UnitPrice FROM PricebookEntry "  # noqa: S608 - ids from the org itself
        f"WHERE Pricebook2Id = '{opp['Pricebook2Id']}' LIMIT 1",
    )
    line = {"OpportunityId": opp["Id"], "PricebookEntryId": entry["Id"], "Quantity": 2}
    both = call(
        org,
        "POST",
        f"{V}/sobjects/OpportunityLineItem",
        json={**line, "UnitPrice": 1, "TotalPrice": 2},
    )
    assert both.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    added = call(org, "POST", f"{V}/sobjects/OpportunityLineItem", json={**line, "UnitPrice": 10})
    assert added.status_code == 201
    [after] = soql(org, f"SELECT Amount, SystemModstamp FROM Opportunity WHERE Id = '{opp['Id']}'")  # noqa: S608
    assert after["Amount"] == pytest.approx(opp["Amount"] + 20)
    assert after["SystemModstamp"] > opp["SystemModstamp"]


def test_stats_count_created_and_updated_per_entity(org: requests.Session) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "S1", "ExternalID__c": "CUST0001"},
            {"attributes": {"type": "Account"}, "Name": "S2", "ExternalID__c": "S2"},
        ],
    }
    call(org, "PATCH", f"{V}/composite/sobjects/Account/ExternalID__c", json=body)
    stats = requests.get(f"{org.base}/_sandbox/stats", timeout=5).json()  # type: ignore[attr-defined]
    assert stats["created"] == {"Account": 1} and stats["updated"] == {"Account": 1}
