"""Changes to connections that are more than a form save."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone

from connectors.base import ConnectionCheck
from connectors.configs import connection_config, connector_for
from connectors.errors import ConnectorError, ErrorKind
from connectors.models import SECRET_FIELDS, Connection
from connectors.redaction import register_secret
from connectors.secrets import EncryptedTextField, SecretUnreadable, keyring, parse_stored
from connectors.tokens import ConnectionTokenStore
from connectors.validators import storable_text
from connectors.xero import XeroTenant, authorization_url, exchange_code

logger = logging.getLogger(__name__)


def connection_secrets_clear(*, connection: Connection) -> None:
    """Forget every credential and OAuth token (unsaved: the caller saves)."""
    connection.credentials = {}
    connection.access_token = ""
    connection.refresh_token = ""
    connection.token_extra = {}
    connection.token_expires_at = None
    connection.secrets_origin = ""
    connection.last_check_ok = None
    connection.last_check_message = ""


@transaction.atomic
def connection_save(
    *,
    connection: Connection,
    new_credentials: Mapping[str, str] | None = None,
    forget_secrets: bool = False,
) -> bool:
    """Save a connection created or changed anywhere (admin, API, commands, imports).

    Secrets belong to the environment and address they were entered for: when
    either changes, every stored credential and token is cleared, so a production
    password or refresh token is never sent to the new host; returns True then,
    so the caller can ask for them again. ``new_credentials`` are merged into
    what is stored (replacing it when the stored secrets no longer open) and
    bound to where the connection points now.
    """
    register_secret(new_credentials or {})
    repointed = connection.has_stored_secrets() and not connection.secrets_bound_here()
    if forget_secrets or repointed:
        connection_secrets_clear(connection=connection)
    if new_credentials:
        try:
            stored = dict(connection.credentials or {})
        except SecretUnreadable:
            stored = {}  # unreadable anyway: the new values replace them
        connection.credentials = {**stored, **new_credentials}
    connection.secrets_origin = (
        connection.secrets_binding() if connection.has_stored_secrets() else ""
    )
    connection.full_clean(exclude=SECRET_FIELDS)  # sealed fields are not form values
    connection.save()
    return repointed


def _encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def secrets_rotate(*, batch_size: int = 500) -> int:
    """Re-seal every stored secret under the newest key; returns how many rows changed.

    Each batch is its own transaction with its rows locked, so a worker that
    refreshes a token meanwhile neither loses its write nor sees a half-rotated row.
    A secret no configured key opens stops the rotation with SecretUnreadable.
    """
    current = keyring().current_id
    changed = 0
    for model in apps.get_models():
        fields = _encrypted_fields(model)
        if not fields:
            continue
        names = [f.attname for f in fields]
        stale = [
            pk
            for pk, *values in model._base_manager.values_list("pk", *names).iterator()
            if any(value and parse_stored(value)[0] != current for value in values)
        ]
        for start in range(0, len(stale), batch_size):
            with transaction.atomic():
                rows = model._base_manager.select_for_update().filter(
                    pk__in=stale[start : start + batch_size]
                )
                for row in rows:
                    for name in names:
                        getattr(row, name)  # open with the old key before re-sealing
                    row.save(update_fields=names)
                    changed += 1
    return changed


def connection_check(*, connection: Connection) -> ConnectionCheck:
    """Ask the system who we are and how much rate-limit headroom is left; store the answer."""
    try:
        check = connector_for(connection).test_connection()
    except (ConnectorError, SecretUnreadable, KeyError) as exc:
        check = ConnectionCheck(reachable=False, message=_plain(exc))
    except Exception as exc:  # the button answers whatever the far end sent; never a 500
        logger.exception("Test connection of %s failed unexpectedly", connection.pk)
        check = ConnectionCheck(
            reachable=False,
            message=f"The test failed unexpectedly ({type(exc).__name__}); check the base URL "
            "points at the system's API.",
            kind=ErrorKind.CONFIG,
        )
    connection.last_check_at = timezone.now()
    connection.last_check_ok = check_passed(check)
    connection.last_check_message = storable_text(connection_check_summary(check))
    connection.save(update_fields=["last_check_at", "last_check_ok", "last_check_message"])
    return check


def check_passed(check: ConnectionCheck) -> bool:
    """Reachable is not enough: a refused login is reachable and still a failure."""
    return check.reachable and check.kind is None


def connection_check_summary(check: ConnectionCheck) -> str:
    if not check.reachable:
        return f"Not reachable: {check.message}".strip()
    if check.kind is not None:
        return f"Reached, but it failed ({check.kind}): {check.message}".strip()
    parts = [f"Connected as {check.connected_as}." if check.connected_as else "Reachable."]
    headroom = check.headroom
    if headroom is not None:
        limits = [
            f"{value} {label}"
            for value, label in (
                (headroom.minute_remaining, "calls left this minute"),
                (headroom.day_remaining, "calls left today"),
                (headroom.concurrent_free, "concurrent slots free"),
            )
            if value is not None
        ]
        if limits:
            parts.append("Rate-limit headroom: " + ", ".join(limits) + ".")
    if check.message:
        parts.append(check.message)
    return " ".join(parts)


def _plain(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"the credential or setting {exc} is missing; add it on the connection page."
    return str(exc)


def xero_connect_start(*, connection: Connection, redirect_uri: str) -> tuple[str, str]:
    """The Xero consent URL for this connection and the state to check on return."""
    return authorization_url(connection_config(connection, redirect_uri=redirect_uri))


def xero_connect_finish(
    *, connection: Connection, redirect_uri: str, callback_url: str, state: str
) -> XeroTenant:
    """Trade the returned code for tokens; they are sealed and saved before use."""
    return exchange_code(
        connection_config(connection, redirect_uri=redirect_uri),
        ConnectionTokenStore(connection.pk, connection.secrets_binding()),
        callback_url=callback_url,
        expected_state=state,
    )
