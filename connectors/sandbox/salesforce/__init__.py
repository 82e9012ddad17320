"""The Salesforce sandbox: ``app`` (REST routes), ``auth`` (OAuth 2.0 and JWT bearer),
``schema`` (sObjects, fields and their checks), ``rules`` (the org's validation rules
and triggers), ``soql`` (the query language), ``events`` (change data capture) and
``seed`` (the demo org)."""
