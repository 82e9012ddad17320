"""Connections in the admin against the real sandboxes over HTTP: connect, test, refresh."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
import requests
from django.db import close_old_connections
from django.urls import reverse

from connectors.base import Tokens
from connectors.models import Connection
from connectors.services import connection_check
from connectors.tokens import ConnectionTokenStore

XERO_CLIENT = "client_id=sandbox-client-id\nclient_secret=sandbox-client-secret"


@pytest.fixture
def xero_connection(start_sandbox, consultant_client):
    server = start_sandbox("xero")
    response = consultant_client.post(
        reverse("admin:connectors_connection_add"),
        {
            "name": "Xero sandbox",
            "system": "xero",
            "environment": "sandbox",
            "base_url": server.url,
            "settings": "{}",
            "new_credentials": XERO_CLIENT,
        },
    )
    assert response.status_code == 302
    return Connection.objects.get(name="Xero sandbox")


def connect_to_xero(client, connection: Connection) -> str:
    """Press "Connect to Xero", consent at the (sandbox) Xero, come back; return the page."""
    start = client.post(
        reverse("admin:connectors_connection_xero_connect", args=[connection.pk]),
        HTTP_HOST="localhost",
    )
    assert start.status_code == 302
    consent = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert consent.status_code in (302, 303)
    back = urlsplit(consent.headers["Location"])
    assert back.path == reverse("admin:connectors_connection_xero_callback")
    page = client.get(f"{back.path}?{back.query}", HTTP_HOST="localhost", follow=True)
    return page.content.decode()


@pytest.mark.django_db
def test_connect_to_xero_stores_sealed_tokens_and_the_tenant(consultant_client, xero_connection):
    html = connect_to_xero(consultant_client, xero_connection)
    assert "Connected to Xero organisation" in html

    xero_connection.refresh_from_db()
    assert xero_connection.access_token and xero_connection.refresh_token
    assert xero_connection.token_extra["tenant_id"]
    assert xero_connection.token_expires_at is not None
    assert xero_connection.access_token not in html

    check = connection_check(connection=xero_connection)
    assert check.reachable, check.message
    xero_connection.refresh_from_db()
    assert xero_connection.last_check_ok is True
    assert "Rate-limit headroom" in xero_connection.last_check_message


@pytest.mark.django_db
def test_a_forged_or_replayed_callback_is_refused(consultant_client, xero_connection):
    url = reverse("admin:connectors_connection_xero_callback")
    page = consultant_client.get(f"{url}?code=abc&state=forged", follow=True)
    assert "does not match one started here" in page.content.decode()
    xero_connection.refresh_from_db()
    assert not xero_connection.access_token


@pytest.mark.django_db
def test_test_connection_button_reports_a_bad_secret_in_plain_words(
    consultant_client, start_sandbox
):
    server = start_sandbox("kashflow")
    connection = Connection.objects.create(
        name="KashFlow",
        system="kashflow",
        base_url=server.url,
        settings={"username": "demo"},
        credentials={"password": "Wr0ngPassw0rd!", "memorable_word": "clarity"},
    )
    page = consultant_client.post(
        reverse("admin:connectors_connection_check", args=[connection.pk]), follow=True
    )
    connection.refresh_from_db()
    assert connection.last_check_ok is False
    assert connection.last_check_message.startswith("Reached, but it failed (auth)")
    html = page.content.decode()
    assert "KashFlow: Reached, but it failed (auth)" in html
    assert "Wr0ngPassw0rd!" not in html


@pytest.mark.django_db
def test_finance_cannot_press_connect_or_test(finance_client, xero_connection):
    for name in ("admin:connectors_connection_check", "admin:connectors_connection_xero_connect"):
        assert finance_client.post(reverse(name, args=[xero_connection.pk])).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_are_serialised_per_connection():
    """Two workers refreshing at once: the second sees the first's rotated pair."""
    connection = Connection.objects.create(
        name="Xero", system="xero", base_url="http://127.0.0.1:1", credentials={"x": "y"}
    )
    store = ConnectionTokenStore(connection.pk)
    store.save(Tokens(access_token="a0", refresh_token="r0", expires_at=0.0))
    spent: list[str] = []
    lock = threading.Lock()

    def rotate(current: Tokens | None) -> Tokens:
        assert current is not None
        if current.refresh_token != "r0":
            return current  # already refreshed by the other worker
        with lock:
            spent.append(current.refresh_token)
        threading.Event().wait(0.3)
        return Tokens(access_token="a1", refresh_token="r1", expires_at=9e9)

    results: list[Tokens] = []

    def worker() -> None:
        try:
            results.append(store.refresh_locked(rotate))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spent == ["r0"]
    assert {r.refresh_token for r in results} == {"r1"}
    assert store.load().refresh_token == "r1"
