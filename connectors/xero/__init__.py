"""Xero: OAuth 2.0 connect flow, the connector, its catalogue, error table and webhooks."""

from connectors.xero.auth import XeroTenant, authorization_url, exchange_code, xero_config
from connectors.xero.connector import XeroConnector, xero_connector
from connectors.xero.webhooks import verify_webhook

__all__ = [
    "XeroConnector",
    "XeroTenant",
    "authorization_url",
    "exchange_code",
    "verify_webhook",
    "xero_config",
    "xero_connector",
]
