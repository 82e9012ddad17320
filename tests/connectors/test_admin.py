"""The connection admin: secrets are write-only, bad addresses are form errors."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from connectors.models import Connection
from tests.factories import ConnectionFactory

SECRET = "tr0ub4dor-and-3-more-words"
ADD_URL = reverse("admin:connectors_connection_add")


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Xero live",
        "system": "xero",
        "environment": "production",
        "base_url": "https://api.xero.com/api.xro/2.0",
        "settings": '{"client_id": "ABC"}',
        "new_credentials": f"client_secret={SECRET}",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_a_consultant_stores_a_secret_and_can_never_read_it_back(consultant_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = consultant_client.post(ADD_URL, form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = Connection.objects.get(name="Xero live")
    assert conn.credentials == {"client_secret": SECRET}

    pages = [
        reverse("admin:connectors_connection_change", args=[conn.pk]),
        reverse("admin:connectors_connection_changelist"),
        reverse("admin:connectors_connection_history", args=[conn.pk]),
        reverse("admin:connectors_connection_delete", args=[conn.pk]),
    ]
    for url in pages:
        html = consultant_client.get(url).content.decode()
        assert SECRET not in html, url
    change_page = consultant_client.get(pages[0]).content.decode()
    assert "<code>client_secret</code>" in change_page  # the name is shown, not the value
    assert SECRET not in caplog.text


@pytest.mark.django_db
def test_saving_without_new_credentials_keeps_the_stored_ones(consultant_client):
    conn = ConnectionFactory(credentials={"password": "keep-me"}, refresh_token="rt")
    url = reverse("admin:connectors_connection_change", args=[conn.pk])
    data = {
        "name": conn.name,
        "system": conn.system,
        "environment": "sandbox",
        "base_url": conn.base_url,
        "settings": "{}",
        "new_credentials": "",
    }
    assert consultant_client.post(url, data).status_code == 302
    conn.refresh_from_db()
    assert conn.credentials == {"password": "keep-me"}
    assert conn.refresh_token == "rt"

    data["new_credentials"] = "company_password=new-one"
    consultant_client.post(url, data)
    conn.refresh_from_db()
    assert conn.credentials == {"password": "keep-me", "company_password": "new-one"}

    data.update(new_credentials="", forget_secrets="on")
    consultant_client.post(url, data)
    conn.refresh_from_db()
    assert conn.credentials == {}
    assert conn.refresh_token == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"base_url": "https://evil.example.com/api"}, "base_url", "not that vendor"),
        ({"base_url": "http://api.xero.com/api.xro/2.0"}, "base_url", "must use https"),
        ({"base_url": "not a url"}, "base_url", "not a valid http(s) address"),
        ({"system": "sap"}, "system", "not one of the available choices"),
        (
            {"system": "salesforce", "base_url": "https://login.example.org"},
            "base_url",
            "not that vendor",
        ),
        (
            {"system": "kashflow", "base_url": "https://kashflow.evil.io"},
            "base_url",
            "not that vendor",
        ),
        ({"new_credentials": "this line has no equals sign"}, "new_credentials", "name=value"),
    ],
)
def test_bad_connection_input_is_a_form_error_and_saves_nothing(
    consultant_client, overrides, field, message
):
    response = consultant_client.post(ADD_URL, form_data(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert not Connection.objects.exists()
    assert SECRET not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "system, base_url",
    [
        ("syspro", "https://erp.customer.internal:31002/SYSPROWCFService/Rest"),
        ("salesforce", "https://acme.my.salesforce.com"),
        ("xero", "https://api.xero.com/api.xro/2.0"),
        ("kashflow", "https://api.kashflow.com/v2"),
    ],
)
def test_production_connections_on_allowed_hosts_save(consultant_client, system, base_url):
    response = consultant_client.post(ADD_URL, form_data(system=system, base_url=base_url))
    assert response.status_code == 302
    assert Connection.objects.get().base_url == base_url


@pytest.mark.django_db
def test_a_debug_error_page_never_shows_posted_credentials(
    consultant_client, settings, monkeypatch
):
    """Django's technical 500 page lists POST data; ours masks anything secret-looking."""
    from connectors.admin import ConnectionAdmin

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ConnectionAdmin, "save_model", explode)
    settings.DEBUG = True
    consultant_client.raise_request_exception = False
    response = consultant_client.post(ADD_URL, form_data())
    assert response.status_code == 500
    html = response.content.decode()
    assert "boom" in html and "new_credentials" in html
    assert SECRET not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "settings_text",
    [
        "[" * 5_000 + "]" * 5_000,  # RecursionError in json.loads
        '{"n": ' + "9" * 5_000 + "}",  # ValueError: past the int digit limit
        '{"n": NaN}',
        '{"n": -Infinity}',
        '{"n": 1e400}',
    ],
)
def test_settings_that_cannot_be_read_or_stored_are_a_form_error(consultant_client, settings_text):
    response = consultant_client.post(ADD_URL, form_data(settings=settings_text))
    assert response.status_code == 200
    assert "These settings cannot be read" in response.content.decode()
    assert not Connection.objects.filter(name="Xero live").exists()
