"""Connecting to Xero: the OAuth 2.0 flow, token requests and the identity endpoints.

``authorization_url(config)`` for the "Connect to Xero" button, then
``exchange_code(config, tokens, callback_url=..., expected_state=...)`` on the
way back: it stores the tokens and the chosen organisation (tenant).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from connectors.base import ConnectionConfig, Tokens, TokenStore
from connectors.errors import ConnectorError, ErrorKind
from connectors.http import HttpClient, refuse_redirects
from connectors.xero.errors import XeroErrorCode, describe_error

if TYPE_CHECKING:  # imported where tokens are verified: every process loads this module
    import jwt  # (the registry), few sign anyone in, and PyJWT is a sixth of a start

AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
TOKEN_URL = "https://identity.xero.com/connect/token"  # noqa: S105 (a URL)
REVOKE_URL = "https://identity.xero.com/connect/revocation"
CONNECTIONS_URL = "https://api.xero.com/connections"
# Xero's identity server signs its tokens RS256 with the keys it publishes here [P]
# https://identity.xero.com/.well-known/openid-configuration ("jwks_uri").
JWKS_URL = "https://identity.xero.com/.well-known/openid-configuration/jwks"
ISSUER = "https://identity.xero.com"
ACCESS_AUDIENCE = "https://identity.xero.com/resources"
API_URL = "https://api.xero.com/api.xro/2.0"
DEFAULT_SCOPES = (
    "offline_access openid profile email accounting.contacts accounting.invoices "
    "accounting.payments accounting.manualjournals accounting.settings"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# -- configuration and the "Connect to Xero" flow ------------------------------


def xero_config(
    *,
    connection_id: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    scopes: str = DEFAULT_SCOPES,
    sandbox_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> ConnectionConfig:
    """A ConnectionConfig for Xero, or for the sandbox at ``sandbox_url``."""
    if sandbox_url:
        root = sandbox_url.rstrip("/")
        auth_urls = {
            "authorize": f"{root}/identity/connect/authorize",
            "token": f"{root}/connect/token",
            "revoke": f"{root}/connect/revocation",
            "connections": f"{root}/connections",
            "jwks": f"{root}/.well-known/openid-configuration/jwks",
        }
        base_url = f"{root}/api.xro/2.0"
    else:
        auth_urls = {
            "authorize": AUTHORIZE_URL,
            "token": TOKEN_URL,
            "revoke": REVOKE_URL,
            "connections": CONNECTIONS_URL,
            "jwks": JWKS_URL,
        }
        base_url = API_URL
    return ConnectionConfig(
        system="xero",
        connection_id=connection_id,
        base_url=base_url,
        auth_urls=auth_urls,
        settings={"redirect_uri": redirect_uri, "scopes": scopes, **(settings or {})},
        secrets={"client_id": client_id, "client_secret": client_secret},
    )


def authorization_url(config: ConnectionConfig, *, state: str | None = None) -> tuple[str, str]:
    """The URL to send the user's browser to, and the ``state`` to keep in their session."""
    session = _oauth_session(config, state=state)
    url, state = session.authorization_url(checked_url(config.auth_urls["authorize"]))
    return url, state


@dataclass(frozen=True)
class XeroTenant:
    tenant_id: str
    tenant_name: str
    connected_as: str | None


def exchange_code(
    config: ConnectionConfig,
    tokens: TokenStore,
    *,
    callback_url: str,
    expected_state: str,
) -> XeroTenant:
    """Finish "Connect to Xero": trade the code for tokens, pick the organisation, save.

    ``callback_url`` is the full URL Xero redirected the browser to. The
    organisation is ``settings["tenant_id"]`` when set, else the first one
    this consent connected.
    """
    session = _oauth_session(config, state=expected_state)
    try:
        token = session.fetch_token(
            checked_url(config.auth_urls["token"]),
            authorization_response=checked_url(callback_url),
            auth=client_auth(config),
            include_client_id=False,
            timeout=30,
        )
    except OAuth2Error as exc:
        raise oauth_failure(exc) from exc
    except requests.RequestException as exc:
        raise transient_identity_failure(exc) from exc
    keys = signing_keys(config)
    claims = verified_claims(keys, token["access_token"], audience=ACCESS_AUDIENCE)
    connections_url = checked_url(config.auth_urls["connections"])
    identity = HttpClient(
        connections_url,
        auth=lambda: {"Authorization": f"Bearer {token['access_token']}"},
        describe_error=describe_error,
    )
    connections = identity.request(
        "GET", connections_url, params={"authEventId": claims.get("authentication_event_id", "")}
    ).json()
    tenants = [c for c in connections if c.get("tenantType") == "ORGANISATION"]
    wanted = config.settings.get("tenant_id")
    chosen = next((t for t in tenants if wanted in (None, t["tenantId"])), None)
    if chosen is None:
        raise ConnectorError(
            ErrorKind.CONFIG,
            XeroErrorCode.NO_TENANT,
            "The Xero sign-in did not give access to the chosen organisation. "
            "Connect again and tick that organisation on Xero's consent page.",
        )
    user = (
        verified_claims(keys, token["id_token"], audience=config.secrets["client_id"]).get("email")
        if token.get("id_token")
        else None
    )
    saved = tokens_from(
        token,
        extra={
            "tenant_id": chosen["tenantId"],
            "tenant_name": chosen["tenantName"],
            "xero_connection_id": chosen["id"],
            "auth_event_id": claims.get("authentication_event_id"),
            "user": user,
        },
    )
    tokens.save(saved)
    return XeroTenant(chosen["tenantId"], chosen["tenantName"], user)


