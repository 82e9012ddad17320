"""Under pytest-xdist each worker has a PostgreSQL test database and a Redis database
of its own (tests/conftest.py), so workers never see each other's queues, limits or rows."""

from __future__ import annotations

import os

import django_rq
import pytest
from django.conf import settings
from django.db import connection
from redis import Redis


@pytest.mark.django_db
def test_each_worker_has_its_own_redis_and_postgresql_databases():
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        pytest.skip("runs in one process: nothing to share")
    database = int(worker.removeprefix("gw")) + 1

    def db_of(client: Redis) -> int:
        return client.connection_pool.connection_kwargs["db"]

    assert db_of(django_rq.get_connection("default")) == database
    assert db_of(Redis.from_url(settings.REDIS_URL)) == database
    # Test subprocesses (RQ workers, manage.py commands) inherit the worker's database.
    assert db_of(Redis.from_url(os.environ["REDIS_URL"])) == database
    assert connection.settings_dict["NAME"].endswith(f"_{worker}")
