"""The Xero sandbox's OAuth 2.0 state: consents (grants), refresh and access tokens,
their lifetimes, and the scopes that grant each entity.
"""

from __future__ import annotations

from dataclasses import dataclass

REFRESH_TOKEN_TTL = 60 * 24 * 3600


CODE_TTL = 300


# Scopes that grant each entity; "<scope>.read" grants GET.
SCOPES = {
    "Contacts": ("accounting.contacts",),
    "Invoices": ("accounting.invoices", "accounting.transactions"),
    "Items": ("accounting.invoices", "accounting.settings", "accounting.transactions"),
    "Payments": ("accounting.payments", "accounting.transactions"),
    "ManualJournals": ("accounting.manualjournals", "accounting.transactions"),
    "Accounts": ("accounting.settings",),
    "TaxRates": ("accounting.settings",),
    "Organisation": ("accounting.settings",),
}


@dataclass
class Grant:
    """One consent: the refresh tokens and access tokens descending from it."""

    client_id: str
    scope: str
    auth_event_id: str
    user_id: str
    revoked: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    expires: float
    rotated_at: float | None = None


@dataclass
class AccessToken:
    grant: Grant
    expires: float
