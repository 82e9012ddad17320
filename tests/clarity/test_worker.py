"""Jobs go through real Redis as JSON and run in a real RQ worker."""

from __future__ import annotations

import json
import zlib

import django_rq
import pytest
from rq.job import Job

from clarity.worker import JSONWorker


@pytest.fixture
def queue():
    q = django_rq.get_queue("default")
    q.empty()
    yield q
    q.empty()


def test_jobs_are_stored_as_json_not_pickle(queue):
    job = queue.enqueue("operator.add", 2, 3)
    raw = zlib.decompress(queue.connection.hget(job.key, "data"))  # RQ compresses job data
    assert json.loads(raw)[0] == "operator.add"  # JSON text, not pickle

    worker = django_rq.get_worker("default")
    assert isinstance(worker, JSONWorker)
    worker.work(burst=True)
    fetched = Job.fetch(job.id, connection=queue.connection, serializer=queue.serializer)
    assert fetched.get_status() == "finished"
    assert fetched.return_value() == 5


def test_the_worker_refuses_pickle_even_when_rqworker_asks_for_it(queue):
    worker = django_rq.get_worker("default", serializer="rq.serializers.DefaultSerializer")
    assert worker.serializer.__name__ == "JSONSerializer"
