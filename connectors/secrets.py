"""Encryption of credentials at rest.

Follows Sentry's approach rather than a package that derives keys from
SECRET_KEY: keys of their own come from ``CLARITY_ENCRYPTION_KEYS`` (``id=key``
pairs, newest first), every stored value is tagged with the id of the key that
sealed it, so a key can be rotated without losing data
(``manage.py rotate_encryption_keys``). A value no configured key opens raises
:class:`SecretUnreadable`; it is never handed on as if it were the secret.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from connectors.errors import ConnectorError, ErrorKind
from connectors.redaction import register_secret

logger = logging.getLogger(__name__)

PREFIX = "fernet:"
DEV_KEY_ID = "dev"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys can open."""


@dataclass(frozen=True)
class Keyring:
    """The configured keys; the first one seals, all of them open."""

    keys: tuple[tuple[str, Fernet], ...]

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def seal(self, plaintext: str) -> str:
        key_id, fernet = self.keys[0]
        return f"{PREFIX}{key_id}${fernet.encrypt(plaintext.encode()).decode()}"

    def open(self, stored: str) -> str:
        key_id, token = parse_stored(stored)
        fernet = dict(self.keys).get(key_id)
        if fernet is None:
            raise SecretUnreadable(
                f"This secret was encrypted with key '{key_id}', which is not in "
                "CLARITY_ENCRYPTION_KEYS. Add that key back (after the newest) to read it."
            )
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                f"This secret does not open with key '{key_id}': the key configured under "
                "that id is not the one it was encrypted with, or the value was altered."
            ) from None


def secrets_unreadable(connection: Any, exc: SecretUnreadable) -> ConnectorError:
    """SecretUnreadable as the classified error every caller of a connector handles:
    a run, the dashboard or "Test connection" say what to do instead of failing."""
    return ConnectorError(
        ErrorKind.CONFIG,
        "secrets_unreadable",
        f"The stored secrets of the connection {connection.name} cannot be opened: {exc} "
        "Or enter them again on the connection page.",
    )


def parse_stored(stored: str) -> tuple[str, str]:
    """Split a stored value into (key id, token); refuse anything not sealed by us."""
    if not stored.startswith(PREFIX) or "$" not in stored:
        raise SecretUnreadable(
            "A stored secret is not in the encrypted format; it was written outside "
            "Clarity Connect or the column was edited by hand. Enter the secret again."
        )
    key_id, token = stored[len(PREFIX) :].split("$", 1)
    return key_id, token


def _parse_keys(entries: list[str]) -> tuple[tuple[str, Fernet], ...]:
    keys = []
    for entry in entries:
        key_id, sep, key = entry.partition("=")
        if not sep or not key_id.strip() or not key.strip():
            raise ImproperlyConfigured(
                "Each CLARITY_ENCRYPTION_KEYS entry must look like 'id=key' "
                "(make a key with `manage.py generate_encryption_key`)."
            )
        try:
            keys.append((key_id.strip(), Fernet(key.strip().encode())))
        except ValueError:
            raise ImproperlyConfigured(
                f"CLARITY_ENCRYPTION_KEYS entry '{key_id.strip()}' is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    if len({key_id for key_id, _ in keys}) != len(keys):
        raise ImproperlyConfigured("CLARITY_ENCRYPTION_KEYS names the same key id twice.")
    return tuple(keys)


def _dev_key_entry() -> str:
    """A per-checkout key for the embedded mode, kept next to the SQLite file."""
    path = Path(settings.VAR_DIR) / "dev-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return f"{DEV_KEY_ID}={path.read_text().strip()}"


@lru_cache(maxsize=8)
def _keyring_for(entries: tuple[str, ...]) -> Keyring:
    return Keyring(_parse_keys(list(entries)))


def keyring() -> Keyring:
    entries = tuple(settings.CLARITY_ENCRYPTION_KEYS)
    if not entries:
        if not settings.DEBUG:
            raise ImproperlyConfigured("CLARITY_ENCRYPTION_KEYS is not set.")
        entries = (_dev_key_entry(),)
    return _keyring_for(entries)


class Sealed(str):
    """Ciphertext as loaded from the database; opened on first access.

    Loading a row never needs the key, so a connection whose secret no
    configured key opens can still be listed, edited and given new secrets.
    """


class SealedAttribute(DeferredAttribute):
    """A data descriptor (it has __set__), so reads pass through it even when loaded."""

    field: EncryptedTextField  # the only field that uses it (its descriptor_class)

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Sealed):
            value = self.field.from_plaintext(keyring().open(value))
            if self.field.masked:
                register_secret(value)
            instance.__dict__[self.field.attname] = value
        return value


class EncryptedTextField(models.TextField[Any, Any]):  # text here, a dict for JSON below
    """A text column whose value is sealed before it reaches the database.

    Its values, once opened or sealed, are masked in every log line and error
    page of this process (``connectors.redaction``) unless ``masked=False``
    (sealed, but not secret enough to blank out everywhere: a tenant's name).
    """

    descriptor_class = SealedAttribute

    def __init__(self, *args: Any, masked: bool = True, **kwargs: Any) -> None:
        self.masked = masked
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if not self.masked:
            kwargs["masked"] = False
        return name, path, args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return Sealed(value) if value else ""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Read past the descriptor: an unopened value is written back as it was.
        return model_instance.__dict__.get(self.attname)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            return str(value)
        if not value:
            return ""
        if self.masked:
            register_secret(value)
        return keyring().seal(self.to_plaintext(value))

    def to_plaintext(self, value: Any) -> str:
        return str(value)

    def from_plaintext(self, plaintext: str) -> Any:
        return plaintext

    def get_lookup(self, lookup_name: str) -> Any:
        # Sealed values are not comparable; only "is there one" makes sense.
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)


class EncryptedJSONField(EncryptedTextField):
    """A dict of secrets, sealed as one JSON document."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return Sealed(value) if value else {}

    def to_plaintext(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True)

    def from_plaintext(self, plaintext: str) -> Any:
        return json.loads(plaintext)
