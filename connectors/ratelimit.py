"""A rate limiter in Redis, shared by every worker process calling one connection.

Systems count calls per tenant, not per process: ten RQ workers that each
respect "60 a minute" would together send 600 and learn about it from 429s.
So every call first takes a permit from one Lua script that, atomically,
checks and records the call in sliding windows (per minute, per day) and a
concurrency lease set. A concurrency lease is short and renewed while its call
is in flight (``connectors.leases``): a call slower than the lease keeps its
slot, and a killed worker's slot is free again within one lease.

The system counts a call when it *arrives*, which is some time after our
permit and before its answer comes back — and that delay varies from call to
call. Counting from the permit alone would let the next window's first call
reach the system before the previous window's call has aged out, and earn a
429. So releasing a permit moves the call's mark in the windows to the moment
its answer came back: never earlier than the system's own count, at the cost
of one call's latency per window.

Keys carry the connection key in braces (``{key}``) so they hash to one slot
on a Redis Cluster too.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.errors import RateLimitedError
from connectors.leases import DEFAULT_LEASE_SECONDS, REDIS_NOW, lease_hold, lease_let_go

if TYPE_CHECKING:
    from redis import Redis

# Poll interval while every concurrent slot is taken: a lease has no known end.
_CONCURRENCY_POLL_MS = 50
# Most a refused caller sleeps beyond the wait it was told, so callers refused
# together do not all retry at the same instant. Absolute, not a share of the
# wait: 20% of a minute-long wait would leave a window's first slots unused.
_MAX_JITTER = 0.05

# The lease set lives as long as its longest lease: a shorter lease than another
# caller's (another limiter on the key) must not cut the key's life short.
_KEEP_LEASE_SET = """
local function keep_lease_set(lease_ms)
  if redis.call('PTTL', KEYS[3]) < lease_ms then redis.call('PEXPIRE', KEYS[3], lease_ms) end
end
"""

_ACQUIRE = (
    _KEEP_LEASE_SET
    + REDIS_NOW
    + """
local token = ARGV[4]
local lease_ms = tonumber(ARGV[5])
local scale = tonumber(ARGV[7] or '1')
local windows = {
  {KEYS[1], tonumber(ARGV[1]), math.floor(60000 * scale), 'minute'},
  {KEYS[2], tonumber(ARGV[2]), math.floor(86400000 * scale), 'day'},
}
local concurrent = tonumber(ARGV[3])
if concurrent > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= concurrent then
    return {0, tonumber(ARGV[6]), 'concurrent'}
  end
end
local wait, limit = 0, ''
local remaining = {-1, -1}
for i, w in ipairs(windows) do
  if w[2] > 0 then
    redis.call('ZREMRANGEBYSCORE', w[1], '-inf', now - w[3])
    local n = redis.call('ZCARD', w[1])
    if n >= w[2] then
      local oldest = redis.call('ZRANGE', w[1], n - w[2], n - w[2], 'WITHSCORES')
      local until_free = tonumber(oldest[2]) + w[3] - now
      if until_free < 1 then until_free = 1 end
      if until_free > wait then wait, limit = until_free, w[4] end
    end
    remaining[i] = w[2] - n - 1
  end
end
if wait > 0 then return {0, wait, limit} end
for _, w in ipairs(windows) do
  if w[2] > 0 then
    redis.call('ZADD', w[1], now, token)
    redis.call('PEXPIRE', w[1], w[3])
  end
end
if concurrent > 0 then
  redis.call('ZADD', KEYS[3], now + lease_ms, token)
  keep_lease_set(lease_ms)
end
return {1, remaining[1], remaining[2]}
"""
)

# Renew: a lease still running starts again from now. One that lapsed or was
# released is not revived: its slot may already be someone else's.
_RENEW = (
    _KEEP_LEASE_SET
    + REDIS_NOW
    + """
local lease_ms = tonumber(ARGV[2])
local ends = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not ends or tonumber(ends) <= now then return 0 end
redis.call('ZADD', KEYS[3], now + lease_ms, ARGV[1])
keep_lease_set(lease_ms)
return 1
"""
)

# Release: the concurrency lease ends, and the call's mark in each window in use
# moves to now (rounded up to the next ms), when its answer has come back.
_RELEASE = (
    REDIS_NOW
    + """
now = now + 1
local token = ARGV[1]
local scale = tonumber(ARGV[4] or '1')
local windows = {
  {KEYS[1], tonumber(ARGV[2]), math.floor(60000 * scale)},
  {KEYS[2], tonumber(ARGV[3]), math.floor(86400000 * scale)},
}
for _, w in ipairs(windows) do
  if w[2] > 0 then
    redis.call('ZADD', w[1], now, token)
    redis.call('PEXPIRE', w[1], w[3])
  end
end
redis.call('ZREM', KEYS[3], token)
return 1
"""
)

_HEADROOM = (
    REDIS_NOW
    + """
local scale = tonumber(ARGV[1] or '1')
return {
  redis.call('ZCOUNT', KEYS[1], '(' .. (now - math.floor(60000 * scale)), '+inf'),
  redis.call('ZCOUNT', KEYS[2], '(' .. (now - math.floor(86400000 * scale)), '+inf'),
  redis.call('ZCOUNT', KEYS[3], now, '+inf'),
}
"""
)


@dataclass(frozen=True)
class RateLimits:
    """A system's published limits for one connection; None means "no limit"."""

    per_minute: int | None = None
    per_day: int | None = None
    concurrent: int | None = None

    def overridden_by(self, settings: Mapping[str, Any]) -> RateLimits:
        """These limits, each replaced where a connection's ``settings["rate_limits"]`` says."""
        custom = settings.get("rate_limits") or {}
        return RateLimits(
            per_minute=custom.get("per_minute", self.per_minute),
            per_day=custom.get("per_day", self.per_day),
            concurrent=custom.get("concurrent", self.concurrent),
        )


