"""Xero's webhook sender, as the receiver sees it.

* every body is signed: ``x-xero-signature`` = base64(HMAC-SHA256(key, body));
* "intent to receive": before events flow, a few empty deliveries are sent,
  some signed wrongly; the receiver must answer 200 to the good ones and 401
  to the bad ones, or the subscription stays off;
* events are thin (a ``resourceUrl`` to GET), batched, numbered by sequence;
* a delivery must get a 200 within the timeout (5 s at Xero); failures retry
  with growing delays, and when those run out the webhook is disabled.

Delays are options so tests run in milliseconds rather than Xero's 24 hours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import requests

logger = logging.getLogger(__name__)


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    def __init__(
        self,
        *,
        url: str | None = None,
        key: str = "",
        batch_delay: float = 0.5,
        timeout: float = 5.0,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        intent_checks: int = 4,
    ) -> None:
        self.url = url
        self.key = key
        self.batch_delay = batch_delay
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.intent_checks = intent_checks
        self.enabled = False
        self.sequence = 0
        self.delivered = 0
        self.failed_attempts = 0
        self.last_intent: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="xero-webhooks", daemon=True)
        self._thread.start()

    def configure(self, url: str, key: str) -> bool:
        """Point the subscription at ``url`` and run the intent-to-receive check."""
        self.url, self.key = url, key
        self.enabled = self.intent_to_receive()
        return self.enabled

    def intent_to_receive(self) -> bool:
        assert self.url is not None
        checks = [i % 2 == 0 for i in range(self.intent_checks)]
        random.shuffle(checks)
        self.last_intent = []
        for signed_well in checks:
            body = self._body([])
            signature = sign(body, self.key) if signed_well else sign(body, secrets.token_hex(16))
            status = self._post(body, signature)
            expected = 200 if signed_well else 401
            self.last_intent.append(
                {"signed_correctly": signed_well, "status": status, "ok": status == expected}
            )
        return all(check["ok"] for check in self.last_intent)

    def publish(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._wake:
            self._pending.append(event)
            self._wake.notify()

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "enabled": self.enabled,
            "delivered_batches": self.delivered,
            "failed_attempts": self.failed_attempts,
            "pending": len(self._pending),
            "last_intent": self.last_intent,
        }

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _body(self, events: list[dict[str, Any]]) -> bytes:
        first = self.sequence + 1 if events else 0
        self.sequence += len(events)
        payload = {
            "events": [{**event, "eventSequence": first + n} for n, event in enumerate(events)],
            "firstEventSequence": first,
            "lastEventSequence": self.sequence if events else 0,
            "entropy": secrets.token_hex(10).upper(),
        }
        return json.dumps(payload).encode()

    def _post(self, body: bytes, signature: str) -> int | None:
        assert self.url is not None
        try:
            response = requests.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/json", "x-xero-signature": signature},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            logger.info("xero sandbox webhook to %s failed: %s", self.url, type(exc).__name__)
            return None
        return response.status_code

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
            self._wake_after(self.batch_delay)
            with self._wake:
                events, self._pending = self._pending, []
            self._deliver(self._body(events))

    def _wake_after(self, delay: float) -> None:
        with self._wake:
            self._wake.wait_for(lambda: self._stopped, timeout=delay)

    def _deliver(self, body: bytes) -> None:
        signature = sign(body, self.key)
        for delay in (0.0, *self.retry_delays):
            if delay:
                self._wake_after(delay)
            if self._stopped:
                return
            if self._post(body, signature) == 200:
                self.delivered += 1
                return
            self.failed_attempts += 1
        logger.warning("xero sandbox: webhook deliveries keep failing; subscription disabled")
        self.enabled = False
