"""Checks on a connection's address, run when it is saved."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# Production credentials may only be sent to the vendor's own hosts. SYSPRO is
# installed on the customer's premises, so any host is allowed there.
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "xero": ("api.xero.com",),
    "salesforce": (".salesforce.com", ".force.com"),
    "kashflow": ("api.kashflow.com",),
}

_url = URLValidator(schemes=["http", "https"])


def host_is_vendor(system: str, host: str) -> bool:
    allowed = VENDOR_HOSTS.get(system)
    if allowed is None:
        return True
    return any(host == a or (a.startswith(".") and host.endswith(a)) for a in allowed)


def validate_base_url(*, system: str, environment: str, base_url: str) -> None:
    """Raise a ValidationError keyed on ``base_url`` when the address is unusable or unsafe."""
    try:
        _url(base_url)
    except ValidationError:
        raise ValidationError(
            {"base_url": f"'{base_url}' is not a valid http(s) address."}
        ) from None
    parts = urlsplit(base_url)
    if environment != "production":
        return
    host = (parts.hostname or "").lower()
    if not host_is_vendor(system, host):
        allowed = " or ".join(f"*{a}" if a.startswith(".") else a for a in VENDOR_HOSTS[system])
        raise ValidationError(
            {
                "base_url": (
                    f"A production {system.title()} connection must use {allowed}; "
                    f"'{host}' is not that vendor's host, so credentials will not be sent to it."
                )
            }
        )
    if parts.scheme != "https":
        raise ValidationError({"base_url": "A production connection must use https."})
