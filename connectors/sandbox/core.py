"""The small framework every system's sandbox is built on.

A sandbox is a ``SandboxApp`` subclass: it registers routes in ``__init__``,
keeps its state in memory (rebuilt by ``reset_state``, which also seeds demo
data) and says how its system words rate-limit headers and 429s. This module
adds what every sandbox needs the same way:

* routing with ``{name}`` path parameters, JSON/XML/text responses, and
  ``HttpError`` to answer from deep inside a handler;
* rate limits (sliding windows and in-flight caps, each with a scope such as a
  tenant id) enforced before the handler runs;
* faults switched at run time — 5xx, timeouts, connection resets (before or
  after the request is handled), 429 —
  either queued in order (``next``) or drawn at random (``shares``), and
  429 bursts in time (``burst_seconds``): every call refused until the burst
  ends, each told the true time left in ``Retry-After``;
* a control API under ``/_sandbox/``: ``faults``, ``limits``, ``clock``,
  ``stats``, ``reset``;
* ``SandboxServer``: a threaded HTTP/1.1 server on loopback that, given a
  state file, starts from what the last server saved there and saves again
  a few seconds after any change and when it stops (``manage.py up`` keeps
  them under ``var/sandboxes/``: a restarted demo finds the records and
  tokens its database remembers).

The app is WSGI-*style* (a callable from request to response) rather than
WSGI proper: a connection reset needs the raw socket, which WSGI hides, so
the server is a thin ``http.server`` handler. Stdlib only.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import pickle
import random
import re
import socket
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

# "reset_after" handles the request, then drops the answer: the write happened
# but the client cannot know — what idempotency keys exist for.
FAULTS = ("5xx", "timeout", "reset", "reset_after", "429")
CONTROL_PREFIX = "/_sandbox/"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# How often the serving loop looks at its stop flag: socketserver's 0.5 s made every stop
# (each test that starts a sandbox) wait up to half a second.
STOP_POLL_SECONDS = 0.05


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str] | Message[str, str]  # case-insensitive: an HTTPMessage
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def base_url(self) -> str:
        return f"http://{self.headers.get('Host', 'localhost')}"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise HttpError(json_response({"error": f"malformed JSON: {exc}"}, 400)) from exc

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def xml(self) -> ET.Element:
        try:
            # The body comes from our own connector on loopback; expat does not
            # resolve external entities, so stdlib parsing is acceptable here.
            return ET.fromstring(self.body)  # noqa: S314
        except ET.ParseError as exc:
            raise HttpError(text_response(f"malformed XML: {exc}", 400)) from exc


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection with a TCP reset instead of answering


class HttpError(Exception):
    """Raise from a handler to answer with ``response`` at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(data, default=str).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def xml_response(
    data: ET.Element | str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = data.encode() if isinstance(data, str) else ET.tostring(data, encoding="utf-8")
    return Response(status, body, {"Content-Type": "application/xml", **(headers or {})})


def text_response(
    text: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})


def redirect(location: str) -> Response:
    return Response(302, b"", {"Location": location})


Handler = Callable[[Request], Response]


@dataclass
class RateRule:
    """A limit the system enforces: ``limit`` calls per ``window`` seconds per scope.

    ``window=None`` makes it a cap on calls in flight at once. ``scope`` maps a
    request to the counter it draws on (a tenant id, "app"), or None when the
    rule does not apply to that request.
    """

    name: str
    limit: int
    window: float | None
    scope: Callable[[Request], str | None]


