"""Full scan: for sources (or entities) that mark no change, read every record and send
only those whose content differs from what the flow last saw.

Any connector can be scanned: ``Connector.read_all`` reads everything, and the
comparison is here, against ``SourceHash`` (one row per flow and source record).
Why not the ledger alone: its idempotency key would skip content that returns
to an earlier state (a price put back) as already delivered, and looking up
100,000 ledger rows per scan costs far more than one hash table keyed by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from clarity.models import Flow, SourceHash
from clarity.sync.keys import field_text, source_version


@dataclass(frozen=True)
class ScanPage:
    """A page's records whose content changed, their ledger versions, and what to remember."""

    records: list[dict[str, Any]]
    versions: list[str]
    unchanged: int
    seen: list[SourceHash]


def scan_page_changed(
    *, flow: Flow, records: Sequence[dict[str, Any]], source_key: str
) -> ScanPage:
    """The records of one page whose content hash differs from the one stored for them.

    A record's ledger version is its hash and its revision (how many content
    changes were seen), so a rerun after a crash gives the same version and the
    ledger skips what was sent, while content that comes back to an earlier
    state gets a new one.
    """
    latest: dict[str, tuple[dict[str, Any], str]] = {}
    for record in records:
        content = source_version(record, "")
        latest[field_text(record, source_key) or content] = (record, content)
    stored = _stored_hashes(flow.pk, list(latest))
    changed: list[dict[str, Any]] = []
    versions: list[str] = []
    seen: list[SourceHash] = []
    for source_id, (record, content) in latest.items():
        before, revision = stored.get(source_id, ("", 0))
        if content == before:
            continue
        changed.append(record)
        versions.append(f"{content}.{revision + 1}")
        seen.append(
            SourceHash(
                flow=flow, source_id=source_id[:200], content_hash=content, revision=revision + 1
            )
        )
    return ScanPage(changed, versions, len(records) - len(changed), seen)


def _stored_hashes(flow_id: int, source_ids: list[str]) -> dict[str, tuple[str, int]]:
    """The stored hash and revision of each of a page's records.

    On PostgreSQL the ids go as one array (``= ANY(%s)``): an ``IN`` of 1,000
    placeholders cost more to build than the rest of the page's work (psycopg splits
    long queries anew each time). Elsewhere (SQLite) the ORM's ``IN``.
    """
    if connection.vendor != "postgresql":
        rows = SourceHash.objects.filter(flow_id=flow_id, source_id__in=source_ids).values_list(
            "source_id", "content_hash", "revision"
        )
        return {source_id: (content_hash, revision) for source_id, content_hash, revision in rows}
    table = connection.ops.quote_name(SourceHash._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT source_id, content_hash, revision FROM {table} "  # noqa: S608 - our table
            "WHERE flow_id = %s AND source_id = ANY(%s)",
            [flow_id, source_ids],
        )
        return {source_id: (content_hash, revision) for source_id, content_hash, revision in cursor}


def scan_page_remember(*, seen: Sequence[SourceHash]) -> None:
    """Store what a page's changed records look like now, once their outcomes are stored."""
    SourceHash.objects.bulk_create(
        seen,
        update_conflicts=True,
        unique_fields=["flow", "source_id"],
        update_fields=["content_hash", "revision", "seen_at"],
        batch_size=1000,
    )
