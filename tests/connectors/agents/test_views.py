"""The relay endpoints over the live server: tokens, binding to one connection, answers
only from the agent a call was issued to, and bounded sizes."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from connectors.agents.services import agent_counts, agent_revoke, relay
from connectors.models import Connection

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, endpoint: str, token: str | None, body: Any = None, **kw: Any):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if isinstance(body, str):  # raw JSON text, e.g. NaN, which requests will not write
        kw["data"], body = body, None
    return requests.post(f"{url}/agent/v1/{endpoint}", json=body, headers=headers, timeout=30, **kw)


def poll(url: str, token: str, wait_s: float = 0) -> requests.Response:
    return call(url, "poll", token, {"agent_version": "1", "host": "h", "wait_s": wait_s})


def queued(connection: Connection, deadline_s: float = 10, **extra: Any) -> str:
    request = {"method": "GET", "path": "/SYSPROWCFService/Rest/GetLogonProfile", "query": {}}
    return relay().submit(str(connection.pk), {**request, **extra}, deadline_s=deadline_s)


def ok_answer(request_id: str, text: str = "fine") -> dict[str, Any]:
    body = base64.b64encode(text.encode()).decode()
    return {"id": request_id, "status": 200, "headers": {}, "body_b64": body}


def test_poll_is_the_heartbeat_and_answers_204_when_idle(live_server, agent_connection, new_agent):
    agent, token = new_agent(agent_connection())
    response = poll(live_server.url, token)
    assert response.status_code == 204
    agent.refresh_from_db()
    assert (agent.version, agent.host) == ("1", "h")
    assert agent.last_heartbeat is not None
    assert relay().online(str(agent.connection_id))


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Bearer cca_guess", "Basic dXNlcg=="])
def test_missing_or_unknown_tokens_are_refused(live_server, agent_connection, header):
    agent_connection()
    headers = {"Authorization": header} if header is not None else {}
    for endpoint in ("poll", "answer"):
        response = requests.post(
            f"{live_server.url}/agent/v1/{endpoint}", json={}, headers=headers, timeout=10
        )
        assert response.status_code == 401
        assert "WWW-Authenticate" in response.headers


def test_a_revoked_token_is_refused_at_once(live_server, agent_connection, new_agent):
    connection = agent_connection()
    agent, token = new_agent(connection)
    assert poll(live_server.url, token).status_code == 204
    request_id = queued(connection)
    assert poll(live_server.url, token).status_code == 200  # it holds a call now
    agent_revoke(agent=agent)
    assert poll(live_server.url, token).status_code == 401
    assert call(live_server.url, "answer", token, ok_answer(request_id)).status_code == 401
    assert not relay().online(str(connection.pk))  # calls wait as "agent offline" at once


def test_an_agent_claims_only_its_own_connections_calls(live_server, agent_connection, new_agent):
    ours, theirs = agent_connection("ours"), agent_connection("theirs")
    _, our_token = new_agent(ours)
    _, their_token = new_agent(theirs)
    request_id = queued(ours)
    assert poll(live_server.url, their_token).status_code == 204
    claimed = poll(live_server.url, our_token).json()["requests"]
    assert [r["id"] for r in claimed] == [request_id]
    assert claimed[0]["path"] == "/SYSPROWCFService/Rest/GetLogonProfile"
    assert 0 < claimed[0]["deadline_s"] <= 10


def test_only_the_agent_a_call_was_issued_to_may_answer_it(
    live_server, agent_connection, new_agent
):
    ours, theirs = agent_connection("ours"), agent_connection("theirs")
    _, token = new_agent(ours)
    _, sibling = new_agent(ours)  # another agent of the same connection
    _, stranger = new_agent(theirs)
    request_id = queued(ours)
    poll(live_server.url, token)
    forged = "0" * 32
    for who, request in ((stranger, request_id), (sibling, request_id), (token, forged)):
        response = call(live_server.url, "answer", who, ok_answer(request, "forged"))
        assert response.status_code == 409
    assert call(live_server.url, "answer", token, ok_answer(request_id)).status_code == 204
    again = call(live_server.url, "answer", token, ok_answer(request_id, "twice"))
    assert again.status_code == 409
    outcome = relay().wait(str(ours.pk), request_id, deadline_s=1)
    assert base64.b64decode(outcome.answer["body_b64"]) == b"fine"  # never the forged one


def test_an_answer_after_the_caller_gave_up_is_refused(live_server, agent_connection, new_agent):
    connection = agent_connection()
    agent, token = new_agent(connection)
    request_id = queued(connection, deadline_s=0.5)
    assert poll(live_server.url, token).status_code == 200
    assert relay().wait(str(connection.pk), request_id, deadline_s=0.5).state == "expired"
    assert call(live_server.url, "answer", token, ok_answer(request_id)).status_code == 409
    agent.refresh_from_db()
    assert agent.calls_served == 0


def test_a_call_nobody_took_in_time_is_never_handed_out(live_server, agent_connection, new_agent):
    connection = agent_connection()
    _, token = new_agent(connection)
    request_id = queued(connection, deadline_s=0.3)
    assert relay().wait(str(connection.pk), request_id, deadline_s=0.3).state == "withdrawn"
    assert poll(live_server.url, token).status_code == 204


def test_several_agents_serve_each_call_once(live_server, agent_connection, new_agent):
    connection = agent_connection()
    tokens = [new_agent(connection)[1] for _ in range(3)]
    ids = {queued(connection, deadline_s=30) for _ in range(60)}
    taken: list[str] = []
    lock = threading.Lock()

    def drain(token: str) -> None:
        while (response := poll(live_server.url, token, wait_s=0.5)).status_code == 200:
            with lock:
                taken.extend(r["id"] for r in response.json()["requests"])

    threads = [threading.Thread(target=drain, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == sorted(ids)  # every call once, none twice


def test_a_poll_hands_out_at_most_max_calls(live_server, agent_connection, new_agent):
    connection = agent_connection()
    _, token = new_agent(connection)
    for _ in range(5):
        queued(connection)
    body = {"agent_version": "1", "host": "h", "wait_s": 0, "max": 2}
    assert len(call(live_server.url, "poll", token, body).json()["requests"]) == 2


@pytest.mark.parametrize(
    ("endpoint", "body", "status"),
    [
        ("poll", {"agent_version": "1", "host": "h" * 70_000, "wait_s": 0}, 413),
        ("poll", {"agent_version": 1, "host": "h", "wait_s": 0}, 400),
        ("poll", {"agent_version": "1", "host": "h", "wait_s": "forever"}, 400),
        ("poll", [1, 2], 400),
        ("poll", '{"agent_version": "1", "host": "h", "wait_s": NaN}', 400),
        ("poll", '{"agent_version": "1", "host": "h", "wait_s": Infinity}', 400),
        ("answer", {"id": "x", "status": 200, "body_b64": "A" * (14 * 1024 * 1024)}, 413),
        ("answer", {"id": "x", "status": 200, "body_b64": "A" * 13_981_020}, 413),
        ("answer", {"id": "x", "status": 200, "body_b64": "not base64!"}, 400),
        ("answer", {"id": "x", "status": 9999, "body_b64": ""}, 400),
        ("answer", {"id": "x", "error": "exploded", "message": ""}, 400),
        ("answer", {"status": 200, "body_b64": ""}, 400),
        ("answer", {"id": "x", "status": 200, "headers": {str(i): "v" for i in range(30)}}, 400),
    ],
)
def test_sizes_and_shapes_are_bounded(
    live_server, agent_connection, new_agent, endpoint, body, status
):
    _, token = new_agent(agent_connection())
    assert call(live_server.url, endpoint, token, body).status_code == status


def test_an_answer_keeps_only_the_headers_a_caller_reads(live_server, agent_connection, new_agent):
    connection = agent_connection()
    _, token = new_agent(connection)
    request_id = queued(connection)
    poll(live_server.url, token)
    answer = ok_answer(request_id)
    answer["headers"] = {"content-type": "text/plain", "Set-Cookie": "a=b", "X-Other": "1"}
    assert call(live_server.url, "answer", token, answer).status_code == 204
    outcome = relay().wait(str(connection.pk), request_id, deadline_s=1)
    assert outcome.answer["headers"] == {"Content-Type": "text/plain"}


def test_error_answers_are_counted(live_server, agent_connection, new_agent: Callable[..., Any]):
    connection = agent_connection()
    agent, token = new_agent(connection)
    first, second = queued(connection), queued(connection)
    poll(live_server.url, token)
    call(live_server.url, "answer", token, ok_answer(first))
    error = {"id": second, "error": "unreachable", "message": "connection refused"}
    assert call(live_server.url, "answer", token, error).status_code == 204
    agent.refresh_from_db()
    assert agent_counts(agent) == (2, 1)  # the row's and those not yet flushed to it


def test_a_poll_waiting_when_its_agent_is_revoked_takes_nothing(
    live_server, agent_connection, new_agent
):
    connection = agent_connection()
    agent, token = new_agent(connection)
    _, other = new_agent(connection)
    answers: list[requests.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(poll(live_server.url, token, 4)))
    waiting.start()
    time.sleep(1)  # the poll is waiting in Redis now
    agent_revoke(agent=agent)
    request_id = queued(connection)
    waiting.join(timeout=30)
    assert answers[0].status_code == 204  # the revoked agent got nothing
    assert not relay().online(str(connection.pk))
    taken = poll(live_server.url, other).json()["requests"]
    assert [r["id"] for r in taken] == [request_id]  # still there for a live agent


def test_a_heartbeat_after_revocation_does_not_bring_an_agent_back(agent_connection, new_agent):
    connection = agent_connection()
    agent, _ = new_agent(connection)
    agent_revoke(agent=agent)
    relay().heartbeat(str(connection.pk), str(agent.pk))  # a poll that began before
    assert not relay().online(str(connection.pk))
