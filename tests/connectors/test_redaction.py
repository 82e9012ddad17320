"""No secret reaches a log line (at any level) or an error page; odd input is a form error."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import get_exception_reporter_class, technical_500_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors.sandbox.syspro.app as syspro_sandbox
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.redaction import MASK, redact
from connectors.services import xero_connect_finish, xero_connect_start

pytestmark = pytest.mark.django_db

XERO_CALLBACK = "http://localhost:8000/admin/connectors/connection/xero/callback/"
XERO_SECRET = "xero-client-secret-for-log-tests"
OPERATOR_PASSWORD = "Operator-Pa55word-for-logs"
COMPANY_PASSWORD = "Company-Pa55word-for-logs"
ADD_URL = reverse("admin:connectors_connection_add")


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Every logger at DEBUG (urllib3, requests-oauthlib, oauthlib …) into a plain handler.

    The handler has no filter of its own: what it gets is what any handler would.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    names = [
        "",
        "urllib3",
        "urllib3.connectionpool",
        "requests_oauthlib",
        "oauthlib",
        *logging.root.manager.loggerDict,
    ]
    loggers = [logging.getLogger(name) for name in names]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)
    for lg, level in levels:
        lg.setLevel(level)


def test_a_xero_token_refresh_at_debug_logs_no_secret(sandbox, every_log_line):
    server = sandbox("xero", client_secret=XERO_SECRET)
    connection = Connection.objects.create(
        name="Xero",
        system="xero",
        base_url=server.url,
        credentials={"client_id": "sandbox-client-id", "client_secret": XERO_SECRET},
    )
    url, state = xero_connect_start(connection=connection, redirect_uri=XERO_CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(
        connection=connection,
        redirect_uri=XERO_CALLBACK,
        callback_url=consent.headers["Location"],
        state=state,
    )
    connection.refresh_from_db()
    spent = [connection.access_token, connection.refresh_token]
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() - timedelta(hours=1)
    )

    check = connector_for(Connection.objects.get(pk=connection.pk)).test_connection()
    assert check.reachable and check.kind is None, check.message

    connection.refresh_from_db()
    fresh = [connection.access_token, connection.refresh_token]
    assert fresh != spent  # the refresh happened and rotated the pair
    logged = every_log_line.getvalue()
    assert "Request body was" in logged and "connectionpool" in logged  # DEBUG was on
    code = consent.headers["Location"].split("code=")[1].split("&")[0]
    for secret in [XERO_SECRET, *spent, *fresh, code]:
        assert secret not in logged


def test_a_syspro_logon_at_debug_logs_no_password_and_no_session(sandbox, every_log_line):
    server = sandbox(
        "syspro",
        operators={"ADMIN": {"password": OPERATOR_PASSWORD, "modules": ["AR", "IN", "SO", "COM"]}},
        company_password=COMPANY_PASSWORD,
    )
    connection = Connection.objects.create(
        name="SYSPRO",
        system="syspro",
        base_url=server.url + syspro_sandbox.ROOT,
        settings={"operator": "ADMIN", "company_id": "EDU1"},
        credentials={
            "operator_password": OPERATOR_PASSWORD,
            "company_password": COMPANY_PASSWORD,
        },
    )
    check = connector_for(Connection.objects.get(pk=connection.pk)).test_connection()
    assert check.reachable and check.kind is None, check.message

    session = Connection.objects.get(pk=connection.pk).access_token
    logged = every_log_line.getvalue()
    assert "Logon?" in logged  # urllib3 logged the logon URL …
    for secret in (OPERATOR_PASSWORD, COMPANY_PASSWORD, session):
        assert secret not in logged  # … with the passwords and the session masked


@pytest.mark.parametrize(
    "line, secret",
    [
        ("GET /Rest/Logon?Operator=ADMIN&OperatorPassword=demo&CompanyId=EDU1", "demo"),
        ("Request body was grant_type=refresh_token&refresh_token=r-123&client_id=x", "r-123"),
        ("Adding token {'access_token': 'eyJ0eXAi', 'token_type': 'Bearer'}", "eyJ0eXAi"),
        ('content {"access_token":"a-9","refresh_token":"b-9","expires_in":1800}', "b-9"),
        ("headers {'Authorization': 'Bearer eyJhbGciOiJ9.x.y'}", "eyJhbGciOiJ9"),
        ("headers {'Authorization': 'KfToken 0f3a-99-token'}", "0f3a-99-token"),
        ("POST /token code=AUTHCODE123&state=s", "AUTHCODE123"),
        ("<CompanyPassword>pw1</CompanyPassword>", "pw1"),
        ('{"webhook_key": "k-1", "client_secret": "s-1"}', "k-1"),
    ],
)
def test_credential_looking_values_are_masked_even_when_never_seen_before(line, secret):
    masked = redact(line)
    assert secret not in masked and MASK in masked


# -- error pages ----------------------------------------------------------------


def test_a_500_while_saving_a_connection_shows_no_secret_on_the_debug_page(
    consultant_client, settings, monkeypatch
):
    """The issue's repro: the save fails after the stored secrets were opened and merged."""
    old, new = "0ld-Stored-Secret-Value", "N3w-Typed-Secret-Value"
    connection = Connection.objects.create(
        name="Xero",
        system="xero",
        base_url="http://127.0.0.1:9",
        credentials={"client_secret": old},
    )

    def explode(self, *args, **kwargs):
        raise RuntimeError("boom while saving")

    monkeypatch.setattr(Connection, "save", explode)
    settings.DEBUG = True
    consultant_client.raise_request_exception = False
    response = consultant_client.post(
        reverse("admin:connectors_connection_change", args=[connection.pk]),
        {
            "name": "Xero",
            "system": "xero",
            "environment": "sandbox",
            "base_url": "http://127.0.0.1:9",
            "settings": "{}",
            "new_credentials": f"client_secret={new}\napi_note={new}-2",
        },
    )
    assert response.status_code == 500
    html = response.content.decode()
    assert "boom while saving" in html and "connection_save" in html  # the frames are there
    for secret in (old, new):
        assert secret not in html


