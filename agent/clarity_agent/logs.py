"""Logging that cannot leak the token, the SYSPRO passwords or a SYSPRO session id.

Every record passes one filter on the handler, whatever logger wrote it (the agent's,
requests', urllib3's), and every secret the agent knows, including the session ids it
learns while running, is masked in the message and in any traceback. urllib3 logs whole
URLs with their query (where e.net carries the logon's password) at DEBUG, so it is held
at WARNING even when the agent logs at DEBUG.
"""

from __future__ import annotations

import logging
import threading

MASK = "[redacted]"


class Redactor(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on (a session id as soon as SYSPRO hands it out)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            message += "\n" + record.exc_text
            record.exc_text = None
        record.msg, record.args = self.redact(message), None
        return True


def configure(level: str, redactor: Redactor) -> None:
    """One stderr handler (journald and NSSM/WinSW capture stderr), redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.WARNING)
