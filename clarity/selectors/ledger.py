"""Reads of the ledger that must stay fast at millions of rows."""

from __future__ import annotations

from django.db import connection

from clarity.models import SyncRecord


def ledger_error_codes(*, limit: int = 200) -> list[str]:
    """The distinct error codes in the ledger.

    A plain DISTINCT reads every row; this walks the ``error_code`` index one
    value at a time (a "loose index scan"), so it costs one index probe per code.
    """
    table = SyncRecord._meta.db_table
    sql = f"""
        WITH RECURSIVE codes(code) AS (
            SELECT MIN(error_code) FROM {table} WHERE error_code > ''
            UNION ALL
            SELECT (SELECT MIN(error_code) FROM {table} WHERE error_code > codes.code)
            FROM codes WHERE codes.code IS NOT NULL
        )
        SELECT code FROM codes WHERE code IS NOT NULL LIMIT %s
    """  # noqa: S608 - the table name comes from the model, not from input
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]