def test_secrets_held_under_any_name_deep_in_a_call_are_masked_in_reports():
    """Values opened from the database are masked by value: in frames, messages and text."""
    secret = "Deep-Operator-Pa55word"
    row = Connection.objects.create(
        name="SYSPRO", system="syspro", base_url="http://127.0.0.1:9", credentials={"x": secret}
    )
    connection = Connection.objects.get(pk=row.pk)

    def deep_in_a_connector() -> None:
        value = connection.credentials["x"]  # opened here: a name no filter would guess
        header = f"Basic {value}"
        records = [{"note": value}, (value,)]
        assert header and records
        raise RuntimeError(f"the server refused {value}")

    request = RequestFactory().post("/x", {"password": secret, "other": secret})
    try:
        deep_in_a_connector()
    except RuntimeError:
        exc_info = sys.exc_info()
    reporter = get_exception_reporter_class(request)(request, *exc_info)
    html, text = reporter.get_traceback_html(), reporter.get_traceback_text()
    page = technical_500_response(request, *exc_info).content.decode()
    assert "deep_in_a_connector" in html and "records" in html
    for report in (html, text, page):
        assert secret not in report


# -- odd input is a form error ---------------------------------------------------


def form_data(**overrides: str) -> dict[str, str]:
    return {
        "name": "Xero sandbox",
        "system": "xero",
        "environment": "sandbox",
        "base_url": "http://127.0.0.1:9",
        "settings": '{"client_id": "ABC"}',
        "new_credentials": "client_secret=Form-Secret-Value",
        **overrides,
    }


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Xero\x00live"),
        ("name", "Xero\x1blive"),
        ("base_url", "http://127.0.0.1:9/\x00"),
        ("settings", '{"client_id": "A\\u0000B"}'),
        ("settings", '{"a\\u0000": 1}'),
        ("settings", '{"nested": [{"x": "\\ud800"}]}'),
        ("settings", '{"x": "\\u0007"}'),
        ("new_credentials", "client_secret=abc\x00def"),
        ("new_credentials", "client_secret=abc\x07def"),
    ],
)
def test_control_characters_in_any_field_are_a_form_error(consultant_client, field, value):
    response = consultant_client.post(ADD_URL, form_data(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Connection.objects.exists()
    assert "Form-Secret-Value" not in response.content.decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
form_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=form_text,
    base_url=form_text | st.builds("http://127.0.0.1:{}/{}".format, st.integers(), form_text),
    system=st.sampled_from(["syspro", "xero", "salesforce", "kashflow", "sap"]),
    environment=st.sampled_from(["sandbox", "production", "x"]),
    settings_json=json_values.map(json.dumps) | form_text,
    credentials=form_text,
)
def test_no_connection_form_input_is_a_server_error(
    consultant_client, name, base_url, system, environment, settings_json, credentials
):
    response = consultant_client.post(
        ADD_URL,
        {
            "name": name,
            "system": system,
            "environment": environment,
            "base_url": base_url,
            "settings": settings_json,
            "new_credentials": credentials,
        },
    )
    assert response.status_code in (200, 302)
