"""The relay queue in Redis: calls wait per connection, agents claim them, answers wake callers.

Plain Python over Redis (no Django), so the transport a connector uses and the views an
agent calls share one implementation.

Each call is a hash ``req:<id>`` whose ``state`` is the single arbiter of what happened:

``queued``    in the connection's list, not yet handed to any agent;
``claimed``   handed to exactly one agent (``agent``), which alone may answer it;
``answered``  its answer is in ``ans:<id>`` for the waiting caller;
``withdrawn`` nobody claimed it before its deadline: it is never handed out later, so the
              caller knows it was not sent and may send it again;
``expired``   claimed but not answered in time: the caller gave up (a write's outcome is
              unknown) and a late answer is refused.

A poll moves an id from the connection's list into the agent's processing list with
``BLMOVE`` (so it waits without spinning, and wakes the instant a call is queued), then
one Lua script flips it, and as many more queued calls as the poll asked for, from
``queued`` to ``claimed``. Caller and agent race only through these scripts, so each
call is served at most once whatever the number of agents.

Every round trip to Redis is a wake-up of two processes on a loaded machine, so each
step is one: a caller queues a call only if an agent is online in one script; a poll
claims its batch in one script; an answer is delivered and counted in one script.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis

PREFIX = "clarity:agent"
MAX_WAIT_S = 25.0
MAX_PER_POLL = 16
DEFAULT_PER_POLL = 8
ONLINE_WITHIN_S = 60.0
# Blocking reads wait in slices, each well inside the Redis client's socket timeout (the
# queues' connection has one of a few seconds), so a long poll never reads as a dead socket.
SLICE_S = 2.0
KEEP_S = 120  # how long a call's hash and answer outlive its deadline (late answers: 409)

# KEYS: the connection's queue, the agent's processing list, the revoked set.
# ARGV: agent id, now, most, the id BLMOVE already moved ("" for none), the key prefix.
# A call's own hash is named from its id here (one Redis, never a cluster).
_CLAIM = """
local first = ARGV[4]
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  if first ~= '' then
    redis.call('LREM', KEYS[2], 0, first)
    redis.call('RPUSH', KEYS[1], first)
  end
  return -1
end
local now, most, claimed = tonumber(ARGV[2]), tonumber(ARGV[3]), {}
local id = first
if id == '' then id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') end
while id do
  local key = ARGV[5] .. id
  local state = redis.call('HGET', key, 'state')
  if state == 'queued' and tonumber(redis.call('HGET', key, 'deadline')) > now then
    redis.call('HSET', key, 'state', 'claimed', 'agent', ARGV[1])
    table.insert(claimed, redis.call('HGET', key, 'payload'))
    table.insert(claimed, redis.call('HGET', key, 'deadline'))
  else
    redis.call('LREM', KEYS[2], 0, id)
    if state == 'queued' then redis.call('HSET', key, 'state', 'withdrawn') end
  end
  if #claimed >= 2 * most then break end
  id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
end
if #claimed > 0 then redis.call('EXPIRE', KEYS[2], 86400) end  -- a killed agent's list fades
return claimed
"""

# KEYS: the connection's heartbeats, the call's hash, the connection's queue.
# ARGV: now, ONLINE_WITHIN_S, payload, deadline, connection id, seconds to keep, call id.
# Returns {1} when queued, else {0, the last heartbeat or false}.
_SUBMIT = """
local last = nil
for _, seen in ipairs(redis.call('HVALS', KEYS[1])) do
  local t = tonumber(seen)
  if t and (last == nil or t > last) then last = t end
end
if last == nil or tonumber(ARGV[1]) - last > tonumber(ARGV[2]) then
  return {0, last and string.format('%.3f', last) or false}
end
redis.call('HSET', KEYS[2], 'state', 'queued', 'payload', ARGV[3], 'deadline', ARGV[4],
           'connection', ARGV[5])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
