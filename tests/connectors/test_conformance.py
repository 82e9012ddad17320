"""The contract every connector keeps, checked over every registered system.

The checks are parametrized over ``connectors.registry.SYSTEMS``, so a fifth
system gets them by registering. A system whose catalogue is its own code
needs nothing here; one that describes its entities over the wire (Salesforce)
names the sandbox settings its connector signs in with in ``OVER_THE_WIRE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.base import ConnectionConfig, Connector, InMemoryTokenStore
from connectors.errors import ConnectorError, ErrorKind
from connectors.registry import SYSTEMS, system_entry
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import auth as salesforce_sandbox

# system -> (settings, secrets) its connector signs in to its sandbox with.
OVER_THE_WIRE: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "salesforce": (
        {
            "client_id": salesforce_sandbox.DEMO_CONSUMER_KEY,
            "username": salesforce_sandbox.DEMO_USERNAME,
        },
        {"private_key": salesforce_sandbox.DEMO_PRIVATE_KEY},
    ),
}
NOWHERE = "http://127.0.0.1:9"  # a catalogue in code never calls out; nothing listens here

StartSandbox = Callable[..., SandboxServer]


@pytest.fixture(params=sorted(SYSTEMS))
def connector(request: pytest.FixtureRequest, start_sandbox: StartSandbox) -> Connector:
    system: str = request.param
    settings, secrets = OVER_THE_WIRE.get(system, ({}, {}))
    base_url = start_sandbox(system).url if system in OVER_THE_WIRE else NOWHERE
    config = ConnectionConfig(
        system=system,
        connection_id=f"conformance-{system}",
        base_url=base_url,
        settings=settings,
        secrets=secrets,
    )
    return SYSTEMS[system].connector(config, InMemoryTokenStore())


def writable(connector: Connector) -> list[str]:
    return [e for e in connector.entities() if connector.max_batch_size(e) > 0]


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_registered_under_its_own_name_as_a_connector(system: str) -> None:
    entry = system_entry(system)
    assert issubclass(entry.connector, Connector)
    assert entry.connector.system == entry.name == system
    assert callable(entry.factory)


def test_an_unregistered_system_is_a_config_error() -> None:
    with pytest.raises(ConnectorError) as refused:
        system_entry("sage")
    assert refused.value.kind is ErrorKind.CONFIG


def test_describing_an_unknown_entity_is_a_config_error(connector: Connector) -> None:
    with pytest.raises(ConnectorError) as refused:
        connector.describe("NoSuchEntity")
    assert refused.value.kind is ErrorKind.CONFIG
    assert refused.value.code == "unknown_entity"


def test_every_entity_declares_a_key_and_a_batch_size(connector: Connector) -> None:
    entities = connector.entities()
    assert entities
    for entity in entities:
        schema = connector.describe(entity)
        assert schema.key_field, entity
        size = connector.max_batch_size(entity)
        assert isinstance(size, int) and size >= 0, entity
    assert writable(connector), "a connector writes at least one entity"


def test_a_batch_over_the_largest_is_refused_before_anything_is_sent(
    connector: Connector,
) -> None:
    for entity in writable(connector):
        too_many = [{} for _ in range(connector.max_batch_size(entity) + 1)]
        with pytest.raises(ConnectorError) as refused:
            connector.write_batch(entity, too_many)
        # Too large, or (KashFlow's read-only lists) not writable at all: never sent.
        assert refused.value.kind is ErrorKind.CONFIG, entity


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_error_table_codes_map_to_known_kinds(system: str) -> None:
    kinds = system_entry(system).error_kinds
    assert kinds
    for code, kind in kinds.items():
        assert isinstance(code, str) and code, code
        assert kind in set(ErrorKind), code
