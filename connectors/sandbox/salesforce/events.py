"""Change Data Capture: one change event per committed change, POSTed in commit
order to a callback URL (a local stand-in for CometD/gRPC, with the real message
shape).
"""

from __future__ import annotations

import json
import queue
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, SandboxApp, json_response
from connectors.sandbox.salesforce.schema import Transaction

CDC_SECRET_HEADER = "X-Clarity-Webhook-Secret"  # noqa: S105 (a header's name)


class ChangeEvents(SandboxApp):
    """Change Data Capture: one event per committed change, POSTed in commit order."""

    _outbox: queue.Queue[dict[str, Any]]
    cdc_callback_url: str | None
    cdc_secret: str
    cdc_delivered: int
    cdc_failed: int
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

    def cdc_status(self, request: Request) -> Response:
        return json_response(
            {
                "callback_url": self.cdc_callback_url,
                "delivered": self.cdc_delivered,
                "failed": self.cdc_failed,
                "events": self.events[-100:],
            }
        )

    def cdc_configure(self, request: Request) -> Response:
        body = request.json() or {}
        url = body.get("callback_url")
        if url and not str(url).startswith(("http://", "https://")):
            raise HttpError(json_response({"error": "callback_url must be http(s)"}, 400))
        self.cdc_callback_url = url or None
        self.cdc_secret = str(body.get("secret", self.cdc_secret))
        return self.cdc_status(request)

    def _deliver(self) -> None:
        """POST each committed change event, in commit order, to the callback URL."""
        while True:
            event = self._outbox.get()
            url = self.cdc_callback_url
            if not url:
                continue
            headers = {"Content-Type": "application/json"}
            if self.cdc_secret:
                headers[CDC_SECRET_HEADER] = self.cdc_secret
            post = urllib.request.Request(  # noqa: S310 (http(s) checked when configured)
                url, json.dumps(event).encode(), headers, method="POST"
            )
            try:
                with urllib.request.urlopen(post, timeout=5):  # noqa: S310
                    self.cdc_delivered += 1
            except OSError:
                self.cdc_failed += 1
