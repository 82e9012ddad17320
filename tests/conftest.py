"""Fixtures shared by every test package: users in each role, logged-in clients, sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.test import Client
from redis import Redis
from redis.exceptions import RedisError

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app
from tests.factories import UserFactory

TEST_ENCRYPTION_KEY = f"test={Fernet.generate_key().decode()}"


@pytest.fixture(autouse=True)
def encryption_keys(settings):
    """The test runner turns DEBUG off, so the development key does not apply."""
    if not settings.CLARITY_ENCRYPTION_KEYS:
        settings.CLARITY_ENCRYPTION_KEYS = [TEST_ENCRYPTION_KEY]


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test starts with no calls counted against any connection, and every
    connection's circuit breaker closed.

    The limiter counts calls per tenant, as the systems do, and a sandbox's
    demo tenant is the same in every test: without this a test inherits the
    calls of the ones before it and meets a limit it never reached itself.
    """
    client = Redis.from_url(django_settings.REDIS_URL, socket_connect_timeout=1)
    try:
        keys = [
            *client.scan_iter("clarity:ratelimit:*", count=1000),
            *client.scan_iter("clarity:circuit:*", count=1000),
        ]
        if keys:
            client.delete(*keys)
    except RedisError:
        pass  # no Redis for this test run: then nothing was counted either
    finally:
        client.close()


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def consultant(db):
    return UserFactory(username="consultant1", role="Consultant")


@pytest.fixture
def finance(db):
    return UserFactory(username="finance1", role="Finance")


@pytest.fixture
def operator(db):
    return UserFactory(username="operator1", role="Operator")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client_for(superuser)


@pytest.fixture
def consultant_client(consultant) -> Client:
    return _client_for(consultant)


@pytest.fixture
def finance_client(finance) -> Client:
    return _client_for(finance)


@pytest.fixture
def operator_client(operator) -> Client:
    return _client_for(operator)


@pytest.fixture
def sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start a system's sandbox on a free loopback port; stopped after the test."""
    servers: list[SandboxServer] = []

    def start(system: str, **options: Any) -> SandboxServer:
        server = SandboxServer(create_app(system, options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
