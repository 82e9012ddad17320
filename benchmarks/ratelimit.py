"""The shared rate limiter's timings against a real redis-server.

The tests (tests/connectors/test_ratelimit.py) prove what the limiter does
without timing it; this measures how long it takes, which on a shared machine
is a figure to watch, not a pass/fail:

- ``permit_us``: median microseconds of one permit and its release (one Lua
  script each), limits far away;
- ``refusal_ms``: how long ``acquire`` takes to raise ``RateLimitedError`` when
  the wait is longer than its budget (it must not sleep first);
- ``dead_lease_s``: how long a caller waits for the only concurrent slot held
  by a process that died with a 0.2 s lease;
- ``answer_window_s``: the wait reported after a call that took 0.6 s to answer
  in a one-second "minute" (a full window from the answer: about 1.0, not 0.4);
- ``processes``: 4 processes hammering one key for 2 s under 25 a minute and 2
  at once: permits granted in all, the most ever held at once, grants per second.

Run with ``bash .ci/bench ratelimit`` (Redis from REDIS_URL). The last line is JSON.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis

from connectors.errors import RateLimitedError
from connectors.ratelimit import RateLimiter, RateLimits

PERMITS = 2000
PROCESSES, HAMMER_SECONDS = 4, 2.0


def _key() -> str:
    return f"bench-{uuid.uuid4().hex}"


def permit_us(client: Redis) -> float:
    limiter = RateLimiter(client, _key(), RateLimits(per_minute=10**6, concurrent=100))
    samples = []
    for _ in range(PERMITS):
        started = time.perf_counter()
        limiter.release(limiter.acquire())
        samples.append(time.perf_counter() - started)
    return round(statistics.median(samples) * 1e6, 1)


def refusal_ms(client: Redis) -> float:
    limiter = RateLimiter(client, _key(), RateLimits(per_minute=1), max_wait=0.5)
    limiter.acquire()
    started = time.perf_counter()
    try:
        limiter.acquire()
    except RateLimitedError:
        return round((time.perf_counter() - started) * 1000, 2)
    raise AssertionError("a second call in the minute was let through")


def dead_lease_s(client: Redis) -> float:
    key, limits = _key(), RateLimits(concurrent=1)
    RateLimiter(client, key, limits, lease_seconds=0.2).acquire()  # never released
    limiter = RateLimiter(client, key, limits, max_wait=5)
    started = time.perf_counter()
    limiter.release(limiter.acquire())
    return round(time.perf_counter() - started, 3)


def answer_window_s(client: Redis) -> float:
    limiter = RateLimiter(client, _key(), RateLimits(per_minute=1), time_scale=1 / 60)
    permit = limiter.acquire()
    time.sleep(0.6)  # the call takes 0.6 s to answer
    limiter.release(permit)
    wait = limiter.try_acquire()
    return getattr(wait, "seconds", 0.0)


def _hammer(url: str, key: str, results: multiprocessing.Queue) -> None:
    client = Redis.from_url(url)
    limiter = RateLimiter(client, key, RateLimits(per_minute=25, concurrent=2), max_wait=0.05)
    granted = 0
    deadline = time.monotonic() + HAMMER_SECONDS
    while time.monotonic() < deadline:
        try:
            with limiter.slot():
                running = client.incr(f"{key}:running")
                client.eval(
                    "if tonumber(redis.call('GET', KEYS[1]) or 0) < tonumber(ARGV[1]) then "
                    "redis.call('SET', KEYS[1], ARGV[1]) end",
                    1, f"{key}:peak", running,
                )  # fmt: skip
                time.sleep(0.01)
                client.decr(f"{key}:running")
                granted += 1
        except RateLimitedError:
            time.sleep(0.01)
    results.put(granted)


def processes(url: str, client: Redis) -> dict[str, float]:
    key = _key()
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(url, key, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    granted = sum(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    return {
        "granted": granted,
        "peak_concurrent": int(client.get(f"{key}:peak") or 0),
        "grants_per_s": round(granted / HAMMER_SECONDS, 1),
    }


def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = Redis.from_url(url)
    figures = {
        "permit_us": permit_us(client),
        "refusal_ms": refusal_ms(client),
        "dead_lease_s": dead_lease_s(client),
        "answer_window_s": answer_window_s(client),
        "processes": processes(url, client),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
