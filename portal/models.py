"""Portal clients, their API tokens, and the orders they placed in SYSPRO.

A portal client is another program (a customer-facing web shop) that prices
and orders in SYSPRO on behalf of some customers. It authenticates with a
token of its own rather than a Django user: it never logs in to the admin.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from connectors.models import Connection, System

CODE_SEPARATORS = re.compile(r"[\s,;]+")


class PortalClient(models.Model):
    """A program allowed to price and order in one SYSPRO company for some customers."""

    name = models.CharField(max_length=100, unique=True)
    connection = models.ForeignKey(
        Connection,
        on_delete=models.PROTECT,
        limit_choices_to={"system": System.SYSPRO},
        related_name="portal_clients",
        help_text="The SYSPRO company this client prices and orders in.",
    )
    all_customers = models.BooleanField(
        default=False, help_text="Act for every SYSPRO customer (the list below is then ignored)."
    )
    customer_codes = models.TextField(
        blank=True,
        default="",
        help_text="The SYSPRO customer codes this client may act for, separated by commas, "
        "spaces or new lines.",
    )
    active = models.BooleanField(default=True, help_text="An inactive client's tokens are refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def customers(self) -> frozenset[str]:
        return frozenset(c.upper() for c in CODE_SEPARATORS.split(self.customer_codes) if c)

    def may_act_for(self, customer: str) -> bool:
        return self.all_customers or customer.upper() in self.customers

    def clean(self) -> None:
        if not self.all_customers and not self.customers:
            raise ValidationError(
                {
                    "customer_codes": "List the customers this client may act for, or tick "
                    "'all customers'."
                }
            )
        if self.connection_id and self.connection.system != System.SYSPRO:
            raise ValidationError({"connection": "Choose a SYSPRO connection."})


class PortalToken(models.Model):
    """An API token: only its SHA-256 digest is kept, so it is shown once when issued.

    The token is 256 random bits, so a plain digest (no salt, no slow hash)
    cannot be reversed or guessed, and it lets a request find its token by index.
    """

    client = models.ForeignKey(PortalClient, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell tokens apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False, help_text="A revoked token is refused.")

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.client})"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending (SYSPRO not yet answered)"
    PLACED = "placed", "Placed in SYSPRO"
    REJECTED = "rejected", "Rejected by SYSPRO"


class PortalOrder(models.Model):
    """One portal order reference and what SYSPRO made of it.

    Unique per (client, reference): a repeated or concurrent request finds this
    row and answers with its SYSPRO order number instead of posting again.
    ``pending`` means SYSPRO may or may not have the order (its answer was
    lost); the next attempt looks the reference up in SYSPRO before posting.
    """

    client = models.ForeignKey(PortalClient, on_delete=models.PROTECT, related_name="orders")
    reference = models.CharField(max_length=30)
    customer = models.CharField(max_length=15)
    request = models.JSONField(default=dict, help_text="The order as the portal sent it.")
    lines = models.JSONField(default=list, help_text="The lines as priced and sent to SYSPRO.")
    status = models.CharField(
        max_length=10, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    sales_order = models.CharField("SYSPRO sales order", max_length=20, blank=True, default="")
    error_code = models.CharField(max_length=50, blank=True, default="")
    message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("client", "reference"), name="portal_order_unique_reference"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.client})"
