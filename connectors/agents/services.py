"""Agents: create (token shown once), revoke, authenticate, and what each poll and answer
records. The views and the admin call these; nothing else changes an Agent."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

import django_rq
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.agents.models import Agent
from connectors.agents.relay import (
    DEFAULT_PER_POLL,
    MAX_PER_POLL,
    MAX_WAIT_S,
    ONLINE_WITHIN_S,
    PREFIX,
    Relay,
    counts_key,
)
from connectors.models import Connection

TOKEN_PREFIX = "cca_"  # noqa: S105  (a marker, not a secret: secret scanners can spot leaks)


@cache
def relay() -> Relay:
    """The relay over the queues' Redis: the one every web and worker process shares.

    One per process, so its connection pool (and the scripts it registered) outlive a
    request: a poll or answer reuses an open Redis connection instead of opening one.
    """
    return Relay(django_rq.get_connection("default"))


# -- the hot path's cache of token → agent ----------------------------------------------
#
# Each poll and answer names its agent by token. Looking the digest up in PostgreSQL for
# every call was most of a call's cost, so each process keeps the agents it has seen,
# keyed by digest, under an "epoch" kept in Redis. Anything that may make an agent's token
# invalid changes the epoch — a revoke, a delete, any save of the row, and the writes that
# skip save(): a queryset's update() of any field but the heartbeat and counters, its
# delete(), bulk_update(), an upsert (models.AgentQuerySet, ``agent_rows_changed``) —
# and every call reads the epoch first (one Redis GET), so every process drops its cache
# on the very next call: a revoked token is still refused at once. A Redis without the
# key (new, or flushed) starts a new epoch, which no process has cached under. Entries
# also age out after AUTH_CACHE_S, the bound for a change made outside Django (SQL).
AUTH_EPOCH_KEY = f"{PREFIX}:auth-epoch"
AUTH_CACHE_S = 30.0
_auth_lock = threading.Lock()
_auth_epoch: bytes | str | None = None
_auth_cache: dict[str, tuple[Agent, float]] = {}


def auth_epoch_bump() -> None:
    """Invalidate every process's cache of token → agent (at once, and again at commit,
    so no process can re-cache a row read before the change was committed)."""
    _new_epoch()
    transaction.on_commit(_new_epoch)


def _new_epoch() -> None:
    relay().redis.set(AUTH_EPOCH_KEY, secrets.token_hex(8))


def _current_epoch() -> bytes | str:
    redis = relay().redis
    epoch = redis.get(AUTH_EPOCH_KEY)
    if epoch is None:
        redis.set(AUTH_EPOCH_KEY, secrets.token_hex(8), nx=True)
        epoch = redis.get(AUTH_EPOCH_KEY)
    return epoch or b""


# Each poll is the heartbeat; the Agent row's copy (version, host, last seen, which the
# admin, the dashboard and the offline alert read) is written when it changed or is
# older than HEARTBEAT_WRITE_S: one conditional UPDATE that matches no row otherwise.
# "Online" for routing is the relay's Redis heartbeat, written on every poll.
HEARTBEAT_WRITE_S = 5.0


def token_digest(token: str) -> str:
    """SHA-256 of the token: the token has 256 bits of entropy, so no salt or stretching
    is needed, and the digest can be looked up by index."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def agent_create(*, connection: Connection, name: str) -> tuple[Agent, str]:
    """A new agent for ``connection`` and its token, which is returned here and never again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    agent = Agent(connection=connection, name=name, token_digest=token_digest(token))
    agent.full_clean()
    agent.save()
    return agent, token


def agent_revoke(*, agent: Agent) -> Agent:
    """Refuse the agent's token from its next call on; it stops counting as online at once
    (``agent_rows_changed``, which the saved row triggers)."""
    if agent.revoked_at is None:
        agent.revoked_at = timezone.now()
        agent.save(update_fields=["revoked_at"])
    else:
        agent_rows_changed(agents=[(agent.pk, agent.connection_id)])
    return agent


def agent_rows_changed(*, agents: Iterable[tuple[int, int]]) -> None:
    """What follows ANY write to agents' rows that may change whom a token names — a
    save, a delete, a queryset's ``update`` or ``delete``, a bulk upsert (the model's
    signals and queryset call this; ``agents`` are (pk, connection id) from before the
    write): every process's token cache is dropped, so a revoked, deleted or replaced
    token is refused on its next call; and each agent now revoked or gone is offline at
    once, a poll of its still waiting claims nothing.
    """
    agents = list(agents)
    auth_epoch_bump()
    live = set(
        Agent.objects.filter(pk__in=[pk for pk, _ in agents], revoked_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    for pk, connection_id in agents:
        if pk not in live:
            relay().revoke(str(connection_id), str(pk))


def agent_delete(*, agent: Agent) -> None:
    """Delete an agent: its token is refused and it is offline at once
    (``agent_rows_changed``, which the deleted row triggers)."""
    agent.delete()


def agent_authenticate(*, authorization: str) -> Agent | None:
    """The live agent an ``Authorization: Bearer`` header names, or None (unknown, revoked).

    Looked up by the digest's index, then compared in constant time, so neither the
    lookup nor the comparison tells an attacker how much of a guess was right.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    global _auth_epoch
    digest = token_digest(token.strip())
    epoch, now = _current_epoch(), time.monotonic()
    with _auth_lock:
        if epoch != _auth_epoch:
            _auth_cache.clear()
            _auth_epoch = epoch
        cached = _auth_cache.get(digest)
    if cached is not None and now - cached[1] < AUTH_CACHE_S:
        agent: Agent | None = cached[0]
    else:
        agent = (
            Agent.objects.select_related("connection")
            .filter(token_digest=digest, revoked_at__isnull=True)
            .first()
        )
        if agent is not None:
            with _auth_lock:
                if epoch == _auth_epoch:  # not if the epoch changed while we read the row
                    _auth_cache[digest] = (agent, now)
    if agent is None or not hmac.compare_digest(agent.token_digest, digest):
        return None
    return agent


