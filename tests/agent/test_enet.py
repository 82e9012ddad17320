"""The agent performing calls against the SYSPRO sandbox over loopback HTTP: its own logon
(the password and session id stay with it), one re-logon when SYSPRO ends the session,
failover between base URLs, and bounded times and sizes."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from clarity_agent.calls import ROOT, check
from clarity_agent.config import parse
from clarity_agent.enet import SESSION_MASK, Enet
from clarity_agent.logs import Redactor

from connectors.sandbox.control import SandboxControl
from tests.agent.conftest import agent_settings
from tests.connectors.conftest import free_port

TOKEN = "cca_" + "t" * 43
COMFND = (
    "<Query><TableName>ArCustomer</TableName><ReturnRows>3</ReturnRows>"
    "<Columns><Column>Customer</Column><Column>Name</Column></Columns></Query>"
)


def enet(base_urls, *, credentials=True, **replace):
    config = parse(agent_settings("http://server", TOKEN, base_urls, credentials=credentials))
    config = dataclasses.replace(config, **replace)
    return Enet(config, Redactor(config.secrets()))


def call(operation="Query/Query", session="agent", deadline_s=10, **query):
    request = {
        "id": "b" * 32,
        "method": "GET",
        "path": ROOT + operation,
        "query": query or {"BusinessObject": "COMFND", "XmlIn": COMFND},
        "headers": {},
        "body_b64": "",
        "deadline_s": deadline_s,
        "session": session,
    }
    return check(request, max_bytes=10 * 1024 * 1024, max_deadline_s=300)


def perform(agent, c):
    return agent.perform(c, time.monotonic() + c.deadline_s)


def body(answer) -> str:
    return base64.b64decode(answer["body_b64"]).decode()


def paths(server):
    return [path.rsplit("/Rest/", 1)[1] for path, _ in server.seen]


def test_the_agent_logs_on_itself_and_adds_its_session(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    for _ in range(3):
        answer = perform(agent, call())
        assert answer["status"] == 200 and "<Row>" in body(answer)
    assert paths(server) == ["Logon", "Query/Query", "Query/Query", "Query/Query"]
    logon, *queries = [query for _, query in server.seen]
    assert logon["OperatorPassword"] == "demo"  # the password went to SYSPRO, and only there
    session = next(iter(server.app.sessions))
    assert {q["UserId"] for q in queries} == {session}


def test_a_session_id_from_the_server_is_replaced_by_the_agents(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    perform(agent, call(UserId="SERVER-SESSION", BusinessObject="COMFND", XmlIn=COMFND))
    assert server.seen[-1][1]["UserId"] in server.app.sessions


def test_a_lost_session_is_logged_on_again_once_and_the_call_sent_again(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    perform(agent, call())
    server.app.expire_sessions()  # an e.net service restart
    answer = perform(agent, call())
    assert answer["status"] == 200 and "<Row>" in body(answer)
    assert paths(server) == ["Logon", "Query/Query", "Query/Query", "Logon", "Query/Query"]


def test_threads_that_find_the_session_gone_together_log_on_once(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    perform(agent, call())
    server.app.expire_sessions()
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(perform(agent, call()))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all("<Row>" in body(a) for a in answers)
    assert paths(server).count("Logon") == 2


def test_a_session_id_in_syspros_answer_never_goes_back_to_the_server(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    answer = perform(agent, call("GetLogonProfile", UserId=""))
    assert "<OperatorCode>ADMIN</OperatorCode>" in body(answer)
    # Sessions keep ending straight after logon: SYSPRO's error names the UserId.
    original = server.app.handle

    def ending(request):
        if request.path.endswith("/Query/Query"):
            server.app.expire_sessions()
        return original(request)

    server.app.handle = ending
    answer = perform(agent, call())
    text = body(answer)
    assert text.startswith("ERROR") and "not logged on" in text
    assert SESSION_MASK in text
    for _, query in server.seen:
        if "UserId" in query:
            assert query["UserId"] not in text


def test_a_refused_logon_answers_syspros_words_without_the_password(syspro_sandbox):
    server = syspro_sandbox(operators={"ADMIN": {"password": "other", "modules": ["AR"]}})
    agent = enet([server.url])
    answer = perform(agent, call())
    assert answer["status"] == 200
    assert body(answer).startswith("ERROR: Invalid operator 'ADMIN' or password")
    assert "demo" not in body(answer)
    assert paths(server) == ["Logon"]  # the business object was never called


def test_without_credentials_the_agent_mode_is_refused_and_nothing_sent(syspro_sandbox):
    server = syspro_sandbox()
    answer = perform(enet([server.url], credentials=False), call())
    assert answer == {"error": "refused", "message": "this agent holds no SYSPRO credentials"}
    assert server.seen == [] and server.gate.accepted == []


@pytest.mark.parametrize("operation", ["Logon", "Logoff"])
def test_the_agent_mode_refuses_a_relayed_logon_or_logoff(syspro_sandbox, operation):
    server = syspro_sandbox()
    answer = perform(enet([server.url]), call(operation, Operator="ADMIN"))
    assert answer["error"] == "refused"
    assert server.seen == []


def test_the_server_mode_relays_the_query_as_given(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url], credentials=False)
    logon = call(
        "Logon",
        session="server",
        Operator="ADMIN",
        OperatorPassword="demo",
        CompanyId="EDU1",
        CompanyPassword="demo",
    )
    user_id = body(perform(agent, logon)).strip()
    assert user_id in server.app.sessions  # the server's own session, relayed back
    answer = perform(
        agent, call(session="server", UserId=user_id, BusinessObject="COMFND", XmlIn=COMFND)
    )
    assert "<Row>" in body(answer)
    assert server.seen[-1][1]["UserId"] == user_id


def test_an_unreachable_base_url_answers_unreachable_and_the_next_one_is_tried(syspro_sandbox):
    closed = f"http://127.0.0.1:{free_port()}"
    assert perform(enet([closed]), call())["error"] == "unreachable"
    server = syspro_sandbox()
    answer = perform(enet([closed, server.url]), call())
    assert "<Row>" in body(answer)


def test_no_answer_within_the_deadline_is_a_timeout(syspro_sandbox):
    server = syspro_sandbox()
    SandboxControl(server.url).faults(latency=3.0)
    started = time.monotonic()
    answer = perform(enet([server.url]), call(deadline_s=1))
    assert answer["error"] == "timeout"
    assert time.monotonic() - started < 2


def test_a_call_past_its_deadline_is_not_sent(syspro_sandbox):
    server = syspro_sandbox()
    agent = enet([server.url])
    answer = agent.perform(call(), time.monotonic() - 1)
    assert answer["error"] == "timeout"
    assert server.seen == []


def test_an_answer_over_the_bound_is_too_large_and_not_relayed(syspro_sandbox):
    server = syspro_sandbox()
    answer = perform(enet([server.url], max_answer_bytes=200), call())
    assert answer["error"] == "too_large"
    assert "body_b64" not in answer


class _Redirecting(BaseHTTPRequestHandler):
    target = ""
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_redirect_is_answered_as_it_is_never_followed(syspro_sandbox):
    elsewhere = syspro_sandbox()
    handler = type("H", (_Redirecting,), {"target": elsewhere.url + "/secret", "hits": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        agent = enet([f"http://127.0.0.1:{httpd.server_address[1]}"], credentials=False)
        answer = perform(
            agent, call(session="server", UserId="x", BusinessObject="A", XmlIn="<a/>")
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert answer["status"] == 302
    assert len(handler.hits) == 1
    assert elsewhere.seen == []
