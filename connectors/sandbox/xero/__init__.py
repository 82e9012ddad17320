"""The Xero sandbox: ``app`` (routes), ``auth`` (OAuth 2.0 tokens), ``schema`` (the
organisation's records and Xero's rules), ``query`` (``where``, ``order``), ``events``
(webhooks) and ``seed`` (the demo data)."""
