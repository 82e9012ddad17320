"""SYSPRO 8 over e.net: the connector, its catalogue, wire format, error rules, writers and
the portal's pricing."""

from connectors.syspro.connector import SysproConnector, syspro_connector
from connectors.syspro.pricing import CustomerPrices, StockPrice
from connectors.syspro.pricing import customer_prices as syspro_customer_prices

__all__ = [
    "CustomerPrices",
    "StockPrice",
    "SysproConnector",
    "syspro_connector",
    "syspro_customer_prices",
]
