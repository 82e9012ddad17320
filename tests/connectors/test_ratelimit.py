"""The shared limiter against a real redis-server, from several real processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.synchronize import Event

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from connectors.errors import RateLimitedError
from connectors.ratelimit import Permit, RateLimiter, RateLimits, Wait


def test_minute_window_grants_exactly_the_limit(redis_client: Redis, unique_key: str) -> None:
    limiter = RateLimiter(redis_client, unique_key, RateLimits(per_minute=3, per_day=100))
    outcomes = [limiter.try_acquire() for _ in range(4)]
    assert [type(o) for o in outcomes] == [Permit, Permit, Permit, Wait]
    wait = outcomes[-1]
    assert isinstance(wait, Wait)
    assert wait.limit == "minute"
    assert 59 < wait.seconds <= 60
    headroom = limiter.headroom()
    assert (headroom.minute_remaining, headroom.day_remaining) == (0, 97)
    assert headroom.concurrent_free is None


def test_day_limit_reports_the_day(redis_client: Redis, unique_key: str) -> None:
    limiter = RateLimiter(redis_client, unique_key, RateLimits(per_minute=10, per_day=1))
    limiter.try_acquire()
    wait = limiter.try_acquire()
    assert isinstance(wait, Wait)
    assert wait.limit == "day"
    assert wait.seconds > 86000


def test_long_wait_raises_instead_of_sleeping(
    redis_client: Redis, unique_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(redis_client, unique_key, RateLimits(per_minute=1), max_wait=0.5)
    limiter.acquire()
    slept: list[float] = []
    monkeypatch.setattr("connectors.ratelimit.time.sleep", slept.append)
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire()
    assert slept == []  # raised at once: a job reschedules itself, no worker held asleep
    assert caught.value.limit == "minute"
    assert caught.value.retry_after > 59


def test_concurrency_slots_are_released(redis_client: Redis, unique_key: str) -> None:
    limiter = RateLimiter(redis_client, unique_key, RateLimits(concurrent=1), max_wait=0.2)
    with limiter.slot():
        assert limiter.headroom().concurrent_free == 0
        assert isinstance(limiter.try_acquire(), Wait)
    assert limiter.headroom().concurrent_free == 1
    with limiter.slot():
        pass


def test_leases_of_dead_processes_expire(redis_client: Redis, unique_key: str) -> None:
    limits = RateLimits(concurrent=1)
    crashed = RateLimiter(redis_client, unique_key, limits, lease_seconds=0.2)
    crashed.acquire()  # never released, as if the process died
    limiter = RateLimiter(redis_client, unique_key, limits, max_wait=30)
    refused = limiter.try_acquire()
    assert isinstance(refused, Wait) and refused.limit == "concurrent"
    limiter.release(limiter.acquire())  # would raise if the dead lease held the slot for ever
    assert limiter.headroom().concurrent_free == 1


# Short enough to watch a lease outlived twice in two seconds; long enough that a renewal
# (every third of it) is not missed by a keeper thread starved on a loaded machine.
LEASE = 1.0


def _refused_for(limiter: RateLimiter, seconds: float) -> bool:
    """Whether every try for the slot during ``seconds`` is refused (one granted is given back)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcome = limiter.try_acquire()
        if isinstance(outcome, Permit):
            limiter.release(outcome)
            return False
        time.sleep(0.05)
    return True


def _call_in_flight(url: str, key: str, lease: float, ready: Event, done: Event) -> None:
    """Hold the one slot on ``key`` until ``done`` (or until killed)."""
    limiter = RateLimiter(Redis.from_url(url), key, RateLimits(concurrent=1), lease_seconds=lease)
    with limiter.slot():
        ready.set()
        done.wait(60)


def _fork_while_in_flight(
    url: str, key: str, childs_key: str, lease: float, ready: Event, done: Event
) -> None:
    """Hold the slot on ``key`` and fork a child that holds the one on ``childs_key``."""
    limiter = RateLimiter(Redis.from_url(url), key, RateLimits(concurrent=1), lease_seconds=lease)
    with limiter.slot():
        child = multiprocessing.get_context("fork").Process(
            target=_call_in_flight, args=(url, childs_key, lease, ready, done)
        )
        child.start()
        time.sleep(60)  # killed long before


