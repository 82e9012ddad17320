"""A secret is only ever sent to the environment and address it was entered for."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from clarity.selectors.health import connection_headroom
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.http import FOREIGN_HOST, HttpClient
from connectors.models import Connection
from connectors.secrets import Sealed
from connectors.services import connection_save
from tests.connectors import recorder

pytestmark = pytest.mark.django_db
local_server = recorder.local_server

ACCESS = "live-access-token-0123456789abcdef"
REFRESH = "live-refresh-token-0123456789abcdef"

# One production connection per system, with the secrets that system uses.
PRODUCTION: dict[str, dict[str, Any]] = {
    "syspro": {
        "base_url": "https://erp.customer.example:31002/SYSPROWCFService/Rest",
        "settings": {"operator": "ADMIN", "company_id": "EDU1"},
        "credentials": {
            "operator_password": "Pr0duction-Operator-Pa55",
            "company_password": "Pr0duction-Company-Pa55",
        },
    },
    "xero": {
        "base_url": "https://api.xero.com/api.xro/2.0",
        "settings": {"client_id": "LIVE-CLIENT", "tenant_id": "live-tenant"},
        "credentials": {"client_secret": "Pr0duction-Xero-Client-Secret"},
    },
    "salesforce": {
        "base_url": "https://acme.my.salesforce.com",
        "settings": {"client_id": "LIVE-CLIENT", "auth_flow": "client_credentials"},
        "credentials": {"client_secret": "Pr0duction-Salesforce-Client-Secret"},
    },
    "kashflow": {
        "base_url": "https://api.kashflow.com/v2",
        "settings": {"username": "live-user"},
        "credentials": {
            "password": "Pr0duction-KashFlow-Pa55",
            "memorable_word": "Pr0ductionWord",
        },
    },
}


def production(system: str) -> Connection:
    spec = PRODUCTION[system]
    return Connection.objects.create(
        name=f"{system} live",
        system=system,
        environment="production",
        base_url=spec["base_url"],
        settings=spec["settings"],
        credentials=spec["credentials"],
        access_token=ACCESS,
        refresh_token=REFRESH,
        token_extra={"tenant_id": "live-tenant", "instance_url": spec["base_url"]},
    )


def secrets_of(system: str) -> list[str]:
    return [*PRODUCTION[system]["credentials"].values(), ACCESS, REFRESH]


def change(client: Any, connection: Connection, **fields: str) -> Any:
    data = {
        "name": connection.name,
        "system": connection.system,
        "environment": connection.environment,
        "base_url": connection.base_url,
        "settings": json.dumps(connection.settings),
        "new_credentials": "",
        **fields,
    }
    url = reverse("admin:connectors_connection_change", args=[connection.pk])
    return client.post(url, data, follow=True)


def press_test_connection(client: Any, connection: Connection) -> str:
    url = reverse("admin:connectors_connection_check", args=[connection.pk])
    page = client.post(url, follow=True)
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.parametrize("system", sorted(PRODUCTION))
def test_repointing_a_production_connection_clears_its_secrets_and_sends_none_there(
    consultant_client, local_server, system
):
    """The issue's repro: production → sandbox on any http host, then "Test connection"."""
    connection = production(system)
    recorder = local_server()

    page = change(consultant_client, connection, environment="sandbox", base_url=recorder.url)
    assert page.status_code == 200
    assert "were cleared" in page.content.decode()
    connection.refresh_from_db()
    assert connection.credentials == {}
    assert not connection.access_token and not connection.refresh_token
    assert connection.token_extra == {} and connection.token_expires_at is None
    assert connection.secrets_origin == ""

    press_test_connection(consultant_client, connection)
    sent = recorder.everything_seen()
    for secret in secrets_of(system):
        assert secret not in sent


@pytest.mark.parametrize(
    "fields",
    [
        {"environment": "sandbox"},  # same address, other environment
        {"base_url": "https://erp.attacker.example:31002/SYSPROWCFService/Rest"},  # host
        {"base_url": "https://erp.customer.example:31003/SYSPROWCFService/Rest"},  # port
        {
            "base_url": "http://erp.customer.example:31002/SYSPROWCFService/Rest",  # scheme
            "environment": "sandbox",
        },
    ],
)
def test_any_change_of_environment_or_origin_clears_the_secrets(consultant_client, fields):
    connection = production("syspro")
    change(consultant_client, connection, **fields)
    connection.refresh_from_db()
    assert connection.credentials == {} and not connection.access_token


def test_other_edits_keep_the_secrets(consultant_client):
    connection = production("syspro")
    page = change(
        consultant_client,
        connection,
        name="SYSPRO live (renamed)",
        base_url="https://erp.customer.example:31002/SYSPROWCFService/Rest/v2",  # same origin
        settings=json.dumps({"operator": "ADMIN", "company_id": "EDU1", "page_size": 50}),
    )
    assert "were cleared" not in page.content.decode()
    connection.refresh_from_db()
    assert connection.credentials == PRODUCTION["syspro"]["credentials"]
    assert connection.refresh_token == REFRESH


def test_new_secrets_entered_with_the_change_are_bound_to_the_new_address(consultant_client):
    connection = production("syspro")
    new_url = "https://erp2.customer.example/SYSPROWCFService/Rest"
    change(
        consultant_client, connection, base_url=new_url, new_credentials="operator_password=n3w-one"
    )
    connection.refresh_from_db()
    assert connection.credentials == {"operator_password": "n3w-one"}  # the old ones are gone
    assert connection.secrets_origin == "production https://erp2.customer.example:443"
    assert connection.secrets_bound_here()


