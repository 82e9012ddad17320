""" "Test connection": a POST with CSRF only, and green only when the API itself answered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from tests.connectors import recorder

pytestmark = pytest.mark.django_db
local_server = recorder.local_server

SETTINGS = {
    "xero": {"client_id": "cid", "tenant_id": "t-1"},
    "salesforce": {"client_id": "cid", "auth_flow": "client_credentials"},
    "kashflow": {"username": "demo"},
    "syspro": {"operator": "ADMIN", "company_id": "EDU1"},
}
CREDENTIALS = {
    "xero": {"client_secret": "s3cret-value"},
    "salesforce": {"client_secret": "s3cret-value"},
    "kashflow": {"password": "s3cret-value", "memorable_word": "memorable"},
    "syspro": {"operator_password": "s3cret-value", "company_password": "s3cret-value"},
}
NOT_APIS = {
    "a web page": (b"<html><body>It works!</body></html>", "text/html"),
    "some other JSON": (b'{"status": "ok", "Data": {}}', "application/json"),
    "some XML": (b"<Profile><Name>x</Name></Profile>", "application/xml"),
    "a session-like id": (b"0123456789ABCDEF0123456789ABCDEF", "text/plain"),
}


def pointed_at(system: str, url: str) -> Connection:
    return Connection.objects.create(
        name=system,
        system=system,
        base_url=url,
        settings=SETTINGS[system],
        credentials=CREDENTIALS[system],
        # Xero needs a sign-in before it calls: a fresh token for the tenant.
        access_token="fresh-access-token-1234" if system == "xero" else "",
        token_extra={"tenant_id": "t-1"} if system == "xero" else {},
        token_expires_at=timezone.now() + timedelta(hours=1) if system == "xero" else None,
    )


def check_url(connection: Connection) -> str:
    return reverse("admin:connectors_connection_check", args=[connection.pk])


@pytest.mark.parametrize("answer", sorted(NOT_APIS))
@pytest.mark.parametrize("system", sorted(SETTINGS))
def test_a_server_that_is_not_the_api_is_a_clear_failure_not_a_500_or_green(
    consultant_client, local_server, system, answer
):
    body, content_type = NOT_APIS[answer]
    server = local_server(body=body, content_type=content_type)
    connection = pointed_at(system, server.url)

    page = consultant_client.post(check_url(connection), follow=True)

    assert page.status_code == 200
    assert server.seen  # it did call the server
    connection.refresh_from_db()
    assert connection.last_check_ok is False, connection.last_check_message
    assert "Connected" not in connection.last_check_message


@pytest.mark.parametrize("system", sorted(SETTINGS))
def test_a_web_page_is_named_as_such(consultant_client, local_server, system):
    server = local_server()  # answers every call with an HTML page
    connection = pointed_at(system, server.url)
    consultant_client.post(check_url(connection))
    connection.refresh_from_db()
    assert "API does" in connection.last_check_message
    assert "Check the connection's base URL" in connection.last_check_message


def test_a_get_runs_nothing(consultant_client, local_server):
    server = local_server()
    connection = pointed_at("syspro", server.url)
    for name in ("admin:connectors_connection_check", "admin:connectors_connection_xero_connect"):
        assert consultant_client.get(reverse(name, args=[connection.pk])).status_code == 405
    assert server.seen == []
    connection.refresh_from_db()
    assert connection.last_check_at is None


def test_a_post_without_the_csrf_token_runs_nothing(consultant, local_server):
    server = local_server()
    connection = pointed_at("syspro", server.url)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(consultant)
    assert browser.post(check_url(connection)).status_code == 403
    assert server.seen == []

    page = browser.get(reverse("admin:connectors_connection_change", args=[connection.pk]))
    html = page.content.decode()
    assert f'action="{check_url(connection)}"' in html and 'method="post"' in html
    assert f'href="{check_url(connection)}"' not in html  # a button, never a link
