"""Every Xero connector operation against the Xero sandbox over real HTTP on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.base import ConnectionConfig, InMemoryTokenStore, Tokens, WriteStatus
from connectors.errors import ConnectorError, ErrorKind
from connectors.http import RetryPolicy
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import Request, Response, SandboxServer, json_response
from connectors.sandbox.xero.app import XeroSandbox
from connectors.sandbox.xero.auth import SigningKey
from connectors.xero import (
    XeroConnector,
    authorization_url,
    exchange_code,
    verify_webhook,
    xero_connector,
)
from connectors.xero.errors import XeroErrorCode

# -- connect flow and tokens ---------------------------------------------------


def test_authorization_url_carries_what_xero_needs(xero_config: ConnectionConfig) -> None:
    url, state = authorization_url(xero_config, state="abc123")
    query = parse_qs(urlsplit(url).query)
    assert state == "abc123"
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["sandbox-client-id"]
    assert query["redirect_uri"] == ["http://localhost:8000/xero/callback"]
    assert query["state"] == ["abc123"]
    assert "offline_access" in query["scope"][0].split()


def test_connect_stores_tokens_and_tenant(xero_config: ConnectionConfig, connect_xero: Any) -> None:
    store = InMemoryTokenStore()
    tenant = connect_xero(xero_config, store)
    assert tenant.tenant_name == "Demo Company (UK)"
    tokens = store.load()
    assert tokens is not None and tokens.refresh_token
    assert tokens.extra["tenant_id"] == tenant.tenant_id
    assert 1700 < (tokens.expires_at or 0) - time.time() <= 1801


class ForgedKeysSandbox(XeroSandbox):
    """A Xero whose published JWKS is not the key its tokens are signed with."""

    def jwks(self, request: Request) -> Response:
        return json_response(SigningKey().jwks())


def test_connect_believes_token_claims_only_when_the_jwks_key_signed_them(
    start_sandbox: Any, make_xero_config: Any, connect_xero: Any
) -> None:
    """The connector picks the consent's organisations by the token's
    authentication_event_id: a token Xero's published key did not sign is refused."""
    server = start_sandbox(ForgedKeysSandbox({"demo": {"contacts": 1, "items": 1, "invoices": 0}}))
    store = InMemoryTokenStore()
    with pytest.raises(ConnectorError) as caught:
        connect_xero(make_xero_config(server.url), store)
    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.AUTH,
        XeroErrorCode.SIGN_IN_REJECTED,
    )
    assert "could not be verified" in caught.value.message
    assert store.load() is None


def test_connect_refuses_a_foreign_state(xero_config: ConnectionConfig) -> None:
    url, _ = authorization_url(xero_config)
    callback = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    with pytest.raises(ConnectorError) as caught:
        exchange_code(xero_config, InMemoryTokenStore(), callback_url=callback, expected_state="x")
    assert caught.value.code == XeroErrorCode.STATE_MISMATCH


def test_a_code_works_once(xero_config: ConnectionConfig) -> None:
    url, state = authorization_url(xero_config)
    callback = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    exchange_code(xero_config, InMemoryTokenStore(), callback_url=callback, expected_state=state)
    with pytest.raises(ConnectorError) as caught:
        exchange_code(
            xero_config, InMemoryTokenStore(), callback_url=callback, expected_state=state
        )
    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.AUTH,
        XeroErrorCode.SIGN_IN_REJECTED,
    )


def test_plain_http_is_refused_for_real_hosts(make_xero_config: Any) -> None:
    config = make_xero_config("http://xero.example.com")
    with pytest.raises(ConnectorError) as caught:
        authorization_url(config)
    assert caught.value.code == XeroErrorCode.INSECURE_URL


def test_refreshes_before_expiry_and_saves_the_rotated_pair(
    xero_config: ConnectionConfig, xero_tokens: InMemoryTokenStore
) -> None:
    before = xero_tokens.load()
    assert before is not None
    late = XeroConnector(xero_config, xero_tokens, clock=lambda: time.time() + 1750)
    assert late.read_one("Contacts", "CUST-0001") is not None
    after = xero_tokens.load()
    assert after is not None
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert after.extra == before.extra


