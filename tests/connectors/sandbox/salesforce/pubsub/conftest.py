"""A running Salesforce sandbox with its Pub/Sub API (short keepalives and retention), and
per test an org reset to its demo data with the Pub/Sub API signed in (``wire.Org``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from tests.connectors.sandbox.salesforce.pubsub.wire import KEEPALIVE, RETENTION, Org, Stream


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    options = {"pubsub_keepalive_seconds": KEEPALIVE, "pubsub_retention_seconds": RETENTION}
    with SandboxServer(sandbox.create_app(options)) as server:
        yield server


@pytest.fixture
def org(running: SandboxServer) -> Iterator[Org]:
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    made = Org(running)
    streams: list[Stream] = []
    original = made.subscribe

    def tracked(*args: Any, **kwargs: Any) -> Stream:
        stream = original(*args, **kwargs)
        streams.append(stream)
        return stream

    made.subscribe = tracked  # type: ignore[method-assign]
    yield made
    for stream in streams:
        stream.close()
    made.channel.close()