def agent_polled(*, agent: Agent, version: str, host: str) -> None:
    """Each poll is the heartbeat: what the agent says it is, and when it was last seen
    (the row only when version or host changed or its copy is HEARTBEAT_WRITE_S old)."""
    version, host, now = version[:50], host[:200], timezone.now()
    due = (
        Q(last_heartbeat__isnull=True)
        | Q(last_heartbeat__lt=now - timedelta(seconds=HEARTBEAT_WRITE_S))
        | ~Q(version=version)
        | ~Q(host=host)
    )
    Agent.objects.filter(due, pk=agent.pk).update(version=version, host=host, last_heartbeat=now)
    relay().heartbeat(str(agent.connection_id), str(agent.pk))
    _flush_counts(agent)  # an idle agent's last counts reach the row within a poll


# An answer's counters go to Redis (in the script that delivers it, ``Relay.answer``); the
# Agent row gets them at most every COUNTS_FLUSH_S per process, from an answer or a poll.
# ``agent_counts`` (the admin's figures) adds what is still in Redis, so it is exact.
COUNTS_FLUSH_S = 2.0
_counts_flushed: dict[str, float] = {}


def _flush_counts(agent: Agent, *, force: bool = False) -> None:
    """Move the agent's counts from Redis to its row, if due (or ``force``)."""
    now = time.monotonic()
    last = _counts_flushed.get(agent.token_digest)
    if not force and last is not None and now - last < COUNTS_FLUSH_S:
        return
    _counts_flushed[agent.token_digest] = now
    pipe = relay().redis.pipeline()  # MULTI: nothing counted between the read and the delete
    pipe.hmget(counts_key(str(agent.pk)), "calls", "errors")
    pipe.delete(counts_key(str(agent.pk)))
    (calls, errors), _ = pipe.execute()
    if calls or errors:
        Agent.objects.filter(pk=agent.pk).update(
            calls_served=F("calls_served") + int(calls or 0), errors=F("errors") + int(errors or 0)
        )


