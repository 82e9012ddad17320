"""Credentials are sealed at rest, tagged with their key, rotatable, and never faked."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection as db

from connectors.models import Connection
from connectors.secrets import SecretUnreadable, keyring
from tests.factories import ConnectionFactory

KEY_1 = f"k1={Fernet.generate_key().decode()}"
KEY_2 = f"k2={Fernet.generate_key().decode()}"


def raw_columns(pk: int) -> tuple[str, str, str]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT credentials, access_token, refresh_token "
            "FROM connectors_connection WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


@pytest.fixture
def one_key(settings):
    settings.CLARITY_ENCRYPTION_KEYS = [KEY_1]


@pytest.mark.django_db
def test_secrets_are_ciphertext_in_the_database_tagged_with_the_key(one_key):
    conn = ConnectionFactory(
        credentials={"client_secret": "plain-secret-value"},
        access_token="access-token-value",
        refresh_token="refresh-token-value",
    )
    raw = raw_columns(conn.pk)
    for value in raw:
        assert value.startswith("fernet:k1$")
    joined = " ".join(raw)
    for secret in ("plain-secret-value", "access-token-value", "refresh-token-value"):
        assert secret not in joined

    fresh = Connection.objects.get(pk=conn.pk)
    assert fresh.credentials == {"client_secret": "plain-secret-value"}
    assert fresh.access_token == "access-token-value"
    assert fresh.refresh_token == "refresh-token-value"


@pytest.mark.django_db
def test_sql_logs_never_carry_a_secret(one_key, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    db.force_debug_cursor = True
    try:
        conn = ConnectionFactory(credentials={"password": "logged-never-123"})
        Connection.objects.get(pk=conn.pk).credentials  # noqa: B018 - opening must not log
    finally:
        db.force_debug_cursor = False
    assert "connectors_connection" in caplog.text  # the queries were logged …
    assert "logged-never-123" not in caplog.text  # … without the secret


@pytest.mark.django_db
def test_rotation_reseals_every_value_under_the_newest_key(settings):
    settings.CLARITY_ENCRYPTION_KEYS = [KEY_1]
    conn = ConnectionFactory(credentials={"password": "rotate-me"}, refresh_token="rt-1")
    untouched = ConnectionFactory(credentials={})

    settings.CLARITY_ENCRYPTION_KEYS = [KEY_2, KEY_1]
    call_command("rotate_encryption_keys")

    credentials, access, refresh = raw_columns(conn.pk)
    assert credentials.startswith("fernet:k2$")
    assert refresh.startswith("fernet:k2$")
    assert access == ""
    assert raw_columns(untouched.pk)[0] == ""

    settings.CLARITY_ENCRYPTION_KEYS = [KEY_2]  # the old key can now be dropped
    fresh = Connection.objects.get(pk=conn.pk)
    assert fresh.credentials == {"password": "rotate-me"}
    assert fresh.refresh_token == "rt-1"


@pytest.mark.django_db
def test_a_value_no_key_opens_raises_instead_of_passing_ciphertext_on(settings):
    settings.CLARITY_ENCRYPTION_KEYS = [KEY_1]
    conn = ConnectionFactory(credentials={"password": "only-k1-opens-this"})

    settings.CLARITY_ENCRYPTION_KEYS = [KEY_2]
    fresh = Connection.objects.get(pk=conn.pk)  # loading the row still works …
    assert fresh.name == conn.name
    with pytest.raises(SecretUnreadable, match="key 'k1', which is not in CLARITY_ENCRYPTION_KEYS"):
        fresh.credentials  # noqa: B018 - … opening the secret does not

    other_k1 = f"k1={Fernet.generate_key().decode()}"
    settings.CLARITY_ENCRYPTION_KEYS = [other_k1]
    with pytest.raises(SecretUnreadable, match="does not open with key 'k1'"):
        Connection.objects.get(pk=conn.pk).credentials  # noqa: B018


@pytest.mark.django_db
def test_rotation_stops_with_a_clear_error_when_a_secret_cannot_be_opened(settings):
    settings.CLARITY_ENCRYPTION_KEYS = [KEY_1]
    ConnectionFactory(credentials={"password": "x"})
    settings.CLARITY_ENCRYPTION_KEYS = [KEY_2]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="key 'k1'"):
        call_command("rotate_encryption_keys")


@pytest.mark.django_db
def test_a_secret_written_by_hand_in_plain_text_is_refused(one_key):
    conn = ConnectionFactory(credentials={})
    with db.cursor() as cursor:
        cursor.execute(
            "UPDATE connectors_connection SET credentials = %s WHERE id = %s",
            ['{"password": "typed-into-psql"}', conn.pk],
        )
    with pytest.raises(SecretUnreadable, match="not in the encrypted format"):
        Connection.objects.get(pk=conn.pk).credentials  # noqa: B018


@pytest.mark.parametrize(
    "entries, message",
    [
        (["no-equals-sign"], "must look like 'id=key'"),
        (["k1=not-a-fernet-key"], "not a valid Fernet key"),
        ([KEY_1, KEY_1], "same key id twice"),
    ],
)
def test_malformed_key_configuration_is_refused_with_a_message(settings, entries, message):
    settings.CLARITY_ENCRYPTION_KEYS = entries
    with pytest.raises(ImproperlyConfigured, match=message):
        keyring()
