"""The Xero sandbox on the wire: shapes checked against Xero's official OpenAPI files."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import InMemoryTokenStore
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import Request, Response, SandboxApp, SandboxServer, text_response
from connectors.xero import verify_webhook

OPENAPI = Path(__file__).resolve().parents[5] / "shared" / "systems" / "xero-openapi"


# -- contract: responses validate against Xero's OpenAPI schemas ---------------


def _validator(spec_file: str) -> Callable[[Any, str], None]:
    yaml = pytest.importorskip("yaml")
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    path = OPENAPI / spec_file
    if not path.exists():
        pytest.skip(f"{path} is not available")
    spec = yaml.safe_load(path.read_text())
    uri = f"urn:xero:{spec_file}"
    registry = referencing.Registry().with_resource(
        uri, referencing.Resource.from_contents(spec, default_specification=DRAFT4)
    )

    def validate(instance: Any, schema_name: str) -> None:
        schema = {"$ref": f"{uri}#/components/schemas/{schema_name}"}
        jsonschema.Draft4Validator(schema, registry=registry).validate(instance)

    return validate


@pytest.fixture(scope="module")
def accounting_schema() -> Callable[[Any, str], None]:
    return _validator("xero_accounting.yaml")


@pytest.fixture
def api(xero_server: SandboxServer, xero_tokens: InMemoryTokenStore) -> Iterator[requests.Session]:
    """A bare HTTP session signed in to the sandbox, to look at raw responses."""
    tokens = xero_tokens.load()
    assert tokens is not None
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {tokens.access_token}",
            "xero-tenant-id": tokens.extra["tenant_id"],
        }
    )
    yield session
    session.close()


def signed_in(config: Any, connect_xero: Any) -> dict[str, str]:
    """Connect through the OAuth flow; the headers a raw API call needs."""
    store = InMemoryTokenStore()
    connect_xero(config, store)
    tokens = store.load()
    assert tokens is not None
    return {
        "Authorization": f"Bearer {tokens.access_token}",
        "xero-tenant-id": tokens.extra["tenant_id"],
    }


def url(server: SandboxServer, path: str) -> str:
    return f"{server.url}/api.xro/2.0/{path}"


@pytest.mark.parametrize(
    ("entity", "params"),
    [
        ("Contacts", {"page": 1}),
        ("Invoices", {"page": 1, "pageSize": 10}),
        ("Payments", {"page": 1}),
        ("ManualJournals", {}),
        ("Items", {}),
        ("Accounts", {}),
        ("TaxRates", {}),
    ],
)
def test_reads_match_the_spec(
    xero_server: SandboxServer,
    api: requests.Session,
    accounting_schema: Callable[[Any, str], None],
    entity: str,
    params: dict[str, Any],
) -> None:
    body = api.get(url(xero_server, entity), params=params, timeout=10).json()
    accounting_schema(body, entity)
    if entity not in ("ManualJournals",):
        assert body[entity], f"no demo {entity}"


def test_organisation_matches_the_spec(
    xero_server: SandboxServer, api: requests.Session, accounting_schema: Callable[..., None]
) -> None:
    accounting_schema(api.get(url(xero_server, "Organisation"), timeout=10).json(), "Organisations")


def test_batch_with_errors_matches_the_spec(
    xero_server: SandboxServer, api: requests.Session, accounting_schema: Callable[..., None]
) -> None:
    invoices = {
        "Invoices": [
            {"Type": "ACCREC", "Contact": {"Name": "Spec Co"}, "LineItems": [{"AccountCode": "1"}]},
            {"Type": "ACCREC", "Contact": {"Name": "Spec Co"}, "LineItems": []},
        ]
    }
    response = api.post(
        url(xero_server, "Invoices"), params={"summarizeErrors": "false"}, json=invoices, timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    accounting_schema(body, "Invoices")
    assert [i["HasErrors"] for i in body["Invoices"]] == [True, False]
    assert [i["StatusAttributeString"] for i in body["Invoices"]] == ["ERROR", "OK"]


def test_summarised_errors_reject_the_whole_call(
    xero_server: SandboxServer, api: requests.Session, accounting_schema: Callable[..., None]
) -> None:
    contacts = {"Contacts": [{"Name": "Only If Both Ltd"}, {"EmailAddress": "no-name"}]}
    response = api.put(url(xero_server, "Contacts"), json=contacts, timeout=10)
    assert response.status_code == 400
    body = response.json()
    accounting_schema(body, "Error")
    assert body["Type"] == "ValidationException"
    messages = [e["Message"] for el in body["Elements"] for e in el["ValidationErrors"]]
    assert any("at least 1 of the following elements" in m for m in messages)
    found = api.get(url(xero_server, "Contacts"), params={"where": 'Name=="Only If Both Ltd"'})
    assert found.json()["Contacts"] == []


def test_items_upsert_on_code_and_track_inventory_only_with_both_accounts(
    xero_server: SandboxServer, api: requests.Session, accounting_schema: Callable[..., None]
) -> None:
    tracked = {
        "Code": "SPEC-TRACKED",
        "Name": "Tracked thing",
        "InventoryAssetAccountCode": "630",
        "SalesDetails": {"UnitPrice": 12.4, "AccountCode": "200", "TaxType": "OUTPUT2"},
        "PurchaseDetails": {"COGSAccountCode": "310", "TaxType": "INPUT2"},
    }
    no_cogs = {"Code": "SPEC-NOCOGS", "Name": "Half set up", "InventoryAssetAccountCode": "630"}
    not_inventory = {**tracked, "Code": "SPEC-ASSET", "InventoryAssetAccountCode": "200"}
    items = {"Items": [tracked, no_cogs, not_inventory]}
    response = api.post(
        url(xero_server, "Items"), params={"summarizeErrors": "false"}, json=items, timeout=10
    )
    body = response.json()
    accounting_schema(body, "Items")
    saved, cogs, asset = body["Items"]
    assert saved["IsTrackedAsInventory"] is True and saved["StatusAttributeString"] == "OK"
    assert cogs["ValidationErrors"][0]["Message"] == (
        "A COGS account code is required for a tracked inventory item."
    )
    assert "'200' is not a valid inventory asset account" in asset["ValidationErrors"][0]["Message"]
    renamed = {"Items": [{"Code": "SPEC-TRACKED", "Name": "Renamed"}]}
    again = api.post(url(xero_server, "Items"), json=renamed, timeout=10).json()["Items"][0]
    assert again["ItemID"] == saved["ItemID"] and again["IsTrackedAsInventory"] is True


def test_connections_match_the_identity_spec(
    xero_server: SandboxServer, api: requests.Session
) -> None:
    validate = _validator("xero-identity.yaml")
    connections = api.get(f"{xero_server.url}/connections", timeout=10).json()
    for connection in connections:
        validate(connection, "Connection")
    assert connections[0]["tenantType"] == "ORGANISATION"


# -- identity ------------------------------------------------------------------


def test_token_endpoint_wants_basic_auth(xero_server: SandboxServer) -> None:
    response = requests.post(
        f"{xero_server.url}/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("sandbox-client-id", "wrong"),
        timeout=5,
    )
    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})


def test_access_token_is_a_jwt_with_xero_claims(xero_tokens: InMemoryTokenStore) -> None:
    tokens = xero_tokens.load()
    assert tokens is not None
    payload = tokens.access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert {"xero_userid", "authentication_event_id", "scope"} <= set(claims)
    assert claims["exp"] - claims["nbf"] == 1800


def test_tenant_header_is_required(xero_server: SandboxServer, api: requests.Session) -> None:
    del api.headers["xero-tenant-id"]
    response = api.get(url(xero_server, "Contacts"), timeout=5)
    assert response.status_code == 403
    assert response.json()["Detail"] == "AuthenticationUnsuccessful"


def test_scopes_are_enforced(
    xero_server: SandboxServer, make_xero_config: Any, connect_xero: Any
) -> None:
    narrow = make_xero_config(xero_server.url, scopes="offline_access accounting.contacts")
    headers = signed_in(narrow, connect_xero)
    assert requests.get(url(xero_server, "Contacts"), headers=headers, timeout=5).ok
    refused = requests.get(url(xero_server, "Invoices"), headers=headers, timeout=5)
    assert (refused.status_code, refused.json()["Detail"]) == (403, "AuthorizationUnsuccessful")


# -- reads ---------------------------------------------------------------------


def test_demo_data(xero_server: SandboxServer, api: requests.Session) -> None:
    get = lambda entity: api.get(url(xero_server, entity), timeout=10).json()[entity]  # noqa: E731
    assert len(get("Contacts")) == 250
    accounts = get("Accounts")
    assert {a["Code"] for a in accounts if a["Type"] == "BANK"} == {"090", "091", "092"}
    assert {"OUTPUT2", "INPUT2", "NONE"} <= {t["TaxType"] for t in get("TaxRates")}
    statuses = {i["Status"] for i in get("Invoices")}
    assert {"AUTHORISED", "DRAFT", "PAID"} <= statuses


def test_paging_and_page_size_cap(xero_server: SandboxServer, api: requests.Session) -> None:
    body = api.get(url(xero_server, "Contacts"), params={"page": 3}, timeout=5).json()
    assert body["pagination"] == {"page": 3, "pageSize": 100, "pageCount": 3, "itemCount": 250}
    assert len(body["Contacts"]) == 50
    big = api.get(url(xero_server, "Contacts"), params={"page": 1, "pageSize": 5000}, timeout=5)
    assert big.json()["pagination"]["pageSize"] == 1000


def test_if_modified_since_accepts_http_dates(
    xero_server: SandboxServer, api: requests.Session
) -> None:
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
    body = api.get(
        url(xero_server, "Contacts"), headers={"If-Modified-Since": future}, timeout=5
    ).json()
    assert body["Contacts"] == []


# -- idempotency ---------------------------------------------------------------


def test_idempotency_key_replays_and_refuses_a_different_body(
    xero_server: SandboxServer, api: requests.Session
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = api.put(url(xero_server, "Contacts"), json={"Name": "Once Only"}, headers=headers)
    second = api.put(url(xero_server, "Contacts"), json={"Name": "Once Only"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["Contacts"][0]["ContactID"] == second.json()["Contacts"][0]["ContactID"]
    other = api.put(url(xero_server, "Contacts"), json={"Name": "Another"}, headers=headers)
    assert other.status_code == 400
    assert "different request" in other.text
    SandboxControl(xero_server.url).advance_clock(361)  # the key is forgotten after ~6 minutes
    again = api.put(url(xero_server, "Contacts"), json={"Name": "Another"}, headers=headers)
    assert again.status_code == 200


# -- rate limits ---------------------------------------------------------------


def test_rate_limit_headers_and_429(xero_server: SandboxServer, api: requests.Session) -> None:
    ctl = SandboxControl(xero_server.url)
    ctl.limits(minute=2)
    first = api.get(url(xero_server, "Items"), timeout=5)
    assert first.headers["X-MinLimit-Remaining"] == "1"
    assert first.headers["X-DayLimit-Remaining"] == "4999"
    assert first.headers["X-AppMinLimit-Remaining"] == "9999"
    api.get(url(xero_server, "Items"), timeout=5)
    refused = api.get(url(xero_server, "Items"), timeout=5)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert 0 < int(refused.headers["Retry-After"]) <= 61


def test_day_limit_is_named_day_with_the_wait_till_tomorrow(
    start_sandbox: Callable[..., SandboxServer], connect_xero: Any, make_xero_config: Any
) -> None:
    server = start_sandbox(
        "xero", demo={"contacts": 1, "items": 1, "invoices": 0}, limits={"day": 1}
    )
    headers = signed_in(make_xero_config(server.url), connect_xero)
    requests.get(url(server, "Items"), headers=headers, timeout=5)
    refused = requests.get(url(server, "Items"), headers=headers, timeout=5)
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert int(refused.headers["Retry-After"]) > 80000


# -- webhooks ------------------------------------------------------------------


class Receiver(SandboxApp):
    """A webhook endpoint that checks signatures the way ours must."""

    name = "receiver"

    def __init__(self, key: str, *, check: bool = True) -> None:
        self.key, self.check = key, check
        self.received: list[dict[str, Any]] = []
        super().__init__()
        self.route("POST", "/hooks/xero", self.hook)

    def hook(self, request: Request) -> Response:
        if self.check and not verify_webhook(
            request.body, request.header("x-xero-signature"), self.key
        ):
            return Response(401)
        self.received.append(json.loads(request.body))
        return text_response("", 200)


def test_webhooks_intent_to_receive_then_signed_events(
    start_sandbox: Callable[..., SandboxServer], connect_xero: Any, make_xero_config: Any
) -> None:
    xero_server = start_sandbox(
        "xero", demo={"contacts": 5, "items": 5, "invoices": 0}, webhook_batch_delay=0.05
    )
    receiver = Receiver("hook-key")
    hook_server = start_sandbox(receiver)
    status = requests.post(
        f"{xero_server.url}/_sandbox/webhooks",
        json={"url": f"{hook_server.url}/hooks/xero", "key": "hook-key"},
        timeout=30,
    ).json()
    assert status["enabled"]
    assert [check["ok"] for check in status["last_intent"]] == [True] * 4
    assert sorted(check["status"] for check in status["last_intent"]) == [200, 200, 401, 401]
    receiver.received.clear()
    headers = signed_in(make_xero_config(xero_server.url), connect_xero)
    body = {"Name": "Hooked Ltd"}
    requests.put(url(xero_server, "Contacts"), json=body, headers=headers, timeout=5)
    deadline = time.monotonic() + 5
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.02)
    events = receiver.received[0]["events"]
    assert events[0]["eventCategory"] == "CONTACT"
    assert events[0]["eventType"] == "CREATE"
    assert events[0]["resourceUrl"].startswith(f"{xero_server.url}/api.xro/2.0/Contacts/")
    assert receiver.received[0]["firstEventSequence"] == events[0]["eventSequence"]


def test_a_receiver_that_ignores_signatures_fails_the_intent_check(
    xero_server: SandboxServer, start_sandbox: Callable[..., SandboxServer]
) -> None:
    hook_server = start_sandbox(Receiver("hook-key", check=False))
    status = requests.post(
        f"{xero_server.url}/_sandbox/webhooks",
        json={"url": f"{hook_server.url}/hooks/xero", "key": "hook-key"},
        timeout=30,
    ).json()
    assert not status["enabled"]


def test_dates_are_answered_in_xeros_json_form(
    xero_server: SandboxServer, api: requests.Session
) -> None:
    invoice = api.get(url(xero_server, "Invoices"), params={"page": 1}, timeout=10).json()
    first = invoice["Invoices"][0]
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", first["Date"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00", first["DateString"])
    ms = int(first["Date"][6:-7])
    assert (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        == (first["DateString"])
    )
