"""XeroAPI's own SDK (xero-python) judges the Xero sandbox: everything the connector relies
on, driven by the vendor's client as it is.

The SDK is pointed at the sandbox, never patched: its Accounting and Identity APIs take a
``base_url``, and its token endpoints are ``TokenApi`` class attributes that
xero-python's README tells apps to set (LIBRARIES.md); plain http on loopback needs no
transport change because the SDK's urllib3 pool speaks both schemes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

xero_python = pytest.importorskip("xero_python")

from xero_python.accounting import AccountingApi  # noqa: E402
from xero_python.accounting.models import (  # noqa: E402
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineItem,
)
from xero_python.api_client import ApiClient  # noqa: E402
from xero_python.api_client.configuration import Configuration  # noqa: E402
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi  # noqa: E402
from xero_python.exceptions import (  # noqa: E402
    AccountingBadRequestException,
    ApiException,
    RateLimitException,
)
from xero_python.identity import IdentityApi  # noqa: E402

from connectors.sandbox.control import SandboxControl  # noqa: E402
from connectors.sandbox.core import SandboxServer  # noqa: E402

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"


@pytest.fixture
def sdk(
    xero_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SandboxServer, ApiClient, dict[str, Any]]]:
    """A fresh sandbox, its consent (code flow), and an SDK client holding the tokens."""
    start, sign_in = xero_factory
    server = start()
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{server.url}/connect/token")
    monkeypatch.setattr(TokenApi, "revoke_token_url", f"{server.url}/connect/revocation")
    token = sign_in(server)
    store: dict[str, Any] = {
        "token": {
            **{k: token[k] for k in ("access_token", "refresh_token", "id_token", "token_type")},
            "scope": token["scope"].split(),
            "expires_in": token["expires_in"],
            "expires_at": time.time() + token["expires_in"],
        },
        "tenant_id": token["tenant_id"],
    }
    client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)),
        oauth2_token_getter=lambda: store["token"],
        oauth2_token_saver=lambda new: store.update(token=new),
    )
    yield server, client, store


def accounting(server: SandboxServer, client: ApiClient) -> AccountingApi:
    return AccountingApi(client, base_url=f"{server.url}/api.xro/2.0")


def sales_invoice(contact_id: str, **fields: Any) -> Invoice:
    line = LineItem(description="Bolts", quantity=2.0, unit_amount=10.0, account_code="200")
    return Invoice(
        type="ACCREC", contact=Contact(contact_id=contact_id), line_items=[line], **fields
    )


def first_contact(api: AccountingApi, tenant: str) -> str:
    return str(api.get_contacts(tenant).contacts[0].contact_id)


# -- OAuth: code flow, RS256 tokens, refresh and revoke as the SDK sends them ----------


def test_code_flow_tokens_are_rs256_jwts_verified_by_the_published_jwks(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    jwks = requests.get(f"{server.url}/.well-known/openid-configuration/jwks", timeout=10).json()
    keys = {key["kid"]: jwt.PyJWK(key) for key in jwks["keys"]}
    access = store["token"]["access_token"]
    header = jwt.get_unverified_header(access)
    claims = jwt.decode(
        access,
        keys[header["kid"]].key,
        algorithms=["RS256"],
        audience="https://identity.xero.com/resources",
        issuer="https://identity.xero.com",
    )
    connections = IdentityApi(client, base_url=server.url).get_connections()

    assert header["alg"] == "RS256"
    assert {"xero_userid", "authentication_event_id", "scope"} <= set(claims)
    assert [c.tenant_id for c in connections] == [store["tenant_id"]]
    assert connections[0].auth_event_id == claims["authentication_event_id"]


def test_the_sdk_refreshes_with_credentials_in_the_form_body_and_gets_a_rotated_pair(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    before = dict(store["token"])

    client.refresh_oauth2_token()

    after = store["token"]
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated
    assert accounting(server, client).get_organisations(store["tenant_id"]).organisations


def test_a_token_nearly_expired_is_refreshed_by_the_sdk_before_the_call(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    stale = store["token"]["access_token"]
    store["token"]["expires_at"] = time.time() + 5  # inside the SDK's 60 s buffer

    contacts = accounting(server, client).get_contacts(store["tenant_id"])

    assert contacts.contacts and store["token"]["access_token"] != stale


def test_revoking_through_the_sdk_ends_the_consent(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    access = store["token"]["access_token"]

    client.revoke_oauth2_token()

    answer = requests.get(
        f"{server.url}/api.xro/2.0/Contacts",
        headers={"Authorization": f"Bearer {access}", "xero-tenant-id": store["tenant_id"]},
        timeout=10,
    )
    assert answer.status_code == 401


def test_the_token_endpoint_refuses_a_wrong_secret_in_the_form_body(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, _client, store = sdk
    answer = requests.post(
        f"{server.url}/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": store["token"]["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": "wrong",
        },
        timeout=10,
    )
    assert (answer.status_code, answer.json()) == (401, {"error": "invalid_client"})


# -- writes: per-element errors, the whole-batch 400, idempotency ----------------------


def test_summarize_errors_false_answers_each_invoice_with_its_own_errors(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    contact = first_contact(api, tenant)
    good = sales_invoice(contact, date=dt.date(2026, 1, 31))
    bad = sales_invoice(contact)
    bad.line_items[0].account_code = "999"

    result = api.create_invoices(tenant, Invoices(invoices=[good, bad]), summarize_errors=False)

    saved, refused = result.invoices
    assert (saved.has_errors, saved.status_attribute_string) == (False, "OK")
    assert saved.date == dt.date(2026, 1, 31)  # sent as /Date(ms+0000)/, read back the same
    assert refused.has_errors is True
    assert refused.validation_errors[0].message == (
        "Account code '999' is not a valid code for this document."
    )


def test_one_bad_invoice_fails_the_batch_with_the_reason_the_sdk_reads(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    before = len(api.get_invoices(tenant).invoices)
    bad = sales_invoice(first_contact(api, tenant))
    bad.line_items[0].tax_type = "NOPE"

    with pytest.raises(AccountingBadRequestException) as caught:
        api.create_invoices(tenant, Invoices(invoices=[bad]))

    assert "The TaxType code 'NOPE' does not exist" in caught.value.reason
    assert len(api.get_invoices(tenant).invoices) == before


def test_the_same_idempotency_key_replays_the_first_answer(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    invoices = Invoices(invoices=[sales_invoice(first_contact(api, tenant), reference="R-1")])
    before = len(api.get_invoices(tenant).invoices)

    first = api.create_invoices(tenant, invoices, idempotency_key="sync-run-7-batch-1")
    again = api.create_invoices(tenant, invoices, idempotency_key="sync-run-7-batch-1")

    assert first.invoices[0].invoice_id == again.invoices[0].invoice_id
    assert len(api.get_invoices(tenant).invoices) == before + 1


# -- reads: paging, If-Modified-Since, where ------------------------------------------


def test_paging_and_if_modified_since_through_the_sdk(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    everyone = api.get_contacts(tenant).contacts
    first = api.get_contacts(tenant, page=1, page_size=7, order="Name ASC")
    second = api.get_contacts(tenant, page=2, page_size=7, order="Name ASC")

    assert (first.pagination.page, first.pagination.page_size) == (1, 7)
    assert first.pagination.item_count == len(everyone)
    assert len(first.contacts) == 7
    assert not {c.contact_id for c in first.contacts} & {c.contact_id for c in second.contacts}

    # Xero reads If-Modified-Since to the second: cut after the last change, then change one.
    last = max(c.updated_date_utc for c in everyone)
    cut = last.replace(microsecond=0, tzinfo=None) + dt.timedelta(seconds=1)
    time.sleep(max(0.0, (cut - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()) + 0.2)
    api.create_contacts(tenant, Contacts(contacts=[Contact(name="Changed Since Ltd")]))
    changed = api.get_contacts(tenant, if_modified_since=cut)
    assert [c.name for c in changed.contacts] == ["Changed Since Ltd"]


def test_where_filters_through_the_sdk(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    api.create_contacts(
        tenant, Contacts(contacts=[Contact(name="Zebra Crossing Ltd"), Contact(name="Zed Ltd")])
    )

    starts = api.get_contacts(tenant, where='Name.StartsWith("Ze")').contacts
    both = api.get_contacts(tenant, where='Name == "Zed Ltd" || Name.Contains("Crossing")')
    authorised = api.get_invoices(
        tenant, where='Status == "AUTHORISED" && Date >= DateTime(2000, 01, 01)'
    ).invoices

    assert {c.name for c in starts} == {"Zebra Crossing Ltd", "Zed Ltd"}
    assert {c.name for c in both.contacts} == {"Zebra Crossing Ltd", "Zed Ltd"}
    assert authorised and {i.status for i in authorised} == {"AUTHORISED"}


# -- 429s as the SDK raises them ------------------------------------------------------


def test_a_429_is_raised_by_the_sdk_with_the_limit_and_retry_after(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    """A POST meets the 429 (urllib3 under the SDK retries a GET or PUT after Retry-After
    by itself, LIBRARIES.md), and the SDK says which limit and how long to wait."""
    server, client, store = sdk
    api, tenant = accounting(server, client), store["tenant_id"]
    invoices = Invoices(invoices=[sales_invoice(first_contact(api, tenant))])
    SandboxControl(server.url).limits(minute=1)  # (a new limit starts a new window)
    api.update_or_create_invoices(tenant, invoices)

    with pytest.raises(RateLimitException) as caught:
        api.update_or_create_invoices(tenant, invoices)

    assert caught.value.status == 429
    assert caught.value.rate_limit == "minute"
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60


def test_an_unknown_tenant_is_refused_with_403(
    sdk: tuple[SandboxServer, ApiClient, dict[str, Any]],
) -> None:
    server, client, _store = sdk
    with pytest.raises(ApiException) as caught:
        accounting(server, client).get_contacts("00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 403
