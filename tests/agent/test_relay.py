"""The agent's loop against the live server's relay endpoints and the SYSPRO sandbox: calls
served and answered, refused calls never fetched, one slow call blocking no other, a
revoked token, a server that goes away and comes back, and a clean stop."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time

import pytest
from clarity_agent.calls import ROOT
from clarity_agent.relay import backoff

from connectors.agents.services import agent_counts, agent_revoke, relay
from connectors.sandbox.control import SandboxControl
from tests.agent.conftest import agent_settings
from tests.connectors.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)

COMFND = (
    "<Query><TableName>ArCustomer</TableName><ReturnRows>2</ReturnRows>"
    "<Columns><Column>Customer</Column></Columns></Query>"
)


def submit(connection, operation="Query/Query", deadline_s=10.0, **request):
    payload = {
        "method": "GET",
        "path": ROOT + operation,
        "query": {"BusinessObject": "COMFND", "XmlIn": COMFND},
        "headers": {},
        "body_b64": "",
        "session": "agent",
        **request,
    }
    return relay().submit(str(connection.pk), payload, deadline_s=deadline_s)


def outcome(connection, request_id, deadline_s=10.0):
    return relay().wait(str(connection.pk), request_id, deadline_s=deadline_s)


def text(answer) -> str:
    return base64.b64decode(answer["body_b64"]).decode()


def wait_online(connection, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not relay().online(str(connection.pk)):
        assert time.monotonic() < deadline, "the agent never polled"
        time.sleep(0.05)


def test_calls_are_served_through_the_agent(
    live_server, relay_connection, thread_agent, syspro_sandbox
):
    server = syspro_sandbox()
    agent, token = relay_connection()
    thread_agent(agent_settings(live_server.url, token, [server.url]))
    wait_online(agent.connection)
    ids = [submit(agent.connection) for _ in range(20)]
    answers = [outcome(agent.connection, i) for i in ids]
    assert all(a.state == "answered" and "<Row>" in text(a.answer) for a in answers)
    deadline = time.monotonic() + 5  # counted just after each answer is delivered
    agent.refresh_from_db()
    while agent_counts(agent) != (20, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
        agent.refresh_from_db()
    assert agent_counts(agent) == (20, 0)
    assert agent.version == "1.0.0" and agent.host


@pytest.mark.parametrize(
    "path",
    [
        "/SYSPROWCFService/Rest/../../_sandbox/reset",
        "/_sandbox/stats",
        "/SYSPROWCFService/Rest/Query/%2e%2e/%2e%2e/_sandbox/reset",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_a_path_outside_enet_is_refused_and_never_fetched(
    live_server, relay_connection, thread_agent, syspro_sandbox, path
):
    server = syspro_sandbox()
    agent, token = relay_connection()
    thread_agent(agent_settings(live_server.url, token, [server.url]))
    wait_online(agent.connection)
    request_id = relay().submit(
        str(agent.connection.pk),
        {
            "method": "GET",
            "path": path,
            "query": {},
            "headers": {},
            "body_b64": "",
            "session": "agent",
        },
        deadline_s=10,
    )
    answer = outcome(agent.connection, request_id).answer
    assert answer["error"] == "refused"
    assert server.seen == [] and server.gate.accepted == []  # not even a connection


def test_one_slow_call_does_not_hold_up_the_others(
    live_server, relay_connection, thread_agent, syspro_sandbox
):
    server = syspro_sandbox()
    # Browse calls hang 3 s (then a 504); nothing else is slowed.
    SandboxControl(server.url).faults(
        next=["timeout"], timeout_seconds=3.0, path_prefix=ROOT + "Query/Browse"
    )
    agent, token = relay_connection()
    thread_agent(agent_settings(live_server.url, token, [server.url], threads=4))
    wait_online(agent.connection)
    submit(agent.connection)  # logs on first, so the timings below are calls alone
    slow = submit(agent.connection, "Query/Browse", query={"BusinessObject": "COMBRW"})
    time.sleep(0.3)
    started = time.monotonic()
    quick = [submit(agent.connection) for _ in range(5)]
    assert all(outcome(agent.connection, i).state == "answered" for i in quick)
    assert time.monotonic() - started < 2.0
    assert outcome(agent.connection, slow).answer["status"] == 504


def test_an_agent_without_credentials_refuses_the_agent_held_mode(
    live_server, relay_connection, thread_agent, syspro_sandbox
):
    server = syspro_sandbox()
    agent, token = relay_connection()
    thread_agent(agent_settings(live_server.url, token, [server.url], credentials=False))
    wait_online(agent.connection)
    answer = outcome(agent.connection, submit(agent.connection)).answer
    assert answer == {"error": "refused", "message": "this agent holds no SYSPRO credentials"}
    assert server.seen == []


def test_a_revoked_token_stops_the_agent_at_once(
    live_server, relay_connection, thread_agent, syspro_sandbox, caplog
):
    server = syspro_sandbox()
    agent, token = relay_connection()
    thread_agent(agent_settings(live_server.url, token, [server.url], poll_wait_s=1))
    wait_online(agent.connection)
    agent_revoke(agent=agent)
    deadline = time.monotonic() + 5  # the poll held open when it was revoked ends first
    while "token refused by the server" not in caplog.text:
        assert time.monotonic() < deadline, "the agent was not told its token was refused"
        time.sleep(0.05)
    request_id = submit(agent.connection, deadline_s=3)
    assert outcome(agent.connection, request_id, deadline_s=3).state == "withdrawn"
    assert token not in caplog.text
    assert [p for p, _ in server.seen if p.endswith("/Query/Query")] == []


class Forwarder:
    """A TCP relay to the live server on a port of its own, which can go down and come back."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def up(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_the_agent_reconnects_after_the_server_was_unreachable(
    live_server, relay_connection, thread_agent, syspro_sandbox, caplog
):
    server = syspro_sandbox()
    agent, token = relay_connection()
    forwarder = Forwarder(int(live_server.url.rsplit(":", 1)[1]))
    thread_agent(agent_settings(f"http://127.0.0.1:{forwarder.port}", token, [server.url]))
    deadline = time.monotonic() + 10
    while "cannot poll the server" not in caplog.text:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    forwarder.up()
    wait_online(agent.connection, timeout=15)
    assert outcome(agent.connection, submit(agent.connection)).state == "answered"
    forwarder.down()  # the network drops mid-poll
    # The server cannot see a dropped client: the poll it still holds (poll_wait_s, 2 s
    # here) could claim a call into the void, which its caller then treats as a timeout
    # (a read sent again, a write settled by lookup). Calls come after that poll ended.
    time.sleep(2.5)
    forwarder.up()
    deadline = time.monotonic() + 15
    while "connected to the server again" not in caplog.text:
        assert time.monotonic() < deadline, "the agent did not reconnect"
        time.sleep(0.05)
    assert outcome(agent.connection, submit(agent.connection)).state == "answered"


def test_backoff_doubles_up_to_a_minute_with_jitter():
    assert 0.75 <= backoff(1) <= 1.25
    assert 3.0 <= backoff(3) <= 5.0
    assert all(45 <= backoff(n) <= 75 for n in (7, 10, 50))


def test_stop_finishes_the_call_in_hand(
    live_server, relay_connection, thread_agent, syspro_sandbox
):
    server = syspro_sandbox()
    SandboxControl(server.url).faults(latency=1.0)
    agent, token = relay_connection()
    running = thread_agent(agent_settings(live_server.url, token, [server.url], poll_wait_s=1))
    wait_online(agent.connection)
    request_id = submit(agent.connection)
    deadline = time.monotonic() + 5
    while not server.seen:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    running.stop()
    assert outcome(agent.connection, request_id).state == "answered"
    time.sleep(1.5)
    assert [p for p, _ in server.seen][-1].endswith("/Logoff")  # its licence seat given back
