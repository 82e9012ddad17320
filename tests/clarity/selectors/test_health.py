"""The dashboard's "on-premises agents" section: each agent of a connection reached through
agents with its state, version, host, last heartbeat, calls served and errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clarity.selectors.health import agents_health
from connectors.agents.models import Agent
from connectors.agents.services import (
    agent_answer,
    agent_create,
    agent_polled,
    agent_revoke,
    relay,
)
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def test_agents_appear_per_connection_with_their_health(operator_client):
    connection = ConnectionFactory(name="SYSPRO inside", settings={"through_agent": True})
    online, _ = agent_create(connection=connection, name="app01")
    agent_polled(agent=online, version="1.4.0", host="syspro-app01")
    ok, failed = (relay().submit(str(connection.pk), {}, deadline_s=10) for _ in range(2))
    relay().claim(str(connection.pk), str(online.pk), wait_s=0, most=16)
    agent_answer(agent=online, message={"id": ok, "status": 200})
    agent_answer(agent=online, message={"id": failed, "error": "timeout"})
    offline, _ = agent_create(connection=connection, name="app02")
    agent_polled(agent=offline, version="1.3.9", host="syspro-app02")
    Agent.objects.filter(pk=offline.pk).update(
        last_heartbeat=timezone.now() - timedelta(minutes=10)
    )
    revoked, _ = agent_create(connection=connection, name="retired")
    agent_revoke(agent=revoked)
    ConnectionFactory(name="SYSPRO direct")  # not through an agent: not listed
    waiting = ConnectionFactory(name="SYSPRO awaiting", settings={"through_agent": True})

    [unserved, served] = agents_health()  # by name
    assert (served.name, served.served) == ("SYSPRO inside", True)
    assert [(a.name, a.status, a.calls_served, a.errors) for a in served.agents] == [
        ("app01", "online", 2, 1),
        ("app02", "offline", 0, 0),
    ]
    assert (unserved.id, unserved.agents, unserved.served) == (waiting.pk, [], False)

    html = operator_client.get(reverse("admin:clarity_healthdashboard_changelist")).content.decode()
    for seen in ("On-premises agents", "app01", "1.4.0", "syspro-app01", "Offline", "No agent yet"):
        assert seen in html
    assert "retired" not in html
