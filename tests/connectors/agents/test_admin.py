"""Agents in the admin, through Django's test client: the token shown once, revocation
taking effect on the agent's next call, health in the list, roles."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from connectors.agents.models import Agent
from connectors.agents.services import (
    agent_authenticate,
    agent_create,
    agent_polled,
    relay,
    token_digest,
)
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def test_creating_an_agent_shows_its_token_once_and_stores_its_digest(consultant_client: Client):
    connection = ConnectionFactory()
    response = consultant_client.post(
        "/admin/connectors/agent/add/",
        {"name": "warehouse server", "connection": connection.pk},
        follow=True,
    )
    assert response.status_code == 200
    [token] = re.findall(r"cca_[A-Za-z0-9_-]{43}", response.content.decode())
    agent = Agent.objects.get()
    assert agent.token_digest == token_digest(token) and token not in agent.token_digest
    assert agent_authenticate(authorization=f"Bearer {token}") == agent
    page = consultant_client.get(f"/admin/connectors/agent/{agent.pk}/change/").content.decode()
    listing = consultant_client.get("/admin/connectors/agent/").content.decode()
    assert token not in page and token not in listing  # never shown again


def test_revoking_in_the_admin_refuses_the_token_at_once(operator_client: Client):
    connection = ConnectionFactory()

    agent, token = agent_create(connection=connection, name="a")
    response = operator_client.post(
        "/admin/connectors/agent/",
        {"action": "revoke", "_selected_action": [agent.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert agent_authenticate(authorization=f"Bearer {token}") is None
    agent.refresh_from_db()
    assert agent.revoked_at is not None


def test_the_list_shows_each_agents_health(superuser_client: Client):

    connection = ConnectionFactory()
    online, _ = agent_create(connection=connection, name="online one")
    agent_polled(agent=online, version="1.2.3", host="syspro-app01")
    agent_create(connection=connection, name="never one")
    page = superuser_client.get("/admin/connectors/agent/").content.decode()
    for seen in ("online", "never connected", "1.2.3", "syspro-app01"):
        assert seen in page


def test_finance_users_cannot_see_agents(finance_client: Client):
    assert finance_client.get("/admin/connectors/agent/").status_code == 403


def test_an_agents_connection_cannot_be_changed(superuser_client: Client):

    agent, _ = agent_create(connection=ConnectionFactory(), name="a")
    other = ConnectionFactory()
    superuser_client.post(
        f"/admin/connectors/agent/{agent.pk}/change/", {"name": "b", "connection": other.pk}
    )
    agent.refresh_from_db()
    assert agent.connection_id != other.pk


def test_deleting_an_agent_takes_it_offline_at_once(superuser_client: Client):
    connection = ConnectionFactory()
    agent, token = agent_create(connection=connection, name="a")
    agent_polled(agent=agent, version="1", host="h")
    assert relay().online(str(connection.pk))
    superuser_client.post(f"/admin/connectors/agent/{agent.pk}/delete/", {"post": "yes"})
    assert not Agent.objects.exists()
    assert agent_authenticate(authorization=f"Bearer {token}") is None
    assert not relay().online(str(connection.pk))
