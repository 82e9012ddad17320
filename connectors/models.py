"""Connections to external systems: where they are and how to authenticate."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from connectors.agents.transport import agent_settings_problem
from connectors.http import origin_of
from connectors.secrets import EncryptedJSONField, EncryptedTextField
from connectors.validators import validate_base_url, validate_json_text, validate_single_line


class System(models.TextChoices):
    XERO = "xero", "Xero"
    SYSPRO = "syspro", "SYSPRO"
    KASHFLOW = "kashflow", "KashFlow"
    SALESFORCE = "salesforce", "Salesforce"


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    PRODUCTION = "production", "Production"


SECRET_FIELDS = ("credentials", "access_token", "refresh_token", "token_extra")


class Connection(models.Model):
    """One account in one external system.

    ``settings`` holds what is safe to show (client id, tenant, company);
    ``credentials`` and the tokens are sealed at rest and never shown back.
    ``secrets_origin`` binds them to the environment and address (scheme, host,
    port) they were entered for: re-pointing a connection clears them
    (``connection_save``), and a connection whose secrets are bound elsewhere
    gets no connector at all, so a production password never follows a
    connection to another host.
    """

    system = models.CharField(max_length=20, choices=System.choices)
    name = models.CharField(max_length=100, unique=True, validators=[validate_single_line])
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.SANDBOX
    )
    base_url = models.CharField(
        "base URL",
        max_length=300,
        validators=[validate_single_line],
        help_text="The API's root address, e.g. https://api.xero.com",
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_json_text],
        help_text="Non-secret settings such as client id, tenant id or company id.",
    )
    credentials = EncryptedJSONField(default=dict, blank=True)
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    token_extra = EncryptedJSONField(
        masked=False,
        default=dict,
        blank=True,
        help_text="What the system returned with its tokens (tenant, instance URL).",
    )
    token_expires_at = models.DateTimeField(null=True, blank=True)
    secrets_origin = models.CharField(
        max_length=400,
        blank=True,
        default="",
        editable=False,
        help_text="The environment and scheme://host:port the stored secrets were entered for.",
    )
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.get_system_display()}, {self.get_environment_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Secrets stored for the first time (a new row, a first sign-in) are bound to
        # where the connection points now; re-binding is connection_save's job alone.
        if not self.secrets_origin and self.has_stored_secrets():
            self.secrets_origin = self.secrets_binding()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "secrets_origin"}
        super().save(*args, **kwargs)

    def secrets_binding(self) -> str:
        """Where secrets entered now would be bound: the environment and the base URL's origin."""
        return f"{self.environment} {origin_of(self.base_url)}"

    def has_stored_secrets(self) -> bool:
        """Whether any credential or token is stored, without opening (decrypting) them."""
        return any(self.__dict__.get(name) for name in SECRET_FIELDS)

    def secrets_bound_here(self) -> bool:
        """False when stored secrets were entered for another environment or address."""
        return not self.has_stored_secrets() or self.secrets_origin == self.secrets_binding()

    def clean(self) -> None:
        if not isinstance(self.settings, dict):
            raise ValidationError(
                {"settings": 'Settings are a JSON object, e.g. {"client_id": "…"}, or empty.'}
            )
        if problem := agent_settings_problem(self.system, self.settings):
            raise ValidationError({"settings": problem})
        if self.system and self.base_url:
            validate_base_url(
                system=self.system, environment=self.environment, base_url=self.base_url
            )


# The agent model lives in its own package and registers with this app when imported.
from connectors.agents.models import Agent  # noqa: E402, F401