def test_the_service_clears_for_every_caller_not_only_the_admin():
    """API, commands and imports save through connection_save: the same rule applies."""
    connection = production("kashflow")
    connection.environment = "sandbox"
    connection.base_url = "http://127.0.0.1:9"
    assert connection_save(connection=connection) is True
    connection.refresh_from_db()
    assert connection.credentials == {} and not connection.refresh_token

    connection.name = "renamed"
    assert connection_save(connection=connection, new_credentials={"password": "x"}) is False
    connection.refresh_from_db()
    assert connection.credentials == {"password": "x"}


@pytest.mark.parametrize("how", ["bulk update", "model save"])
def test_a_connection_repointed_behind_the_service_gets_no_connector(
    consultant_client, local_server, how
):
    """Defence in depth: whatever moved the row, secrets bound elsewhere are not sent."""
    connection = production("syspro")
    recorder = local_server()
    if how == "bulk update":
        Connection.objects.filter(pk=connection.pk).update(
            environment="sandbox", base_url=recorder.url
        )
    else:
        connection.environment, connection.base_url = "sandbox", recorder.url
        connection.save()
    connection.refresh_from_db()
    assert connection.credentials  # still stored …

    html = press_test_connection(consultant_client, connection)
    assert recorder.seen == []  # … but nothing at all was sent to the new address
    assert "Enter them again" in html
    connection.refresh_from_db()
    assert connection.last_check_ok is False


def test_the_http_client_sends_nothing_to_another_origin(local_server):
    home, elsewhere = local_server(), local_server()
    http = HttpClient(home.url, auth=lambda: {"Authorization": f"Bearer {ACCESS}"})
    with pytest.raises(ConnectorError) as refused:
        http.request("GET", f"{elsewhere.url}/steal")
    assert refused.value.code == FOREIGN_HOST
    assert "not the address this connection was set up with" in refused.value.message
    assert elsewhere.seen == [] and home.seen == []
    assert http.request("GET", f"{home.url}/fine").status_code == 200  # same origin: sent


def test_secrets_are_bound_where_they_are_first_stored():
    """Any way a row gets its first secrets (a factory, the demo, a sign-in) binds them."""
    connection = production("xero")
    assert connection.secrets_origin == "production https://api.xero.com:443"
    assert connection.secrets_bound_here()


def test_the_migration_binds_the_secrets_rows_already_had():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("connectors.migrations.0003_connection_secrets_origin")
    connection = production("syspro")
    empty = Connection.objects.create(name="no secrets", system="syspro", base_url="http://x:1")
    Connection.objects.update(secrets_origin="")

    migration.bind_existing_secrets(apps, None)

    assert Connection.objects.get(pk=connection.pk).secrets_origin == (
        "production https://erp.customer.example:31002"
    )
    assert Connection.objects.get(pk=empty.pk).secrets_origin == ""


UNREADABLE = Sealed("fernet:lost-key$gAAAAABnot-a-token-any-key-opens")  # written as is


@pytest.mark.parametrize("column", ["credentials", "access_token", "token_extra"])
def test_secrets_no_key_opens_are_a_clear_error_wherever_a_connector_is_built(
    consultant_client, column
):
    """A run, the dashboard, the catalogue and "Test connection" all get a ConnectorError."""
    connection = production("xero")
    Connection.objects.filter(pk=connection.pk).update(**{column: UNREADABLE})
    fresh = Connection.objects.get(pk=connection.pk)

    with pytest.raises(ConnectorError) as refused:
        connector_for(fresh).test_connection()
    assert refused.value.code == "secrets_unreadable"
    assert "Or enter them again on the connection page" in refused.value.message

    assert "cannot be opened" in connection_headroom(connection=fresh).problem
    press_test_connection(consultant_client, fresh)
    ok, message = Connection.objects.values_list("last_check_ok", "last_check_message").get(
        pk=connection.pk
    )
    assert ok is False and "cannot be opened" in message


def test_a_running_connector_refuses_tokens_entered_for_a_new_address(local_server):
    """The token store reads the row on every call; a connector built for the old address
    (its HTTP client allows only that origin) must not pick up tokens entered for the new
    one while it runs."""
    old, new = local_server(), local_server()
    connection = production("xero")
    Connection.objects.filter(pk=connection.pk).update(
        environment="sandbox", base_url=old.url, secrets_origin=f"sandbox {old.url}"
    )
    connection.refresh_from_db()
    connector = connector_for(connection)
    assert connector.tokens.load().access_token == ACCESS

    # Meanwhile someone re-points the connection and signs in there again.
    connection.base_url = new.url
    assert connection_save(connection=connection) is True
    connection.access_token = "new-address-access-token-0123456789"
    connection.save()
    connection.refresh_from_db()
    assert connection.secrets_origin == f"sandbox {new.url}"

    with pytest.raises(ConnectorError) as refused:
        connector.tokens.load()
    assert refused.value.kind in ("auth", "config")
    assert "new-address-access-token" not in str(refused.value)
    with pytest.raises(ConnectorError):
        connector.tokens.refresh_locked(lambda current: current)
    assert old.seen == [] and new.seen == []
    connector.close()
