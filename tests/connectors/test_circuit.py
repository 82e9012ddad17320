"""The circuit breaker: one per connection, shared by every worker through a real Redis.

"Two workers" are two breaker (or connector) objects over the same Redis key,
as two RQ worker processes would hold; the system that is down is a real
sandbox over loopback HTTP with its fault injection switched on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event

import pytest
from redis import Redis

from connectors.base import ConnectionConfig, InMemoryTokenStore
from connectors.circuit import BreakerSettings, CircuitBreaker, CircuitState
from connectors.errors import CircuitOpenError, ConnectorError, ErrorCode, ErrorKind
from connectors.http import HttpClient, RetryPolicy
from connectors.ratelimit import RateLimiter, RateLimits
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.xero import XeroConnector

FAST = BreakerSettings(threshold=3, window=30, cooldown=0.4, max_cooldown=1.5, probe_timeout=5)


@pytest.fixture
def workers(redis_client: Redis, unique_key: str) -> Callable[..., CircuitBreaker]:
    """A breaker as one more worker process holds it: same Redis key, its own object."""

    def worker(settings: BreakerSettings = FAST) -> CircuitBreaker:
        return CircuitBreaker(redis_client, unique_key, label="Xero", settings=settings)

    return worker


def fail(breaker: CircuitBreaker, times: int, reason: str = "server error, HTTP 503") -> None:
    for _ in range(times):
        breaker.failed(breaker.before_call(), reason)


def test_consecutive_failures_from_several_workers_open_it_for_all(workers) -> None:
    first, second = workers(), workers()
    fail(first, 2)
    assert second.status().state is CircuitState.CLOSED
    fail(second, 1, "no answer in time")

    for worker in (first, second):
        with pytest.raises(CircuitOpenError) as refused:
            worker.before_call()
        error = refused.value
        assert (error.kind, error.code) == (ErrorKind.TRANSIENT, ErrorCode.CIRCUIT_OPEN)
        assert 0 < error.retry_after <= FAST.cooldown
        assert "Xero is not answering since" in error.message
        assert "(last: no answer in time)" in error.message
    status = first.status()
    assert status.state is CircuitState.OPEN
    assert status.open_since is not None and status.last_failure == "no answer in time"


def test_an_answer_between_failures_starts_the_count_again(workers) -> None:
    breaker = workers()
    fail(breaker, 2)
    breaker.succeeded(breaker.before_call())  # a 4xx or any answer: the system is up
    fail(breaker, 2)
    assert breaker.status().state is CircuitState.CLOSED
    assert breaker.status().failures == 2


def test_failures_spread_wider_than_the_window_do_not_open_it(workers) -> None:
    breaker = workers(BreakerSettings(threshold=3, window=0.3, cooldown=5))
    fail(breaker, 2)
    time.sleep(0.4)
    fail(breaker, 2)
    assert breaker.status().state is CircuitState.CLOSED


def test_after_the_cool_down_exactly_one_worker_probes(workers) -> None:
    first, second, third = workers(), workers(), workers()
    fail(first, 3)
    time.sleep(FAST.cooldown + 0.05)

    probe = second.before_call()
    assert probe.probe
    for waiting in (first, third):  # half-open: everyone else keeps waiting
        with pytest.raises(CircuitOpenError) as refused:
            waiting.before_call()
        assert refused.value.retry_after <= 5
    assert first.status().state is CircuitState.HALF_OPEN

    second.succeeded(probe)
    assert first.status().state is CircuitState.CLOSED
    assert not first.before_call().probe  # closed: calls go through again
    assert not third.before_call().probe


def test_a_failed_probe_reopens_with_a_growing_cool_down(workers) -> None:
    first, second = workers(), workers()
    fail(first, 3)
    opened = first.status().open_since
    cooldown = FAST.cooldown
    for _ in range(3):
        time.sleep(cooldown + 0.05)
        second.failed(second.before_call(), "connection dropped")
        cooldown = min(cooldown * 2, FAST.max_cooldown)
        with pytest.raises(CircuitOpenError) as refused:
            first.before_call()
        assert cooldown - 0.2 < refused.value.retry_after <= cooldown
    status = first.status()
    assert status.state is CircuitState.OPEN
    assert status.open_since == opened  # open since the outage began, not since the last probe
    assert status.last_failure == "connection dropped"


def test_a_probe_whose_worker_died_passes_to_another(workers) -> None:
    settings = BreakerSettings(threshold=1, cooldown=0.1, probe_timeout=0.3)
    dead, alive = workers(settings), workers(settings)
    fail(dead, 1)
    time.sleep(0.15)
    assert dead.before_call().probe  # ...and the worker is killed before it answers
    with pytest.raises(CircuitOpenError):
        alive.before_call()
    time.sleep(0.35)
    probe = alive.before_call()
    assert probe.probe
    alive.succeeded(probe)
    assert alive.status().state is CircuitState.CLOSED


# Long enough that a renewal (every third of it) is not missed on a loaded machine.
PROBE_LEASE = BreakerSettings(threshold=1, cooldown=0.1, probe_timeout=1.0)


def _refused_for(breaker: CircuitBreaker, seconds: float) -> bool:
    """Whether every call asked for during ``seconds`` is refused."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            breaker.before_call()
        except CircuitOpenError:
            time.sleep(0.05)
            continue
        return False
    return True


