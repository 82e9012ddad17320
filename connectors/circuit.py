"""A circuit breaker per connection, shared by every worker through Redis.

A system that is down answers every call with a 5xx, a timeout or a reset.
Without a breaker each worker keeps trying batch after batch at its steady
rate: the outage is hammered, the ledger fills with failures and the rate
limit is spent on calls that cannot work. So every call first asks the
breaker of its connection:

* **closed** — calls go through. Transient failures of the *system* (5xx,
  timeouts, connection resets or refusals) are counted; a call the system
  answered (any other status, 4xx and 429 included) resets the count. After
  ``threshold`` failures in a row, all within ``window`` seconds, it opens.
* **open** — no call is sent: the caller gets ``CircuitOpenError`` at once,
  with the seconds left until a probe is due, so a run waits (it is deferred
  and its records are handed back unsent) instead of failing records.
* **half-open** — once the cool-down is over, exactly *one* caller across all
  workers is let through as the probe; the others keep waiting. The probe's
  success closes the breaker; its failure opens it again for twice the last
  cool-down (up to ``max_cooldown``). The probe is a lease of ``probe_timeout``
  renewed while its call is in flight (``connectors.leases``): a slow probe keeps
  its turn, and one whose worker died is given to another caller once
  ``probe_timeout`` has passed.

Every transition is one Lua script, so workers on several machines agree on
the state without a lock. Times come from Redis's clock, not the workers'.
Keys carry the connection key in braces so they hash to one slot on a Redis
Cluster, like the rate limiter's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from connectors.errors import CircuitOpenError
from connectors.leases import DEFAULT_LEASE_SECONDS, REDIS_NOW, lease_hold, lease_let_go

if TYPE_CHECKING:
    from redis import Redis

# How long a waiting caller is told to wait while another worker's probe is out:
# short, because the probe usually answers in well under its timeout.
_PROBE_POLL_MS = 5000
# How long a breaker's state outlives its last change in Redis.
_TTL_MS = 7 * 24 * 3600 * 1000

# -> {1, failures so far, 'closed' | 'probe'} or {0, ms to wait, 'open' | 'half_open'}
_BEFORE = (
    REDIS_NOW
    + """
local h = KEYS[1]
local state = redis.call('HGET', h, 'state') or 'closed'
if state == 'closed' then
  return {1, tonumber(redis.call('HGET', h, 'failures') or '0'), 'closed'}
end
if state == 'open' then
  local left = tonumber(redis.call('HGET', h, 'until_ms')) - now
  if left > 0 then return {0, left, 'open'} end
else
  local left = tonumber(redis.call('HGET', h, 'probe_until_ms')) - now
  if left > 0 then return {0, math.min(left, tonumber(ARGV[3])), 'half_open'} end
