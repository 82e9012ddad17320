"""KashFlow writes one record per call: what a breaker that opens during a batch does.

Nothing of a batch sent yet: the batch is handed back whole (the run waits). Some of
it sent: those keep their outcomes, the rest wait as transient failures, unsent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis import Redis

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.circuit import BreakerSettings, CircuitBreaker
from connectors.errors import CircuitOpenError, ErrorCode, ErrorKind
from connectors.http import RetryPolicy
from connectors.kashflow import KashFlowConnector
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer


@pytest.fixture
def kashflow(
    start_sandbox: Callable[..., SandboxServer], redis_client: Redis, unique_key: str
) -> tuple[KashFlowConnector, SandboxControl]:
    server = start_sandbox("kashflow")
    config = ConnectionConfig(
        system="kashflow",
        connection_id=unique_key,
        base_url=server.url,
        settings={"username": "demo"},
        secrets={"password": "demo", "memorable_word": "clarity"},
    )
    breaker = CircuitBreaker(
        redis_client, unique_key, label="KashFlow", settings=BreakerSettings(threshold=1)
    )
    retry = RetryPolicy(backoff_base=0.01, backoff_max=0.02)
    connector = KashFlowConnector(config, InMemoryTokenStore(), retry=retry, breaker=breaker)
    return connector, SandboxControl(server.url)


def customers(*codes: str) -> list[dict[str, str]]:
    return [{"Code": code, "Name": f"{code} Trading Ltd"} for code in codes]


def test_open_before_anything_was_sent_hands_the_batch_back(kashflow) -> None:
    kf, ctl = kashflow
    kf.read_one("customers", "NOPE9")  # signed in while KashFlow answered
    assert kf.breaker is not None
    kf.breaker.failed(kf.breaker.before_call(), "server error, HTTP 503")
    calls = ctl.stats()["requests"]
    with pytest.raises(CircuitOpenError):
        kf.write_batch("customers", customers("CBA01", "CBA02"))
    assert ctl.stats()["requests"] == calls
    assert ctl.stats()["created"].get("customers", 0) == 0


def test_open_midway_keeps_what_was_written_and_the_rest_waits_unsent(kashflow) -> None:
    kf, ctl = kashflow
    ctl.faults(shares={"5xx": 1.0}, path_prefix="/v2/customers/CBB02")  # KashFlow falls over
    first, second, third = kf.write_batch("customers", customers("CBB01", "CBB02", "CBB03"))
    assert first.status is WriteStatus.CREATED
    for waiting in (second, third):
        assert waiting.status is WriteStatus.FAILED
        assert (waiting.kind, waiting.code) == (ErrorKind.TRANSIENT, ErrorCode.CIRCUIT_OPEN)
        assert "KashFlow is not answering" in (waiting.message or "")
    assert ctl.stats()["created"]["customers"] == 1  # CBB03 was never sent