def test_a_slow_probe_keeps_its_turn_past_probe_timeout(workers) -> None:
    """The probe's call is still in flight (a slow system): its worker renews the turn."""
    prober, other = workers(PROBE_LEASE), workers(PROBE_LEASE)
    fail(prober, 1)
    time.sleep(0.15)
    probe = prober.before_call()
    assert probe.probe
    assert _refused_for(other, 2 * PROBE_LEASE.probe_timeout)
    prober.succeeded(probe)
    assert other.status().state is CircuitState.CLOSED
    other.succeeded(other.before_call())


def _probe_in_flight(url: str, key: str, ready: Event) -> None:
    breaker = CircuitBreaker(Redis.from_url(url), key, label="Xero", settings=PROBE_LEASE)
    probe = breaker.before_call()
    assert probe.probe
    ready.set()
    time.sleep(60)  # killed long before


def test_a_killed_probers_turn_passes_to_another_within_probe_timeout(
    workers, redis_url: str, unique_key: str
) -> None:
    other = workers(PROBE_LEASE)
    fail(other, 1)
    time.sleep(0.15)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    prober = context.Process(target=_probe_in_flight, args=(redis_url, unique_key, ready))
    prober.start()
    try:
        assert ready.wait(10)
        assert _refused_for(other, 2 * PROBE_LEASE.probe_timeout)  # alive: renewed
        os.kill(prober.pid or 0, signal.SIGKILL)
        prober.join(10)
        with pytest.raises(CircuitOpenError):
            other.before_call()  # its lease runs on...
        deadline = time.monotonic() + 5 * PROBE_LEASE.probe_timeout
        while True:  # ...then nobody renews it, and the next caller probes
            try:
                probe = other.before_call()
                break
            except CircuitOpenError:
                assert time.monotonic() < deadline, "the dead prober kept its turn"
                time.sleep(0.05)
        assert probe.probe
        other.succeeded(probe)
    finally:
        prober.kill()
        prober.join(10)


def test_a_late_answer_from_before_the_outage_does_not_close_it(workers) -> None:
    first, second = workers(), workers()
    in_flight = first.before_call()  # sent while the system still looked fine
    fail(second, 3)
    first.succeeded(in_flight)
    assert second.status().state is CircuitState.OPEN