def checked_url(url: str) -> str:
    """HTTPS only, except the loopback sandbox (which oauthlib must be told to allow)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        return url
    raise ConnectorError(
        ErrorKind.CONFIG,
        XeroErrorCode.INSECURE_URL,
        f"Xero addresses must use https; {parts.scheme}://{parts.hostname} is not allowed.",
    )


def _oauth_session(config: ConnectionConfig, *, state: str | None) -> OAuth2Session:
    session = OAuth2Session(
        config.secrets["client_id"],
        redirect_uri=config.settings["redirect_uri"],
        scope=config.settings.get("scopes", DEFAULT_SCOPES).split(),
        state=state,
    )
    session.register_compliance_hook("access_token_response", raise_for_server_error)
    return refuse_redirects(session)


def client_auth(config: ConnectionConfig) -> HTTPBasicAuth:
    return HTTPBasicAuth(config.secrets["client_id"], config.secrets["client_secret"])


def raise_for_server_error(response: requests.Response) -> requests.Response:
    if response.status_code >= 500 or response.status_code == 429:
        raise ConnectorError(
            ErrorKind.TRANSIENT,
            XeroErrorCode.IDENTITY_UNAVAILABLE,
            "Xero's sign-in service is not answering. It will be tried again.",
            status=response.status_code,
        )
    return response


def oauth_failure(exc: OAuth2Error) -> ConnectorError:
    if exc.error == "mismatching_state":
        return ConnectorError(
            ErrorKind.CONFIG,
            XeroErrorCode.STATE_MISMATCH,
            "The answer from Xero does not belong to this sign-in. "
            "Start again from Connect to Xero.",
        )
    return ConnectorError(
        ErrorKind.AUTH,
        XeroErrorCode.SIGN_IN_REJECTED,
        "Xero refused the sign-in "
        f"({exc.error}): it was revoked, expired or the app's client id/secret changed. "
        "Reconnect to Xero.",
        raw=exc.error,
    )


def transient_identity_failure(exc: requests.RequestException) -> ConnectorError:
    return ConnectorError(
        ErrorKind.TRANSIENT,
        XeroErrorCode.IDENTITY_UNAVAILABLE,
        "Xero's sign-in service could not be reached. It will be tried again.",
        raw=type(exc).__name__,
    )


def tokens_from(token: Mapping[str, Any], *, extra: Mapping[str, Any]) -> Tokens:
    expires_at = token.get("expires_at") or time.time() + float(token.get("expires_in", 1800))
    return Tokens(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=float(expires_at),
        extra=dict(extra),
    )


def signing_keys(config: ConnectionConfig) -> jwt.PyJWKSet:
    """The keys Xero's identity server signs tokens with, from its JWKS (no redirects)."""
    import jwt

    url = checked_url(config.auth_urls.get("jwks", JWKS_URL))
    try:
        response = requests.get(url, timeout=30, allow_redirects=False)
    except requests.RequestException as exc:
        raise transient_identity_failure(exc) from exc
    raise_for_server_error(response)
    try:
        return jwt.PyJWKSet.from_dict(response.json())
    except (ValueError, jwt.PyJWKSetError) as exc:
        raise ConnectorError(
            ErrorKind.TRANSIENT,
            XeroErrorCode.IDENTITY_UNAVAILABLE,
            "Xero's sign-in service did not publish its signing keys. It will be tried again.",
            status=response.status_code,
        ) from exc


def verified_claims(keys: jwt.PyJWKSet, token: str, *, audience: str) -> dict[str, Any]:
    """A token's claims once its RS256 signature, issuer, audience and expiry check out.

    The connector acts on them (which consent's organisations to connect, who connected),
    so it believes them only when Xero's published key signed them — never unverified."""
    import jwt

    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next(k for k in keys.keys if k.key_id == kid)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER
        )
    except (StopIteration, jwt.PyJWTError) as exc:
        raise ConnectorError(
            ErrorKind.AUTH,
            XeroErrorCode.SIGN_IN_REJECTED,
            "Xero's answer to the sign-in could not be verified (its token is not signed by "
            "Xero's published key, or is for another app or expired). Connect to Xero again.",
            raw=type(exc).__name__,
        ) from exc
    return claims
