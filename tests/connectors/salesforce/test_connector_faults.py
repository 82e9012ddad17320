"""The Salesforce connector under injected faults: 5xx, resets, timeouts and 429s."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorCode, ErrorKind, RateLimitedError
from connectors.http import RetryPolicy
from connectors.salesforce import SalesforceConnector
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CONSUMER_KEY, DEMO_PRIVATE_KEY, DEMO_USERNAME

MISSING = "0015g0000000999AAA"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield server


@pytest.fixture
def org(running: SandboxServer) -> SandboxControl:
    control = SandboxControl(running.url)
    control.reset()
    return control


@pytest.fixture
def sf(running: SandboxServer, org: SandboxControl) -> SalesforceConnector:
    """A logged-in connector with quick retries and a short read timeout."""
    config = ConnectionConfig(
        system="salesforce",
        connection_id="sf-faults",
        base_url=running.url,
        settings={"client_id": DEMO_CONSUMER_KEY, "username": DEMO_USERNAME},
        secrets={"private_key": DEMO_PRIVATE_KEY},
    )
    connector = SalesforceConnector(config, InMemoryTokenStore())
    connector.http.retry = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_retry_after=2)
    connector.http.timeout = (2.0, 0.5)
    assert connector.read_one("Account", MISSING) is None  # log in before faults start
    return connector


@pytest.mark.parametrize("fault", ["5xx", "reset", "timeout", "429"])
def test_reads_ride_out_one_fault(sf: SalesforceConnector, org: SandboxControl, fault: str) -> None:
    org.faults(next=[fault], timeout_seconds=0.8, retry_after=0)
    found = sf.find_by_reference("Account", "CUST0001")
    assert found is not None
    deadline = time.monotonic() + 3  # a held "timeout" request is tallied when it ends
    while org.stats()["faults"] != {fault: 1} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert org.stats()["faults"] == {fault: 1}


def test_reads_give_up_as_transient_after_repeated_5xx(
    sf: SalesforceConnector, org: SandboxControl
) -> None:
    org.faults(next=["5xx"] * 4)
    with pytest.raises(ConnectorError) as caught:
        sf.read_one("Account", MISSING)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert caught.value.code in {"unknown_exception", "server_unavailable"}
    assert not caught.value.outcome_unknown


def test_upsert_is_retried_without_doubling(sf: SalesforceConnector, org: SandboxControl) -> None:
    org.faults(next=["reset", "5xx"])
    records = [{"Name": "Retry Ltd", "ExternalID__c": "RETRY1"}]
    [outcome] = sf.write_batch("Account", records)
    assert outcome.status is WriteStatus.CREATED
    assert org.stats()["created"] == {"Account": 1}
    [again] = sf.write_batch("Account", records)
    assert again.status is WriteStatus.UPDATED and again.target_id == outcome.target_id


def test_create_without_external_id_is_not_blindly_resent(
    sf: SalesforceConnector, org: SandboxControl
) -> None:
    org.faults(next=["5xx"])
    before = org.stats()["requests"]
    with pytest.raises(ConnectorError) as caught:
        sf.write_batch("Account", [{"Name": "No Key Ltd"}])
    assert caught.value.outcome_unknown
    assert caught.value.code == ErrorCode.OUTCOME_UNKNOWN
    assert org.stats()["requests"] == before + 1  # sent once: the sync core settles it


def test_long_429_raises_with_the_wait(sf: SalesforceConnector, org: SandboxControl) -> None:
    org.faults(next=["429"], retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        sf.read_one("Account", MISSING)
    assert caught.value.retry_after == 30 and caught.value.kind is ErrorKind.TRANSIENT


def test_share_of_faults_still_reads_everything(
    sf: SalesforceConnector, org: SandboxControl
) -> None:
    org.faults(shares={"5xx": 0.15, "reset": 0.1})
    records = [r for page in sf.read_changes("Contact", None) for r in page.records]
    assert len(records) == 307