def test_a_live_call_keeps_its_slot_past_its_lease(redis_client: Redis, unique_key: str) -> None:
    limits = RateLimits(concurrent=1)
    caller = RateLimiter(redis_client, unique_key, limits, lease_seconds=LEASE)
    other = RateLimiter(redis_client, unique_key, limits)
    with caller.slot():
        assert _refused_for(other, 2 * LEASE)
    freed = other.try_acquire()
    assert isinstance(freed, Permit)
    other.release(freed)


def test_a_killed_processs_slot_is_free_within_a_lease(redis_url: str, unique_key: str) -> None:
    context = multiprocessing.get_context("fork")
    ready, done = context.Event(), context.Event()
    worker = context.Process(
        target=_call_in_flight, args=(redis_url, unique_key, LEASE, ready, done)
    )
    worker.start()
    limiter = RateLimiter(Redis.from_url(redis_url), unique_key, RateLimits(concurrent=1))
    try:
        assert ready.wait(10)
        assert _refused_for(limiter, 2 * LEASE)  # alive: its lease is renewed
        os.kill(worker.pid or 0, signal.SIGKILL)
        worker.join(10)
        refused = limiter.try_acquire()
        assert isinstance(refused, Wait) and refused.limit == "concurrent"  # the lease runs on
        limiter.release(limiter.acquire(max_wait=10 * LEASE))  # ...then nobody renews it
    finally:
        worker.kill()
        worker.join(10)


def test_a_forked_child_renews_its_own_permits_not_its_parents(
    redis_url: str, unique_key: str
) -> None:
    """An RQ work horse is forked: it inherits its parent's permits as objects, not as
    leases to keep, and must renew its own although the parent's thread did not come along."""
    childs_key = f"{unique_key}-child"
    context = multiprocessing.get_context("fork")
    ready, done = context.Event(), context.Event()
    parent = context.Process(
        target=_fork_while_in_flight,
        args=(redis_url, unique_key, childs_key, LEASE, ready, done),
    )
    parent.start()
    client = Redis.from_url(redis_url)
    parents_slot = RateLimiter(client, unique_key, RateLimits(concurrent=1))
    childs_slot = RateLimiter(client, childs_key, RateLimits(concurrent=1))
    try:
        assert ready.wait(10)
        assert isinstance(parents_slot.try_acquire(), Wait)
        # Not joined here: the child holds the parent's end of the pipe join waits on.
        os.kill(parent.pid or 0, signal.SIGKILL)
        # The child lives on, holding its own slot; the dead parent's lapses all the same.
        parents_slot.release(parents_slot.acquire(max_wait=10 * LEASE))
        assert _refused_for(childs_slot, 2 * LEASE)
    finally:
        done.set()
        parent.kill()
        parent.join(10)
    childs_slot.release(childs_slot.acquire(max_wait=10 * LEASE))  # the child gave it back


