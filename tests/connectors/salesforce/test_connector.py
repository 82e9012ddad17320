"""Contract tests: every SalesforceConnector operation against the sandbox over loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.base import ConnectionConfig, InMemoryTokenStore, Tokens, WriteStatus
from connectors.errors import ConnectorError, ErrorKind, RateLimitedError
from connectors.http import RetryPolicy
from connectors.ratelimit import RateLimiter, RateLimits
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.soql import changes_query
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import (
    DEMO_CLIENT_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_PRIVATE_KEY,
    DEMO_REFRESH_TOKEN,
    DEMO_USERNAME,
)

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_retry_after=2.0)
Make = Callable[..., SalesforceConnector]


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    """One org for the module (starting and stopping one costs more than a test)."""
    app = sandbox.create_app({"query_batch_size": 40, "query_min_batch_size": 10})
    with SandboxServer(app) as server:
        yield server


@pytest.fixture
def server(running: SandboxServer) -> SandboxServer:
    """The module's org, re-seeded: faults, limits, sessions and stats cleared."""
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    return running


@pytest.fixture
def make(server: SandboxServer) -> Make:
    """A connector on the sandbox; JWT bearer unless settings/secrets say otherwise."""

    def build(
        *,
        settings: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        tokens: InMemoryTokenStore | None = None,
        limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> SalesforceConnector:
        config = ConnectionConfig(
            system="salesforce",
            connection_id="sf-test",
            base_url=base_url or server.url,
            settings={
                "client_id": DEMO_CONSUMER_KEY,
                "username": DEMO_USERNAME,
                "query_batch_size": 25,
                **(settings or {}),
            },
            secrets={"private_key": DEMO_PRIVATE_KEY} if secrets is None else secrets,
        )
        connector = SalesforceConnector(config, tokens or InMemoryTokenStore(), limiter)
        connector.http.retry = connector.login_http.retry = FAST
        return connector

    return build


@pytest.fixture
def sf(make: Make) -> SalesforceConnector:
    return make()


def app_of(server: SandboxServer) -> sandbox.SalesforceApp:
    app = server.app
    assert isinstance(app, sandbox.SalesforceApp)
    return app


# -- auth ------------------------------------------------------------------------------


def test_jwt_bearer_login_keeps_instance_url_and_identity(sf: SalesforceConnector) -> None:
    check = sf.test_connection()
    assert check.reachable, check.message
    assert check.connected_as == f"Clarity Integration <{DEMO_USERNAME}>"
    stored = sf.tokens.load()
    assert stored is not None and stored.refresh_token is None  # JWT issues none
    assert stored.extra["instance_url"] == sf.config.base_url
    assert stored.extra["id"].endswith("/id/00D5g000004ClAR/0055g0000000001AAA")


def test_client_credentials_login(make: Make) -> None:
    sf = make(secrets={"client_secret": DEMO_CLIENT_SECRET})
    assert sf.read_one("Account", "0015g0000000999AAA") is None
    assert sf.tokens.load() is not None


@pytest.mark.parametrize(
    ("overrides", "secrets", "code"),
    [
        ({}, {"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "3MVG9unknown"}, {"client_secret": "x"}, "invalid_client_id"),
        ({"username": "nobody@example.com"}, None, "invalid_grant"),
        ({"audience": "https://evil.example.com"}, None, "invalid_grant"),
    ],
)
def test_bad_credentials_are_auth_failures(
    make: Make, overrides: dict[str, str], secrets: dict[str, str] | None, code: str
) -> None:
    sf = make(settings=overrides, secrets=secrets)
    check = sf.test_connection()
    assert not check.reachable
    assert check.kind is ErrorKind.AUTH
    with pytest.raises(ConnectorError) as caught:
        sf.read_one("Account", "0015g0000000999AAA")
    assert caught.value.kind is ErrorKind.AUTH and caught.value.code == code
    assert caught.value.message == check.message


def test_expired_session_logs_in_again_once_across_threads(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    assert sf.read_one("Account", "0015g0000000999AAA") is None
    store = sf.tokens
    assert isinstance(store, InMemoryTokenStore)
    first = store.load()
    requests.post(f"{server.url}/_sandbox/sessions/expire", timeout=5).raise_for_status()

    errors: list[BaseException] = []

    def read() -> None:
        try:
            sf.read_one("Account", "0015g0000000999AAA")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.saves == 2  # the first login and exactly one re-login
    assert store.load() != first


def test_refresh_token_grant_is_used_when_one_is_stored(make: Make, server: SandboxServer) -> None:
    stale = Tokens("stale", DEMO_REFRESH_TOKEN, extra={"instance_url": server.url})
    tokens = InMemoryTokenStore(stale)
    sf = make(secrets={"client_secret": DEMO_CLIENT_SECRET}, tokens=tokens)
    assert sf.read_one("Account", "0015g0000000999AAA") is None
    fresh = tokens.load()
    assert fresh is not None and fresh.access_token != "stale"
    assert fresh.refresh_token == DEMO_REFRESH_TOKEN  # not rotated: the old one is kept


# -- reads -------------------------------------------------------------------------------


def test_read_changes_pages_to_the_end_and_resumes_exactly(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    pages = list(sf.read_changes("Account", None))
    records = [r for page in pages for r in page.records]
    assert len(pages) > 3  # 25 a page: nextRecordsUrl was followed
    assert len(records) == len(app_of(server).data["Account"]) == 153
    # totalSize counts the whole query on every page, those of nextRecordsUrl too.
    assert {page.total for page in pages} == {153}
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys)
    # 50 Accounts share one SystemModstamp, so page 1's cursor sits inside a tie.
    assert records[24]["SystemModstamp"] == records[25]["SystemModstamp"]
    resumed = [
        r["Id"] for page in sf.read_changes("Account", pages[0].cursor) for r in page.records
    ]
    assert resumed == [r["Id"] for r in records[25:]]
    assert next(sf.read_changes("Account", pages[0].cursor)).total == 153 - 25
    assert [p.records for p in sf.read_changes("Account", pages[-1].cursor)] == [[]]


def test_read_changes_sees_a_write_and_carries_line_items(sf: SalesforceConnector) -> None:
    cursor = list(sf.read_changes("Opportunity", None))[-1].cursor
    [outcome] = sf.write_batch("Opportunity", [{"ExternalID__c": "OPP-0007", "Description": "x"}])
    [page] = list(sf.read_changes("Opportunity", cursor))
    [record] = page.records
    assert record["Id"] == outcome.target_id and record["Description"] == "x"
    assert isinstance(record["OpportunityLineItems"], list)
    assert {"PricebookEntryId", "Quantity", "UnitPrice"} <= set(record["OpportunityLineItems"][0])
    assert page.cursor is not None and page.cursor > str(cursor)


def test_products_are_read_with_their_standard_price_only(sf: SalesforceConnector) -> None:
    records = [r for page in sf.read_changes("Product2", None) for r in page.records]
    product = next(r for r in records if r["ExternalID__c"] == "PRD-0001")
    books = sf._call("GET", "query", params={"q": "SELECT Id, IsStandard FROM Pricebook2"})
    standard = {b["Id"] for b in books.json()["records"] if b["IsStandard"]}
    [entry] = product["PricebookEntries"]  # the Trade price book's entry is left out
    assert entry["Pricebook2Id"] in standard and entry["UnitPrice"] > 0


def test_changes_query_shape() -> None:
    soql = changes_query("Account", ["Id", "Name"], "2026-01-01T10:00:00.000Z 001x")
    assert soql == (
        "SELECT Id, Name FROM Account WHERE (SystemModstamp > 2026-01-01T10:00:00.000Z OR "
        "(SystemModstamp = 2026-01-01T10:00:00.000Z AND Id > '001x')) "
        "ORDER BY SystemModstamp, Id"
    )
    overlap = changes_query("Account", ["Id"], "2026-01-01T10:00:00.000Z 001x", overlap=60)
    assert "SystemModstamp > 2026-01-01T09:59:00.000Z ORDER BY" in overlap
    with pytest.raises(ValueError, match="plain"):
        changes_query("Account; DELETE", ["Id"], None)


def test_read_one_and_find_by_reference(sf: SalesforceConnector) -> None:
    found = sf.find_by_reference("Account", "cust0005")  # external IDs match case-blind
    assert found is not None and found.record["ExternalID__c"] == "CUST0005"
    record = sf.read_one("Account", found.target_id)
    assert record is not None and record["Name"] == found.record["Name"]
    assert "attributes" not in record
    assert sf.find_by_reference("Account", "NOPE") is None
    with pytest.raises(ConnectorError) as caught:
        sf.find_by_reference("Account", "NWT001")
    assert caught.value.kind is ErrorKind.DATA and caught.value.code == "duplicate_external_id"
    assert "'NWT001'" in caught.value.message


def test_describe_and_entities(sf: SalesforceConnector) -> None:
    # Bulk API 2.0 is on by default: a call takes up to 10,000 records (200 with it off).
    assert "Opportunity" in sf.entities() and sf.max_batch_size("Account") == 10_000
    schema = sf.describe("Opportunity")
    fields = {f.name: f for f in schema.fields}
    assert schema.key_field == "Id" and schema.reference_field == "ExternalID__c"
    assert schema.relationship_paths  # Account.Name, OpportunityLineItems[] are not fields
    assert fields["Amount"].type == "number" and fields["CloseDate"].type == "date"
    assert fields["StageName"].required and not fields["Amount"].required
    assert fields["SystemModstamp"].type == "datetime" and not fields["SystemModstamp"].required


# -- writes ------------------------------------------------------------------------------


def test_upsert_batch_is_idempotent_in_one_call(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    records = [{"Name": f"Batch {n}", "ExternalID__c": f"BATCH{n:03d}"} for n in range(200)]
    sf.describe("Account")  # log in and read the field types SOQL literals follow (cached)
    before = app_of(server).stats["requests"]
    first = sf.write_batch("Account", records)
    # 200 records, one write call (after one query that leaves out unchanged records)
    assert app_of(server).stats["requests"] == before + 2
    assert {o.status for o in first} == {WriteStatus.CREATED}
    again = sf.write_batch("Account", records)
    assert {o.status for o in again} == {WriteStatus.UPDATED}
    assert {o.raw.get("unchanged") for o in again} == {True}  # nothing written
    assert [o.target_id for o in again] == [o.target_id for o in first]
    assert app_of(server).stats["created"]["Account"] == 200
    with pytest.raises(ConnectorError, match="10000"):
        sf.write_batch("Account", [{"Name": "one too many"}] * 10_001)


def test_update_by_id_and_create_without_external_id(sf: SalesforceConnector) -> None:
    found = sf.find_by_reference("Contact", "CON-00001")
    assert found is not None
    outcomes = sf.write_batch(
        "Contact",
        [{"Id": found.target_id, "Title": "Buyer"}, {"LastName": "Nobody", "Email": "n@x.io"}],
    )
    assert [o.status for o in outcomes] == [WriteStatus.UPDATED, WriteStatus.CREATED]
    assert outcomes[0].target_id == found.target_id
    updated = sf.read_one("Contact", found.target_id)
    assert updated is not None and updated["Title"] == "Buyer"


def test_a_price_for_a_product_already_in_the_book_updates_its_entry(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    app = app_of(server)
    entry = app.data["PricebookEntry"][_standard_entry(server)]
    product = app.data["Product2"][entry["Product2Id"]]
    price = {
        "Pricebook2Id": entry["Pricebook2Id"],
        "Product2": {"ExternalID__c": product["ExternalID__c"].lower()},
        "UnitPrice": entry["UnitPrice"] + 1,
        "IsActive": True,
    }
    count = len(app.data["PricebookEntry"])
    [outcome] = sf.write_batch("PricebookEntry", [price])
    assert (outcome.status, outcome.target_id) == (WriteStatus.UPDATED, entry["Id"])
    assert app.data["PricebookEntry"][entry["Id"]]["UnitPrice"] == price["UnitPrice"]
    [again] = sf.write_batch("PricebookEntry", [price])
    assert again.raw == {"unchanged": True}
    resent = {**price, "Id": entry["Id"], "UnitPrice": price["UnitPrice"] + 1}  # Id known
    [updated] = sf.write_batch("PricebookEntry", [resent])
    assert updated.status is WriteStatus.UPDATED, updated.message
    assert app.data["PricebookEntry"][entry["Id"]]["UnitPrice"] == resent["UnitPrice"]
    assert len(app.data["PricebookEntry"]) == count


def _standard_entry(server: SandboxServer) -> str:
    app = app_of(server)
    standard = next(b["Id"] for b in app.data["Pricebook2"].values() if b["IsStandard"])
    return next(
        e["Id"] for e in app.data["PricebookEntry"].values() if e["Pricebook2Id"] == standard
    )


@pytest.mark.parametrize(
    ("entity", "record", "kind", "code", "words"),
    [
        ("Account", {"ExternalID__c": "N1"}, "data", "REQUIRED_FIELD_MISSING", "needs Name"),
        (
            "Account",
            {"Name": "x", "ExternalID__c": "N2", "Xero_Contact_Id__c": "X-1"},
            "data",
            "DUPLICATE_VALUE",
            "already has this Xero_Contact_Id__c 'X-1'",
        ),
        (
            "Opportunity",
            {"ExternalID__c": "OPP-0999", "Description": "renewal"},
            "data",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "Closed Won opportunity must have an Amount",
        ),
        (
            "Opportunity",
            {"ExternalID__c": "OPP-0001", "StageName": "Won"},
            "data",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "StageName 'Won'",
        ),
        (
            "Contact",
            {"LastName": "x", "ExternalID__c": "C1", "AccountId": "0015g0000099999AAA"},
            "data",
            "INVALID_CROSS_REFERENCE_KEY",
            "does not exist",
        ),
        (
            "Account",
            {"Name": "n" * 300, "ExternalID__c": "N3"},
            "data",
            "STRING_TOO_LONG",
            "longer",
        ),
        (
            "Account",
            {"Name": "x", "ExternalID__c": "N4", "IsDeleted": True},
            "config",
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Remove it",
        ),
    ],
)
def test_rejected_records_are_classified(
    sf: SalesforceConnector,
    entity: str,
    record: dict[str, Any],
    kind: str,
    code: str,
    words: str,
) -> None:
    sf.write_batch(
        "Account", [{"Name": "holder", "ExternalID__c": "H1", "Xero_Contact_Id__c": "X-1"}]
    )
    good = {"Name": "fine", "ExternalID__c": "GOOD1"}
    outcomes = sf.write_batch(entity, [record, good] if entity == "Account" else [record])
    failed = outcomes[0]
    assert failed.status is WriteStatus.FAILED
    assert (failed.kind, failed.code) == (kind, code.lower())  # Salesforce's, in snake case
    assert words in (failed.message or "")
    assert failed.raw["errors"][0]["statusCode"] == code
    if entity == "Account":  # allOrNone=false: the good record still went in
        assert outcomes[1].status is WriteStatus.CREATED


def test_line_item_from_another_price_book_is_refused(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    found = sf.find_by_reference("Opportunity", "OPP-0001")
    assert found is not None
    line = {"OpportunityId": found.target_id, "PricebookEntryId": _standard_entry(server)}
    [outcome] = sf.write_batch("OpportunityLineItem", [{**line, "Quantity": 1, "UnitPrice": 5}])
    assert (outcome.kind, outcome.code) == ("data", "field_integrity_exception")
    assert "different pricebook" in (outcome.message or "")


def test_unknown_field_fails_the_whole_call_as_config(sf: SalesforceConnector) -> None:
    with pytest.raises(ConnectorError) as caught:
        sf.write_batch("Account", [{"Name": "x", "ExternalID__c": "U1", "Colour__c": "red"}])
    assert caught.value.kind is ErrorKind.CONFIG and caught.value.code == "invalid_field"
    assert "Colour__c" in caught.value.message


# -- limits ------------------------------------------------------------------------------


def test_shared_limiter_and_headroom(
    make: Make, redis_client: Any, unique_key: str, server: SandboxServer
) -> None:
    limiter = RateLimiter(redis_client, unique_key, RateLimits(per_minute=4), max_wait=0)
    sf = make(limiter=limiter)
    check = sf.test_connection()  # identity + limits: two permits
    assert check.headroom is not None
    assert check.headroom.day_remaining == 115_000 - 1  # the org's own count (/limits)
    assert check.headroom.minute_remaining == 2
    assert sf.api_usage == (1, 115_000)  # read from Sforce-Limit-Info
    sf.read_one("Account", "0015g0000000999AAA")
    sf.read_one("Account", "0015g0000000999AAA")
    served = app_of(server).stats["requests"]
    with pytest.raises(RateLimitedError):
        sf.read_one("Account", "0015g0000000999AAA")
    assert app_of(server).stats["requests"] == served  # refused before it was sent


def test_spent_daily_allocation_is_a_transient_wait(
    sf: SalesforceConnector, server: SandboxServer
) -> None:
    requests.post(f"{server.url}/_sandbox/limits", json={"daily": 2}, timeout=5)
    sf.read_one("Account", "0015g0000000999AAA")
    sf.read_one("Account", "0015g0000000999AAA")
    with pytest.raises(RateLimitedError) as caught:
        sf.read_one("Account", "0015g0000000999AAA")
    assert caught.value.kind is ErrorKind.TRANSIENT and caught.value.status == 403
    assert caught.value.limit == "day" and "daily API allowance" in caught.value.message


def test_unreachable_org_is_reported_not_raised(make: Make, server: SandboxServer) -> None:
    check = make(base_url="http://127.0.0.1:9").test_connection()
    assert not check.reachable and check.kind is ErrorKind.TRANSIENT


@pytest.mark.parametrize(
    ("overrides", "secrets", "code"),
    [
        ({"client_id": ""}, None, "missing_setting"),
        ({}, {"private_key": "not a key"}, "invalid_private_key"),
    ],
)
def test_incomplete_connection_is_a_config_failure(
    make: Make, overrides: dict[str, str], secrets: dict[str, str] | None, code: str
) -> None:
    sf = make(settings=overrides, secrets=secrets)
    check = sf.test_connection()
    assert not check.reachable and check.kind is ErrorKind.CONFIG
    with pytest.raises(ConnectorError) as caught:
        sf.read_one("Account", "0015g0000000999AAA")
    assert caught.value.code == code


def test_own_writes_are_tagged_for_echo_suppression(make: Make, server: SandboxServer) -> None:
    sf = make(settings={"call_options_client": "clarity-connect"})
    sf.write_batch("Account", [{"Name": "Echo", "ExternalID__c": "ECHO1"}])
    header = app_of(server).events[-1]["payload"]["ChangeEventHeader"]
    assert header["changeOrigin"].endswith(";client=clarity-connect")
    assert header["changeType"] == "CREATE" and header["entityName"] == "Account"
