"""Entities synced both ways: no echo of our own writes, and a rule for conflicting edits.

When a pair syncs an entity in both directions (KashFlow customers → Accounts
and Accounts → KashFlow customers), each flow's ledger is the other's
cross-reference: a row whose target is known (``TARGET_KNOWN``: delivered, or linked
to a record the target already held) links a record in one system to its twin in the
other, and holds what was last read from, or written to, each side.

* **Echo suppression.** A record we wrote comes back as a change on the next
  poll of that system. Before it is sent, its mapped payload is compared with
  what the other side is known to hold (the twin as last read there, or as we
  last wrote it, whichever is newer). When every field is already equal there
  is nothing to send, and the row is skipped as "no change": the ping-pong
  ends after one round, and a system's own edit, which changes a mapped field,
  still goes through.
* **Conflicting edits.** Both twins changed since the last sync when the
  counterpart flow has read a change of the twin that it has not delivered
  yet — or, for a flow whose target is the truth, when the twin as the target
  holds it now (read just before sending) differs, in the fields about to be
  sent, from what Clarity last knew of it. The flow's ``source_of_truth``
  decides: when this flow's target is the truth, this change is skipped with a
  message naming the one that wins; when its source is, this change is sent
  and the counterpart's pending change is skipped as superseded, so it cannot
  overwrite it afterwards. The two flows
  must agree on which system is the truth (``Flow.clean`` checks it); the
  counterpart is ``Flow.counterpart()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import Q
from django.utils import timezone

from clarity.models import Flow, RecordStatus, SourceOfTruth, SyncRecord
from clarity.models.ledger import SETTLED, TARGET_KNOWN
from clarity.sync import outcomes
from connectors.compare import already_held
from connectors.errors import ConnectorError

ReadOne = Callable[[str, str], dict[str, Any] | None]


def settle_both_ways(
    flow: Flow, other: Flow, rows: Sequence[SyncRecord], read_target: ReadOne
) -> tuple[list[SyncRecord], list[SyncRecord]]:
    """Split transformed rows into (to send, skipped here) by the rules above.

    ``read_target`` is the target connector's ``read_one``: called only for a
    change about to be sent by a flow whose target is the truth.
    """
    if not rows:
        return [], []
    source_ids = {r.source_id for r in rows}
    ours = _latest(
        SyncRecord.objects.filter(
            flow=flow, source_id__in=source_ids, status__in=TARGET_KNOWN
        ).exclude(target_id=""),
        "source_id",
    )
    theirs = _latest(
        SyncRecord.objects.filter(flow=other, target_id__in=source_ids, status__in=TARGET_KNOWN),
        "target_id",
    )
    twins = {s: ours[s]["target_id"] if s in ours else theirs[s]["source_id"]
             for s in source_ids if s in ours or s in theirs}  # fmt: skip
    reads = _latest(
        SyncRecord.objects.filter(flow=other, source_id__in=set(twins.values())), "source_id"
    )
    send: list[SyncRecord] = []
    skipped: list[SyncRecord] = []
    superseded: list[int] = []
    for row in rows:
        written = ours.get(row.source_id)
        if written is not None and written["status"] != RecordStatus.SUCCEEDED:
            written = None  # linked to what the target held: nothing of ours was written there
        read = reads.get(twins.get(row.source_id, ""))
        read_is_newer = read is not None and (written is None or read["id"] > written["id"])
        if written is None and read is None:
            send.append(row)
        elif covers(
            read["source_payload"] if read_is_newer else written["transformed_payload"],
            row.transformed_payload,
        ):
            known = read["id"] if read_is_newer else written["id"]
            outcomes.mark_skipped(
                row,
                reason=f"No change to send: {flow.target_connection.name} already holds these "
                f"values (see record #{known}). A change Clarity wrote is not synced back.",
            )
            skipped.append(row)
        elif read_is_newer and read["status"] not in SETTLED:
            # Both changed: the twin's change is read but not delivered here yet.
            if flow.source_of_truth == SourceOfTruth.TARGET:
                _lose(row, flow, f"its change (record #{read['id']})")
                skipped.append(row)
            else:
                superseded.append(read["id"])
                send.append(row)
        elif flow.source_of_truth == SourceOfTruth.TARGET and _changed_since(
            read_target,
            flow.target_entity,
            twins[row.source_id],
            read["source_payload"] if read_is_newer else written["transformed_payload"],
            row.transformed_payload,
        ):
            _lose(row, flow, "its current version")
            skipped.append(row)
        else:
            send.append(row)
    if superseded:
        _supersede(superseded, winner=flow)
    return send, skipped


def _lose(row: SyncRecord, flow: Flow, winner: str) -> None:
    source, target = flow.source_connection.name, flow.target_connection.name
    outcomes.mark_skipped(
        row,
        reason=f"Changed in both {source} and {target} since the last sync; {target} is the "
        f"source of truth, so {winner} wins.",
    )


def _changed_since(
    read_target: ReadOne, entity: str, twin_id: str, known: dict[str, Any], wanted: dict[str, Any]
) -> bool:
    """Whether the twin, as the target holds it now, differs from ``known`` where we would write.

    Only the fields about to be sent count: the rest (version stamps, fields
    no mapping touches) change without any conflict.
    """
    try:
        current = read_target(entity, twin_id)
    except ConnectorError:
        return False  # cannot tell; the write itself meets the same trouble and says so
    if current is None:
        return False
    return any(
        not covers(current.get(name), known.get(name))
        or not covers(known.get(name), current.get(name))
        for name in wanted
    )


def _supersede(row_ids: list[int], *, winner: Flow) -> None:
    """The counterpart's pending changes lose the conflict: skip them unless a worker holds them."""
    now = timezone.now()
    SyncRecord.objects.filter(pk__in=row_ids).exclude(status__in=SETTLED).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    ).update(
        status=RecordStatus.SKIPPED,
        error_kind="",
        error_code="",
        next_retry_at=None,
        message=f"Changed in both systems since the last sync; {winner.source_connection.name} "
        f"is the source of truth, so its change was sent by flow '{winner.name}' instead.",
        updated_at=now,
    )


def _latest(rows: Any, key: str) -> dict[str, dict[str, Any]]:
    """The newest row per ``key`` value (ids grow with time)."""
    latest: dict[str, dict[str, Any]] = {}
    fields = ("id", "status", "source_id", "target_id", "source_payload", "transformed_payload")
    for row in rows.order_by("-id").values(*fields):
        latest.setdefault(row[key], row)
    return latest


def covers(known: Any, wanted: Any) -> bool:
    """Whether ``known`` already holds every value of ``wanted`` (extra fields don't matter),
    by the one rule set of ``connectors.compare``."""
    return already_held(wanted, known)
