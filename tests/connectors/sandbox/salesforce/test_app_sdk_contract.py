"""The Salesforce sandbox judged by the vendor's own client, simple-salesforce.

The SDK is used as it is. It builds ``https://`` addresses from the login domain and
the instance host, so the only adaptation is the transport: a requests Session whose
adapter sends those calls to the sandbox over loopback HTTP. Each test covers one
behaviour the connector relies on (connectors/salesforce/): sign-in, SOQL paging,
upsert by external ID, sObject Collections, describe, limits, and errors in
Salesforce's array format, which the SDK reads as ``body[0]["errorCode"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import (
    DEMO_CLIENT_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_PRIVATE_KEY,
    DEMO_REFRESH_TOKEN,
    DEMO_USERNAME,
)

VERSION = "62.0"


class LoopbackAdapter(HTTPAdapter):
    """Delivers the SDK's https calls (login host, My Domain, instance) to the sandbox."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self.netloc = urlsplit(sandbox_url).netloc

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        host = parts.hostname or ""
        if host.endswith(".salesforce.com") or parts.netloc == self.netloc:
            request.url = urlunsplit(("http", self.netloc, parts.path, parts.query, ""))
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    app = sandbox.create_app({"query_batch_size": 100, "query_min_batch_size": 10})
    with SandboxServer(app) as server:
        yield server


@pytest.fixture
def transport(running: SandboxServer) -> requests.Session:
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    session = requests.Session()
    session.mount("https://", LoopbackAdapter(running.url))
    return session


@pytest.fixture
def sf(transport: requests.Session) -> Salesforce:
    """Signed in with the JWT bearer flow, as the connector signs in by default."""
    return Salesforce(
        username=DEMO_USERNAME,
        consumer_key=DEMO_CONSUMER_KEY,
        privatekey=DEMO_PRIVATE_KEY,
        session=transport,
        version=VERSION,
    )


def error_of(exc: SalesforceError) -> dict[str, Any]:
    """The first error of a refusal, which must be Salesforce's array format."""
    content = exc.content
    assert isinstance(content, list) and content, content
    assert set(content[0]) >= {"message", "errorCode"}, content
    return dict(content[0])


# -- OAuth ------------------------------------------------------------------------


def test_jwt_bearer_sign_in_and_a_new_session_after_expiry(
    sf: Salesforce, running: SandboxServer
) -> None:
    assert sf.sf_instance == urlsplit(running.url).netloc
    first = sf.session_id
    requests.post(f"{running.url}/_sandbox/sessions/expire", timeout=5).raise_for_status()
    # The SDK reads the 401's errorCode (INVALID_SESSION_ID), signs in again, retries.
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 150
    assert sf.session_id != first


def test_jwt_with_a_wrong_key_is_refused_as_oauth_does(transport: requests.Session) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(SalesforceAuthenticationFailed) as refused:
        Salesforce(
            username=DEMO_USERNAME,
            consumer_key=DEMO_CONSUMER_KEY,
            privatekey=pem,
            session=transport,
        )
    assert refused.value.code == "invalid_grant"


def test_client_credentials_on_my_domain_with_http_basic(transport: requests.Session) -> None:
    sf = Salesforce(
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CLIENT_SECRET,
        domain="clarity-demo.my",
        session=transport,
        version=VERSION,
    )
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as refused:
        Salesforce(
            consumer_key=DEMO_CONSUMER_KEY,
            consumer_secret="wrong",
            domain="clarity-demo.my",
            session=transport,
        )
    assert refused.value.code == "invalid_client"


def test_refresh_token_grant_gives_a_session_the_sdk_can_use(
    transport: requests.Session, running: SandboxServer
) -> None:
    token = transport.post(
        "https://login.salesforce.com/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": DEMO_REFRESH_TOKEN,
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    sf = Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=transport,
        version=VERSION,
    )
    assert sf.query("SELECT Id FROM Pricebook2")["totalSize"] == 2


# -- SOQL -------------------------------------------------------------------------


def test_query_more_follows_next_records_url_to_the_end(sf: Salesforce) -> None:
    first = sf.query("SELECT Id FROM Contact ORDER BY Id")
    assert first["done"] is False and len(first["records"]) == 100
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["records"][0]["Id"] > first["records"][-1]["Id"]
    every = sf.query_all("SELECT Id FROM Contact")
    assert (
        every["totalSize"]
        == len(every["records"])
        == sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    )
    paged = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=25"})
    assert len(paged["records"]) == 25


