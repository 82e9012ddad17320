"""Fixtures shared by every test package: users in each role, logged-in clients, sandboxes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS
from django.test import Client, TransactionTestCase
from redis import Redis
from redis.exceptions import RedisError

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app
from tests.factories import UserFactory
from tests.flush import database_as_migrated_remember, transactional_teardown

TEST_ENCRYPTION_KEY = f"test={Fernet.generate_key().decode()}"

# Redis databases a redis-server has by default; xdist worker gwN uses database N + 1.
REDIS_DATABASES = 16


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker gets a Redis database of its own.

    pytest-django already gives each worker its own PostgreSQL test database
    (``test_clarity_gw0``…). Redis needs the same: RQ queues, the rate limiter,
    circuit breakers and locks all keep keys there, and one worker emptying or
    counting them must not see another's. Settings are loaded before any
    conftest, so the URL is changed in them and in the environment that test
    subprocesses (workers, ``manage.py`` commands) inherit.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, … only inside a worker
    if not worker:
        return
    database = int(worker.removeprefix("gw")) + 1
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(f"at most {REDIS_DATABASES - 1} xdist workers: one Redis db each")
    url = urlunsplit(urlsplit(django_settings.REDIS_URL)._replace(path=f"/{database}"))
    os.environ["REDIS_URL"] = django_settings.REDIS_URL = url
    for queue in django_settings.RQ_QUEUES.values():
        if "URL" in queue:
            queue["URL"] = url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (``--dist loadgroup``) each test module runs whole, in order, on one
    worker, as it does without xdist: several modules share a sandbox (module-scoped
    fixtures) whose state a test leaves for the next, and one sandbox per module is
    cheaper than one per worker. The browser tests span modules and run one at a time
    on a single worker (one Chromium, not one per worker); each ``apart`` test (they
    kill processes on a timetable, in a phase of their own) is a group of its own.
    """
    browser = Path(__file__).parent / "browser"
    for item in items:
        if item.get_closest_marker("apart"):
            group = item.nodeid
        elif browser in item.path.parents:
            group = "browser"
        else:
            group = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as pytest-django migrated it, with its roles remembered; each
    transactional test then ends by emptying what it filled (tests/flush.py)."""
    with django_db_blocker.unblock():
        database_as_migrated_remember(DEFAULT_DB_ALIAS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", transactional_teardown)
        yield


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
