"""The Salesforce sandbox's token endpoint: whatever a JWT assertion or a form holds,
the answer is OAuth's own error shape, never a 500 (hypothesis)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.auth import sign_jwt
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CONSUMER_KEY, DEMO_PRIVATE_KEY, DEMO_USERNAME

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield server


def token(running: SandboxServer, form: dict[str, str]) -> requests.Response:
    return requests.post(f"{running.url}/services/oauth2/token", data=form, timeout=5)


@settings(max_examples=150, deadline=None)
@given(
    claims=st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp"]), JSON)
    | JSON.filter(lambda v: not isinstance(v, dict))
)
def test_any_signed_claims_get_an_oauth_answer(running: SandboxServer, claims: Any) -> None:
    if isinstance(claims, dict):
        assertion = sign_jwt(claims, DEMO_PRIVATE_KEY)
    else:  # not an object at all: signed by hand, as sign_jwt takes mappings only
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assertion = f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"
    response = token(
        running,
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert set(response.json()) == {"error", "error_description"}


def test_exp_as_a_string_of_seconds_is_accepted(running: SandboxServer) -> None:
    import time

    claims = {
        "iss": DEMO_CONSUMER_KEY,
        "sub": DEMO_USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 120),
    }
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": sign_jwt(claims, DEMO_PRIVATE_KEY),
    }
    assert token(running, form).status_code == 200
    claims["iss"] = ["not", "a", "key"]  # type: ignore[assignment]
    form["assertion"] = sign_jwt(claims, DEMO_PRIVATE_KEY)
    assert token(running, form).json()["error"] == "invalid_client_id"
