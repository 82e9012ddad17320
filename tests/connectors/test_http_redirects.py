"""Redirects never carry a secret to another host; sign-in calls follow none at all."""

from __future__ import annotations

import time

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore, Tokens
from connectors.errors import ConnectorError
from connectors.http import REDIRECTED, HttpClient
from connectors.kashflow import KashFlowConnector
from connectors.salesforce import SalesforceConnector
from connectors.syspro import SysproConnector
from connectors.xero import XeroConnector
from tests.connectors import recorder
from tests.connectors.conftest import FAST_RETRY, xero_config_for

local_server = recorder.local_server

CLIENT_SECRET = "client-secret-that-must-stay-home"
PASSWORD = "password-that-must-stay-home"
REFRESH = "refresh-token-that-must-stay-home"
ACCESS = "access-token-that-must-stay-home"
STATUSES = [301, 302, 303, 307, 308]


@pytest.fixture(params=STATUSES)
def redirected(request, local_server):
    """(a server redirecting every call to another port with ``status``, that other server)."""
    elsewhere = local_server()
    return local_server(status=request.param, location=elsewhere.url, body=b""), elsewhere


def test_a_sign_in_call_follows_no_redirect_even_to_its_own_host(local_server):
    home = local_server(status=307, body=b"")
    home.location = home.url  # same origin
    http = HttpClient(home.url)
    with pytest.raises(ConnectorError) as refused:
        http.request("POST", "/token", data={"client_secret": CLIENT_SECRET}, authenticated=False)
    assert refused.value.code == REDIRECTED
    assert "a sign-in call never follows a redirect" in refused.value.message
    assert len(home.seen) == 1  # the one call; the redirect was not followed


def test_a_token_request_redirected_to_another_host_sends_it_nothing(redirected):
    server, elsewhere = redirected
    http = HttpClient(server.url)
    with pytest.raises(ConnectorError) as refused:
        http.request("POST", "/token", data={"client_secret": CLIENT_SECRET}, authenticated=False)
    assert refused.value.code == REDIRECTED
    assert elsewhere.seen == []


def test_an_api_call_redirected_to_another_host_sends_it_nothing(redirected):
    server, elsewhere = redirected
    http = HttpClient(server.url, auth=lambda: {"Authorization": f"Bearer {ACCESS}"})
    for method in ("GET", "POST"):
        with pytest.raises(ConnectorError) as refused:
            http.request(method, "/Invoices", json={"a": 1})
        assert refused.value.code == REDIRECTED
        assert "Set the connection's base URL" in refused.value.message
    assert elsewhere.seen == []


def test_an_api_call_follows_a_same_origin_redirect_that_keeps_the_request(local_server):
    home = local_server(body=b'{"ok": true}', content_type="application/json")
    home.redirects = {"/old": (302, "/new"), "/write-old": (307, f"{home.url}/write-new")}
    http = HttpClient(home.url, auth=lambda: {"Authorization": f"Bearer {ACCESS}"})
    assert http.request("GET", "/old").json() == {"ok": True}
    assert http.request("POST", "/write-old", json={"a": 1}).json() == {"ok": True}
    assert [(s.method, s.path) for s in home.seen] == [
        ("GET", "/old"),
        ("GET", "/new"),
        ("POST", "/write-old"),
        ("POST", "/write-new"),
    ]
    assert home.seen[-1].body == b'{"a": 1}'


def test_a_write_is_not_turned_into_a_get_and_loops_are_cut(local_server):
    home = local_server(body=b"{}", content_type="application/json")
    home.redirects = {"/w": (302, "/elsewhere"), "/loop": (307, "/loop")}
    http = HttpClient(home.url)
    with pytest.raises(ConnectorError) as refused:
        http.request("POST", "/w", json={"a": 1})
    assert refused.value.code == REDIRECTED
    with pytest.raises(ConnectorError):
        http.request("GET", "/loop")
    assert [s.path for s in home.seen].count("/elsewhere") == 0
    assert [s.path for s in home.seen].count("/loop") == 6  # the call and 5 hops, then stop


def _expired(extra: dict) -> InMemoryTokenStore:
    return InMemoryTokenStore(Tokens(ACCESS, REFRESH, expires_at=time.time() - 10, extra=extra))


def connectors_at(url: str) -> dict[str, object]:
    """Each connector pointed at ``url``, with secrets and a sign-in to make."""
    return {
        "xero": XeroConnector(
            xero_config_for(url),
            _expired({"tenant_id": "t"}),  # expired: the check starts with a token refresh
            retry=FAST_RETRY,
        ),
        "salesforce": SalesforceConnector(
            ConnectionConfig(
                "salesforce",
                "sf",
                url,
                settings={"client_id": "cid", "auth_flow": "client_credentials"},
                secrets={"client_secret": CLIENT_SECRET},
            ),
            InMemoryTokenStore(),
        ),
        "kashflow": KashFlowConnector(
            ConnectionConfig(
                "kashflow",
                "kf",
                url,
                settings={"username": "u"},
                secrets={"password": PASSWORD, "memorable_word": "memorable"},
            ),
            InMemoryTokenStore(),
            retry=FAST_RETRY,
        ),
        "syspro": SysproConnector(
            ConnectionConfig(
                "syspro",
                "sy",
                url,
                settings={"operator": "ADMIN", "company_id": "EDU1"},
                secrets={"operator_password": PASSWORD, "company_password": PASSWORD},
            ),
            InMemoryTokenStore(),
        ),
    }


@pytest.mark.parametrize("system", ["xero", "salesforce", "kashflow", "syspro"])
def test_every_connectors_sign_in_refuses_a_redirect(redirected, system):
    """Xero's refresh goes through requests-oauthlib; the others through HttpClient."""
    server, elsewhere = redirected
    check = connectors_at(server.url)[system].test_connection()  # type: ignore[attr-defined]
    assert check.kind is not None
    assert "redirect" in check.message
    assert elsewhere.seen == []
    assert server.seen  # the sign-in did go to the connection's own address, and only there
