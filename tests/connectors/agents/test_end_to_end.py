"""The real ``clarity-agent`` program (agent/) against the live server's relay endpoints:
a SYSPRO connection "through an agent" reads and writes a sandbox only the agent is
configured for; the agent killed and restarted carries on; a revoked token is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.agents.models import Agent
from connectors.agents.services import agent_counts, agent_revoke, relay
from connectors.base import WriteStatus
from connectors.configs import connector_for
from connectors.http import RetryPolicy

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_DIR = Path(__file__).resolve().parents[3] / "agent"


def start_agent(tmp_path: Path, server_url: str, token: str, syspro_url: str) -> subprocess.Popen:
    config = tmp_path / "agent.toml"
    config.write_text(
        "[server]\n"
        f'url = "{server_url}"\ntoken = "{token}"\nallow_plain_http = true\n'
        "[syspro]\n"
        f'base_urls = ["{syspro_url}"]\n'
        'operator = "ADMIN"\noperator_password = "demo"\n'
        'company_id = "EDU1"\ncompany_password = "demo"\n'
        "[limits]\npoll_wait_s = 2\n"
    )
    env = {**os.environ, "PYTHONPATH": str(AGENT_DIR)}
    return subprocess.Popen(
        [sys.executable, "-m", "clarity_agent", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_online(agent: Agent, since: float = 0.0) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        agent.refresh_from_db()
        if agent.last_heartbeat and agent.last_heartbeat.timestamp() > since:
            return
        time.sleep(0.1)
    raise AssertionError("the agent never polled")


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_the_real_agent_relays_a_syspro_connection(
    tmp_path, live_server, start_sandbox, agent_connection, new_agent, processes
):
    syspro = start_sandbox("syspro")
    connection = agent_connection()
    agent, token = new_agent(connection)
    processes.append(start_agent(tmp_path, live_server.url, token, syspro.url))
    wait_online(agent)
    connector = connector_for(connection)
    connector.http.retry = RetryPolicy(backoff_base=0.05, backoff_max=0.2)

    assert connector.test_connection().connected_as
    assert connector.read_one("ArCustomer", "0000001")
    [outcome] = connector.write_batch("ArCustomer", [{"Customer": "0000007", "Telephone": "9"}])
    assert outcome.status is WriteStatus.UPDATED
    time.sleep(0.5)  # the count follows the answer's delivery to the caller
    agent.refresh_from_db()
    calls_served, errors = agent_counts(agent)
    assert calls_served >= 4 and errors == 0
    assert agent.version and agent.host

    # Killed outright, then started again: the connection carries on.
    processes[0].kill()
    processes[0].wait()
    restarted_at = time.time()
    processes.append(start_agent(tmp_path, live_server.url, token, syspro.url))
    wait_online(agent, since=restarted_at)
    assert connector.read_one("ArCustomer", "0000002")

    # Revoked: its next poll is refused and the connection counts as offline at once.
    agent_revoke(agent=agent)
    assert not relay().online(str(connection.pk))
    processes[1].send_signal(signal.SIGTERM)
    output = processes[1].communicate(timeout=40)[0].decode()
    assert token not in output and "demo" not in output  # no secret in its logs