@dataclass(frozen=True)
class Headroom:
    """Calls still allowed right now; None where the limit is not set."""

    minute_remaining: int | None
    day_remaining: int | None
    concurrent_free: int | None


@dataclass(frozen=True)
class Permit:
    """One call's place in the limits; keep it until ``release``.

    Its lease is renewed only while something holds the object: a permit dropped
    without release (a caller's bug) cannot be released any more, so it is left
    to expire within a lease rather than keep a slot for the life of the process.
    """

    token: str


@dataclass(frozen=True)
class Wait:
    """No permit now; one may be free after ``seconds``, held back by ``limit``."""

    seconds: float
    limit: str


class RateLimiter:
    """Permits for calls to one connection, counted in Redis across processes."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        limits: RateLimits,
        *,
        max_wait: float = 5.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        prefix: str = "clarity:ratelimit",
        time_scale: float = 1.0,
    ) -> None:
        # time_scale shrinks the minute and day windows (0.1: "60 a minute" becomes
        # 60 per 6 s) so a benchmark can simulate real limits in minutes, not hours.
        self.time_scale = time_scale
        self.redis = redis
        self.limits = limits
        self.max_wait = max_wait
        self.lease_seconds = lease_seconds
        base = f"{prefix}:{{{key}}}"
        self.keys = [f"{base}:minute", f"{base}:day", f"{base}:concurrent"]
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._headroom = redis.register_script(_HEADROOM)

    @property
    def lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)

    def share(self, fraction: float, *, max_wait: float | None = None) -> RateLimiter:
        """A lower-priority limiter counting in the same windows, granted a permit only while
        the calls of everyone (itself included) stay within ``fraction`` of each limit.

        Background work (a nightly reconciliation) takes ``share(0.5)``: once the minute is
        half used it waits, so the flows, which may use every slot, always find the other
        half free however long the background read is. At least one call (and one
        concurrent slot) is left to it, so it ends. ``max_wait``: how long it may wait for a
        permit (background work can afford to wait where a run would reschedule).
        """

        def part(limit: int | None) -> int | None:
            return None if limit is None else max(1, int(limit * fraction))

        limits = self.limits
        low = copy.copy(self)
        low.limits = RateLimits(
            per_minute=part(limits.per_minute),
            per_day=part(limits.per_day),
            concurrent=part(limits.concurrent),
        )
        if max_wait is not None:
            low.max_wait = max_wait
        return low

    def try_acquire(self) -> Permit | Wait:
        """One attempt, never blocking: a permit, or how long to wait for one."""
        token = uuid.uuid4().hex
        limits = self.limits
        granted, value, limit = self._acquire(
            keys=self.keys,
            args=[
                limits.per_minute or 0,
                limits.per_day or 0,
                limits.concurrent or 0,
                token,
                self.lease_ms,
                _CONCURRENCY_POLL_MS,
                self.time_scale,
            ],
        )
        if granted:
            permit = Permit(token)
            if limits.concurrent:
                lease_hold(permit, self)
            return permit
        name = limit.decode() if isinstance(limit, bytes) else str(limit)
        return Wait(seconds=int(value) / 1000, limit=name)

    def acquire(self, max_wait: float | None = None) -> Permit:
        """Wait up to ``max_wait`` seconds for a permit.

        Raises ``RateLimitedError`` at once when the wait would be longer, so a
        job can reschedule itself instead of holding a worker asleep.
        """
        budget = self.max_wait if max_wait is None else max_wait
        deadline = time.monotonic() + budget
        while True:
            outcome = self.try_acquire()
            if isinstance(outcome, Permit):
                return outcome
            left = deadline - time.monotonic()
            if outcome.seconds > left:
                raise RateLimitedError(outcome.seconds, limit=outcome.limit)
            # Jitter keeps processes that were refused together from retrying together.
            jitter = random.uniform(0, min(outcome.seconds * 0.2, _MAX_JITTER))
            time.sleep(min(left, outcome.seconds + jitter))

    def release(self, permit: Permit) -> None:
        """The call is over: free its concurrency slot, and count it in the minute
        and day from now — the system saw it no later than its answer left."""
        lease_let_go(permit)
        limits = self.limits
        if not (limits.concurrent or limits.per_minute or limits.per_day):
            return
        self._release(
            keys=self.keys,
            args=[permit.token, limits.per_minute or 0, limits.per_day or 0, self.time_scale],
        )

    def renew(self, permit: Permit) -> bool:
        """Start the permit's concurrency lease again from now; False once it is gone.

        The process's lease keeper (``connectors.leases``) calls this while the permit
        is held.
        """
        return bool(self._renew(keys=self.keys, args=[permit.token, self.lease_ms]))

    @contextmanager
    def slot(self, max_wait: float | None = None) -> Iterator[Permit]:
        permit = self.acquire(max_wait)
        try:
            yield permit
        finally:
            self.release(permit)

    def headroom(self) -> Headroom:
        minute, day, running = (
            int(n) for n in self._headroom(keys=self.keys, args=[self.time_scale])
        )
        limits = self.limits

        def left(limit: int | None, used: int) -> int | None:
            return None if limit is None else max(limit - used, 0)

        return Headroom(
            minute_remaining=left(limits.per_minute, minute),
            day_remaining=left(limits.per_day, day),
            concurrent_free=left(limits.concurrent, running),
        )