def test_a_probe_the_rate_limiter_holds_back_passes_on_at_once(
    workers, redis_client: Redis, unique_key: str, demo_server: SandboxServer
) -> None:
    breaker = workers()
    fail(breaker, 3)
    time.sleep(FAST.cooldown + 0.05)
    limiter = RateLimiter(redis_client, unique_key, RateLimits(per_minute=1), max_wait=0)
    limiter.acquire()  # the minute's only call is used up
    client = HttpClient(demo_server.url, limiter=limiter, breaker=breaker)
    with pytest.raises(ConnectorError) as refused:
        client.request("GET", "/widgets")
    assert refused.value.code == ErrorCode.RATE_LIMITED
    assert workers().before_call().probe  # the next caller probes, without waiting it out


# -- a real system that is down ----------------------------------------------------


def xero_worker(
    config: ConnectionConfig, tokens: InMemoryTokenStore, redis: Redis, key: str
) -> XeroConnector:
    """One worker's connector: its own objects, the connection's shared breaker."""
    breaker = CircuitBreaker(redis, key, label="Xero", settings=BreakerSettings(cooldown=0.5))
    retry = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.02)
    return XeroConnector(config, tokens, retry=retry, timeout=(2.0, 0.3), breaker=breaker)


@pytest.mark.parametrize("fault", ["5xx", "timeout", "reset"])
def test_two_workers_stop_calling_a_system_that_is_down_and_resume_after_a_probe(
    fault: str,
    xero_server: SandboxServer,
    xero_config: ConnectionConfig,
    xero_tokens: InMemoryTokenStore,
    redis_client: Redis,
    unique_key: str,
) -> None:
    ctl = SandboxControl(xero_server.url)
    first, second = (xero_worker(xero_config, xero_tokens, redis_client, unique_key) for _ in "ab")
    ctl.faults(shares={fault: 1.0}, path_prefix="/api.xro", timeout_seconds=1.0)
    before = ctl.stats()["requests"]

    with pytest.raises(ConnectorError) as failed:  # 4 tries, 4 failures: still closed
        first.read_one("Contacts", "CUST-0001")
    assert failed.value.code != ErrorCode.CIRCUIT_OPEN
    with pytest.raises(CircuitOpenError):  # the 5th failure opens it mid-call
        second.read_one("Contacts", "CUST-0001")
    assert ctl.stats()["requests"] - before == 5

    for worker in (first, second, first):  # open: nothing more reaches Xero
        with pytest.raises(CircuitOpenError):
            worker.write_batch("Contacts", [{"Name": "Outage Ltd", "ContactNumber": "OUT-1"}])
    assert ctl.stats()["requests"] - before == 5
    status = first.breaker.status()
    assert status.state is CircuitState.OPEN and status.open_since is not None
    assert status.last_failure in {"server error, HTTP 500", "server error, HTTP 502",
                                   "server error, HTTP 503", "server error, HTTP 504",
                                   "connection dropped", "no answer in time"}  # fmt: skip

    ctl.faults()  # Xero is back
    time.sleep(0.55)
    assert first.read_one("Contacts", "CUST-0001") is not None  # the one probe
    assert second.read_one("Contacts", "CUST-0002") is not None
    assert ctl.stats()["requests"] - before == 7
    assert second.breaker.status().state is CircuitState.CLOSED


def test_a_write_cut_short_by_the_breaker_says_it_may_have_landed(
    xero_server: SandboxServer,
    xero_config: ConnectionConfig,
    xero_tokens: InMemoryTokenStore,
    redis_client: Redis,
    unique_key: str,
) -> None:
    """A 5xx to a write may follow the write: the refusal must not read as "never sent"."""
    ctl = SandboxControl(xero_server.url)
    worker = xero_worker(xero_config, xero_tokens, redis_client, unique_key)
    fail(worker.breaker, 4)  # one failure short of opening
    ctl.faults(shares={"5xx": 1.0}, path_prefix="/api.xro")
    with pytest.raises(CircuitOpenError) as refused:
        worker.write_batch("Contacts", [{"Name": "Halfway Ltd", "ContactNumber": "HALF-1"}])
    assert refused.value.outcome_unknown
