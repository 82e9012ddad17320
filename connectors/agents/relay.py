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
``BLMOVE`` (so it waits without spinning), then a Lua script flips ``queued`` to
``claimed``. Caller and agent race only through these scripts, so each call is served
at most once whatever the number of agents.
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

_ACCEPT = """
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  redis.call('LREM', KEYS[2], 0, ARGV[3])
  redis.call('RPUSH', KEYS[4], ARGV[3])
  return -1
end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' and tonumber(redis.call('HGET', KEYS[1], 'deadline')) > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'claimed', 'agent', ARGV[1])
  redis.call('EXPIRE', KEYS[2], 86400)  -- a killed agent's list of calls in hand fades
  return {redis.call('HGET', KEYS[1], 'payload'), redis.call('HGET', KEYS[1], 'deadline')}
end
redis.call('LREM', KEYS[2], 0, ARGV[3])
if state == 'queued' then redis.call('HSET', KEYS[1], 'state', 'withdrawn') end
return 0
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


REVOKED = object()  # what ``_accepted`` says when the agent was revoked meanwhile


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


class Relay:
    """The queue of one Redis; ``clock`` is wall time, shared by web and worker machines."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._accept = redis.register_script(_ACCEPT)
        self._answer = redis.register_script(_ANSWER)
        self._give_up = redis.register_script(_GIVE_UP)
        self._heartbeat = redis.register_script(_HEARTBEAT)

    # -- the caller's side (a connector's transport) ------------------------------------

    def submit(self, connection_id: str, request: dict[str, Any], *, deadline_s: float) -> str:
        """Queue one call for the connection's agents; returns its id."""
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
        """Up to ``most`` queued calls for this agent, waiting up to ``wait_s`` for the first."""
        queue, processing = _queue_key(connection_id), _processing_key(agent_id)
        end = self.clock() + min(max(wait_s, 0.0), MAX_WAIT_S)
        claimed: list[dict[str, Any]] = []
        while True:
            left = end - self.clock()
            # BLMOVE's timeout 0 would block for ever: a poll with no time left only looks.
            if left >= 0.01:
                # redis-py types the timeout as int; Redis reads it as seconds in a double
                # (https://redis.io/docs/latest/commands/blmove/), as a poll's slices need.
                timeout = min(left, SLICE_S)
                moved = self.redis.blmove(queue, processing, timeout, "RIGHT", "LEFT")  # type: ignore[arg-type]
            else:
                moved = self.redis.lmove(queue, processing, "RIGHT", "LEFT")
            while moved is not None:
                request = self._accepted(connection_id, agent_id, _text(moved))
                if request is REVOKED:
                    return []  # revoked while this poll waited: the call goes back, untouched
                if request is not None:
                    claimed.append(request)
                if len(claimed) >= most:
                    break
                moved = self.redis.lmove(queue, processing, "RIGHT", "LEFT")
            if claimed or end - self.clock() < 0.01:
                return claimed

    def _accepted(self, connection_id: str, agent_id: str, request_id: str) -> Any:
        """The call, now this agent's; None when it was withdrawn; ``REVOKED`` when the
        agent was revoked meanwhile (the call is back at the head of the queue)."""
        now = self.clock()
        accepted = self._accept(
            keys=[
                _request_key(request_id),
                _processing_key(agent_id),
                REVOKED_KEY,
                _queue_key(connection_id),
            ],
            args=[agent_id, repr(now), request_id],
        )
        if accepted == -1:
            return REVOKED
        if not accepted:
            return None
        request: dict[str, Any] = json.loads(accepted[0])
        request["deadline_s"] = max(round(float(accepted[1]) - now, 1), 0.1)
        return request

    def answer(self, agent_id: str, request_id: str, answer: dict[str, Any]) -> bool:
        """Deliver an answer; False when the call was not issued to this agent, was already
        answered, or its caller has given up (nothing is delivered then)."""
        delivered = self._answer(
            keys=[
                _request_key(request_id),
                _processing_key(agent_id),
                _answer_key(request_id),
            ],
            args=[agent_id, json.dumps(answer), repr(self.clock()), KEEP_S, request_id],
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
