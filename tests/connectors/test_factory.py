"""One factory builds every connector with the limiter, breaker and HTTP client its
workers share, from each system's declaration (connectors/factory.py), on a real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore, Tokens
from connectors.factory import ConnectorFactory
from connectors.ratelimit import Permit, Wait
from connectors.registry import SYSTEMS

ONE_A_MINUTE = {"rate_limits": {"per_minute": 1, "concurrent": None}}


def config(system: str, **settings: Any) -> ConnectionConfig:
    return ConnectionConfig(
        system=system,
        connection_id=uuid.uuid4().hex,
        base_url="http://127.0.0.1:9/",
        settings={**ONE_A_MINUTE, "company_id": "EDU1", **settings},
        secrets={"client_id": "id", "client_secret": "secret"},
    )


def build(system: str, cfg: ConnectionConfig, redis: Any) -> Any:
    tokens = InMemoryTokenStore(Tokens("token", extra={"tenant_id": cfg.settings.get("tenant")}))
    return SYSTEMS[system].factory(cfg, tokens, redis=redis)


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_every_system_only_declares_what_it_shares(system: str) -> None:
    factory = SYSTEMS[system].factory
    assert isinstance(factory, ConnectorFactory)
    assert factory.connector is SYSTEMS[system].connector
    assert factory.shared.label


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_the_connector_and_its_http_client_share_one_limiter_and_breaker(
    system: str, redis_client
) -> None:
    connector = build(system, config(system, tenant=uuid.uuid4().hex), redis_client)
    assert connector.limiter is not None and connector.breaker is not None
    assert connector.http.limiter is connector.limiter
    assert connector.http.breaker is connector.breaker
    assert connector.limiter.limits.per_minute == 1  # settings["rate_limits"] override
    assert connector.breaker.key.endswith(f"{{{system}:{connector.config.connection_id}}}")


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_without_redis_a_connector_runs_unlimited_and_without_a_breaker(system: str) -> None:
    connector = build(system, config(system, tenant="t"), None)
    assert connector.limiter is None and connector.breaker is None
    assert connector.http.limiter is None


def both_permitted(first: Any, second: Any) -> tuple[bool, bool]:
    return (
        isinstance(first.limiter.try_acquire(), Permit),
        isinstance(second.limiter.try_acquire(), Permit),
    )


def test_two_connections_to_one_xero_organisation_share_its_limit(redis_client) -> None:
    """Xero counts per tenant [P]: a second connection to it gets no fresh allowance."""
    tenant = uuid.uuid4().hex
    first = build("xero", config("xero", tenant=tenant), redis_client)
    second = build("xero", config("xero", tenant=tenant), redis_client)
    elsewhere = build("xero", config("xero", tenant=uuid.uuid4().hex), redis_client)
    assert both_permitted(first, second) == (True, False)
    assert isinstance(elsewhere.limiter.try_acquire(), Permit)
    assert isinstance(second.limiter.try_acquire(), Wait)
    assert first.breaker.key != second.breaker.key  # a breaker covers one connection


def test_syspro_shares_a_limit_per_company_on_one_server(redis_client) -> None:
    company = uuid.uuid4().hex[:8]
    first = build("syspro", config("syspro", company_id=company), redis_client)
    second = build("syspro", config("syspro", company_id=company), redis_client)
    other = build("syspro", config("syspro", company_id=company + "X"), redis_client)
    assert both_permitted(first, second) == (True, False)
    assert isinstance(other.limiter.try_acquire(), Permit)


@pytest.mark.parametrize("system", ["kashflow", "salesforce"])
def test_a_connection_of_a_system_counted_per_connection_has_its_own_limit(
    system: str, redis_client
) -> None:
    first = build(system, config(system), redis_client)
    second = build(system, config(system), redis_client)
    assert both_permitted(first, second) == (True, True)
    assert isinstance(first.limiter.try_acquire(), Wait)


def test_syspro_limits_come_from_the_operators_settings(redis_client) -> None:
    cfg = config("syspro", rate_limits={}, calls_per_minute=7, concurrent_calls=2)
    connector = build("syspro", cfg, redis_client)
    assert (connector.limiter.limits.per_minute, connector.limiter.limits.concurrent) == (7, 2)
