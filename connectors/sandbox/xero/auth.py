"""The Xero sandbox's identity service (OAuth 2.0): consents (grants), authorization
codes, refresh and access tokens and their lifetimes, the scopes that grant each
entity, and the connections (tenants) a consent reaches.

Tokens are JWTs signed RS256 with a key published at the OpenID discovery document's
``jwks_uri``, as Xero's identity server does: [P] https://identity.xero.com/.well-known/
openid-configuration (``jwks_uri`` .../jwks, ``id_token_signing_alg_values_supported``
RS256); [O] XeroAPI/xero-node ``src/xeroClient.ts`` discovers the issuer with
openid-client (which checks id tokens against that JWKS) and types the id token's claims
(``xero_userid``, ``global_session_id``, ``email``…).
The client authenticates at the token and revocation endpoints with HTTP Basic or with
``client_id``/``client_secret`` in the form body (RFC 6749 §2.3.1): [O] XeroAPI/xero-python
``api_client/oauth2.py`` ``TokenApi`` sends them in the body for refresh and revoke.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.sandbox.core import (
    HttpError,
    Request,
    Response,
    SandboxApp,
    json_response,
    redirect,
    text_response,
)
from connectors.sandbox.xero.schema import Organisation

REFRESH_TOKEN_TTL = 60 * 24 * 3600
CODE_TTL = 300
ISSUER = "https://identity.xero.com"
ACCESS_AUDIENCE = "https://identity.xero.com/resources"
JWKS_PATH = "/.well-known/openid-configuration/jwks"


class SigningKey:
    """The RSA key the sandbox signs tokens with, and its public half as a JWKS."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(16)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}


# Scopes that grant each entity; "<scope>.read" grants GET.
SCOPES = {
    "Contacts": ("accounting.contacts",),
    "Invoices": ("accounting.invoices", "accounting.transactions"),
    "Items": ("accounting.invoices", "accounting.settings", "accounting.transactions"),
    "Payments": ("accounting.payments", "accounting.transactions"),
    "ManualJournals": ("accounting.manualjournals", "accounting.transactions"),
    "Accounts": ("accounting.settings",),
    "TaxRates": ("accounting.settings",),
    "Organisation": ("accounting.settings",),
}


@dataclass
class Grant:
    """One consent: the refresh tokens and access tokens descending from it."""

    client_id: str
    scope: str
    auth_event_id: str
    user_id: str
    revoked: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    expires: float
    rotated_at: float | None = None


@dataclass
class AccessToken:
    grant: Grant
    expires: float


