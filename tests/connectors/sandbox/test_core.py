from __future__ import annotations

import concurrent.futures

import pytest
import requests

from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer


@pytest.fixture
def ctl(demo_server: SandboxServer) -> SandboxControl:
    return SandboxControl(demo_server.url)


def test_routes_path_params_and_errors(demo_server: SandboxServer) -> None:
    url = demo_server.url
    assert requests.get(f"{url}/widgets/w1", timeout=5).json()["name"] == "seeded"
    assert requests.get(f"{url}/widgets/nope", timeout=5).status_code == 404
    assert requests.get(f"{url}/nowhere", timeout=5).status_code == 404
    assert requests.delete(f"{url}/widgets", timeout=5).status_code == 405
    bad = requests.post(f"{url}/widgets", data=b"{not json", timeout=5)
    assert bad.status_code == 400


def test_stats_count_created_records_and_reset_reseeds(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    for name in ("a", "b"):
        requests.post(f"{demo_server.url}/widgets", json={"name": name}, timeout=5)
    stats = ctl.stats()
    assert stats["created"] == {"widgets": 2}
    assert stats["requests"] == 2
    ctl.reset()
    assert ctl.stats()["requests"] == 0
    assert len(requests.get(f"{demo_server.url}/widgets", timeout=5).json()) == 1


def test_queued_faults_fire_in_order(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(next=["5xx", "429", "reset"], retry_after=7)
    session = requests.Session()
    first = session.get(f"{demo_server.url}/widgets", timeout=5)
    assert first.status_code in (500, 502, 503)
    second = session.get(f"{demo_server.url}/widgets", timeout=5)
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "7"
    with pytest.raises(requests.ConnectionError):
        session.get(f"{demo_server.url}/widgets", timeout=5)
    assert session.get(f"{demo_server.url}/widgets", timeout=5).status_code == 200
    assert ctl.stats()["faults"] == {"5xx": 1, "429": 1, "reset": 1}


def test_queued_faults_can_wait_for_a_write(
    demo_server: SandboxServer, ctl: SandboxControl
) -> None:
    """ "The next write's answer is lost": reads that come first pass untouched, and the
    write lands although its answer never comes back."""
    ctl.faults(next=["reset_after"], next_methods=["post"])
    assert requests.get(f"{demo_server.url}/widgets", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{demo_server.url}/widgets", json={"name": "lost"}, timeout=5)
    names = [w["name"] for w in requests.get(f"{demo_server.url}/widgets", timeout=5).json()]
    assert "lost" in names
    assert ctl.stats()["faults"] == {"reset_after": 1}


def test_timeout_fault_holds_the_request(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(next=["timeout"], timeout_seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{demo_server.url}/widgets", timeout=(2, 0.3))


def test_shares_draw_faults_at_random(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.faults(shares={"5xx": 1.0})
    assert requests.get(f"{demo_server.url}/widgets", timeout=5).status_code >= 500
    ctl.faults()
    assert requests.get(f"{demo_server.url}/widgets", timeout=5).status_code == 200


def test_unknown_fault_is_refused(ctl: SandboxControl) -> None:
    with pytest.raises(requests.HTTPError):
        ctl.faults(next=["gremlins"])


def test_window_limit_per_scope_with_headers(demo_server: SandboxServer) -> None:
    url, headers = f"{demo_server.url}/widgets", {"tenant": "t1"}
    remaining = [
        requests.get(url, headers=headers, timeout=5).headers["X-Remaining"] for _ in range(5)
    ]
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = requests.get(url, headers=headers, timeout=5)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert requests.get(url, headers={"tenant": "t2"}, timeout=5).status_code == 200
    assert requests.get(url, timeout=5).status_code == 200  # rule does not apply without scope


def test_limits_can_be_changed_at_run_time(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    assert ctl.limits(minute=1)["minute"] == 1
    url, headers = f"{demo_server.url}/widgets", {"tenant": "t1"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    assert requests.get(url, headers=headers, timeout=5).status_code == 429
    assert ctl.stats()["rate_limited"] == 1


def test_concurrency_cap(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.limits(minute=100)
    ctl.faults(latency=0.3)
    url = f"{demo_server.url}/widgets"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(url, headers={"tenant": "t"}, timeout=5).status_code,
                range(4),
            )
        )
    assert sorted(statuses) == [200, 200, 429, 429]


def test_clock_moves_window_expiry(demo_server: SandboxServer, ctl: SandboxControl) -> None:
    ctl.limits(minute=1)
    url, headers = f"{demo_server.url}/widgets", {"tenant": "t1"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    assert requests.get(url, headers=headers, timeout=5).status_code == 429
    ctl.advance_clock(61)
    assert requests.get(url, headers=headers, timeout=5).status_code == 200


def test_server_only_listens_on_loopback(demo_server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(demo_server.app, host="0.0.0.0")  # noqa: S104