end
redis.call('HSET', h, 'state', 'half_open', 'probe', ARGV[1],
           'probe_until_ms', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', h, tonumber(ARGV[4]))
return {1, 0, 'probe'}
"""
)

# A call the system answered: the count starts again; the probe's answer closes.
_SUCCESS = """
local h = KEYS[1]
local state = redis.call('HGET', h, 'state') or 'closed'
if state == 'open' then return 0 end
if state == 'half_open' and redis.call('HGET', h, 'probe') ~= ARGV[1] then return 0 end
if state == 'closed' and tonumber(redis.call('HGET', h, 'failures') or '0') == 0 then
  return 1
end
redis.call('HSET', h, 'state', 'closed', 'failures', 0)
redis.call('HDEL', h, 'first_failure_ms', 'opened_ms', 'until_ms', 'cooldown_ms', 'probe',
           'probe_until_ms')
return 1
"""

# ARGV: token, reason, threshold, window ms, cool-down ms, max cool-down ms, ttl ms
_FAILURE = (
    REDIS_NOW
    + """
local h = KEYS[1]
local state = redis.call('HGET', h, 'state') or 'closed'
redis.call('HSET', h, 'reason', ARGV[2], 'failed_ms', now)
if state == 'half_open' then
  if redis.call('HGET', h, 'probe') == ARGV[1] then
    local cooldown = math.min(tonumber(redis.call('HGET', h, 'cooldown_ms')) * 2,
                              tonumber(ARGV[6]))
    redis.call('HSET', h, 'state', 'open', 'cooldown_ms', cooldown, 'until_ms', now + cooldown)
    redis.call('HDEL', h, 'probe', 'probe_until_ms')
    state = 'open'
  end
elseif state == 'closed' then
  local failures = tonumber(redis.call('HGET', h, 'failures') or '0')
  local first = tonumber(redis.call('HGET', h, 'first_failure_ms') or '0')
  if failures == 0 or now - first > tonumber(ARGV[4]) then
    failures, first = 0, now
  end
  failures = failures + 1
  redis.call('HSET', h, 'failures', failures, 'first_failure_ms', first)
  if failures >= tonumber(ARGV[3]) then
    local cooldown = tonumber(ARGV[5])
    redis.call('HSET', h, 'state', 'open', 'opened_ms', now, 'cooldown_ms', cooldown,
               'until_ms', now + cooldown)
    state = 'open'
  end
end
redis.call('PEXPIRE', h, tonumber(ARGV[7]))
return state
"""
)

# The probe's call is still in flight: its lease starts again from now. A probe that
# lapsed (another caller may probe now) or ended is not revived.
_RENEW_PROBE = (
    REDIS_NOW
    + """
local h = KEYS[1]
if redis.call('HGET', h, 'state') ~= 'half_open' or redis.call('HGET', h, 'probe') ~= ARGV[1] then
  return 0
end
if tonumber(redis.call('HGET', h, 'probe_until_ms')) <= now then return 0 end
redis.call('HSET', h, 'probe_until_ms', now + tonumber(ARGV[2]))
return 1
"""
)

# The probe was never sent (the rate limiter refused it): the next caller probes.
_ABANDON = (
    REDIS_NOW
    + """
local h = KEYS[1]
if redis.call('HGET', h, 'state') == 'half_open' and redis.call('HGET', h, 'probe') == ARGV[1] then
  redis.call('HSET', h, 'state', 'open', 'until_ms', now)
  redis.call('HDEL', h, 'probe', 'probe_until_ms')
end
return 1
"""
)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerSettings:
    """When a connection's breaker opens and for how long; seconds throughout."""

    threshold: int = 5
    window: float = 60.0
    cooldown: float = 30.0
    max_cooldown: float = 600.0
    probe_timeout: float = DEFAULT_LEASE_SECONDS

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> BreakerSettings:
        """The defaults, each replaced where a connection's ``settings["circuit_breaker"]`` says."""
        custom = settings.get("circuit_breaker") or {}
        defaults = cls()
        return cls(
            threshold=max(1, int(custom.get("threshold", defaults.threshold))),
            window=float(custom.get("window", defaults.window)),
            cooldown=float(custom.get("cooldown", defaults.cooldown)),
            max_cooldown=float(custom.get("max_cooldown", defaults.max_cooldown)),
            probe_timeout=float(custom.get("probe_timeout", defaults.probe_timeout)),
        )


@dataclass(frozen=True)
class Ticket:
    """Leave to make one call; ``probe`` when it is the one call a half-open breaker allows."""

    token: str
    probe: bool


@dataclass(frozen=True)
class BreakerStatus:
    """What the health dashboard shows of one breaker."""

    state: CircuitState
    failures: int = 0
    open_since: datetime | None = None
    probe_at: datetime | None = None
    last_failure: str = ""
    last_failure_at: datetime | None = None


def _ms(value: float) -> int:
    return max(1, int(value * 1000))


def _moment(ms: Any) -> datetime | None:
    return None if ms in (None, b"", "") else datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


class CircuitBreaker:
    """One connection's breaker, in Redis, shared by every process calling that connection.

    ``label`` names the system in the messages a finance user reads ("Xero").
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        label: str,
        settings: BreakerSettings | None = None,
        prefix: str = "clarity:circuit",
    ) -> None:
        self.redis = redis
        self.key = f"{prefix}:{{{key}}}"
        self.label = label
        self.settings = settings or BreakerSettings()
        self._before = redis.register_script(_BEFORE)
        self._success = redis.register_script(_SUCCESS)
        self._failure = redis.register_script(_FAILURE)
        self._abandon = redis.register_script(_ABANDON)
        self._renew_probe = redis.register_script(_RENEW_PROBE)

    @property
    def lease_seconds(self) -> float:
        return self.settings.probe_timeout

    def before_call(self) -> Ticket:
        """Leave for one call, or ``CircuitOpenError`` (with the wait) when the breaker is open."""
        token = uuid.uuid4().hex
        allowed, value, state = self._before(
            keys=[self.key],
            args=[token, _ms(self.settings.probe_timeout), _PROBE_POLL_MS, _TTL_MS],
        )
        if not allowed:
            raise self._refusal(int(value) / 1000)
        ticket = Ticket(token, probe=_text(state) == "probe")
        if ticket.probe:
            lease_hold(ticket, self)
        return ticket

    def renew(self, ticket: Ticket) -> bool:
        """Start the probe's lease again from now; False once it lapsed or ended.

        The process's lease keeper (``connectors.leases``) calls this while the probe's
        call is in flight.
        """
        lease = _ms(self.settings.probe_timeout)
        return bool(self._renew_probe(keys=[self.key], args=[ticket.token, lease]))

    def succeeded(self, ticket: Ticket) -> None:
        """The system answered the call (whatever it said): it is up."""
        lease_let_go(ticket)
        self._success(keys=[self.key], args=[ticket.token])

    def failed(self, ticket: Ticket, reason: str) -> CircuitState:
        """The system failed the call transiently; returns the breaker's state after it."""
        lease_let_go(ticket)
        settings = self.settings
        state = self._failure(
            keys=[self.key],
            args=[
                ticket.token,
                reason[:200],
                settings.threshold,
                _ms(settings.window),
                _ms(settings.cooldown),
                _ms(settings.max_cooldown),
                _TTL_MS,
            ],
        )
        return CircuitState(_text(state).replace("_", "-"))

    def abandon(self, ticket: Ticket) -> None:
        """The call was never sent; a probe's turn passes to the next caller at once."""
        if ticket.probe:
            lease_let_go(ticket)
            self._abandon(keys=[self.key], args=[ticket.token])

    def status(self) -> BreakerStatus:
        """The breaker as the dashboard shows it; reading it changes nothing."""
        state, failures, opened, until, reason, failed = self.redis.hmget(
            self.key, ["state", "failures", "opened_ms", "until_ms", "reason", "failed_ms"]
        )
        name = _text(state) or "closed"
        return BreakerStatus(
            state=CircuitState(name.replace("_", "-")),
            failures=int(failures or 0),
            open_since=_moment(opened),
            probe_at=_moment(until) if name == "open" else None,
            last_failure=_text(reason),
            last_failure_at=_moment(failed),
        )

    def refusal(self, *, outcome_unknown: bool = False) -> CircuitOpenError:
        """The error for a call whose own failure left the breaker open: it waits, like
        every call after it, instead of failing (``outcome_unknown``: an earlier try of
        a write may have landed)."""
        status = self.status()
        wait = 0.0
        if status.probe_at is not None:
            wait = max(0.0, (status.probe_at - datetime.now(UTC)).total_seconds())
        refused = self._refusal(wait, status)
        refused.outcome_unknown = outcome_unknown
        return refused

    def _refusal(self, wait: float, status: BreakerStatus | None = None) -> CircuitOpenError:
        status = status or self.status()
        since = f" since {status.open_since:%H:%M:%S} UTC" if status.open_since else ""
        last = f" (last: {status.last_failure})" if status.last_failure else ""
        return CircuitOpenError(
            wait,
            message=(
                f"{self.label} is not answering{since}{last}. Calls to it are paused and the "
                f"run waits; it carries on by itself once {self.label} answers again. Nothing "
                "needs fixing here unless this lasts."
            ),
            open_since=status.open_since,
        )


def circuit_breaker(
    redis: Redis | None, key: str, *, label: str, settings: Mapping[str, Any]
) -> CircuitBreaker | None:
    """A connection's breaker, or None where there is no Redis to share it through."""
    if redis is None:
        return None
    return CircuitBreaker(redis, key, label=label, settings=BreakerSettings.from_settings(settings))
