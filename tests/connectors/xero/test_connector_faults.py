"""The Xero connector under injected faults: retries, backoff, classification, limits."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from redis import Redis

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorCode, ErrorKind, RateLimitedError
from connectors.http import RetryPolicy
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.xero import XeroConnector, xero_connector


@pytest.fixture
def ctl(xero_server: SandboxServer) -> SandboxControl:
    return SandboxControl(xero_server.url)


def contact_batch(prefix: str, n: int = 3) -> list[dict[str, Any]]:
    return [{"Name": f"{prefix} {i} Ltd", "ContactNumber": f"{prefix}-{i}"} for i in range(n)]


def test_reads_survive_5xx_and_resets(xero: XeroConnector, ctl: SandboxControl) -> None:
    ctl.faults(next=["5xx", "reset", "5xx"], path_prefix="/api.xro")
    pages = list(xero.read_changes("Contacts", None))
    assert sum(len(p.records) for p in pages) == 250
    assert ctl.stats()["faults"] == {"5xx": 2, "reset": 1}


def test_read_timeouts_are_retried(
    xero_config: ConnectionConfig, xero_tokens: InMemoryTokenStore, ctl: SandboxControl
) -> None:
    ctl.faults(next=["timeout"], timeout_seconds=1.0, path_prefix="/api.xro")
    fast = RetryPolicy(attempts=3, backoff_base=0.01)
    connector = XeroConnector(xero_config, xero_tokens, retry=fast, timeout=(2.0, 0.3))
    assert connector.read_one("Contacts", "CUST-0001") is not None


def test_persistent_5xx_is_transient(xero: XeroConnector, ctl: SandboxControl) -> None:
    ctl.faults(shares={"5xx": 1.0}, path_prefix="/api.xro")
    with pytest.raises(ConnectorError) as caught:
        xero.read_one("Contacts", "CUST-0001")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, ErrorCode.SERVER_ERROR)


def test_writes_are_retried_under_the_same_idempotency_key(
    xero: XeroConnector, ctl: SandboxControl
) -> None:
    ctl.faults(next=["5xx", "reset", "reset_after"], path_prefix="/api.xro")
    outcomes = xero.write_batch("Contacts", contact_batch("RETRY"))
    assert [o.status for o in outcomes] == [WriteStatus.CREATED] * 3
    assert ctl.stats()["created"]["Contacts"] == 3  # the replayed answer created nothing new


def test_short_429_bursts_are_waited_out(xero: XeroConnector, ctl: SandboxControl) -> None:
    ctl.faults(next=["429", "429"], retry_after=1, path_prefix="/api.xro")
    assert xero.write_batch("Contacts", contact_batch("BURST", 1))[0].ok
    assert ctl.stats()["rate_limited"] == 2


def test_long_waits_are_handed_back_with_the_limit_named(
    xero: XeroConnector, ctl: SandboxControl
) -> None:
    ctl.limits(minute=3)
    for key in ("CUST-0001", "CUST-0002", "CUST-0003"):
        xero.read_one("Contacts", key)
    with pytest.raises(RateLimitedError) as caught:
        xero.read_one("Contacts", "CUST-0004")
    assert caught.value.limit == "minute"
    assert 50 < caught.value.retry_after <= 61
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_the_shared_limiter_stops_calls_before_xero_refuses_them(
    xero_server: SandboxServer,
    xero_tokens: InMemoryTokenStore,
    ctl: SandboxControl,
    make_xero_config: Any,
    redis_client: Redis,
) -> None:
    """Three workers, one budget of 8 calls a minute: Xero never has to send a 429."""
    ctl.limits(minute=8)
    config = make_xero_config(
        xero_server.url,
        tenant_id=xero_tokens.load().extra["tenant_id"],  # type: ignore[union-attr]
        rate_limits={"per_minute": 8, "per_day": 1000, "concurrent": 2},
        rate_limit_max_wait=0.2,
    )
    redis_client.delete(
        *redis_client.keys(f"clarity:ratelimit:{{xero:{config.settings['tenant_id']}}}:*")
        or ["none"]
    )
    calls: list[str] = []
    refused: list[RateLimitedError] = []

    def worker() -> None:
        connector = xero_connector(config, xero_tokens, redis=redis_client)
        while True:
            try:
                connector.read_one("Items", "ITM-0001")
                calls.append("ok")
            except RateLimitedError as exc:
                refused.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 8
    assert len(refused) == 3
    assert all(exc.limit == "minute" for exc in refused)
    assert ctl.stats()["rate_limited"] == 0
