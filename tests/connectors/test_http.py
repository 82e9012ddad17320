"""HttpClient against a real sandbox over loopback: retries, backoff, classification."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.errors import ConnectorError, ErrorCode, ErrorKind, RateLimitedError
from connectors.http import HttpClient, RetryPolicy, classify_status, parse_retry_after
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer

FAST = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05, max_retry_after=2)


@pytest.fixture
def ctl(demo_server: SandboxServer) -> SandboxControl:
    return SandboxControl(demo_server.url)


def client(server: SandboxServer, **kwargs: Any) -> tuple[HttpClient, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("retry", FAST)
    return HttpClient(server.url, sleep=slept.append, timeout=(2, 1), **kwargs), slept


def test_get_retries_5xx_and_resets_then_succeeds(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    ctl.faults(next=["5xx", "reset", "5xx"])
    http, slept = client(demo_server)
    assert http.request("GET", "/widgets").status_code == 200
    assert len(slept) == 3
    assert all(0 < s <= 0.05 for s in slept)


def test_retries_are_bounded(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(shares={"5xx": 1.0})
    http, slept = client(demo_server)
    with pytest.raises(ConnectorError) as caught:
        http.request("GET", "/widgets")
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert caught.value.code == ErrorCode.SERVER_ERROR
    assert len(slept) == FAST.attempts - 1
    assert ctl.stats()["requests"] == FAST.attempts


def test_unsafe_post_is_not_repeated_after_a_reset(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    ctl.faults(next=["reset"])
    http, _ = client(demo_server)
    with pytest.raises(ConnectorError) as caught:
        http.request("POST", "/widgets", json={"name": "x"})
    assert caught.value.outcome_unknown
    assert caught.value.code == ErrorCode.OUTCOME_UNKNOWN
    assert ctl.stats()["requests"] == 1


def test_post_with_idempotency_is_repeated(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(next=["5xx", "timeout"], timeout_seconds=1.5)
    http, _ = client(demo_server)
    response = http.request("POST", "/widgets", json={"name": "x"}, idempotent=True)
    assert response.status_code == 201
    assert ctl.stats()["created"] == {"widgets": 1}


def test_read_timeout_is_transient(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(shares={"timeout": 1.0}, timeout_seconds=1.5)
    http, _ = client(demo_server, retry=RetryPolicy(attempts=1))
    with pytest.raises(ConnectorError) as caught:
        http.request("GET", "/widgets")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, ErrorCode.TIMEOUT)


def test_short_429_waits_retry_after(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(next=["429", "429"], retry_after=1)
    http, slept = client(demo_server)
    assert http.request("POST", "/widgets", json={"name": "x"}).status_code == 201
    assert slept == [1.0, 1.0]


def test_long_429_is_handed_back_to_the_caller(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    ctl.faults(next=["429"], retry_after=30)
    http, slept = client(demo_server, rate_limit_of=lambda r: "burst")
    with pytest.raises(RateLimitedError) as caught:
        http.request("GET", "/widgets")
    assert caught.value.retry_after == 30
    assert caught.value.limit == "burst"
    assert slept == []


def test_401_reauthenticates_once(demo_server: SandboxServer) -> None:
    token = {"value": "stale"}
    refreshes: list[str] = []

    def refresh() -> None:
        refreshes.append(token["value"])
        token["value"] = "good"

    http, _ = client(
        demo_server,
        auth=lambda: {"Authorization": f"Bearer {token['value']}"},
        reauthenticate=refresh,
    )
    assert http.request("GET", "/secure").json() == {"ok": True}
    assert refreshes == ["stale"]


def test_401_after_refresh_is_an_auth_error(demo_server: SandboxServer) -> None:
    http, _ = client(demo_server, auth=lambda: {"Authorization": "Bearer bad"})
    with pytest.raises(ConnectorError) as caught:
        http.request("GET", "/secure")
    assert caught.value.kind is ErrorKind.AUTH


def test_describe_error_hook_words_the_message(demo_server: SandboxServer) -> None:
    def describe(response: requests.Response, body: Any) -> tuple[str, str]:
        return "widget_invalid", f"The widget was refused: {body['problem']}."

    http, _ = client(demo_server, describe_error=describe)
    with pytest.raises(ConnectorError) as caught:
        http.request("POST", "/widgets", json={})
    error = caught.value
    assert (error.kind, error.code, error.status) == (ErrorKind.DATA, "widget_invalid", 400)
    assert error.message == "The widget was refused: name is required."
    assert error.raw == {"problem": "name is required"}


def test_accepted_statuses_are_returned(demo_server: SandboxServer) -> None:
    http, _ = client(demo_server)
    assert http.request("GET", "/widgets/nope", accept=(404,)).status_code == 404


def test_connection_refused_is_transient() -> None:
    http = HttpClient("http://127.0.0.1:9", retry=FAST, sleep=lambda s: None)
    with pytest.raises(ConnectorError) as caught:
        http.request("POST", "/x", json={})
    assert caught.value.code == ErrorCode.CONNECTION_FAILED
    assert not caught.value.outcome_unknown


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.DATA),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (404, ErrorKind.DATA),
        (405, ErrorKind.CONFIG),
        (429, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
    ],
)
def test_classify_status(status: int, kind: ErrorKind) -> None:
    assert classify_status(status)[0] is kind


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None


def test_secrets_are_not_logged(
    demo_server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="connectors.http")
    http, _ = client(demo_server, auth=lambda: {"Authorization": "Bearer good"})
    http.request("GET", "/secure", params={"token": "s3cret"})
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "connectors.http")
    assert "/secure" in logged
    assert "good" not in logged
    assert "s3cret" not in logged


def test_a_repeated_write_that_may_have_landed_reports_the_outcome_unknown(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    """Every try answered 5xx: any of them may have been applied before the server failed."""
    ctl.faults(shares={"5xx": 1.0})
    http, _ = client(demo_server)
    with pytest.raises(ConnectorError) as caught:
        http.request("POST", "/widgets", json={"name": "x"}, idempotent=True)
    assert caught.value.outcome_unknown
    assert caught.value.code == ErrorCode.OUTCOME_UNKNOWN
    assert ctl.stats()["requests"] == FAST.attempts


def test_a_429_after_a_write_timed_out_still_reports_the_outcome_unknown(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    """The 429 itself did nothing, but the timed-out try before it may have landed."""
    ctl.faults(next=["timeout", "429"], retry_after=30, timeout_seconds=1.5)
    http, _ = client(demo_server)
    with pytest.raises(RateLimitedError) as caught:
        http.request("POST", "/widgets", json={"name": "x"}, idempotent=True)
    assert caught.value.outcome_unknown
    assert caught.value.retry_after == 30


def test_a_read_that_fails_is_never_unknown(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    ctl.faults(next=["timeout", "429"], retry_after=30, timeout_seconds=1.5)
    http, _ = client(demo_server)
    with pytest.raises(RateLimitedError) as caught:
        http.request("GET", "/widgets")
    assert not caught.value.outcome_unknown
