"""Local HTTP servers for secret-leak tests: one records everything sent to it, one
answers every call with a fixed status (a redirect, a web page)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Seen:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


@dataclass
class LocalServer:
    """A server on a free loopback port; ``seen`` lists every request it received."""

    status: int = 200
    location: str = ""  # for redirects: the Location's prefix (the request path is added)
    body: bytes = b"<html><body>It works!</body></html>"
    content_type: str = "text/html"
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)  # path: (status, to)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.seen.append(
                    Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                )
                if self.path in server.redirects:
                    status, location = server.redirects[self.path]
                    self.send_response(status)
                    self.send_header("Location", location)
                else:
                    self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location + self.path)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def everything_seen(self) -> str:
        return "\n\n".join(s.text() for s in self.seen)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server() -> Iterator[type[LocalServer]]:
    """Make LocalServer(...)s; all are stopped after the test."""
    made: list[LocalServer] = []

    class Tracked(LocalServer):
        def __post_init__(self) -> None:
            super().__post_init__()
            made.append(self)

    yield Tracked
    for server in made:
        server.stop()
