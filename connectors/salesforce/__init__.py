"""Salesforce over REST: the connector, its auth, catalogue, SOQL, error table and the
comparison that leaves unchanged records unwritten."""

from connectors.salesforce.connector import SalesforceConnector, salesforce_connector

__all__ = ["SalesforceConnector", "salesforce_connector"]