@dataclass
class FaultPlan:
    shares: dict[str, float] = field(default_factory=dict)  # fault -> probability
    next: deque[str] = field(default_factory=deque)  # faults for the next requests, in order
    # Only requests of these methods take a queued fault (none named: any request), so
    # "the next write's answer is lost" is not spent on a read that came first.
    next_methods: tuple[str, ...] = ()
    timeout_seconds: float = 3.0  # how long a "timeout" holds the request
    retry_after: int = 1  # Retry-After on injected 429s
    latency: float = 0.0  # seconds added to every request (to make concurrency visible)
    path_prefix: str = ""  # only requests under this path are hit
    # A 429 burst in time, as a real limiter makes one: from the first call that
    # meets this plan, every call for this many seconds gets 429 with the time
    # left as Retry-After, and a client that waits that long gets through.
    # (Queued "429"s are counted in calls instead: re-armed faster than a client
    # honouring Retry-After can drain them, they refuse every call for ever.)
    burst_seconds: float = 0.0
    burst_until: float | None = None  # monotonic end of the burst once it started

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> FaultPlan:
        unknown = set(data.get("shares", {})) | set(data.get("next", []))
        unknown -= set(FAULTS)
        if unknown:
            raise HttpError(json_response({"error": f"unknown faults: {sorted(unknown)}"}, 400))
        return cls(
            shares={k: float(v) for k, v in data.get("shares", {}).items()},
            next=deque(data.get("next", [])),
            next_methods=tuple(str(m).upper() for m in data.get("next_methods", ())),
            timeout_seconds=float(data.get("timeout_seconds", 3.0)),
            retry_after=int(data.get("retry_after", 1)),
            latency=float(data.get("latency", 0.0)),
            path_prefix=str(data.get("path_prefix", "")),
            burst_seconds=float(data.get("burst_seconds", 0.0)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "shares": self.shares,
            "next": list(self.next),
            "next_methods": list(self.next_methods),
            "timeout_seconds": self.timeout_seconds,
            "retry_after": self.retry_after,
            "latency": self.latency,
            "path_prefix": self.path_prefix,
            "burst_seconds": self.burst_seconds,
        }


# State the base class keeps besides what a system's ``reset_state`` builds: counters,
# and the seeded random generator new ids are drawn from (so they do not repeat).
_BASE_STATE = ("stats", "random", "clock_offset")


def _reduce_count(counter: itertools.count[int]) -> tuple[Any, tuple[Any, ...]]:
    """``count(7)`` -> ``count(7)`` again (Python 3.14 no longer pickles itertools)."""
    start, _, step = repr(counter)[len("count(") : -1].partition(", ")
    return itertools.count, (int(start), int(step or 1))


class _StatePickler(pickle.Pickler):
    """Pickles a sandbox's state; references to the app itself (its clock method, say)
    are stored as a name and bound to the new app when loaded."""

    dispatch_table = {itertools.count: _reduce_count}

    def __init__(self, file: IO[bytes], app: SandboxApp) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.app = app

    def persistent_id(self, obj: Any) -> str | None:
        return "app" if obj is self.app else None


class _StateUnpickler(pickle.Unpickler):
    """Pickle, not JSON: the state is each system's own objects (dataclasses, counters,
    deques), and the file is one this sandbox wrote itself, under the project's var/."""

    def __init__(self, file: IO[bytes], app: SandboxApp) -> None:
        super().__init__(file)
        self.app = app

    def persistent_load(self, pid: Any) -> Any:
        if pid != "app":
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self.app


class SandboxApp:
    """Base of every system's emulator. Subclasses override the hooks below."""

    name = "sandbox"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.lock = threading.RLock()  # handlers run one at a time: state stays simple
        self._meta_lock = threading.Lock()  # counters, windows, faults (never held long)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.rate_rules: list[RateRule] = []
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self._limit_overrides: dict[str, int] = dict(self.options.get("limits", {}))
        self.clock_offset = 0.0
        self.faults = FaultPlan.parse(self.options.get("faults", {}))
        self.random = random.Random(self.options.get("seed", 1))
        self.stats = self._empty_stats()
        self.changes = 0  # handled requests, so a saver knows whether the state moved
        self._add_control_routes()
        before = set(vars(self))
        self.reset_state()
        # Whatever reset_state builds is the system's state; the rest is wiring.
        self._state_names = (*_BASE_STATE, *sorted(set(vars(self)) - before))

    # -- hooks for subclasses -------------------------------------------------

    def reset_state(self) -> None:
        """Rebuild the in-memory state and seed demo data."""

    def rate_headers(self, request: Request, remaining: Mapping[str, int]) -> dict[str, str]:
        """Headers telling the client its remaining calls (``remaining`` by rule name)."""
        return {}

    def rate_limited_response(self, request: Request, rule: str, retry_after: int) -> Response:
        return json_response(
            {"error": "rate limit exceeded", "limit": rule},
            429,
            {"Retry-After": str(retry_after)},
        )

    def server_error_response(self, request: Request, status: int) -> Response:
        return json_response({"error": "internal server error (injected)"}, status)

    def start_listeners(self, host: str, http_port: int) -> None:
        """Start what the system serves besides HTTP (Salesforce's gRPC Pub/Sub API) when
        its server starts; ``http_port`` is the port asked for (0: any free one).
        ``close`` stops them."""

    def close(self) -> None:
        """Stop background work (e.g. webhook senders) when the server stops."""

    # -- helpers for subclasses -----------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/") or "/")
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$", re.IGNORECASE), handler))

    def now(self) -> float:
        """Wall-clock time, moved by ``POST /_sandbox/clock`` to test expiries."""
        return time.time() + self.clock_offset

    def count(self, action: str, entity: str, n: int = 1) -> None:
        """Record ``n`` records ``created``/``updated`` for /_sandbox/stats."""
        with self._meta_lock:
            self.stats[action][entity] += n

    def limit(self, rule: RateRule) -> int:
        return self._limit_overrides.get(rule.name, rule.limit)

    # -- request handling -----------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self._dispatch(request)
        with self._meta_lock:
            self.stats["requests"] += 1
            fault = self._draw_fault(request)
            plan = self.faults
        if fault and fault != "reset_after":
            response = self._inject(request, fault, plan)
            self._tally(response, fault=fault)
            return response
        held, refusal, remaining = self._take_rate(request)
        try:
            if refusal is None and plan.latency:
                time.sleep(plan.latency)  # inside the in-flight count, like a slow server
            response = refusal or self._dispatch(request)
            response.headers.update(self.rate_headers(request, remaining))
        finally:
            with self._meta_lock:
                for key in held:
                    self._in_flight[key] -= 1
        self._tally(response, fault=fault)
        return Response(reset=True) if fault == "reset_after" else response

    def _dispatch(self, request: Request) -> Response:
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            allowed = True
            if method != request.method:
                continue
            request.params = match.groupdict()
            try:
                with self.lock:
                    self.changes += 1
                    return handler(request)
            except HttpError as exc:
                return exc.response
            except Exception:
                logger.exception("%s sandbox: handler failed on %s", self.name, request.path)
                return json_response({"error": "sandbox handler failed"}, 500)
        if allowed:
            return json_response({"error": "method not allowed"}, 405)
        return json_response({"error": "not found"}, 404)

    def _draw_fault(self, request: Request) -> str | None:
        plan = self.faults
        if not request.path.startswith(plan.path_prefix):
            return None
        if plan.burst_seconds:
            now = time.monotonic()
            if plan.burst_until is None:
                plan.burst_until = now + plan.burst_seconds
            if now < plan.burst_until:
                return "429"
        if plan.next and (not plan.next_methods or request.method in plan.next_methods):
            return plan.next.popleft()
        for fault in FAULTS:
            if self.random.random() < plan.shares.get(fault, 0.0):
                return fault
        return None

    def _inject(self, request: Request, fault: str, plan: FaultPlan) -> Response:
        if fault == "reset":
            return Response(reset=True)
        if fault == "timeout":
            time.sleep(plan.timeout_seconds)
            return self.server_error_response(request, 504)
        if fault == "429":
            wait = plan.retry_after
            if plan.burst_until is not None:  # the true time left, in whole seconds
                wait = max(1, math.ceil(plan.burst_until - time.monotonic()))
            return self.rate_limited_response(request, "burst", wait)
        return self.server_error_response(request, self.random.choice((500, 502, 503)))

    def _take_rate(
        self, request: Request
    ) -> tuple[list[tuple[str, str]], Response | None, dict[str, int]]:
        """Check every applicable rule; count the call only if all of them allow it."""
        now = self.now()
        remaining: dict[str, int] = {}
        with self._meta_lock:
            applicable = [(r, s) for r in self.rate_rules if (s := r.scope(request)) is not None]
            for rule, scope in applicable:
                key, limit = (rule.name, scope), self.limit(rule)
                if rule.window is None:
                    used = self._in_flight[key]
                    wait = 1
                else:
                    window = self._windows[key]
                    while window and window[0] <= now - rule.window:
                        window.popleft()
                    used = len(window)
                    wait = int(window[0] + rule.window - now) + 1 if window else 1
                if used >= limit:
                    refusal = self.rate_limited_response(request, rule.name, wait)
                    return [], refusal, {rule.name: 0}
                remaining[rule.name] = limit - used - 1
            held = []
            for rule, scope in applicable:
                if rule.window is None:
                    self._in_flight[(rule.name, scope)] += 1
                    held.append((rule.name, scope))
                else:
                    self._windows[(rule.name, scope)].append(now)
        return held, None, remaining

    def _tally(self, response: Response, fault: str | None = None) -> None:
        with self._meta_lock:
            if fault:
                self.stats["faults"][fault] += 1
            if response.reset:
                return
            self.stats["responses"][str(response.status)] += 1
            if response.status == 429:
                self.stats["rate_limited"] += 1

    # -- state that outlives the process ----------------------------------------

    def save_state(self, path: Path) -> None:
        """Write the state (records, tokens, sessions, idempotency keys, counters) to
        ``path`` atomically: a kill mid-write leaves the previous file whole."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with self.lock, self._meta_lock, temporary.open("wb") as out:
            state = {name: getattr(self, name) for name in self._state_names}
            _StatePickler(out, self).dump({"options": self.options, "state": state})
        os.replace(temporary, path)

    def load_state(self, path: Path) -> bool:
        """Take the state saved in ``path``; False (the demo data stays) when there is
        none, or it was saved with other options or by code that no longer reads it."""
        try:
            with path.open("rb") as saved:
                data = _StateUnpickler(saved, self).load()
        except FileNotFoundError:
            return False
        except Exception as exc:  # a file from older code, or truncated by a full disk
            logger.warning("%s sandbox: cannot read %s (%s); starting afresh", self.name, path, exc)
            return False
        if data.get("options") != self.options or set(data["state"]) != set(self._state_names):
            logger.warning(
                "%s sandbox: %s was saved with other options or an older sandbox; starting afresh",
                self.name,
                path,
            )
            return False
        with self.lock, self._meta_lock:
            for name, value in data["state"].items():
                setattr(self, name, value)
        return True

    # -- control API ----------------------------------------------------------

    def _empty_stats(self) -> dict[str, Any]:
        return {
            "requests": 0,
            "rate_limited": 0,
            "responses": Counter(),
            "faults": Counter(),
            "created": Counter(),
            "updated": Counter(),
        }

    def _add_control_routes(self) -> None:
        self.route("GET", "/_sandbox/stats", lambda r: json_response(self.stats))
        self.route("GET", "/_sandbox/faults", lambda r: json_response(self.faults.as_dict()))
        self.route("POST", "/_sandbox/faults", self._set_faults)
        self.route("GET", "/_sandbox/limits", self._get_limits)
        self.route("POST", "/_sandbox/limits", self._set_limits)
        self.route("POST", "/_sandbox/clock", self._move_clock)
        self.route("POST", "/_sandbox/reset", self._reset)

    def _set_faults(self, request: Request) -> Response:
        plan = FaultPlan.parse(request.json() or {})
        with self._meta_lock:
            self.faults = plan
        return json_response(plan.as_dict())

    def _get_limits(self, request: Request) -> Response:
        return json_response({rule.name: self.limit(rule) for rule in self.rate_rules})

    def _set_limits(self, request: Request) -> Response:
        with self._meta_lock:
            self._limit_overrides.update({k: int(v) for k, v in (request.json() or {}).items()})
            self._windows.clear()
        return self._get_limits(request)

    def _move_clock(self, request: Request) -> Response:
        self.clock_offset += float((request.json() or {}).get("advance", 0))
        return json_response({"now": self.now(), "offset": self.clock_offset})

    def _reset(self, request: Request) -> Response:
        with self._meta_lock:
            self.stats = self._empty_stats()
            self.faults = FaultPlan()
            self._windows.clear()
            self._limit_overrides = dict(self.options.get("limits", {}))
            self.clock_offset = 0.0
            self.random = random.Random(self.options.get("seed", 1))
        self.reset_state()
        return json_response({"reset": True})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the
    # body waits for the client's delayed ACK (~40 ms a call on loopback).
    disable_nagle_algorithm = True
    app: SandboxApp  # set on the per-server subclass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
        )
        response = self.app.handle(request)
        if response.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its read timed out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s sandbox: " + format, self.app.name, *args)


class SandboxServer:
    """Serve one ``SandboxApp`` on loopback in a background thread.

    Port 0 picks a free port; ``url`` is the base URL once started.
    """

    SAVE_SECONDS = 2.0  # the most a killed server can lose of its state

    def __init__(
        self,
        app: SandboxApp,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"sandboxes only listen on loopback, not {host!r}")
        handler = type("SandboxHandler", (_Handler,), {"app": app})
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self._asked = (host, port)  # the port asked for: 0 lets the system pick its own too
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.state_file = state_file
        self.restored = state_file is not None and app.load_state(state_file)
        self._saved_at_change = app.changes
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        try:
            self.app.start_listeners(*self._asked)
        except Exception:
            self.httpd.server_close()
            raise
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            name=f"sandbox-{self.app.name}",
            daemon=True,
        )
        self._thread.start()
        if self.state_file is not None:
            self._saver = threading.Thread(
                target=self._save_while_running, name=f"sandbox-{self.app.name}-saver", daemon=True
            )
            self._saver.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.app.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._saver is not None:
            self._saver.join(timeout=30)
        self.save()

    def save(self) -> None:
        """Save the state if it changed since the last save (and a state file is set)."""
        changes = self.app.changes
        if self.state_file is None or changes == self._saved_at_change:
            return
        self.app.save_state(self.state_file)
        self._saved_at_change = changes

    def _save_while_running(self) -> None:
        while not self._stopping.wait(self.SAVE_SECONDS):
            try:
                self.save()
            except Exception:
                logger.exception("%s sandbox: saving its state failed", self.app.name)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
