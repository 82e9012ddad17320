"""Connections to external systems: where they are and how to authenticate."""

from __future__ import annotations

from django.db import models

from connectors.secrets import EncryptedJSONField, EncryptedTextField
from connectors.validators import validate_base_url


class System(models.TextChoices):
    XERO = "xero", "Xero"
    SYSPRO = "syspro", "SYSPRO"
    KASHFLOW = "kashflow", "KashFlow"
    SALESFORCE = "salesforce", "Salesforce"


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    PRODUCTION = "production", "Production"


class Connection(models.Model):
    """One account in one external system.

    ``settings`` holds what is safe to show (client id, tenant, company);
    ``credentials`` and the tokens are sealed at rest and never shown back.
    """

    system = models.CharField(max_length=20, choices=System.choices)
    name = models.CharField(max_length=100, unique=True)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.SANDBOX
    )
    base_url = models.CharField(
        "base URL", max_length=300, help_text="The API's root address, e.g. https://api.xero.com"
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings such as client id, tenant id or company id.",
    )
    credentials = EncryptedJSONField(default=dict, blank=True)
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    token_extra = EncryptedJSONField(
        default=dict,
        blank=True,
        help_text="What the system returned with its tokens (tenant, instance URL).",
    )
    token_expires_at = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.get_system_display()}, {self.get_environment_display()})"

    def clean(self) -> None:
        if self.system and self.base_url:
            validate_base_url(
                system=self.system, environment=self.environment, base_url=self.base_url
            )