redis.call('LPUSH', KEYS[3], ARGV[7])
return {1}
"""

_HEARTBEAT = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

_ANSWER = """
if redis.call('HGET', KEYS[1], 'state') ~= 'claimed'
   or redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1]
   or tonumber(redis.call('HGET', KEYS[1], 'deadline')) <= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'answered')
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
redis.call('LREM', KEYS[2], 0, ARGV[5])
redis.call('HINCRBY', KEYS[4], 'calls', 1)
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[4], 'errors', 1) end
return 1
"""

_GIVE_UP = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'withdrawn')
  redis.call('LREM', KEYS[2], 0, ARGV[1])
  return {'withdrawn'}
elseif state == 'claimed' then
  redis.call('HSET', KEYS[1], 'state', 'expired')
  return {'expired'}
elseif state == 'answered' then
  return {'answered', redis.call('LPOP', KEYS[3])}
end
return {state or 'gone'}
"""


@dataclass(frozen=True)
class Outcome:
    """How a relayed call ended: an ``answer`` dict, or ``withdrawn`` / ``expired``."""

    state: str
    answer: dict[str, Any] | None = None


def _request_key(request_id: str) -> str:
    return f"{PREFIX}:req:{request_id}"


def _answer_key(request_id: str) -> str:
    return f"{PREFIX}:ans:{request_id}"


def _queue_key(connection_id: str) -> str:
    return f"{PREFIX}:conn:{connection_id}:queue"


def _seen_key(connection_id: str) -> str:
    return f"{PREFIX}:conn:{connection_id}:seen"


REVOKED_KEY = f"{PREFIX}:revoked"


def _processing_key(agent_id: str) -> str:
    return f"{PREFIX}:agent:{agent_id}:processing"


def counts_key(agent_id: str) -> str:
    """Calls answered and errors not yet written to the Agent row."""
    return f"{PREFIX}:agent:{agent_id}:counts"


