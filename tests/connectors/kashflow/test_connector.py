"""Contract tests: every KashFlowConnector operation against the sandbox over loopback HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import Redis

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorCode, ErrorKind, RateLimitedError
from connectors.http import RetryPolicy
from connectors.kashflow import KashFlowConnector, kashflow_connector, payment_reference
from connectors.ratelimit import RateLimiter, RateLimits
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.kashflow import app as sandbox

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_retry_after=2.0)
Make = Callable[..., KashFlowConnector]


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        fast_replies(server)
        yield server


def fast_replies(server: SandboxServer) -> SandboxServer:
    """Answer without Nagle's delay: headers and body go out as two writes, and the
    client's delayed ACK would add ~40 ms to every call (core's handler leaves it on)."""
    server.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    return server


@pytest.fixture
def ctl(running: SandboxServer) -> SandboxControl:
    control = SandboxControl(running.url)
    control.reset()
    return control


@pytest.fixture
def make(running: SandboxServer, ctl: SandboxControl) -> Make:
    def build(
        *,
        secrets: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        tokens: InMemoryTokenStore | None = None,
        limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> KashFlowConnector:
        config = ConnectionConfig(
            system="kashflow",
            connection_id="kf-test",
            base_url=base_url or running.url,
            settings={"username": "demo", **(settings or {})},
            secrets={"password": "demo", "memorable_word": "clarity"}
            if secrets is None
            else secrets,
        )
        return KashFlowConnector(
            config, tokens or InMemoryTokenStore(), limiter, retry=FAST, timeout=(2.0, 0.5)
        )

    return build


@pytest.fixture
def kf(make: Make) -> KashFlowConnector:
    return make()


def app_of(server: SandboxServer) -> sandbox.KashFlowSandbox:
    assert isinstance(server.app, sandbox.KashFlowSandbox)
    return server.app


# -- session ----------------------------------------------------------------


def test_logon_stores_the_session_and_reuses_it(kf: KashFlowConnector, ctl: SandboxControl) -> None:
    assert kf.read_one("customers", "HOL01") is not None
    assert kf.read_one("customers", "HOL02") is not None
    tokens = kf.tokens.load()
    assert tokens is not None and tokens.extra["company_name"] == "Clarity Demo Trading Ltd"
    assert ctl.stats()["responses"] == {"200": 4}  # two logon steps, two reads


def test_expired_session_signs_in_again_once_for_all_threads(
    make: Make, ctl: SandboxControl
) -> None:
    store = InMemoryTokenStore()
    make(tokens=store).read_one("customers", "HOL01")
    first = store.load()
    ctl.advance_clock(3601)  # 60 minutes idle
    workers = [make(tokens=store) for _ in range(4)]
    threads = [threading.Thread(target=w.read_one, args=("customers", "HOL01")) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    current = store.load()
    assert current is not None and first is not None
    assert current.access_token != first.access_token
    assert store.saves == 2  # one logon at first, one re-logon however many were refused


def test_wrong_memorable_word_is_an_auth_failure_and_locks_at_last(make: Make) -> None:
    kf = make(secrets={"password": "demo", "memorable_word": "zzzzzzz"})
    codes = []
    for _ in range(6):
        with pytest.raises(ConnectorError) as caught:
            kf.read_one("customers", "HOL01")
        assert caught.value.kind is ErrorKind.AUTH
        codes.append(caught.value.code)
    assert codes == ["invalid_memorable_word"] * 5 + ["account_locked"]
    assert caught.value.message == (
        "Your account has been locked due to too many failed login attempts. Unlock the user "
        "in KashFlow, then check the connection's password and memorable word."
    )


def test_missing_secrets_are_a_config_failure(make: Make) -> None:
    with pytest.raises(ConnectorError) as caught:
        make(secrets={}).read_one("customers", "HOL01")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.CONFIG, "missing_credentials")


# -- reads ------------------------------------------------------------------


def test_full_read_pages_to_the_end_with_details(kf: KashFlowConnector) -> None:
    pages = list(kf.read_changes("customers", None))
    customers = [c for page in pages for c in page.records]
    assert len(customers) == 300
    assert len(pages) == 3  # 100 a page
    assert [p.cursor for p in pages[:-1]] == [None, None]
    assert pages[-1].cursor == max(c["LastUpdatedDate"] for c in customers)
    assert all("Contacts" in c for c in customers)  # single-record detail, not summary


def test_incremental_read_returns_only_changes(kf: KashFlowConnector) -> None:
    cursor = list(kf.read_changes("invoices", None))[-1].cursor
    customer_cursor = list(kf.read_changes("customers", None))[-1].cursor
    boundary = {r["Code"] for p in kf.read_changes("customers", customer_cursor) for r in p.records}
    again = [r for page in kf.read_changes("invoices", cursor) for r in page.records]
    assert len(again) <= 2  # only records stamped in the cursor's second come back
    kf.write_batch("customers", [{"Code": "HOL02", "Name": "Holloway Joinery (Leeds) Ltd"}])
    kf.write_batch("invoices", [{"Number": 1010, "CustomerReference": "PO-CHANGED"}])
    pages = list(kf.read_changes("invoices", cursor))
    changed = [r["Number"] for page in pages for r in page.records]
    assert 1010 in changed and len(changed) <= 3
    assert pages[-1].cursor is not None and pages[-1].cursor > str(cursor)
    customers = list(kf.read_changes("customers", customer_cursor))
    codes = {r["Code"] for page in customers for r in page.records}
    assert codes == boundary | {"HOL02"}


def test_payments_are_read_through_their_invoices(kf: KashFlowConnector) -> None:
    payments = [p for page in kf.read_changes("payments", None) for p in page.records]
    assert len(payments) > 100
    first = payments[0]
    assert {"Id", "Date", "Amount", "InvoiceNumber", "CustomerCode"} <= set(first)
    found = kf.read_one("payments", f"{first['InvoiceNumber']}/{first['Id']}")
    assert found is not None and found["Amount"] == first["Amount"]


def test_read_one_and_reference_data(kf: KashFlowConnector) -> None:
    invoice = kf.read_one("invoices", "1000")
    assert invoice is not None and invoice["LineItems"]
    assert kf.read_one("invoices", "99999") is None
    assert kf.read_one("customers", "NOPE1") is None
    assert kf.read_one("products", "CONSULT")["Price"] == 650.0  # type: ignore[index]
    assert kf.read_one("nominalcodes", "4000")["Name"] == "Sales - Products"  # type: ignore[index]
    products = [p for page in kf.read_changes("products", None) for p in page.records]
    assert len(products) == 12


def test_seeded_bad_records_are_read_as_they_are(kf: KashFlowConnector) -> None:
    ghost = kf.read_one("invoices", "1399")
    assert ghost is not None and ghost["CustomerCode"] == "GHO01"
    assert kf.read_one("customers", "GHO01") is None
    assert kf.read_one("customers", "NON01")["Name"] == ""  # type: ignore[index]


def test_find_by_reference(kf: KashFlowConnector) -> None:
    assert kf.find_by_reference("customers", "HOL01").target_id == "HOL01"  # type: ignore[union-attr]
    reference = kf.read_one("invoices", "1005")["CustomerReference"]  # type: ignore[index]
    found = kf.find_by_reference("invoices", reference)
    assert found is not None and found.target_id == "1005"
    assert kf.find_by_reference("invoices", "PO-NEVER") is None
    assert kf.find_by_reference("invoices", "1005").target_id == "1005"  # type: ignore[union-attr]


def test_entity_catalogue(kf: KashFlowConnector) -> None:
    assert kf.entities() == ["customers", "invoices", "payments", "products", "nominalcodes"]
    schema = kf.describe("invoices")
    assert (schema.key_field, schema.reference_field) == ("Number", "CustomerReference")
    fields = {f.name: f for f in schema.fields}
    assert fields["CustomerCode"].required and fields["LineItems"].type == "array"
    with pytest.raises(ConnectorError) as caught:
        kf.describe("Contacts")
    assert caught.value.kind is ErrorKind.CONFIG


# -- writes -----------------------------------------------------------------


def test_customers_are_created_then_updated_never_doubled(
    kf: KashFlowConnector, ctl: SandboxControl
) -> None:
    record = {"Code": "new01", "Name": "Newby Print Ltd", "VatNumber": "GB123456789"}
    first = kf.write_batch("customers", [record])
    assert (first[0].status, first[0].target_id) == (WriteStatus.CREATED, "NEW01")
    second = kf.write_batch("customers", [{**record, "Note": "retried"}])
    assert (second[0].status, second[0].target_id) == (WriteStatus.UPDATED, "NEW01")
    assert kf.read_one("customers", "NEW01")["Note"] == "retried"  # type: ignore[index]
    assert ctl.stats()["created"] == {"customers": 1}


def test_products_upsert_on_code_and_unchanged_ones_are_not_sent(
    kf: KashFlowConnector, ctl: SandboxControl
) -> None:
    record = {"Code": "GADGET", "Name": "Gadget", "Price": "9.90", "NominalCode": "4000"}
    nameless = {"Code": "NONAME", "Price": "1.00", "NominalCode": "4000"}
    no_nominal = {"Code": "NONOM", "Name": "No nominal"}
    unknown_nominal = {"Code": "BADNOM", "Name": "Bad nominal", "NominalCode": "4999"}
    outcomes = kf.write_batch("products", [record, nameless, no_nominal, unknown_nominal])
    assert (outcomes[0].status, outcomes[0].target_id) == (WriteStatus.CREATED, "GADGET")
    failures = [(o.kind, o.code) for o in outcomes[1:]]
    assert failures == [
        (ErrorKind.DATA, "product_name_required"),
        (ErrorKind.DATA, "nominal_code_required"),
        (ErrorKind.CONFIG, "nominal_code_not_found"),
    ]
    assert "nominal code '4999' was not found" in (outcomes[3].message or "").lower()
    same = kf.write_batch("products", [record])  # as KashFlow holds it: nothing sent
    assert same[0].status is WriteStatus.UPDATED and same[0].raw == {"unchanged": True}
    repriced = kf.write_batch("products", [{"Code": "GADGET", "Price": 11}])
    assert repriced[0].status is WriteStatus.UPDATED
    product = kf.read_one("products", "GADGET")
    assert product is not None and (product["Price"], product["NominalCode"]) == (11.0, 4000)
    assert ctl.stats()["created"] == {"products": 1}
    assert ctl.stats()["updated"] == {"products": 1}


def test_invoices_match_on_reference_before_creating(
    kf: KashFlowConnector, ctl: SandboxControl
) -> None:
    invoice = {
        "CustomerCode": "HOL01",
        "CustomerReference": "OPP-0042",
        "LineItems": [{"ProductCode": "CONSULT", "Quantity": 2}],
    }
    created = kf.write_batch("invoices", [invoice, {**invoice, "CustomerReference": "OPP-0043"}])
    assert [o.status for o in created] == [WriteStatus.CREATED] * 2
    assert created[0].raw["GrossAmount"] == 1560.0
    again = kf.write_batch("invoices", [invoice])
    assert (again[0].status, again[0].target_id) == (WriteStatus.UPDATED, created[0].target_id)
    assert ctl.stats()["created"] == {"invoices": 2}


def test_payments_go_in_bulk_and_a_replay_is_settled(
    kf: KashFlowConnector, ctl: SandboxControl, running: SandboxServer
) -> None:
    invoices = app_of(running).invoices.values()
    unpaid = [i for i in invoices if not i["TotalPaidAmount"] and i["Number"] != 1399][:3]
    payments = [{"InvoiceNumber": i["Number"], "Amount": 10, "Date": "2026-03-01"} for i in unpaid]
    first = kf.write_batch("payments", payments)
    assert [o.status for o in first] == [WriteStatus.CREATED] * 3
    assert ctl.stats()["created"] == {"payments": 3}
    assert ctl.stats()["requests"] < 20
    replay = kf.write_batch("payments", payments)
    assert [o.target_id for o in replay] == [o.target_id for o in first]
    assert ctl.stats()["created"] == {"payments": 3}
    ref = payment_reference(unpaid[0]["Number"], "2026-03-01", 10)
    assert kf.find_by_reference("payments", ref).target_id == first[0].target_id  # type: ignore[union-attr]


def test_validation_failures_are_classified_per_record(kf: KashFlowConnector) -> None:
    outcomes = kf.write_batch(
        "invoices",
        [
            {"CustomerCode": "GHO01", "CustomerReference": "OPP-1", "LineItems": [{"Rate": 5}]},
            {"CustomerCode": "HOL01", "CustomerReference": "OPP-2", "LineItems": [{"Rate": 5}]},
            {
                "CustomerCode": "HOL01",
                "CustomerReference": "OPP-3",
                "LineItems": [{"Rate": 5, "NominalCode": 9999}],
            },
            {"CustomerCode": "HOL01", "LineItems": [{"Rate": 5}]},
        ],
    )
    ghost, fine, nominal, unreferenced = outcomes
    assert (ghost.kind, ghost.code) == (ErrorKind.DATA, "customer_code_not_found")
    assert ghost.message == (
        "Customer 'GHO01' was not found. "
        "Create the customer in KashFlow first, or correct the customer code lookup."
    )
    assert ghost.raw == {"Error": "CustomerNotFound", "Message": "Customer 'GHO01' was not found."}
    assert fine.status is WriteStatus.CREATED
    assert (nominal.kind, nominal.code) == (ErrorKind.CONFIG, "nominal_code_not_found")
    assert (unreferenced.kind, unreferenced.code) == (ErrorKind.DATA, "missing_reference")


def test_customer_failures_name_the_fix(kf: KashFlowConnector) -> None:
    nameless, no_code = kf.write_batch(
        "customers", [{"Code": "NEW02", "Name": " "}, {"Name": "Codeless Ltd"}]
    )
    assert (nameless.kind, nameless.code) == (ErrorKind.DATA, "name_required")
    assert "Fill in the customer's name" in (nameless.message or "")
    assert (no_code.kind, no_code.code) == (ErrorKind.DATA, "missing_code")


def test_payment_failures_per_item(kf: KashFlowConnector) -> None:
    over, missing, bad_account = kf.write_batch(
        "payments",
        [
            {"InvoiceNumber": 1399, "Amount": 999999, "Date": "2026-03-01"},
            {"InvoiceNumber": 99999, "Amount": 5, "Date": "2026-03-01"},
            {"InvoiceNumber": 1399, "Amount": 5, "Date": "2026-03-01", "AccountId": 42},
        ],
    )
    assert (over.kind, over.code) == (ErrorKind.DATA, "payment_exceeds_outstanding")
    assert "already paid" in (over.message or "")
    assert (missing.kind, missing.code) == (ErrorKind.DATA, "invoice_not_found")
    assert (bad_account.kind, bad_account.code) == (ErrorKind.CONFIG, "bank_account_not_found")


def test_aspnet_error_bodies_are_understood(make: Make, start_sandbox: Any) -> None:
    server = fast_replies(
        start_sandbox(
            sandbox.KashFlowSandbox({"error_style": "aspnet", "customers": 5, "invoices": 5})
        )
    )
    kf = make(base_url=f"{server.url}/v2")  # a base URL ending in /v2 is tolerated
    (outcome,) = kf.write_batch("customers", [{"Code": "X1", "Name": ""}])
    assert (outcome.kind, outcome.code) == (ErrorKind.DATA, "validation")
    assert outcome.message == "KashFlow rejected the record: Customer name is required."


def test_batch_limits(kf: KashFlowConnector) -> None:
    assert kf.max_batch_size("payments") == 100
    assert kf.max_batch_size("customers") == 50
    with pytest.raises(ConnectorError) as caught:
        kf.write_batch("customers", [{"Code": f"C{i}", "Name": "x"} for i in range(51)])
    assert caught.value.code == "batch_too_large"
    with pytest.raises(ConnectorError):
        kf.write_batch("nominalcodes", [{"Code": 4001}])  # read only


# -- health and limits ------------------------------------------------------


def test_connection_check(
    make: Make, running: SandboxServer, redis_client: Redis, unique_key: str
) -> None:
    config = ConnectionConfig(
        system="kashflow",
        connection_id=unique_key,
        base_url=running.url,
        settings={"username": "demo", "rate_limits": {"per_minute": 60}},
        secrets={"password": "demo", "memorable_word": "clarity"},
    )
    check = kashflow_connector(config, InMemoryTokenStore(), redis=redis_client).test_connection()
    assert check.reachable and check.connected_as == "demo at Clarity Demo Trading Ltd"
    assert check.headroom is not None and check.headroom.minute_remaining == 57
    bad = make(secrets={"password": "nope", "memorable_word": "clarity"}).test_connection()
    assert (bad.reachable, bad.kind) == (True, ErrorKind.AUTH)
    assert "username and password" in bad.message
    gone = make(base_url="http://127.0.0.1:9").test_connection()
    assert (gone.reachable, gone.kind) == (False, ErrorKind.TRANSIENT)


def ctl_requests(kf: KashFlowConnector) -> int:
    stats = SandboxControl(kf.http.base_url).stats()
    return int(stats["requests"])


def test_shared_limiter_holds_workers_under_the_budget(
    make: Make, redis_client: Redis, unique_key: str
) -> None:
    limits = RateLimits(per_minute=4)
    kf = make(limiter=RateLimiter(redis_client, unique_key, limits, max_wait=0.1))
    other = make(limiter=RateLimiter(redis_client, unique_key, limits, max_wait=0.1))
    kf.read_one("customers", "HOL01")  # logon (2 calls) and the read
    with pytest.raises(RateLimitedError) as caught:
        other.read_one("customers", "HOL02")  # its logon's second step finds no permit
    assert caught.value.limit == "minute"
    assert ctl_requests(other) == 4


# -- faults -----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "reset", "timeout", "429"])
def test_reads_ride_out_one_fault(kf: KashFlowConnector, ctl: SandboxControl, fault: str) -> None:
    kf.read_one("customers", "HOL01")
    ctl.faults(next=[fault], timeout_seconds=0.8, retry_after=0)
    pages = list(kf.read_changes("products", None))
    assert len(pages[0].records) == 12
    deadline = time.monotonic() + 3
    while ctl.stats()["faults"] != {fault: 1} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ctl.stats()["faults"] == {fault: 1}


def test_persistent_5xx_on_reads_raises_transient(
    kf: KashFlowConnector, ctl: SandboxControl
) -> None:
    kf.read_one("customers", "HOL01")
    ctl.faults(shares={"5xx": 1.0})
    with pytest.raises(ConnectorError) as caught:
        list(kf.read_changes("customers", None))
    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, ErrorCode.SERVER_ERROR)


def test_long_429_raises_for_the_job_to_reschedule(
    kf: KashFlowConnector, ctl: SandboxControl
) -> None:
    kf.read_one("customers", "HOL01")
    ctl.faults(next=["429"], retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        kf.read_one("customers", "HOL02")
    assert caught.value.retry_after == 30


def test_sandbox_rate_limit_is_waited_out(
    make: Make, running: SandboxServer, ctl: SandboxControl
) -> None:
    kf = make()
    kf.read_one("customers", "HOL01")
    ctl.limits(minute=2)
    kf.read_one("customers", "HOL01")
    ctl.advance_clock(59.5)  # the window frees up within a second
    assert kf.read_one("customers", "HOL02") is not None
    assert kf.read_one("customers", "HOL02") is not None
    assert ctl.stats()["rate_limited"] >= 1


@pytest.mark.parametrize("fault", ["reset", "5xx"])
def test_lost_bulk_payment_is_outcome_unknown_then_settled(
    kf: KashFlowConnector, ctl: SandboxControl, running: SandboxServer, fault: str
) -> None:
    kf.read_one("customers", "HOL01")
    record = {"InvoiceNumber": 1399, "Amount": 12.5, "Date": "2026-03-02"}
    ctl.faults(next=[fault], path_prefix="/v2/invoices/bulk")
    (unknown,) = kf.write_batch("payments", [record])
    assert (unknown.kind, unknown.code) == (ErrorKind.TRANSIENT, ErrorCode.OUTCOME_UNKNOWN)
    assert "checked before it is sent again" in (unknown.message or "")
    (retried,) = kf.write_batch("payments", [record])
    assert retried.status is WriteStatus.CREATED
    (replayed,) = kf.write_batch("payments", [record])
    assert replayed.target_id == retried.target_id
    assert app_of(running).invoices[1399]["TotalPaidAmount"] == 12.5
    assert ctl.stats()["created"] == {"payments": 1}


@pytest.mark.parametrize("fault", ["5xx", "reset", "429"])
def test_logon_rides_out_one_fault(make: Make, ctl: SandboxControl, fault: str) -> None:
    ctl.faults(next=[fault], retry_after=0, path_prefix="/v2/sessiontoken")
    assert make().read_one("customers", "HOL01") is not None
    assert ctl.stats()["faults"] == {fault: 1}


def test_invoices_without_last_updated_fall_back_to_full_reads(
    make: Make, start_sandbox: Any
) -> None:
    options = {"invoice_last_updated": False, "customers": 5, "invoices": 5}
    server = fast_replies(start_sandbox(sandbox.KashFlowSandbox(options)))
    kf = make(base_url=server.url)
    pages = list(kf.read_changes("invoices", "2030-01-01T00:00:00"))
    assert len([r for page in pages for r in page.records]) == 5
    assert pages[-1].cursor == "2030-01-01T00:00:00"  # nothing to move it by