def test_quoted_datetime_is_refused_with_salesforce_message(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'")
    error = error_of(refused.value)
    assert error["errorCode"] == "INVALID_FIELD"
    assert "ERROR at Row:1:Column:47" in error["message"]
    assert error["message"].endswith(
        "value of filter criterion for field 'SystemModstamp' must be of type dateTime "
        "and should not be enclosed in quotes"
    )


def test_query_all_returns_deleted_records(sf: Salesforce) -> None:
    created = sf.Contact.create({"LastName": "Binned"})
    sf.Contact.delete(created["id"])
    soql = format_soql("SELECT Id, IsDeleted FROM Contact WHERE Id = {}", created["id"])
    assert sf.query(soql)["totalSize"] == 0
    [row] = sf.query_all(soql, include_deleted=True)["records"]
    assert row["IsDeleted"] is True


# -- records ------------------------------------------------------------------------


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce) -> None:
    assert sf.Contact.upsert("ExternalID__c/SDK-1", {"LastName": "Adeyemi"}) == 201
    updated = sf.Contact.upsert("ExternalID__c/sdk-1", {"Title": "CFO"}, raw_response=True)
    assert updated.status_code == 200 and updated.json()["created"] is False
    assert sf.Contact.get_by_custom_id("ExternalID__c", "SDK-1")["Title"] == "CFO"
    with pytest.raises(SalesforceResourceNotFound) as unknown:
        sf.Contact.upsert("NoSuchField__c/1", {"LastName": "X"})
    assert error_of(unknown.value)["errorCode"] == "NOT_FOUND"


def test_collections_report_each_record_with_all_or_none_false(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Kept"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
            ],
        },
    )
    assert results[0]["success"] is True and results[0]["id"].startswith("003")
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["errors"][0]["fields"] == ["LastName"]


def test_fifteen_character_and_any_case_ids_name_the_record(sf: Salesforce) -> None:
    record_id = sf.Contact.create({"LastName": "Short"})["id"]
    assert sf.Contact.get(record_id[:15])["Id"] == record_id
    assert sf.Contact.get(record_id.lower())["Id"] == record_id
    sf.Contact.update(record_id[:15], {"Title": "Buyer"})
    assert sf.Contact.get(record_id)["Title"] == "Buyer"


def test_deleted_record_answers_entity_is_deleted(sf: Salesforce) -> None:
    record_id = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(record_id)
    for call in (
        lambda: sf.Contact.get(record_id),
        lambda: sf.Contact.update(record_id, {"Title": "x"}),
        lambda: sf.Contact.delete(record_id),
    ):
        with pytest.raises(SalesforceResourceNotFound) as gone:
            call()
        assert error_of(gone.value)["errorCode"] == "ENTITY_IS_DELETED"


def test_composite_runs_subrequests_with_references(sf: Salesforce) -> None:
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"/services/data/v{VERSION}/sobjects/Account",
                    "referenceId": "NewAccount",
                    "body": {"Name": "Composite Ltd"},
                },
                {
                    "method": "POST",
                    "url": f"/services/data/v{VERSION}/sobjects/Contact",
                    "referenceId": "NewContact",
                    "body": {"LastName": "Okoro", "AccountId": "@{NewAccount.id}"},
                },
            ],
        },
    )
    account, contact = answer["compositeResponse"]
    assert account["httpStatusCode"] == contact["httpStatusCode"] == 201
    assert sf.Contact.get(contact["body"]["id"])["AccountId"] == account["body"]["id"]


def test_describe_global_and_object(sf: Salesforce) -> None:
    assert {"Account", "Opportunity"} <= {s["name"] for s in sf.describe()["sobjects"]}
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["StageName"]["type"] == "picklist"
    assert fields["ExternalID__c"]["externalId"] is True


# -- limits and errors -----------------------------------------------------------------


def test_spent_daily_allocation_is_403_request_limit_exceeded(
    sf: Salesforce, running: SandboxServer
) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used >= 1
    requests.post(f"{running.url}/_sandbox/limits", json={"daily": 1}, timeout=5)
    sf.query("SELECT Id FROM Account LIMIT 1")  # the last call of the allocation
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert error_of(refused.value)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_injected_429_is_still_an_error_array_with_retry_after(
    sf: Salesforce, running: SandboxServer, transport: requests.Session
) -> None:
    requests.post(
        f"{running.url}/_sandbox/faults", json={"next": ["429"], "retry_after": 7}, timeout=5
    ).raise_for_status()
    with pytest.raises(SalesforceGeneralError) as limited:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert limited.value.status == 429
    assert error_of(limited.value)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    requests.post(
        f"{running.url}/_sandbox/faults", json={"next": ["429"], "retry_after": 7}, timeout=5
    ).raise_for_status()
    raw = transport.get(f"{sf.base_url}limits", headers=sf.headers, timeout=5)
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "no/such/resource", {}, 404, "NOT_FOUND"),
        ("PUT", "sobjects/Account/describe", {}, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "sobjects/Contact", {"data": "{not json"}, 400, "JSON_PARSER_ERROR"),
        ("GET", "sobjects/Contact/not-an-id", {}, 404, "NOT_FOUND"),
        ("PATCH", "sobjects/Contact/not-an-id", {"json": {}}, 400, "MALFORMED_ID"),
        ("GET", "query", {"params": {"q": "SELECT FROM"}}, 400, "MALFORMED_QUERY"),
        ("POST", "composite", {"json": {"compositeRequest": "x"}}, 400, "JSON_PARSER_ERROR"),
    ],
)
def test_every_refusal_is_an_error_array(
    sf: Salesforce, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    with pytest.raises(SalesforceError) as refused:
        sf.restful(path, method=method, **kwargs)
    assert refused.value.status == status
    assert error_of(refused.value)["errorCode"] == code
