"""How the agent splits its threads between its long-polls: every poller has a share of
its own, so one poll's batch never leaves another poll with nothing to ask for (with one
shared budget the first poll reserved every free thread and the second waited: about
one poll was in flight), and the server session reads the environment once."""

from __future__ import annotations

import threading

import pytest
import requests
from clarity_agent.config import parse
from clarity_agent.relay import MAX_PER_POLL, MAX_POLLERS, Agent, shares

from tests.agent.conftest import agent_settings

TOKEN = "cca_" + "t" * 43


def agent(threads: int) -> Agent:
    return Agent(parse(agent_settings("https://c.example", TOKEN, ["http://s:1"], threads=threads)))


@pytest.mark.parametrize(
    ("threads", "expected"),
    [(1, [1]), (2, [1, 1]), (8, [4, 4]), (9, [5, 4]), (64, [32, 32])],
)
def test_threads_are_split_as_evenly_as_can_be(threads, expected):
    assert shares(threads) == expected
    assert len(shares(threads)) <= MAX_POLLERS and sum(shares(threads)) == threads


def test_one_polls_reservation_leaves_the_other_poll_its_share():
    relay = agent(8)
    first, second = relay._shares
    assert relay._reserve(first) == 4  # all the first poller's threads …
    assert relay._reserve(second) == 4  # … and the second still asks for its own, at once


def test_a_poll_asks_for_no_more_than_its_share_has_free():
    relay = agent(8)
    first, _ = relay._shares
    first.acquire()  # a call of this poller's is being performed
    first.acquire()
    assert relay._reserve(first) == 2
    assert relay._reserve(threading.Semaphore(40)) == MAX_PER_POLL  # the server's bound


def test_a_poller_with_its_share_busy_waits_for_a_thread_then_polls_anyway():
    relay = agent(2)
    first, second = relay._shares
    assert relay._reserve(first) == 1
    freed = threading.Timer(0.1, first.release)
    freed.start()
    assert relay._reserve(first) == 1  # a thread came free: it asks for that one
    assert relay._reserve(second) == 1  # the other poller was never held up


def test_the_server_session_reads_proxies_once_and_ignores_netrc(monkeypatch, tmp_path):
    (tmp_path / ".netrc").write_text("machine c.example login x password leaked\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.customer:3128")
    relay = agent(2)
    assert relay._server_settings["proxies"]["https"] == "http://proxy.customer:3128"
    session = relay._server()
    assert session.trust_env is False  # no per-call look at the environment or .netrc
    prepared = session.prepare_request(requests.Request("POST", "https://c.example/agent/v1/poll"))
    assert prepared.headers["Authorization"] == f"Bearer {TOKEN}"