def test_expired_token_is_refreshed_after_a_401(
    xero: XeroConnector, xero_tokens: InMemoryTokenStore, control: Any, xero_server: SandboxServer
) -> None:
    before = xero_tokens.load()
    control(xero_server).advance_clock(1801)  # the sandbox now sees the token as expired
    assert xero.read_one("Contacts", "CUST-0002") is not None
    after = xero_tokens.load()
    assert before is not None and after is not None
    assert after.access_token != before.access_token


def test_concurrent_workers_refresh_once(
    xero_config: ConnectionConfig, xero_tokens: InMemoryTokenStore
) -> None:
    current = xero_tokens.load()
    assert current is not None
    xero_tokens.save(Tokens(current.access_token, current.refresh_token, 0.0, current.extra))
    saves = xero_tokens.saves
    errors: list[Exception] = []

    def work() -> None:
        try:
            XeroConnector(xero_config, xero_tokens).read_one("Contacts", "CUST-0003")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert xero_tokens.saves == saves + 1


def test_previous_refresh_token_has_a_grace_period(
    xero_config: ConnectionConfig, xero_server: SandboxServer, connect_xero: Any
) -> None:
    """If a rotated pair is lost, the old refresh token still works for 30 minutes only."""
    store = InMemoryTokenStore()
    connect_xero(xero_config, store)
    stale = store.load()
    assert stale is not None
    expired = Tokens(stale.access_token, stale.refresh_token, 0.0, stale.extra)
    XeroConnector(xero_config, InMemoryTokenStore(expired)).read_one("Contacts", "CUST-0001")
    # The rotated pair was "lost"; the previous refresh token works within the grace period.
    assert XeroConnector(xero_config, InMemoryTokenStore(expired)).read_one("Items", "ITM-0001")
    SandboxControl(xero_server.url).advance_clock(1801)
    with pytest.raises(ConnectorError) as caught:
        XeroConnector(xero_config, InMemoryTokenStore(expired)).read_one("Items", "ITM-0001")
    assert caught.value.kind is ErrorKind.AUTH


def test_not_connected_is_an_auth_error(xero_config: ConnectionConfig) -> None:
    with pytest.raises(ConnectorError) as caught:
        XeroConnector(xero_config, InMemoryTokenStore()).read_one("Contacts", "CUST-0001")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.AUTH, XeroErrorCode.NOT_CONNECTED)


def test_wrong_tenant_is_reported_plainly(
    xero_server: SandboxServer, xero_tokens: InMemoryTokenStore, make_xero_config: Any
) -> None:
    config = make_xero_config(xero_server.url, tenant_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ConnectorError) as caught:
        XeroConnector(config, xero_tokens).read_one("Contacts", "CUST-0001")
    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.AUTH,
        XeroErrorCode.TENANT_NOT_CONNECTED,
    )
    assert "Reconnect to Xero" in caught.value.message


# -- reads ---------------------------------------------------------------------


def test_read_changes_pages_to_the_end_and_moves_the_cursor(xero: XeroConnector) -> None:
    pages = list(xero.read_changes("Contacts", None))
    assert [len(p.records) for p in pages] == [100, 100, 50]
    # pagination.itemCount: every page tells the whole read's count, not its own.
    assert [p.total for p in pages] == [250, 250, 250]
    cursors = [p.cursor for p in pages]
    assert cursors == sorted(cursors)
    cursor = pages[-1].cursor
    assert list(xero.read_changes("Contacts", cursor)) == [
        type(pages[0])(records=[], cursor=cursor, total=0)
    ]
    outcome = xero.write_batch("Contacts", [{"Name": "Fresh Start Ltd"}])[0]
    changed = [r for p in xero.read_changes("Contacts", cursor) for r in p.records]
    assert [r["ContactID"] for r in changed] == [outcome.target_id]


def test_read_changes_of_unpaged_entities(xero: XeroConnector) -> None:
    pages = list(xero.read_changes("Accounts", None))
    assert len(pages) == 1 and pages[0].total is None  # no pagination object: no total
    assert any(a["Type"] == "BANK" for a in pages[0].records)
    assert len(next(iter(xero.read_changes("TaxRates", None))).records) >= 10


def test_page_size_setting(
    xero_server: SandboxServer, xero_tokens: InMemoryTokenStore, make_xero_config: Any
) -> None:
    connector = XeroConnector(make_xero_config(xero_server.url, page_size=250), xero_tokens)
    assert [len(p.records) for p in connector.read_changes("Contacts", None)] == [250]


