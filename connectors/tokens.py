"""The Django side of ``connectors.base.TokenStore``: tokens live on the Connection row.

Refreshes are serialised with ``SELECT … FOR UPDATE`` on that row, so two
workers refreshing at once never both spend the same rotating refresh token:
the second one waits, then sees the pair the first one saved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from django.db import transaction

from connectors.base import Tokens
from connectors.errors import ConnectorError, ErrorKind
from connectors.models import Connection
from connectors.secrets import SecretUnreadable, secrets_unreadable

# Not ``updated_at``: a token refresh is no change of the connection's configuration (the
# go-live checklist counts a connection test only if no change came after it).
TOKEN_FIELDS = ["access_token", "refresh_token", "token_expires_at", "token_extra"]


def tokens_of(connection: Connection) -> Tokens | None:
    try:
        if not connection.access_token:
            return None
        refresh, extra = connection.refresh_token, connection.token_extra
    except SecretUnreadable as exc:
        raise secrets_unreadable(connection, exc) from None
    expires = connection.token_expires_at
    return Tokens(
        access_token=connection.access_token,
        refresh_token=refresh or None,
        expires_at=expires.timestamp() if expires else None,
        extra=extra or {},
    )


def _store(connection: Connection, tokens: Tokens) -> None:
    connection.access_token = tokens.access_token
    connection.refresh_token = tokens.refresh_token or ""
    connection.token_expires_at = (
        datetime.fromtimestamp(tokens.expires_at, tz=UTC) if tokens.expires_at else None
    )
    connection.token_extra = dict(tokens.extra)
    connection.save(update_fields=TOKEN_FIELDS)


class ConnectionTokenStore:
    """Tokens of one connection, for a connector built for one address.

    ``binding`` is the connection's ``secrets_binding()`` when the connector was
    built (its HTTP client allows that origin only). The row is read afresh on
    every call, so a connection re-pointed meanwhile, with tokens entered for
    the new address, would otherwise hand those tokens to a running connector
    still talking to the old one: such tokens are refused instead.
    """

    def __init__(self, connection_id: int, binding: str | None = None) -> None:
        self.connection_id = connection_id
        self.binding = binding

    def _bound(self, connection: Connection) -> Connection:
        if self.binding is None:
            return connection
        if connection.secrets_binding() != self.binding or (
            connection.secrets_origin and connection.secrets_origin != self.binding
        ):
            raise ConnectorError(
                ErrorKind.CONFIG,
                "secrets_rebound",
                f"The connection {connection.name} was pointed at another address or "
                "environment while this work was running; its tokens are not sent to the "
                "old address. Run again.",
            )
        return connection

    def _locked(self) -> Connection:
        return self._bound(Connection.objects.select_for_update().get(pk=self.connection_id))

    def load(self) -> Tokens | None:
        return tokens_of(self._bound(Connection.objects.get(pk=self.connection_id)))

    def save(self, tokens: Tokens) -> None:
        with transaction.atomic():
            _store(self._locked(), tokens)

    def refresh_locked(self, refresh: Callable[[Tokens | None], Tokens]) -> Tokens:
        with transaction.atomic():
            connection = self._locked()
            current = tokens_of(connection)
            fresh = refresh(current)
            if fresh != current:
                _store(connection, fresh)
            return fresh
