"""KashFlow REST API v2: the connector, its catalogue, error table and record shapes."""

from connectors.kashflow.connector import KashFlowConnector, kashflow_connector
from connectors.kashflow.records import payment_reference

__all__ = ["KashFlowConnector", "kashflow_connector", "payment_reference"]