def test_a_redis_error_while_renewing_is_logged_and_renewal_goes_on(
    redis_client: Redis,
    unique_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = RateLimits(concurrent=1)
    caller = RateLimiter(redis_client, unique_key, limits, lease_seconds=LEASE)
    renew = caller.renew
    failures = iter([RedisConnectionError("connection refused")])

    def flaky_renew(permit: Permit) -> bool:
        for error in failures:
            raise error
        return renew(permit)

    monkeypatch.setattr(caller, "renew", flaky_renew)
    other = RateLimiter(redis_client, unique_key, limits)
    with caplog.at_level(logging.WARNING, logger="connectors.leases"), caller.slot():
        assert _refused_for(other, 2 * LEASE)
    assert "could not renew a lease (RateLimiter): ConnectionError" in caplog.text
    assert "connection refused" not in caplog.text  # the error's type, not its words


def _hammer(url: str, key: str, seconds: float, results: multiprocessing.Queue) -> None:
    client = Redis.from_url(url)
    limiter = RateLimiter(client, key, RateLimits(per_minute=25, concurrent=2), max_wait=0.05)
    granted = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with limiter.slot():
                running = client.incr(f"{key}:running")
                client.eval(
                    "if tonumber(redis.call('GET', KEYS[1]) or 0) < tonumber(ARGV[1]) then "
                    "redis.call('SET', KEYS[1], ARGV[1]) end",
                    1,
                    f"{key}:peak",
                    running,
                )
                time.sleep(0.01)
                client.decr(f"{key}:running")
                granted += 1
        except RateLimitedError:
            time.sleep(0.01)
    results.put(granted)


def test_processes_together_stay_under_the_limits(
    redis_url: str, redis_client: Redis, unique_key: str
) -> None:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(redis_url, unique_key, 2.0, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    assert sum(counts) == 25
    assert int(redis_client.get(f"{unique_key}:peak") or 0) <= 2
    assert sum(1 for c in counts if c) >= 2  # the permits really were shared out


def test_works_on_fakeredis(unique_key: str) -> None:
    """The embedded default (no Redis server installed) runs the same script."""
    fakeredis = pytest.importorskip("fakeredis")
    limiter = RateLimiter(fakeredis.FakeRedis(), unique_key, RateLimits(per_minute=2, concurrent=1))
    assert isinstance(limiter.try_acquire(), Permit)
    assert isinstance(limiter.try_acquire(), Wait)


def _redis_ms(client: Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


def test_a_call_counts_from_when_its_answer_came_back(redis_client: Redis, unique_key: str) -> None:
    """The system counts a call on arrival, after our permit: the window runs from the answer.

    Read against Redis's own clock on both sides of each step, so a slow machine
    cannot make it pass or fail: only the order of events matters.
    """
    limiter = RateLimiter(
        redis_client, unique_key, RateLimits(per_minute=1), time_scale=1 / 60
    )  # a "minute" of one second
    permit = limiter.acquire()
    permitted = _redis_ms(redis_client)
    while _redis_ms(redis_client) <= permitted + 1:
        pass  # the call is in flight for a few milliseconds
    answered = _redis_ms(redis_client)
    limiter.release(permit)
    mark = redis_client.zscore(limiter.keys[0], permit.token)
    assert mark is not None and mark > answered > permitted  # moved to when the answer came
    wait = limiter.try_acquire()
    after = _redis_ms(redis_client)
    assert isinstance(wait, Wait) and wait.limit == "minute"
    # The refusal lasts a full window from the mark, not from the permit.
    assert mark + 1000 - after <= round(wait.seconds * 1000) <= mark + 1000 - answered


def test_time_scale_shrinks_the_windows(redis_client: Redis, unique_key: str) -> None:
    limiter = RateLimiter(
        redis_client, unique_key, RateLimits(per_minute=2, per_day=3), time_scale=0.01
    )
    assert [type(limiter.try_acquire()) for _ in range(3)] == [Permit, Permit, Wait]
    time.sleep(0.61)  # 0.6 s is this limiter's minute
    assert isinstance(limiter.try_acquire(), Permit)
    day = limiter.try_acquire()
    assert isinstance(day, Wait)
    assert day.limit == "day"
    assert day.seconds <= 864


def test_a_connection_may_override_each_limit() -> None:
    published = RateLimits(per_minute=60, per_day=5000, concurrent=5)
    assert published.overridden_by({}) == published
    assert published.overridden_by({"rate_limits": None}) == published
    assert published.overridden_by({"rate_limits": {"per_minute": 30, "concurrent": None}}) == (
        RateLimits(per_minute=30, per_day=5000, concurrent=None)
    )


def test_a_background_share_leaves_the_rest_of_the_window_to_the_flows(
    redis_client: Redis, unique_key: str
) -> None:
    flows = RateLimiter(redis_client, unique_key, RateLimits(per_minute=10))
    background = flows.share(0.5, max_wait=0.1)
    assert background.limits == RateLimits(per_minute=5)
    xero = RateLimits(per_minute=60, per_day=5000, concurrent=5)
    assert RateLimiter(redis_client, unique_key, xero).share(0.1).limits == RateLimits(
        per_minute=6,
        per_day=500,
        concurrent=1,  # at least one slot each: it ends
    )
    assert all(isinstance(background.try_acquire(), Permit) for _ in range(5))
    refused = background.try_acquire()
    assert isinstance(refused, Wait) and refused.limit == "minute"
    # The background's calls count in the same window: the flows still have the other half.
    assert [isinstance(flows.try_acquire(), Permit) for _ in range(6)] == [True] * 5 + [False]


def test_a_background_share_waits_while_the_flows_use_their_share(
    redis_client: Redis, unique_key: str
) -> None:
    flows = RateLimiter(redis_client, unique_key, RateLimits(per_minute=10))
    for _ in range(5):
        flows.acquire()
    background = flows.share(0.5, max_wait=0.1)
    assert isinstance(background.try_acquire(), Wait)
    assert isinstance(flows.try_acquire(), Permit)
