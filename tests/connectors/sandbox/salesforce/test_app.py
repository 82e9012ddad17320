"""The Salesforce sandbox's REST resources on the wire: /composite, /queryAll, the
recycle bin and 15-character Ids, checked against what Salesforce documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY

V = "/services/data/v62.0"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({"query_min_batch_size": 1})) as server:
        yield server


@pytest.fixture
def org(running: SandboxServer) -> requests.Session:
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
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.base = running.url  # type: ignore[attr-defined]
    return session


def call(org: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
    return org.request(method, f"{org.base}{path}", timeout=10, **kwargs)  # type: ignore[attr-defined]


def composite(org: requests.Session, all_or_none: bool, *subs: dict[str, Any]) -> list[Any]:
    response = call(
        org,
        "POST",
        f"{V}/composite",
        json={"allOrNone": all_or_none, "compositeRequest": list(subs)},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["compositeResponse"])


def new_account(ref: str, name: str | None) -> dict[str, Any]:
    body = {"Name": name} if name else {"Website": "https://example.com"}
    return {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": ref, "body": body}


def accounts_named(org: requests.Session, name: str) -> int:
    soql = f"SELECT COUNT() FROM Account WHERE Name = '{name}'"  # noqa: S608
    return int(call(org, "GET", f"{V}/query", params={"q": soql}).json()["totalSize"])


def test_composite_all_or_none_rolls_every_write_back(org: requests.Session) -> None:
    stats = call(org, "GET", "/_sandbox/stats").json()
    kept, failed = composite(
        org, True, new_account("Kept", "Rolled Back Ltd"), new_account("Bad", None)
    )
    assert failed["httpStatusCode"] == 400
    assert failed["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert kept["httpStatusCode"] == 400
    assert kept["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert accounts_named(org, "Rolled Back Ltd") == 0
    assert call(org, "GET", "/_sandbox/stats").json()["created"] == stats["created"]


def test_composite_without_all_or_none_halts_only_what_depends_on_a_failure(
    org: requests.Session,
) -> None:
    failed, dependent, independent = composite(
        org,
        False,
        new_account("Bad", None),
        {
            "method": "POST",
            "url": f"{V}/sobjects/Contact",
            "referenceId": "NeedsBad",
            "body": {"LastName": "Orphan", "AccountId": "@{Bad.id}"},
        },
        new_account("Good", "Independent Ltd"),
    )
    assert failed["httpStatusCode"] == 400
    assert dependent["httpStatusCode"] == 400
    assert dependent["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "Bad.id" in dependent["body"][0]["message"]
    assert independent["httpStatusCode"] == 201
    assert independent["httpHeaders"]["Location"].endswith(independent["body"]["id"])
    assert accounts_named(org, "Independent Ltd") == 1


def test_composite_reads_query_results_by_reference(org: requests.Session) -> None:
    found, updated = composite(
        org,
        True,
        {
            "method": "GET",
            "url": f"{V}/query?q=SELECT+Id+FROM+Account+ORDER+BY+Name+LIMIT+1",
            "referenceId": "First",
        },
        {
            "method": "PATCH",
            "url": f"{V}/sobjects/Account/@{{First.records[0].Id}}",
            "referenceId": "Touch",
            "body": {"Phone": "0113 496 0000"},
        },
    )
    assert updated["httpStatusCode"] == 204 and updated["body"] is None
    record_id = found["body"]["records"][0]["Id"]
    shown = call(org, "GET", f"{V}/sobjects/Account/{record_id}").json()
    assert shown["Phone"] == "0113 496 0000"


@pytest.mark.parametrize(
    "payload",
    [
        {"compositeRequest": [new_account(f"A{i}", f"N{i}") for i in range(26)]},
        {"compositeRequest": [new_account("Same", "A"), new_account("Same", "B")]},
        {"compositeRequest": [{"method": "POST", "url": f"{V}/sobjects/Account"}]},
        [1, 2],
    ],
)
def test_a_malformed_composite_request_changes_nothing(org: requests.Session, payload: Any) -> None:
    response = call(org, "POST", f"{V}/composite", json=payload)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] in ("INVALID_API_INPUT", "JSON_PARSER_ERROR")
    assert accounts_named(org, "N0") == accounts_named(org, "A") == 0


def test_query_all_pages_under_query_all_and_sees_the_recycle_bin(org: requests.Session) -> None:
    made = [
        call(org, "POST", f"{V}/sobjects/Product2", json={"Name": f"Binned {i}"}).json()["id"]
        for i in range(3)
    ]
    for record_id in made:
        assert call(org, "DELETE", f"{V}/sobjects/Product2/{record_id}").status_code == 204
    soql = "SELECT Id, IsDeleted FROM Product2 WHERE Name LIKE 'Binned%' ORDER BY Name"
    assert call(org, "GET", f"{V}/query", params={"q": soql}).json()["totalSize"] == 0
    first = call(
        org,
        "GET",
        f"{V}/queryAll",
        params={"q": soql},
        headers={"Sforce-Query-Options": "batchSize=2"},
    ).json()
    assert first["totalSize"] == 3 and first["nextRecordsUrl"].startswith(f"{V}/queryAll/")
    rest = call(org, "GET", first["nextRecordsUrl"]).json()
    records = first["records"] + rest["records"]
    assert [r["Id"] for r in records] == made and all(r["IsDeleted"] for r in records)


def test_collections_take_15_character_ids(org: requests.Session) -> None:
    record_id = call(org, "POST", f"{V}/sobjects/Contact", json={"LastName": "Short"}).json()["id"]
    shown = call(
        org,
        "GET",
        f"{V}/composite/sobjects/Contact",
        params={"ids": record_id[:15], "fields": "LastName"},
    ).json()
    assert shown[0]["LastName"] == "Short"
    deleted = call(org, "DELETE", f"{V}/composite/sobjects", params={"ids": record_id[:15]})
    assert deleted.json() == [{"id": record_id, "success": True, "errors": []}]
    again = call(org, "DELETE", f"{V}/composite/sobjects", params={"ids": record_id}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)
_SUBREQUEST = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]),
        "url": st.sampled_from(
            [
                f"{V}/sobjects/Account",
                f"{V}/sobjects/Account/@{{A.id}}",
                f"{V}/query?q=SELECT+Id+FROM+Account+LIMIT+1",
                f"{V}/composite",
                f"{V}/sobjects/Contact/@{{B.records[0].Id}}",
                "/_sandbox/reset",
            ]
        ),
        "referenceId": st.sampled_from(["A", "B", "C"]),
    },
    optional={"body": _JSON, "httpHeaders": st.dictionaries(st.text(max_size=8), _JSON)},
)


@settings(max_examples=120, deadline=None)
@given(
    payload=_JSON
    | st.fixed_dictionaries(
        {"allOrNone": _JSON, "compositeRequest": st.lists(_SUBREQUEST, max_size=4)}
    )
)
def test_any_composite_body_is_answered_never_with_a_500(
    running: SandboxServer, payload: Any
) -> None:
    token = requests.post(
        f"{running.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()["access_token"]
    response = requests.post(
        f"{running.url}{V}/composite",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()[0]["errorCode"]
    else:
        for answer in response.json()["compositeResponse"]:
            assert answer["httpStatusCode"] != 500, answer
