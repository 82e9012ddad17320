"""The agent's configuration: one TOML file, read once at start.

Everything the agent may reach is named here and nowhere else: the server sends only a
path under e.net's REST root, never an address, so a server (or a stolen token) cannot
point the agent at another host.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

ENV_CONFIG = "CLARITY_AGENT_CONFIG"
MIB = 1024 * 1024


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or wrong; the text says what to fix."""


def default_path(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> PurePath:
    """Where the agent looks when neither ``--config`` nor ``CLARITY_AGENT_CONFIG`` is given.

    Spelled with the platform's own path rules (a pure path), so the Windows answer can
    be checked on any machine: ``%PROGRAMDATA%`` is where a service keeps its data
    [P] learn.microsoft.com/windows/deployment/usmt/usmt-recognized-environment-variables.
    """
    if platform == "win32":
        base = environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return PureWindowsPath(base, "ClarityAgent", "agent.toml")
    return PurePosixPath("/etc/clarity-agent/agent.toml")


WINDOWS_PATH_HINT = (
    " (a Windows path goes in single quotes, 'C:\\ProgramData\\ca.pem', or with each "
    'backslash doubled, "C:\\\\ProgramData\\\\ca.pem")'
)
_BACKSLASH_IN_DOUBLE_QUOTES = re.compile(r'"[^"\n]*\\[^"\n]*"')


@dataclass(frozen=True)
class Credentials:
    """The SYSPRO operator the agent logs on as (the recommended mode)."""

    operator: str
    operator_password: str = field(repr=False)
    company_id: str
    company_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Config:
    server_url: str
    token: str = field(repr=False)
    base_urls: tuple[str, ...]
    credentials: Credentials | None = None
    threads: int = 8
    poll_wait_s: float = 25.0
    max_request_bytes: int = 10 * MIB  # a relayed call's body and query together
    max_answer_bytes: int = 10 * MIB  # SYSPRO's answer
    max_deadline_s: float = 300.0  # longest any one relayed call may take
    connect_timeout_s: float = 5.0
    host_name: str = ""
    verify_tls: bool | str = True  # False, or a CA bundle path for a private CA

    def secrets(self) -> list[str]:
        """Values never to appear in a log line."""
        found = [self.token]
        if self.credentials is not None:
            found += [self.credentials.operator_password, self.credentials.company_password]
        return [s for s in found if s]


def load(path: Path) -> Config:
    """Read and check ``path``; every mistake is reported with the key to fix.

    Written with Windows' Notepad in mind: a UTF-8 byte order mark (Notepad's "UTF-8
    with BOM", its default before Windows 10 1903 [S] learn.microsoft.com "Notepad UTF-8
    without BOM" announcements) and CRLF line ends are read; a Windows path in a
    double-quoted string, where TOML reads each backslash as an escape [P]
    toml.io/en/v1.0.0#string, is refused with how to write it instead.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"no configuration file at {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        text = raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {path}: save it as UTF-8 ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = WINDOWS_PATH_HINT if _BACKSLASH_IN_DOUBLE_QUOTES.search(text) else ""
        raise ConfigError(f"cannot read {path}: {exc}{hint}") from exc
    return parse(data)


def parse(data: dict[str, Any]) -> Config:
    server = data.get("server", {})
    syspro = data.get("syspro", {})
    limits = data.get("limits", {})
    server_url = _text(server, "server.url").rstrip("/")
    scheme = urlsplit(server_url).scheme
    if scheme != "https" and not server.get("allow_plain_http", False):
        raise ConfigError(
            "server.url must be https:// (set server.allow_plain_http = true only for a test)"
        )
    token = _text(server, "server.token")
    if not token.startswith("cca_"):
        raise ConfigError("server.token must be the agent token shown once in the admin (cca_…)")
    base_urls = syspro.get("base_urls")
    if not isinstance(base_urls, list) or not base_urls:
        raise ConfigError(
            'syspro.base_urls must list the e.net base URLs, e.g. ["http://sys01:20000"]'
        )
    credentials = None
    if "operator" in syspro:
        credentials = Credentials(
            operator=_text(syspro, "syspro.operator"),
            operator_password=_text(syspro, "syspro.operator_password", blank=True),
            company_id=_text(syspro, "syspro.company_id"),
            company_password=_text(syspro, "syspro.company_password", blank=True),
        )
    verify = server.get("ca_bundle", True)
    if isinstance(verify, str) and any(ord(c) < 32 for c in verify):
        # "C:\new\table.pem" in double quotes reads as a newline and a tab, silently.
        raise ConfigError("server.ca_bundle holds a control character" + WINDOWS_PATH_HINT)
    return Config(
        server_url=server_url,
        token=token,
        base_urls=tuple(_base_url(u) for u in base_urls),
        credentials=credentials,
        threads=_number(limits, "threads", 8, 1, 64, int),
        poll_wait_s=_number(limits, "poll_wait_s", 25.0, 1.0, 25.0, float),
        max_request_bytes=_number(limits, "max_request_mb", 10, 1, 10, int) * MIB,
        max_answer_bytes=_number(limits, "max_answer_mb", 10, 1, 10, int) * MIB,
        max_deadline_s=_number(limits, "max_deadline_s", 300.0, 1.0, 3600.0, float),
        connect_timeout_s=_number(limits, "connect_timeout_s", 5.0, 0.1, 60.0, float),
        host_name=str(server.get("host_name", "")),
        verify_tls=verify if isinstance(verify, str) else True,
    )


def _base_url(value: object) -> str:
    """``scheme://host[:port]`` only: the path is always e.net's own, added per call."""
    if not isinstance(value, str):
        raise ConfigError("syspro.base_urls must be strings")
    parts = urlsplit(value.strip())
    path = parts.path.rstrip("/")
    if path.lower() == "/sysprowcfservice/rest":
        path = ""
    if parts.scheme not in ("http", "https") or not parts.hostname or path or parts.query:
        raise ConfigError(
            f"syspro.base_urls: {value!r} must be http(s)://host:port (e.net's REST root at most)"
        )
    if parts.username or parts.password:
        raise ConfigError("syspro.base_urls must not carry a user or password")
    return f"{parts.scheme}://{parts.netloc}"


def _text(section: dict[str, Any], key: str, *, blank: bool = False) -> str:
    value = section.get(key.rsplit(".", 1)[1])
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise ConfigError(f"{key} must be set (a string)")
    return value.strip() if not blank else value


def _number(
    section: dict[str, Any], key: str, default: Any, low: Any, high: Any, kind: type
) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"limits.{key} must be a number from {low} to {high}")
    return kind(value)
