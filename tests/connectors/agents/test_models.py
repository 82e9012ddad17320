"""Every way an agent's row can be revoked, re-keyed or deleted refuses its token on the
very next request, although each process caches token → agent lookups: saves and
deletes (their signals), and the writes that skip ``save()`` — a queryset's ``update``
and ``delete``, ``bulk_update``, a related manager, the base manager, an upsert — as
well as the admin and the services. The heartbeat's and counters' own writes leave the
cache alone (they come with every poll and answer)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone

from connectors.agents.models import Agent
from connectors.agents.services import (
    AUTH_EPOCH_KEY,
    agent_create,
    agent_delete,
    agent_revoke,
    relay,
    token_digest,
)
from connectors.models import Connection
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def poll(token: str) -> int:
    """One real poll through Django's stack (the process's token cache included)."""
    response = Client().post(
        "/agent/v1/poll",
        {"agent_version": "1", "host": "h", "wait_s": 0},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    return response.status_code


def now() -> object:
    return timezone.now()


CHANGES: dict[str, Callable[[Agent], object]] = {
    "save revoked_at": lambda a: (setattr(a, "revoked_at", now()), a.save()),
    "save token_digest": lambda a: (setattr(a, "token_digest", token_digest("cca_x")), a.save()),
    "queryset update revoked_at": lambda a: Agent.objects.filter(pk=a.pk).update(revoked_at=now()),
    "queryset update token_digest": lambda a: Agent.objects.filter(pk=a.pk).update(
        token_digest=token_digest("cca_other")
    ),
    "select_for_update update": lambda a: (
        Agent.objects.select_for_update().filter(revoked_at__isnull=True).update(revoked_at=now())
    ),
    "related manager update": lambda a: a.connection.agents.update(revoked_at=now()),
    "base manager update": lambda a: Agent._base_manager.filter(pk=a.pk).update(revoked_at=now()),
    "bulk_update": lambda a: Agent.objects.bulk_update(
        [Agent(pk=a.pk, revoked_at=now())], ["revoked_at"]
    ),
    "upsert": lambda a: Agent.objects.bulk_create(
        [Agent(name="x", connection=a.connection, token_digest=a.token_digest, revoked_at=now())],
        update_conflicts=True,
        unique_fields=["token_digest"],
        update_fields=["revoked_at"],
    ),
    "instance delete": lambda a: a.delete(),
    "queryset delete": lambda a: Agent.objects.filter(pk=a.pk).delete(),
    "connection delete (cascade)": lambda a: a.connection.delete(),
    "connection queryset delete": lambda a: Connection.objects.filter(pk=a.connection_id).delete(),
    "service revoke": lambda a: agent_revoke(agent=a),
    "service delete": lambda a: agent_delete(agent=a),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_to_the_row_refuses_the_cached_token_at_once(change):
    agent, token = agent_create(connection=ConnectionFactory(), name="a")
    assert poll(token) == 204  # authenticated, and now cached in this process
    assert relay().online(str(agent.connection_id))
    change(agent)
    assert poll(token) == 401


def test_an_agent_moved_in_bulk_serves_its_new_connection_from_its_next_poll():
    agent, token = agent_create(connection=ConnectionFactory(), name="a")
    assert poll(token) == 204  # cached with its first connection
    new = ConnectionFactory()
    Agent.objects.filter(pk=agent.pk).update(connection=new)
    relay().submit(str(agent.connection_id), {"method": "GET"}, deadline_s=10)
    assert poll(token) == 204  # the old connection's call is no longer its to take
    relay().submit(str(new.pk), {"method": "GET"}, deadline_s=10)
    assert poll(token) == 200


@pytest.mark.parametrize(
    "change",
    [CHANGES["queryset update revoked_at"], CHANGES["queryset delete"], CHANGES["bulk_update"]],
    ids=["queryset update", "queryset delete", "bulk_update"],
)
def test_an_agent_revoked_or_deleted_in_bulk_is_offline_at_once(change):
    agent, token = agent_create(connection=ConnectionFactory(), name="a")
    assert poll(token) == 204
    change(agent)
    assert not relay().online(str(agent.connection_id))  # calls wait as "agent offline"
    # and a poll of its that was already waiting claims nothing
    relay().submit(str(agent.connection_id), {"method": "GET"}, deadline_s=10)
    assert relay().claim(str(agent.connection_id), str(agent.pk), wait_s=0, most=8) == []


@pytest.mark.parametrize("action", ["revoke", "delete_selected"])
def test_the_admins_bulk_actions_refuse_the_token_at_once(superuser_client: Client, action):
    agent, token = agent_create(connection=ConnectionFactory(), name="a")
    _, other_token = agent_create(connection=agent.connection, name="b")
    assert poll(token) == 204 and poll(other_token) == 204
    response = superuser_client.post(
        "/admin/connectors/agent/",
        {"action": action, "_selected_action": [agent.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert poll(token) == 401
    assert poll(other_token) == 204  # the agent not selected keeps working


def test_the_heartbeat_and_counters_leave_the_token_cache_alone():
    """They are written with every poll and answer: invalidating on them would make
    every call read the database again."""
    agent, token = agent_create(connection=ConnectionFactory(), name="a")
    assert poll(token) == 204
    epoch = relay().redis.get(AUTH_EPOCH_KEY)
    Agent.objects.filter(pk=agent.pk).update(
        last_heartbeat=timezone.now() - timedelta(minutes=5), version="2", host="h2"
    )
    Agent.objects.filter(pk=agent.pk).update(calls_served=F("calls_served") + 1, errors=1)
    agent.refresh_from_db()
    agent.save(update_fields=["last_heartbeat"])
    assert relay().redis.get(AUTH_EPOCH_KEY) == epoch
    assert poll(token) == 204
