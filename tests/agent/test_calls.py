"""The agent's allowlist: only e.net's REST operations, only the configured base URL, bounded
sizes and times. Pure checks; that refused calls never reach SYSPRO is in test_relay."""

from __future__ import annotations

import base64

import pytest
from clarity_agent.calls import OPERATIONS, ROOT, Refused, check
from hypothesis import given
from hypothesis import strategies as st

MB = 1024 * 1024


def request(**overrides):
    return {
        "id": "a" * 32,
        "method": "GET",
        "path": ROOT + "Query/Query",
        "query": {"BusinessObject": "COMFND", "XmlIn": "<Query/>"},
        "headers": {"Accept": "text/plain"},
        "body_b64": "",
        "deadline_s": 30,
        "session": "agent",
        **overrides,
    }


def test_an_enet_call_passes_with_its_query_and_deadline():
    call = check(request(), max_bytes=MB, max_deadline_s=300)
    assert (call.method, call.path, call.session) == ("GET", ROOT + "Query/Query", "agent")
    assert call.query == {"BusinessObject": "COMFND", "XmlIn": "<Query/>"}
    assert call.deadline_s == 30


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_enet_operation_passes(operation):
    assert check(request(path=ROOT + operation), max_bytes=MB, max_deadline_s=300).operation


@pytest.mark.parametrize(
    "path",
    [
        "/SYSPROWCFService/Rest/../../admin",
        "/SYSPROWCFService/Rest/Query/../../../etc/passwd",
        "/SYSPROWCFService/Rest/Query/%2e%2e/%2e%2e/secret",
        "/SYSPROWCFService/Rest//evil.example/Query/Query",
        "/SYSPROWCFService/Rest/Query/Query/extra",
        "/SYSPROWCFService/Rest/Query/Query?x=1",
        "/SYSPROWCFService/Rest/Query/Query#frag",
        "/SYSPROWCFService/Rest/Query%2FQuery",
        "/SYSPROWCFService/Rest/Query\\Query",
        "/SYSPROWCFService/Rest/query/query",  # not e.net's spelling: refused, not guessed
        "/SYSPROWCFService/Rest/",
        "/SYSPROWCFService/Rest/Utilities/Run",  # runs any SYSPRO program: not relayed
        "//169.254.169.254/latest/meta-data",
        "http://169.254.169.254/latest/meta-data",
        "https://evil.example/SYSPROWCFService/Rest/Query/Query",
        "@evil.example/SYSPROWCFService/Rest/Logon",
        ":8080/SYSPROWCFService/Rest/Logon",
        "/admin",
        "",
        None,
        42,
    ],
)
def test_anything_but_an_enet_path_is_refused(path):
    with pytest.raises(Refused):
        check(request(path=path), max_bytes=MB, max_deadline_s=300)


@given(st.text(max_size=60))
def test_no_text_after_the_root_passes_unless_it_is_an_operation(tail):
    try:
        call = check(request(path=ROOT + tail), max_bytes=MB, max_deadline_s=300)
    except Refused:
        return
    assert call.operation in OPERATIONS and call.path == ROOT + tail


@pytest.mark.parametrize(
    "overrides",
    [
        {"method": "DELETE"},
        {"method": "CONNECT"},
        {"method": "get"},
        {"id": "../x"},
        {"id": None},
        {"query": {"a": 1}},
        {"query": [["a", "b"]]},
        {"query": {str(i): "v" for i in range(21)}},
        {"headers": {"Accept": "a\r\nX-Injected: 1"}},
        {"headers": "Accept: */*"},
        {"body_b64": "not base64!"},
        {"body_b64": 5},
        {"deadline_s": 0},
        {"deadline_s": -3},
        {"deadline_s": "60"},
        {"deadline_s": True},
        {"session": "root"},
    ],
)
def test_malformed_calls_are_refused(overrides):
    with pytest.raises(Refused):
        check(request(**overrides), max_bytes=MB, max_deadline_s=300)


def test_only_headers_that_do_not_redirect_the_call_are_forwarded():
    headers = {
        "accept": "text/plain",
        "Host": "evil.example",
        "Authorization": "Basic eDp5",
        "Cookie": "a=b",
        "X-Forwarded-Host": "evil.example",
        "Content-Type": "application/xml",
    }
    call = check(request(headers=headers), max_bytes=MB, max_deadline_s=300)
    assert call.headers == {"accept": "text/plain", "Content-Type": "application/xml"}


def test_sizes_are_bounded_before_decoding():
    body = base64.b64encode(b"x" * (MB + 1)).decode()
    with pytest.raises(Refused, match="over the agent's bound"):
        check(request(method="POST", body_b64=body), max_bytes=MB, max_deadline_s=300)
    big_query = {"XmlIn": "x" * MB}
    with pytest.raises(Refused, match="over the agent's bound"):
        check(request(query=big_query), max_bytes=MB, max_deadline_s=300)
    assert check(request(query={"XmlIn": "x" * 1000}), max_bytes=MB, max_deadline_s=300)


def test_a_deadline_is_capped_by_the_agents_own_bound():
    call = check(request(deadline_s=10_000), max_bytes=MB, max_deadline_s=120)
    assert call.deadline_s == 120