def test_read_one(xero: XeroConnector) -> None:
    contact = xero.read_one("Contacts", "CUST-0001")
    assert contact is not None
    assert xero.read_one("Contacts", contact["ContactID"]) == contact
    assert xero.read_one("Contacts", "no-such-contact") is None


def test_find_by_reference(xero: XeroConnector) -> None:
    found = xero.find_by_reference("Contacts", "CUST-0007")
    assert found is not None and found.record["ContactNumber"] == "CUST-0007"
    assert found.target_id == found.record["ContactID"]
    invoice = xero.find_by_reference("Invoices", "INV-0003")
    assert invoice is not None and invoice.record["InvoiceNumber"] == "INV-0003"
    item = xero.find_by_reference("Items", "ITM-0002")
    assert item is not None and item.target_id == item.record["ItemID"]
    assert xero.find_by_reference("Invoices", "INV-9999") is None
    assert xero.find_by_reference("Contacts", 'Quote "this"') is None


def test_catalogue(xero: XeroConnector) -> None:
    assert set(xero.entities()) >= {"Contacts", "Invoices", "Payments", "ManualJournals"}
    schema = xero.describe("Invoices")
    required = {f.name for f in schema.fields if f.required}
    assert {"Type", "Contact", "LineItems"} <= required
    assert (schema.key_field, schema.reference_field) == ("InvoiceID", "InvoiceNumber")
    assert xero.max_batch_size("Invoices") == 50
    assert xero.max_batch_size("Items") == 500
    assert xero.max_batch_size("Accounts") == 1
    with pytest.raises(ConnectorError, match="no entity") as refused:
        xero.describe("Widgets")
    assert refused.value.kind is ErrorKind.CONFIG


# -- writes --------------------------------------------------------------------


