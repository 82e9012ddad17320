"""The Xero sandbox's identity endpoints: how a client may authenticate, and where the
keys that sign its tokens are published."""

from __future__ import annotations

from typing import Any

import requests

from connectors.sandbox.core import SandboxServer

CLIENT = ("sandbox-client-id", "sandbox-client-secret")


def refresh(server: SandboxServer, token: str, **how: Any) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, **how.pop("data", {})}
    return requests.post(f"{server.url}/connect/token", data=data, timeout=10, **how)


def test_the_client_authenticates_with_basic_or_the_form_body_but_not_both(
    xero_factory: Any,
) -> None:
    start, sign_in = xero_factory
    server = start()
    first = sign_in(server)["refresh_token"]
    body = {"client_id": CLIENT[0], "client_secret": CLIENT[1]}

    by_basic = refresh(server, first, auth=CLIENT)
    by_body = refresh(server, by_basic.json()["refresh_token"], data=body)
    both = refresh(server, by_body.json()["refresh_token"], auth=CLIENT, data=body)
    wrong_basic = refresh(server, by_body.json()["refresh_token"], auth=(CLIENT[0], "nope"))
    none = refresh(server, by_body.json()["refresh_token"])

    assert (by_basic.status_code, by_body.status_code) == (200, 200)
    assert (both.status_code, both.json()) == (400, {"error": "invalid_request"})
    assert (wrong_basic.status_code, wrong_basic.json()) == (401, {"error": "invalid_client"})
    assert (none.status_code, none.json()) == (401, {"error": "invalid_client"})


def test_revocation_accepts_credentials_in_the_form_body(xero_factory: Any) -> None:
    start, sign_in = xero_factory
    server = start()
    token = sign_in(server)
    revoked = requests.post(
        f"{server.url}/connect/revocation",
        data={"token": token["refresh_token"], "client_id": CLIENT[0], "client_secret": CLIENT[1]},
        timeout=10,
    )
    assert revoked.status_code == 200
    assert refresh(server, token["refresh_token"], auth=CLIENT).json() == {"error": "invalid_grant"}


def test_the_discovery_document_points_at_the_jwks_of_rs256_keys(xero_factory: Any) -> None:
    start, _sign_in = xero_factory
    server = start()
    discovery = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10).json()
    jwks = requests.get(discovery["jwks_uri"], timeout=10).json()

    assert discovery["issuer"] == "https://identity.xero.com"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert [(k["kty"], k["alg"], k["use"]) for k in jwks["keys"]] == [("RSA", "RS256", "sig")]
    assert "d" not in jwks["keys"][0]  # the public half only
