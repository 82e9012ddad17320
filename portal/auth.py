"""Token authentication per portal client.

A portal client is a program, not a person, so it has no Django user: its
token belongs to the client. Only the token's SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.models import PortalClient, PortalToken

KEYWORD = "Bearer"
# "Clarity Connect portal": recognisable in a leaked-secret scan.
TOKEN_PREFIX = "ccp_"  # noqa: S105 (a label, not a secret)
# last_used_at is a hint for staff, not an audit log: one write a minute at most.
TOUCH_EVERY = timedelta(minutes=1)


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class PortalPrincipal:
    """``request.user`` for a portal call: the client, authenticated by its token."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, client: PortalClient) -> None:
        self.client = client

    def __str__(self) -> str:
        return f"portal client {self.client}"


class PortalTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; a revoked token or inactive client is refused."""

    def authenticate(self, request: Request) -> tuple[PortalPrincipal, PortalToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() != KEYWORD.lower():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            key = parts[1].decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token is not valid.") from None
        token = (
            PortalToken.objects.select_related("client__connection")
            .filter(digest=token_digest(key), revoked=False)
            .first()
        )
        if token is None:
            raise AuthenticationFailed("The token is not valid or has been revoked.")
        if not token.client.active:
            raise AuthenticationFailed("This portal client has been deactivated.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
            PortalToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return PortalPrincipal(token.client), token

    def authenticate_header(self, request: Request) -> str:
        """Makes DRF answer 401 (not 403) when the token is missing or wrong."""
        return f'{KEYWORD} realm="portal"'


class IsPortalClient(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, PortalToken)


def client_of(request: Request) -> PortalClient:
    principal: PortalPrincipal = request.user
    return principal.client
