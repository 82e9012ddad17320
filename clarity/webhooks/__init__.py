"""Webhook ingress: Xero webhooks and Salesforce change events, stored first, acted on by a job."""