def invoice(number: str, *lines: dict[str, Any], status: str = "AUTHORISED") -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactNumber": "CUST-0001"},
        "InvoiceNumber": number,
        "Status": status,
        "LineItems": list(lines)
        or [{"Description": "Consulting", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200"}],
    }


def test_batch_of_contacts_reports_each_record(xero: XeroConnector) -> None:
    taken = xero.read_one("Contacts", "CUST-0001")
    assert taken is not None
    outcomes = xero.write_batch(
        "Contacts",
        [
            {"Name": "Brand New Ltd", "ContactNumber": "NEW-1"},
            {"Name": taken["Name"]},
            {"ContactID": taken["ContactID"], "EmailAddress": "accounts@example.com"},
        ],
    )
    assert [o.status for o in outcomes] == [
        WriteStatus.CREATED,
        WriteStatus.FAILED,
        WriteStatus.UPDATED,
    ]
    assert outcomes[1].kind is ErrorKind.DATA
    assert outcomes[1].code == XeroErrorCode.DUPLICATE_CONTACT_NAME
    assert outcomes[1].message == (
        f"Xero already has a contact named '{taken['Name']}', and contact names must be "
        "unique. Link this record to that contact or change its name."
    )
    assert outcomes[1].raw["ValidationErrors"]
    assert outcomes[2].target_id == taken["ContactID"]


def test_invoice_errors_name_the_line(xero: XeroConnector) -> None:
    good = {"Description": "Widgets", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}
    bad = {"Description": "Gadgets", "Quantity": 1, "UnitAmount": 10, "AccountCode": "999"}
    outcomes = xero.write_batch("Invoices", [invoice("T-1"), invoice("T-2", good, bad)])
    assert outcomes[0].status is WriteStatus.CREATED
    assert outcomes[1].code == XeroErrorCode.INVALID_ACCOUNT_CODE
    assert outcomes[1].message is not None
    assert outcomes[1].message.startswith(
        "Xero rejected account code '999' on line 2: it is not a valid account."
    )
    created = xero.read_one("Invoices", outcomes[0].target_id or "")
    assert created is not None
    assert (created["SubTotal"], created["TotalTax"], created["Total"]) == (100.0, 20.0, 120.0)


def test_duplicate_invoice_number(xero: XeroConnector) -> None:
    assert xero.write_batch("Invoices", [invoice("DUP-1")])[0].ok
    again = xero.write_batch("Invoices", [invoice("DUP-1", status="DRAFT")])[0]
    assert (again.kind, again.code) == (ErrorKind.DATA, XeroErrorCode.DUPLICATE_INVOICE_NUMBER)
    assert "'DUP-1'" in (again.message or "")


def test_payments_need_an_authorised_invoice(xero: XeroConnector) -> None:
    draft, approved = xero.write_batch("Invoices", [invoice("P-1", status="DRAFT"), invoice("P-2")])
    payments = xero.write_batch(
        "Payments",
        [
            {"Invoice": {"InvoiceID": draft.target_id}, "Account": {"Code": "090"}, "Amount": 5},
            {
                "Invoice": {"InvoiceNumber": "P-2"},
                "Account": {"Code": "090"},
                "Amount": 120,
                "Date": "2026-01-31",
            },
        ],
    )
    assert payments[0].code == XeroErrorCode.INVOICE_NOT_AUTHORISED
    assert "approved (AUTHORISED)" in (payments[0].message or "")
    assert payments[1].status is WriteStatus.CREATED
    paid = xero.read_one("Invoices", approved.target_id or "")
    assert paid is not None and paid["Status"] == "PAID" and paid["AmountDue"] == 0


def test_unbalanced_journal(xero: XeroConnector) -> None:
    lines = [{"LineAmount": 100, "AccountCode": "400"}, {"LineAmount": -10, "AccountCode": "090"}]
    balanced = [{"LineAmount": 55, "AccountCode": "400"}, {"LineAmount": -55, "AccountCode": "090"}]
    outcomes = xero.write_batch(
        "ManualJournals",
        [
            {"Narration": "Accrual", "Status": "POSTED", "JournalLines": lines},
            {"Narration": "Reclass", "Status": "POSTED", "JournalLines": balanced},
        ],
    )
    assert outcomes[0].code == XeroErrorCode.JOURNAL_UNBALANCED
    assert outcomes[0].message == (
        "The journal does not balance: debits total 100.00 but credits total 10.00. "
        "Make them equal before sending it again."
    )
    assert outcomes[1].status is WriteStatus.CREATED


def test_items_and_accounts(xero: XeroConnector) -> None:
    items = xero.write_batch(
        "Items",
        [
            {"Code": "NEW-ITEM", "Name": "New thing", "SalesDetails": {"UnitPrice": 9.5}},
            {"Code": "ITM-0001", "Name": "Renamed"},  # POST with an existing code updates it
        ],
    )
    assert [o.ok for o in items] == [True, True]
    account = xero.write_batch("Accounts", [{"Code": "499", "Name": "Sundries", "Type": "EXPENSE"}])
    assert account[0].status is WriteStatus.CREATED
    duplicate = xero.write_batch("Accounts", [{"Code": "499", "Name": "Other", "Type": "EXPENSE"}])
    assert duplicate[0].code == XeroErrorCode.DUPLICATE_CODE


def test_retried_batch_is_not_applied_twice(
    xero: XeroConnector, xero_server: SandboxServer
) -> None:
    """Xero saved the batch but the answer was lost: the retry replays, it does not double."""
    ctl = SandboxControl(xero_server.url)
    batch = [invoice("IDEM-1"), invoice("IDEM-2")]
    ctl.faults(next=["reset_after"])
    first = xero.write_batch("Invoices", batch)
    again = xero.write_batch("Invoices", batch)
    assert [o.target_id for o in first] == [o.target_id for o in again]
    assert all(o.status is WriteStatus.CREATED for o in first)
    assert ctl.stats()["created"]["Invoices"] == 2
    assert ctl.stats()["faults"] == {"reset_after": 1}


def test_oversized_batch_is_refused(xero: XeroConnector) -> None:
    with pytest.raises(ConnectorError, match="batch size"):
        xero.write_batch("Invoices", [invoice(f"B-{n}") for n in range(51)])


# -- test connection and limits ------------------------------------------------


def test_test_connection(xero_config: ConnectionConfig, xero_tokens: InMemoryTokenStore) -> None:
    check = XeroConnector(xero_config, xero_tokens).test_connection()
    assert check.reachable
    assert check.connected_as == "Demo Company (UK) (as finance@demo.example)"
    assert check.headroom is not None
    assert check.headroom.minute_remaining == 59
    assert check.headroom.day_remaining == 4999


def test_test_connection_with_the_shared_limiter(
    xero_server: SandboxServer,
    xero_tokens: InMemoryTokenStore,
    redis_client: Any,
    unique_key: str,
    make_xero_config: Any,
) -> None:
    config = make_xero_config(
        xero_server.url, rate_limits={"per_minute": 10, "per_day": 100, "concurrent": 2}
    )
    tenant = xero_tokens.load().extra["tenant_id"]  # type: ignore[union-attr]
    redis_client.delete(*redis_client.keys(f"clarity:ratelimit:{{xero:{tenant}}}:*") or ["x"])
    connector = xero_connector(config, xero_tokens, redis=redis_client)
    check = connector.test_connection()
    assert check.headroom is not None
    assert check.headroom.minute_remaining == 9
    assert check.headroom.concurrent_free == 2


def test_test_connection_never_raises(
    xero_config: ConnectionConfig,
    xero_tokens: InMemoryTokenStore,
    make_xero_config: Any,
    fast_retry: RetryPolicy,
) -> None:
    not_signed_in = XeroConnector(xero_config, InMemoryTokenStore()).test_connection()
    assert not_signed_in.kind is ErrorKind.AUTH
    assert "Connect to Xero" in not_signed_in.message
    down = XeroConnector(make_xero_config("http://127.0.0.1:9"), xero_tokens, retry=fast_retry)
    check = down.test_connection()
    assert (check.reachable, check.kind) == (False, ErrorKind.TRANSIENT)


def test_verify_webhook() -> None:
    import base64
    import hashlib
    import hmac

    body = b'{"events":[]}'
    good = base64.b64encode(hmac.new(b"key", body, hashlib.sha256).digest()).decode()
    assert verify_webhook(body, good, "key")
    assert not verify_webhook(body, good, "other")
    assert not verify_webhook(body, None, "key")


# -- looking many references up at once ------------------------------------------


def test_find_by_references_is_one_call_per_fifty(
    xero: XeroConnector, xero_server: SandboxServer
) -> None:
    ctl = SandboxControl(xero_server.url)
    wanted = [f"CUST-{n:04d}" for n in range(1, 61)] + ["CUST-9999", "CUST-0001"]
    before = ctl.stats()["requests"]

    found = xero.find_by_references("Contacts", wanted)

    assert ctl.stats()["requests"] - before == 2  # 61 distinct references: 50 + 11
    assert sorted(found) == [f"CUST-{n:04d}" for n in range(1, 61)]
    assert all(f.record["ContactNumber"] == ref for ref, f in found.items())
    assert found["CUST-0007"] == xero.find_by_reference("Contacts", "CUST-0007")


def test_find_by_references_for_invoices_and_items(xero: XeroConnector) -> None:
    invoices = xero.find_by_references("Invoices", ["INV-0003", "INV-0005", "INV-9999"])
    assert sorted(invoices) == ["INV-0003", "INV-0005"]
    assert invoices["INV-0003"].target_id == invoices["INV-0003"].record["InvoiceID"]
    items = xero.find_by_references("Items", ["ITM-0002", "ITM-0004"])
    assert sorted(items) == ["ITM-0002", "ITM-0004"]
    assert xero.find_by_references("Contacts", []) == {}


def test_find_by_references_quotes_what_it_asks_for(xero: XeroConnector) -> None:
    odd = ['Quote "this"', "back\\slash", "comma, and OR Name==x", "Café ✓"]
    records = [{"Name": f"Odd {n}", "ContactNumber": ref} for n, ref in enumerate(odd)]
    assert all(o.ok for o in xero.write_batch("Contacts", records))
    invoice = {"Type": "ACCREC", "InvoiceNumber": "INV,COMMA", "Contact": {"Name": "Odd 0"},
               "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1,
                              "AccountCode": "200"}]}  # fmt: skip
    assert xero.write_batch("Invoices", [invoice])[0].ok

    found = xero.find_by_references("Contacts", [*odd, "Quote"])

    assert sorted(found) == sorted(odd)
    invoices = xero.find_by_references("Invoices", ["INV,COMMA", "INV-0001"])
    assert sorted(invoices) == ["INV,COMMA", "INV-0001"]  # by where: a comma splits InvoiceNumbers