class Relay:
    """The queue of one Redis; ``clock`` is wall time, shared by web and worker machines."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._claim = redis.register_script(_CLAIM)
        self._submit = redis.register_script(_SUBMIT)
        self._answer = redis.register_script(_ANSWER)
        self._give_up = redis.register_script(_GIVE_UP)
        self._heartbeat = redis.register_script(_HEARTBEAT)

    # -- the caller's side (a connector's transport) ------------------------------------

    def submit(self, connection_id: str, request: dict[str, Any], *, deadline_s: float) -> str:
        """Queue one call for the connection's agents, online or not; returns its id."""
        request_id = uuid.uuid4().hex
        deadline = self.clock() + deadline_s
        payload = json.dumps({**request, "id": request_id})
        key = _request_key(request_id)
        pipe = self.redis.pipeline()
        pipe.hset(
            key,
            mapping={
                "state": "queued",
                "payload": payload,
                "deadline": repr(deadline),
                "connection": connection_id,
            },
        )
        pipe.expire(key, int(deadline_s) + KEEP_S)
        pipe.lpush(_queue_key(connection_id), request_id)
        pipe.execute()
        return request_id

    def submit_if_online(
        self, connection_id: str, request: dict[str, Any], *, deadline_s: float
    ) -> tuple[str | None, float | None]:
        """Queue one call only while an agent of the connection is online (in one round
        trip): ``(its id, None)``, or ``(None, when an agent was last seen)`` when none is
        online, then nothing was queued."""
        request_id = uuid.uuid4().hex
        now = self.clock()
        queued = self._submit(
            keys=[
                _seen_key(connection_id),
                _request_key(request_id),
                _queue_key(connection_id),
            ],
            args=[
                repr(now),
                ONLINE_WITHIN_S,
                json.dumps({**request, "id": request_id}),
                repr(now + deadline_s),
                connection_id,
                int(deadline_s) + KEEP_S,
                request_id,
            ],
        )
        if int(queued[0]) == 1:
            return request_id, None
        return None, float(queued[1]) if queued[1] else None

    def wait(self, connection_id: str, request_id: str, *, deadline_s: float) -> Outcome:
        """Block until the answer comes or the deadline passes, then settle the call's state."""
        end = self.clock() + deadline_s
        while (left := end - self.clock()) > 0:
            popped = self.redis.blpop(
                [_answer_key(request_id)], timeout=min(max(left, 0.01), SLICE_S)
            )
            if popped is not None:
                return Outcome("answered", json.loads(popped[1]))
        settled = self._give_up(
            keys=[_request_key(request_id), _queue_key(connection_id), _answer_key(request_id)],
            args=[request_id],
        )
        state = _text(settled[0])
        if state == "answered" and len(settled) > 1 and settled[1]:
            return Outcome("answered", json.loads(settled[1]))
        return Outcome(state)

    # -- the agent's side (the views) ---------------------------------------------------

    def claim(
        self, connection_id: str, agent_id: str, *, wait_s: float, most: int
    ) -> list[dict[str, Any]]:
        """Up to ``most`` queued calls for this agent, waiting up to ``wait_s`` for the first.

        Nothing when the agent was revoked meanwhile: a call this poll had moved goes
        back to the head of the queue, untouched, for another agent.
        """
        queue, processing = _queue_key(connection_id), _processing_key(agent_id)
        end = self.clock() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            left = end - self.clock()
            if left < 0.01:  # BLMOVE's timeout 0 would block for ever: only look
                return self._claimed(connection_id, agent_id, "", most) or []
            # redis-py types the timeout as int; Redis reads it as seconds in a double
            # (https://redis.io/docs/latest/commands/blmove/), as a poll's slices need.
            moved = self.redis.blmove(queue, processing, min(left, SLICE_S), "RIGHT", "LEFT")  # type: ignore[arg-type]
            if moved is not None:
                claimed = self._claimed(connection_id, agent_id, _text(moved), most)
                if claimed is None or claimed:
                    return claimed or []

    def _claimed(
        self, connection_id: str, agent_id: str, first: str, most: int
    ) -> list[dict[str, Any]] | None:
        """Claim ``first`` (moved already, or "" for none) and more queued calls, up to
        ``most``, in one script; None when the agent was revoked (nothing claimed)."""
        now = self.clock()
        claimed = self._claim(
            keys=[_queue_key(connection_id), _processing_key(agent_id), REVOKED_KEY],
            args=[agent_id, repr(now), most, first, _request_key("")],
        )
        if claimed == -1:
            return None
        requests = []
        for payload, deadline in zip(claimed[::2], claimed[1::2], strict=True):
            request: dict[str, Any] = json.loads(payload)
            request["deadline_s"] = max(round(float(deadline) - now, 1), 0.1)
            requests.append(request)
        return requests

    def answer(self, agent_id: str, request_id: str, answer: dict[str, Any]) -> bool:
        """Deliver an answer and count it for the agent (an error answer as an error too);
        False when the call was not issued to this agent, was already answered, or its
        caller has given up (nothing is delivered or counted then)."""
        delivered = self._answer(
            keys=[
                _request_key(request_id),
                _processing_key(agent_id),
                _answer_key(request_id),
                counts_key(agent_id),
            ],
            args=[
                agent_id,
                json.dumps(answer),
                repr(self.clock()),
                KEEP_S,
                request_id,
                "1" if "error" in answer else "0",
            ],
        )
        return bool(delivered)

    # -- presence -----------------------------------------------------------------------

    def heartbeat(self, connection_id: str, agent_id: str) -> None:
        """The agent is online now, unless it was revoked (a poll that began before)."""
        self._heartbeat(
            keys=[_seen_key(connection_id), REVOKED_KEY], args=[agent_id, repr(self.clock())]
        )

    def revoke(self, connection_id: str, agent_id: str) -> None:
        """From now on the agent counts as offline and a poll of its still waiting claims
        nothing (its token is refused by the views from the next call on)."""
        pipe = self.redis.pipeline()  # MULTI: no heartbeat lands between the two
        pipe.sadd(REVOKED_KEY, agent_id)
        pipe.hdel(_seen_key(connection_id), agent_id)
        pipe.execute()

    def last_seen(self, connection_id: str) -> float | None:
        """When any agent of the connection last polled (epoch seconds), or None if never."""
        seen = self.redis.hvals(_seen_key(connection_id))
        return max((float(v) for v in seen), default=None)

    def online(self, connection_id: str) -> bool:
        last = self.last_seen(connection_id)
        return last is not None and self.clock() - last <= ONLINE_WITHIN_S


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