def agent_counts(agent: Agent) -> tuple[int, int]:
    """Calls served and errors: the row's figures and those not yet written to it."""
    calls, errors = relay().redis.hmget(counts_key(str(agent.pk)), "calls", "errors")
    return agent.calls_served + int(calls or 0), agent.errors + int(errors or 0)


def agent_online(agent: Agent, *, now: datetime | None = None) -> bool:
    """Online: not revoked and polled within the relay's window."""
    if agent.revoked_at is not None or agent.last_heartbeat is None:
        return False
    now = now or timezone.now()
    return (now - agent.last_heartbeat).total_seconds() <= ONLINE_WITHIN_S


class BadMessage(ValueError):
    """A poll or answer that does not follow the protocol; its text says what is wrong."""


class TooLarge(BadMessage):
    """A body over the protocol's size bound."""


ERRORS = frozenset({"unreachable", "timeout", "refused", "too_large"})
# What a caller reads (a redirect's Location, so the HTTP client's redirect rules apply);
# the rest is dropped.
ANSWER_HEADERS = ("Content-Type", "Retry-After", "Location")
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_HEADERS = 20
MAX_MESSAGE = 500


def agent_poll(*, agent: Agent, message: object) -> list[dict[str, object]]:
    """Record the heartbeat and hand out up to ``max`` calls, waiting up to ``wait_s``."""
    if not isinstance(message, dict):
        raise BadMessage("the poll body must be a JSON object")
    version, host = message.get("agent_version", ""), message.get("host", "")
    wait_s, most = message.get("wait_s", 0), message.get("max", DEFAULT_PER_POLL)
    if not isinstance(version, str) or not isinstance(host, str):
        raise BadMessage("agent_version and host must be strings")
    if not _number(wait_s) or not isinstance(most, int) or isinstance(most, bool):
        raise BadMessage("wait_s must be a number and max an integer")
    agent_polled(agent=agent, version=version, host=host)
    return relay().claim(
        str(agent.connection_id),
        str(agent.pk),
        wait_s=min(max(float(wait_s), 0.0), MAX_WAIT_S),
        most=min(max(most, 1), MAX_PER_POLL),
    )


def agent_answer(*, agent: Agent, message: object) -> bool:
    """Deliver an agent's answer to the waiting caller; False when it is not this agent's to
    give (another agent's or connection's call, a forged id, answered, or too late)."""
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise BadMessage("the answer must be a JSON object with the call's id")
    answer = _error_answer(message) if "error" in message else _http_answer(message)
    delivered = relay().answer(str(agent.pk), message["id"], answer)  # counted there
    if delivered:
        _flush_counts(agent)
    return delivered


def _error_answer(message: dict[str, object]) -> dict[str, object]:
    error, text = message.get("error"), message.get("message", "")
    if error not in ERRORS:
        raise BadMessage(f"error must be one of {', '.join(sorted(ERRORS))}")
    if not isinstance(text, str):
        raise BadMessage("message must be a string")
    return {"error": error, "message": text[:MAX_MESSAGE]}


def _http_answer(message: dict[str, object]) -> dict[str, object]:
    status, headers, body = (
        message.get("status"),
        message.get("headers", {}),
        message.get("body_b64", ""),
    )
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BadMessage("status must be an HTTP status code")
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        raise BadMessage(f"headers must be an object of at most {MAX_HEADERS} entries")
    if not isinstance(body, str):
        raise BadMessage("body_b64 must be a base64 string")
    if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4:
        raise TooLarge(f"the answer's body is over {MAX_BODY_BYTES} bytes")
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage("body_b64 is not base64") from exc
    wanted = {name.lower(): name for name in ANSWER_HEADERS}
    kept = {
        wanted[str(k).lower()]: v[:200]
        for k, v in headers.items()
        if str(k).lower() in wanted and isinstance(v, str)
    }
    return {"status": status, "headers": kept, "body_b64": body}


def _number(value: object) -> bool:
    """A finite JSON number: Python's json reads NaN, which would make a poll wait for ever."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
