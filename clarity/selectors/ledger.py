"""Reads of the ledger that must stay fast at millions of rows."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from clarity.models import Flow, SyncRecord


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


def ledger_search(*, records: QuerySet[SyncRecord], term: str) -> QuerySet[SyncRecord]:
    """Records whose source id, target id or business key is exactly the term.

    Exact matches on indexed keys: a LIKE over a million rows is never fast.
    The admin's search box and the REST API's ``search`` both go through here.
    """
    term = term.strip()
    if not term:
        return records
    return records.filter(Q(source_id=term) | Q(target_id=term) | Q(business_key=term))


def ledger_records_filter(
    *,
    pair_id: int | None = None,
    flow_id: int | None = None,
    status: str = "",
    error_kind: str = "",
    error_code: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    search: str = "",
) -> QuerySet[SyncRecord]:
    """The ledger narrowed by the admin's filters; each one is served by an index ending in -id."""
    exact = {
        "pair_id": pair_id,
        "flow_id": flow_id,
        "status": status,
        "error_kind": error_kind,
        "error_code": error_code,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    records = SyncRecord.objects.filter(**{k: v for k, v in exact.items() if v not in (None, "")})
    return ledger_search(records=records, term=search)


def flow_labels() -> dict[int, str]:
    """``{flow id: "Pair: Flow"}`` in one query: flows are few, ledger rows are many."""
    flows = Flow.objects.values_list("pk", "pair__name", "name").order_by("pair__name", "name")
    return {pk: f"{pair}: {name}" for pk, pair, name in flows}


@dataclass(frozen=True)
class LookupMiss:
    """What a ``lookup_missing`` failure lacks: the table, and the value (None if it had none)."""

    table: str
    value: str | None


SHOWN_VALUE_CHARS = 60  # the engine quotes a value in at most this many characters (problems.show)
# The engine's wording (mappings.engine.lookups), today's and the one older rows still carry.
_LOOKUP_MISS = (
    re.compile(r'No entry for (?P<value>.+?) in the lookup table "(?P<table>[^"]+)"'),
    re.compile(r'no entry for (?P<value>.+?) in lookup "(?P<table>[^"]+)"'),
    re.compile(r'(?i:no value) to look up in (?:the lookup table|lookup) "(?P<table>[^"]+)"'),
)


def lookup_missing_parts(message: str) -> LookupMiss | None:
    """Read table and value back from a ``lookup_missing`` message, so the page can link to them.

    The value is quoted the Python way (``'EFT'``, ``42``); one cut short for
    length (``'ABC...``) is not read back, and the table alone is returned.
    """
    for pattern in _LOOKUP_MISS:
        match = pattern.search(message)
        if match is None:
            continue
        quoted = match.groupdict().get("value")
        value: str | None = None
        if quoted is not None:
            try:
                literal = ast.literal_eval(quoted)
            except (ValueError, SyntaxError):
                literal = None
            cut = "..." in quoted and len(quoted) >= SHOWN_VALUE_CHARS
            value = str(literal) if isinstance(literal, str | int) and not cut else None
        return LookupMiss(table=match["table"], value=value)
    return None
