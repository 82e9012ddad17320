"""Change Data Capture: one change event per committed change, in the real message shape.

The events go to subscribers over the Pub/Sub API only (``pubsub/``), as Salesforce
delivers them (CometD or gRPC, no HTTP webhooks [P] shared/systems/salesforce.md "Change
events"); the app also keeps the last 500 in ``events`` for tests that run it in-process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors.sandbox.core import SandboxApp
from connectors.sandbox.salesforce.schema import Transaction


class ChangeEvents(SandboxApp):
    """Change Data Capture: the event of each committed change, in commit order."""

    events: list[dict[str, Any]]
    replay: Iterator[int]

    def announce(
        self,
        tx: Transaction,
        sobject: str,
        record: Mapping[str, Any] | None,
        before: Mapping[str, Any] | None,
        user_id: str,
    ) -> None:
        """A Change Data Capture message for one committed change (sent after commit)."""
        changed: list[str]
        if record is None:
            change_type, changed, body = "DELETE", [], {}
        elif before is None:
            change_type, changed = "CREATE", []
            body = {
                k: v for k, v in record.items() if v is not None and k not in ("Id", "IsDeleted")
            }
        else:
            change_type = "UPDATE"
            changed = [k for k, v in record.items() if before.get(k) != v and k != "SystemModstamp"]
            body = {k: record[k] for k in changed}
        record_id = (record or before or {})["Id"]
        header: dict[str, Any] = {
            "entityName": sobject,
            "recordIds": [record_id],
            "changeType": change_type,
            "changedFields": changed,
            "nulledFields": [k for k in changed if body.get(k) is None],
            "diffFields": [],
            "changeOrigin": tx.origin,
            "transactionKey": tx.key,
            "sequenceNumber": len(tx.events) + 1,
            "commitTimestamp": int(self.now() * 1000),
            "commitNumber": 10_000_000 + next(self.replay),
            "commitUser": user_id,
        }
        tx.events.append(
            {
                "schema": f"{sobject}ChangeEvent",
                "payload": {"ChangeEventHeader": header, **body},
                "event": {"replayId": header["commitNumber"] - 10_000_000},
            }
        )
