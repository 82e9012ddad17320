"""The KashFlow sandbox (REST API v2): ``app`` (routes), ``auth`` (two-step logon and
sessions), ``schema`` (records and their fields) and ``seed`` (the demo data)."""
