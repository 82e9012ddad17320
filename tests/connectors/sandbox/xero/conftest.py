"""A Xero sandbox per module, signed in through its own OAuth code flow, for tests that
post many requests (contract and property tests) without meeting the 60-a-minute limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
CALLBACK = "http://localhost:8000/xero/callback"
SCOPES = (
    "offline_access openid email accounting.transactions accounting.contacts accounting.settings"
)
UNLIMITED = {"minute": 10**6, "day": 10**7, "concurrent": 50, "appminute": 10**7}


def start_xero(**options: Any) -> SandboxServer:
    options.setdefault("demo", {"contacts": 20, "items": 10, "invoices": 6})
    options.setdefault("limits", UNLIMITED)
    return SandboxServer(create_app("xero", options)).start()


def sign_in(server: SandboxServer, scope: str = SCOPES) -> dict[str, Any]:
    """Consent (the sandbox auto-consents) and trade the code for tokens, HTTP Basic."""
    consent = requests.get(
        f"{server.url}/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": CALLBACK,
            "scope": scope,
            "state": "s1",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert consent.status_code == 302, consent.text
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    answer = requests.post(
        f"{server.url}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: dict[str, Any] = answer.json()
    connections = requests.get(
        f"{server.url}/connections",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ).json()
    token["tenant_id"] = connections[0]["tenantId"]
    return token


@pytest.fixture
def xero_factory() -> Iterator[tuple[Any, Any]]:
    """(start_xero, sign_in) for a test that needs its own sandbox; stopped afterwards."""
    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        started.append(start_xero(**options))
        return started[-1]

    yield start, sign_in
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def xero_module_server() -> Iterator[SandboxServer]:
    server = start_xero()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def xero_api(xero_module_server: SandboxServer) -> Iterator[requests.Session]:
    """A session signed in to the module's sandbox; ``.url(path)`` builds API addresses."""
    token = sign_in(xero_module_server)
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": token["tenant_id"]}
    )
    session.tenant_id = token["tenant_id"]  # type: ignore[attr-defined]
    yield session
    session.close()
