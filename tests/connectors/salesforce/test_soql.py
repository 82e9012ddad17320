"""The connector's SOQL literals: written for the field's type, as Salesforce insists
(a quoted number or date is refused), checked against the strict sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.base import ConnectionConfig, InMemoryTokenStore
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.soql import changes_query, soql_literal
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import (
    DEMO_CLIENT_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_PRIVATE_KEY,
    DEMO_USERNAME,
)

V = "/services/data/v62.0"


@pytest.mark.parametrize(
    ("value", "field_type", "literal"),
    [
        ("1001", "number", "1001"),
        (12.5, "number", "12.5"),
        ("7", "integer", "7"),
        (True, "boolean", "true"),
        ("FALSE", "boolean", "false"),
        ("2026-03-01", "date", "2026-03-01"),
        ("2026-03-01T10:00:00+01:00", "datetime", "2026-03-01T09:00:00.000Z"),
        ("O'Brien", "string", "'O\\'Brien'"),
        ("0015g0000000001AAA", "string", "'0015g0000000001AAA'"),
    ],
)
def test_literal_by_field_type(value: Any, field_type: str, literal: str) -> None:
    assert soql_literal(value, field_type) == literal


@pytest.mark.parametrize(
    ("value", "field_type"),
    [("abc", "number"), ("NaN", "number"), (True, "number"), ("yes", "boolean")],
)
def test_a_value_the_type_cannot_hold_is_refused(value: Any, field_type: str) -> None:
    with pytest.raises(ValueError):
        soql_literal(value, field_type)


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield server


def connector(url: str, **settings: Any) -> SalesforceConnector:
    config = ConnectionConfig(
        system="salesforce",
        connection_id="sf-soql",
        base_url=url,
        settings={"client_id": DEMO_CONSUMER_KEY, "username": DEMO_USERNAME, **settings},
        secrets={"private_key": DEMO_PRIVATE_KEY},
    )
    return SalesforceConnector(config, InMemoryTokenStore())


def test_changes_query_is_accepted_by_the_strict_sandbox(running: SandboxServer) -> None:
    sf = connector(running.url)
    pages = list(sf.read_changes("Account", "2000-01-01T00:00:00+00:00 0015g0000000001AAA"))
    assert sum(len(p.records) for p in pages) > 0
    assert "> 2000-01-01T00:00:00.000Z" in changes_query("Account", ["Id"], "2000-01-01T00:00:00")


def test_lookup_by_a_numeric_reference_field_sends_bare_numbers(running: SandboxServer) -> None:
    """A numeric external ID (here Amount stands in for one) is looked up as a number:
    the quoted form, which the connector sent before, is INVALID_FIELD in Salesforce."""
    requests.post(f"{running.url}/_sandbox/reset", timeout=10).raise_for_status()
    token = requests.post(
        f"{running.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()["access_token"]
    created = requests.post(
        f"{running.url}{V}/sobjects/Opportunity",
        json={
            "Name": "Numbered",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Amount": 123456.5,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()["id"]
    sf = connector(running.url, external_id_fields={"Opportunity": "Amount"})
    found = sf.find_by_references("Opportunity", ["123456.5", "not a number"])
    assert list(found) == ["123456.5"] and found["123456.5"].target_id == created
