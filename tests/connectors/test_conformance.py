"""The contract every connector keeps, checked over every registered system.

The checks are parametrized over ``connectors.registry.SYSTEMS``, so a fifth
system gets them by registering. A system whose catalogue is its own code
needs nothing here; one that describes its entities over the wire (Salesforce)
names the sandbox settings its connector signs in with in ``OVER_THE_WIRE``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectionConfig, Connector, InMemoryTokenStore
from connectors.errors import CODE_STYLE, ConnectorError, ErrorCode, ErrorKind, ErrorRule
from connectors.kashflow import errors as kashflow_errors
from connectors.registry import SYSTEMS, system_entry
from connectors.salesforce import errors as salesforce_errors
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import auth as salesforce_sandbox
from connectors.sandbox.syspro import app as syspro_sandbox
from connectors.xero.errors import XeroErrorCode
from tests.connectors.conftest import xero_config_for, xero_connect

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


# -- One rule shape, one code style -----------------------------------------------------

SOURCE = Path(__file__).resolve().parents[2] / "connectors"
# A code written where a failure is raised or reported: ``ConnectorError(kind, "code", …``,
# ``WriteOutcome.failed(kind, "code", …`` (each on its own line or the next).
RAISED_CODE = re.compile(r"(?:ConnectorError|failed)\(\s*ErrorKind\.[A-Z]+,\s*\"([^\"]+)\"")


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_the_error_table_is_rules_of_the_one_shape(system: str) -> None:
    rules = system_entry(system).error_rules
    assert rules
    for rule in rules:
        assert isinstance(rule, ErrorRule), rule
        assert rule.kind in set(ErrorKind), rule.code


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_every_code_of_the_table_is_in_the_one_style(system: str) -> None:
    bad = [r.code for r in system_entry(system).error_rules if not CODE_STYLE.fullmatch(r.code)]
    assert bad == []


def test_the_codes_every_system_shares_are_in_the_one_style() -> None:
    assert [c for c in ErrorCode if not CODE_STYLE.fullmatch(c)] == []
    assert [c for c in XeroErrorCode if not CODE_STYLE.fullmatch(c)] == []


def test_every_code_a_connector_raises_by_hand_is_in_the_one_style() -> None:
    """Codes written beside the tables (a read-only entity, an oversized batch) too."""
    written = {
        f"{path.relative_to(SOURCE)}: {code}"
        for path in SOURCE.rglob("*.py")
        if "sandbox" not in path.parts
        for code in RAISED_CODE.findall(path.read_text())
        if not CODE_STYLE.fullmatch(code)
    }
    assert written == set()


def test_a_vendor_code_the_table_lacks_still_comes_out_in_the_one_style() -> None:
    kind, code, _ = salesforce_errors.describe_error("Contact", {"errorCode": "NEW_FAULT_2031"})
    assert (kind, code) == (ErrorKind.DATA, "new_fault_2031")
    fields = kashflow_errors.error_fields({"Error": "BrandNewFault", "Message": "No."})
    assert fields is not None and fields[0] == "brand_new_fault"


def test_one_code_means_one_thing_across_systems() -> None:
    """SYSPRO's customer_not_found (an order's customer not on file) and KashFlow's
    customer_code_not_found (an invoice's customer code KashFlow lacks) stay apart."""
    syspro = system_entry("syspro").error_kinds
    kashflow = system_entry("kashflow").error_kinds
    assert "customer_not_found" in syspro and "customer_not_found" not in kashflow
    assert "customer_code_not_found" in kashflow


# -- reading by key (targeted runs) --------------------------------------------------------

# system -> an entity its sandbox seeds, read by key as a targeted run reads it.
KEYED_READS = {"kashflow": "customers", "salesforce": "Account", "syspro": "customers",
               "xero": "Contacts"}  # fmt: skip


@pytest.fixture(params=sorted(KEYED_READS))
def reading(request: pytest.FixtureRequest, start_sandbox: StartSandbox) -> Connector:
    """Each system's connector signed in to its own running sandbox."""
    system: str = request.param
    if system == "xero":
        config = xero_config_for(start_sandbox("xero", demo={"contacts": 30}).url)
        tokens = InMemoryTokenStore()
        xero_connect(config, tokens)
        return SYSTEMS[system].connector(config, tokens)
    settings, secrets = {
        "kashflow": ({"username": "demo"}, {"password": "demo", "memorable_word": "clarity"}),
        "syspro": ({"company_id": "EDU1", "operator": "ADMIN"},
                   {"operator_password": "demo", "company_password": "demo"}),
        "salesforce": OVER_THE_WIRE["salesforce"],
    }[system]  # fmt: skip
    server = start_sandbox(system)
    root = syspro_sandbox.ROOT if system == "syspro" else ""
    config = ConnectionConfig(
        system=system, connection_id=f"keyed-{system}", base_url=server.url + root,
        settings=settings, secrets=secrets,
    )  # fmt: skip
    return SYSTEMS[system].connector(config, InMemoryTokenStore())


def test_read_keys_returns_the_named_records_as_a_change_read_does(reading: Connector) -> None:
    """A targeted run reads just the records an event named, in the same shape the flow's
    mapping gets from a change read; a key naming nothing is left out; no cursor moves."""
    entity = KEYED_READS[reading.system]
    key_field = reading.describe(entity).key_field
    first_page = next(iter(reading.read_changes(entity, None))).records
    chosen = {str(r[key_field]): r for r in first_page[:3]}
    assert len(chosen) == 3
    missing = "00000000-0000-0000-0000-000000000000" if reading.system == "xero" else "NOSUCH9"
    pages = list(reading.read_keys(entity, [*chosen, missing, next(iter(chosen))]))
    assert all(page.cursor is None for page in pages)
    got = {str(r[key_field]): r for page in pages for r in page.records}
    assert set(got) == set(chosen)
    for key, record in got.items():
        assert set(chosen[key]) <= set(record), f"{key} lacks fields a change read gives"
    assert all(not page.records for page in reading.read_keys(entity, [missing]))
    # Keys come from outside (a doorbell call, an event): whatever they hold names nothing
    # rather than breaking the read.
    odd = ["<Key>&\"'", "a/../b", "%00", "x" * 200, "' OR 1=1 --", "ключ"]
    assert all(not page.records for page in reading.read_keys(entity, odd))
