"""Keeps secrets out of logs and error reports, whatever library wrote them.

Two nets, because neither alone is enough:

* **by name**: text that *looks like* a credential — ``password=…``,
  ``"refresh_token": "…"``, ``Authorization: Bearer …``, SYSPRO's
  ``OperatorPassword=`` and ``UserId=`` in a logon URL — has its value masked,
  even when the value was never seen here (a token Xero has just issued, a
  connector used without Django);
* **by value**: every secret this process opens or seals (``connectors.secrets``
  registers them) is masked wherever it appears, whatever it is called.

``redact`` does both. ``install_log_redaction`` makes every log record of every
logger (urllib3, requests-oauthlib, oauthlib included) pass through it as it is
created, so no handler, at any level, ever sees a secret.
"""

from __future__ import annotations

import html
import json
import logging
import logging.config
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words; the name rules still apply
MAX_KNOWN = 2000

# Names whose values are secrets: credentials, OAuth parameters, SYSPRO's ``UserId``
# (its session). In text (query strings, form bodies, JSON, reprs) OAuth's ``code``
# counts too; as the key of a dict in an error report's frame it is an error code.
CREDENTIAL_NAMES = (
    r"[\w.-]*(?:password|passwd|secret|token|assertion|api[_-]?key|webhook[_-]?key|"
    r"private[_-]?key|memorable[_-]?word|signature|credential|authorization|cookie)[\w.-]*|"
    r"userid|sessionid"
)
CREDENTIAL_PARAMS = rf"{CREDENTIAL_NAMES}|code"
_SECRET_NAME_RE = re.compile(rf"^(?:{CREDENTIAL_NAMES})$", re.IGNORECASE)
_SECRET_PARAM_RE = re.compile(rf"^(?:{CREDENTIAL_PARAMS})$", re.IGNORECASE)


def _masked_if_named(name_group: int, keep: str) -> Callable[[re.Match[str]], str]:
    """A replacement that masks the value when the name in ``name_group`` is a credential's.

    The patterns find any ``name=value`` cheaply; the name test comes after, because
    one regex that also matched names like ``[\\w.-]*password[\\w.-]*`` backtracks at
    every position of every line.
    """

    def replace(match: re.Match[str]) -> str:
        if not _SECRET_PARAM_RE.match(match.group(name_group)):
            return match.group(0)
        return match.expand(keep).replace("\x00MASK\x00", MASK)

    return replace


_RULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    # Authorization: Bearer x / 'Authorization': 'KfToken x' / Basic x
    (
        re.compile(
            r"\b(Bearer|Basic|KfToken|Digest)(\s+)"
            r"(?:(?=[\w~+/=:.-]*[\d~+/=.-])[\w~+/=:.-]{8,}|[\w~+/=:.-]{16,})",
            re.IGNORECASE,
        ),
        rf"\1\2{MASK}",
    ),
    # "name": "value" (JSON) and 'name': 'value' (Python reprs)
    (
        re.compile(r"""(["'])([\w.-]+)\1(\s*:\s*)(["'])(?:\\.|(?!\4).)*\4"""),
        _masked_if_named(2, "\\1\\2\\1\\3\\4\x00MASK\x00\\4"),
    ),
    # name=value in query strings, form bodies and log text
    (
        re.compile(r"(?<![\w.-])([\w.-]+)=([^&\s'\",;)]+)"),
        _masked_if_named(1, "\\1=\x00MASK\x00"),
    ),
    # <Password>value</Password> in XML
    (
        re.compile(r"<([\w.-]+)>[^<]+</\1>"),
        _masked_if_named(1, "<\\1>\x00MASK\x00</\\1>"),
    ),
)

_lock = threading.Lock()
_known: dict[str, None] = {}  # an ordered set of secret values in use
_forms_cache: tuple[str, ...] | None = None


def is_secret_name(name: str) -> bool:
    """True for names such as ``client_secret``, ``OperatorPassword``, ``refresh_token``."""
    return bool(_SECRET_NAME_RE.match(name.strip()))


def register_secret(value: Any) -> None:
    """Remember a secret value (or every string in a dict of them) so it is masked everywhere."""
    global _forms_cache
    values = _strings(value)
    fresh = [v for v in values if len(v) >= MIN_SECRET_LENGTH and v not in _known]
    if not fresh:
        return
    with _lock:
        for v in fresh:
            _known[v] = None
        while len(_known) > MAX_KNOWN:
            del _known[next(iter(_known))]
        _forms_cache = None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _forms(secret: str) -> set[str]:
    """The secret as it may be written out: raw, repr-escaped, HTML-escaped."""
    escaped = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        secret.replace("'", "\\'"),
    }
    return escaped | {html.escape(form) for form in escaped}


def _known_forms() -> tuple[str, ...]:
    """Every written form of every known secret, longest first (a substring of a longer
    secret must not cut it in two)."""
    global _forms_cache
    with _lock:
        if _forms_cache is None:
            forms = {form for secret in _known for form in _forms(secret)}
            _forms_cache = tuple(sorted(forms, key=len, reverse=True))
        return _forms_cache


def _mask_known(text: str) -> str:
    # Substring tests in C beat one regex alternation of hundreds of long tokens.
    for form in _known_forms():
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact(text: str) -> str:
    """``text`` with every known secret value and every credential-looking value masked."""
    text = _mask_known(text)
    for rule, replacement in _RULES:
        text = rule.sub(replacement, text)
    return text


def cleanse(value: Any) -> Any:
    """A copy of ``value`` whose secret-named keys are masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and is_secret_name(k) else cleanse(v)
            for k, v in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(cleanse(v) for v in value)
    return value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the record's message, arguments and traceback text in place (once)."""
    if getattr(record, "_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep its parts, masked
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True
    return record


class RedactSecrets(logging.Filter):
    """A handler filter for records made outside the record factory (e.g. unpickled)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction() -> None:
    """Redact every record as it is created, before any handler (or pytest) sees it."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(config: Mapping[str, Any]) -> None:
    """``LOGGING_CONFIG``: ``dictConfig`` of ``LOGGING``, with redaction installed first."""
    install_log_redaction()
    logging.config.dictConfig(dict(config))