class XeroAuth(SandboxApp):
    """Identity: the authorize redirect, the token endpoint (code and refresh grants,
    refresh-token rotation with a grace period), revocation, the connections of a
    consent, and the access tokens the Accounting API checks."""

    client_id: str
    client_secret: str
    token_ttl: float
    refresh_grace: float
    _signing_key: SigningKey
    codes: dict[str, dict[str, Any]]
    refresh_tokens: dict[str, RefreshToken]
    access_tokens: dict[str, AccessToken]
    connections: list[dict[str, Any]]
    orgs: dict[str, Organisation]
    _problem: Callable[[int, str, str], Response]

    def authorize(self, request: Request) -> Response:
        """Auto-consent: check the request like Xero, then redirect back with a code."""
        redirect_uri = request.arg("redirect_uri")
        problems = []
        if request.arg("response_type") != "code":
            problems.append("unsupported_response_type")
        if request.arg("client_id") != self.client_id:
            problems.append("unauthorized_client")
        allowed = self.options.get("redirect_uris")
        if not redirect_uri or (allowed is not None and redirect_uri not in allowed):
            problems.append("invalid redirect_uri")
        if not request.arg("scope"):
            problems.append("invalid_scope")
        if problems:
            return text_response(f"Sorry, something went wrong: {', '.join(problems)}", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "scope": request.arg("scope"),
            "expires": self.now() + CODE_TTL,
        }
        query = {"code": code, "scope": request.arg("scope"), "session_state": uuid.uuid4().hex}
        if request.arg("state") is not None:
            query["state"] = request.arg("state")
        assert redirect_uri is not None
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(query)}")

    def token(self, request: Request) -> Response:
        self._check_client(request)
        form = request.form()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if (
                code is None
                or code["expires"] < self.now()
                or code["redirect_uri"] != form.get("redirect_uri")
            ):
                return self._oauth_error("invalid_grant")
            grant = Grant(self.client_id, code["scope"], str(uuid.uuid4()), str(uuid.uuid4()))
            self._connect_tenants(grant)
            return self._issue(grant)
        if grant_type == "refresh_token":
            held = self.refresh_tokens.get(form.get("refresh_token", ""))
            now = self.now()
            if (
                held is None
                or held.grant.revoked
                or held.expires < now
                or (held.rotated_at is not None and held.rotated_at + self.refresh_grace < now)
            ):
                return self._oauth_error("invalid_grant")
            if held.rotated_at is None:
                held.rotated_at = now
            return self._issue(held.grant)
        return self._oauth_error("unsupported_grant_type")

    def revoke(self, request: Request) -> Response:
        self._check_client(request)
        held = self.refresh_tokens.get(request.form().get("token", ""))
        if held is not None:
            held.grant.revoked = True
            self.connections = [
                c for c in self.connections if c["authEventId"] != held.grant.auth_event_id
            ]
        return Response(200)

    def list_connections(self, request: Request) -> Response:
        self._access(request)
        event = request.arg("authEventId")
        return json_response(
            [c for c in self.connections if event is None or c["authEventId"] == event]
        )

    def delete_connection(self, request: Request) -> Response:
        self._access(request)
        before = len(self.connections)
        self.connections = [c for c in self.connections if c["id"] != request.params["id"]]
        return Response(204 if len(self.connections) < before else 404)

    def discovery(self, request: Request) -> Response:
        """The OpenID discovery document, pointing at this sandbox's endpoints."""
        root = request.base_url
        return json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{root}/identity/connect/authorize",
                "token_endpoint": f"{root}/connect/token",
                "revocation_endpoint": f"{root}/connect/revocation",
                "jwks_uri": f"{root}{JWKS_PATH}",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    def jwks(self, request: Request) -> Response:
        return json_response(self._signing_key.jwks())

    def _check_client(self, request: Request) -> None:
        """HTTP Basic, or client_id and client_secret in the form body; never both."""
        header = request.header("Authorization") or ""
        form = request.form()
        if header.startswith("Basic "):
            if "client_secret" in form:
                raise HttpError(self._oauth_error("invalid_request", 400))
            try:
                client_id, _, secret = (
                    base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                client_id = secret = ""
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            raise HttpError(self._oauth_error("invalid_client", 401))

    def _oauth_error(self, error: str, status: int = 400) -> Response:
        return json_response({"error": error}, status)

    def _connect_tenants(self, grant: Grant) -> None:
        stamp = datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0")
        for org in self.orgs.values():
            existing = next((c for c in self.connections if c["tenantId"] == org.tenant_id), None)
            if existing is None:
                existing = {
                    "id": str(uuid.uuid4()),
                    "tenantId": org.tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": org.name,
                    "createdDateUtc": stamp,
                }
                self.connections.append(existing)
            existing.update(authEventId=grant.auth_event_id, updatedDateUtc=stamp)

    def _issue(self, grant: Grant) -> Response:
        now = self.now()
        claims = {
            "nbf": int(now),
            "exp": int(now + self.token_ttl),
            "iss": ISSUER,
            "aud": ACCESS_AUDIENCE,
            "client_id": grant.client_id,
            "sub": grant.user_id,
            "auth_time": int(now),
            "xero_userid": grant.user_id,
            "global_session_id": grant.auth_event_id,
            "jti": uuid.uuid4().hex,
            "authentication_event_id": grant.auth_event_id,
            "scope": grant.scope.split(),
        }
        access = self._signing_key.sign(claims)
        self.access_tokens[access] = AccessToken(grant, now + self.token_ttl)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(self.token_ttl),
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "openid" in grant.scope.split():
            # An id token is for the client: its audience is the client id [P] OpenID Connect
            # Core §2; Xero's carry the user's email [O] xero-node's ``XeroIdToken``.
            body["id_token"] = self._signing_key.sign(
                {**claims, "aud": grant.client_id, "email": "finance@demo.example"}
            )
        if "offline_access" in grant.scope.split():
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = RefreshToken(grant, now + REFRESH_TOKEN_TTL)
            body["refresh_token"] = refresh
        return json_response(body)

    def _access(self, request: Request) -> AccessToken:
        header = request.header("Authorization") or ""
        held = self.access_tokens.get(header.removeprefix("Bearer "))
        if held is None or held.grant.revoked:
            raise HttpError(self._problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        if held.expires < self.now():
            expired = datetime.fromtimestamp(held.expires, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise HttpError(
                self._problem(401, "Unauthorized", f"TokenExpired: token expired at {expired}")
            )
        return held
