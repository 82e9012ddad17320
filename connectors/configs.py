"""From a Connection row to a working connector.

Connector modules never see Django; this is the one place that reads the model
(settings, sealed credentials) and hands them a plain ``ConnectionConfig``, a
``TokenStore`` over the row, and the Redis limiter shared by every worker.
"""

from __future__ import annotations

from typing import Any

import django_rq

from connectors.agents.relay import Relay
from connectors.agents.transport import agent_session_mode, relay_session
from connectors.base import ConnectionConfig, Connector
from connectors.errors import ConnectorError, ErrorKind
from connectors.models import Connection, Environment, System
from connectors.registry import system_entry
from connectors.secrets import SecretUnreadable, secrets_unreadable
from connectors.tokens import ConnectionTokenStore
from connectors.xero import xero_config


def connection_config(connection: Connection, *, redirect_uri: str = "") -> ConnectionConfig:
    if not connection.secrets_bound_here():
        # Re-pointed without connection_save (a bulk update, the shell): send nothing.
        raise ConnectorError(
            ErrorKind.CONFIG,
            "secrets_bound_elsewhere",
            f"The connection {connection.name} now points to another environment or "
            "address than its credentials were entered for, so they are not sent. Enter them "
            "again on the connection page.",
        )
    settings: dict[str, Any] = dict(connection.settings or {})
    try:
        secrets: dict[str, str] = dict(connection.credentials or {})
    except SecretUnreadable as exc:
        raise secrets_unreadable(connection, exc) from None
    if connection.system == System.XERO:
        return xero_config(
            connection_id=str(connection.pk),
            client_id=secrets.get("client_id") or settings.get("client_id", ""),
            client_secret=secrets.get("client_secret", ""),
            redirect_uri=redirect_uri or settings.get("redirect_uri", ""),
            sandbox_url=connection.base_url
            if connection.environment == Environment.SANDBOX
            else None,
            settings=settings,
        )
    return ConnectionConfig(
        system=connection.system,
        connection_id=str(connection.pk),
        base_url=connection.base_url,
        settings=settings,
        secrets=secrets,
    )


def connector_for(
    connection: Connection, *, redirect_uri: str = "", background: bool = False
) -> Connector:
    """The connection's connector, rate-limited through the queue's Redis; a SYSPRO
    connection marked "through an agent" sends its calls through the agent relay.
    ``background``: its calls take the limiter's lower-priority share (reconciliation)."""
    redis = django_rq.get_connection("default")
    options: dict[str, Any] = {"background": True} if background else {}
    mode = agent_session_mode(connection.settings or {})
    if mode is not None and connection.system == System.SYSPRO:
        options["session"] = relay_session(Relay(redis), str(connection.pk), session_mode=mode)
    return system_entry(connection.system).factory(
        connection_config(connection, redirect_uri=redirect_uri),
        ConnectionTokenStore(connection.pk, connection.secrets_binding()),
        redis=redis,
        **options,
    )
