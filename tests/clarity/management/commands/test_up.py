"""The README's run command: an admin you can log into, a worker that runs jobs, Ctrl-C stops all,
a console that keeps the banner in sight, and a second start that works like the first.

Runs ``manage.py up`` for real with no DATABASE_URL or REDIS_URL: SQLite in a
temporary folder and the embedded Redis (forced, since CI has redis-server).
Ctrl-C is sent as a terminal sends it: SIGINT to the whole foreground process
group, ``up`` and every child it started.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from connectors.sandbox.registry import DEFAULT_PORTS, PORTS_ENV
from devtools.localservers import free_port, up_stack, wait_for_log

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def sandbox_ports(monkeypatch) -> dict[str, int]:
    """Sandboxes on free ports: another demo on this machine must not answer for them."""
    ports = {system: free_port() for system in DEFAULT_PORTS}
    monkeypatch.setenv(PORTS_ENV, ",".join(f"{name}={port}" for name, port in ports.items()))
    return ports


RUN_LINE = re.compile(
    r"^  \d\d:\d\d:\d\d  .+ · .+: (Succeeded|Finished with failures|Failed) — \d+ read, "
    r"\d+ succeeded, \d+ skipped, \d+ failed",
    re.MULTILINE,
)
STOP_LINES = {"Stopping…", "Stopped."}
LEGACY_FAILURE = re.compile(r"no entry for &#x27;LEGACY-001&#x27;", re.IGNORECASE)


def ctrl_c(proc: subprocess.Popen) -> None:
    """What a terminal does on Ctrl-C; then ``up`` must have stopped everything."""
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(60)
    assert proc.returncode == 0


def wait_for_demo_runs(var: Path, log: Path, proc: subprocess.Popen, starts: int) -> int:
    """Until every run the ``starts``-th demo load started has its line on the console."""
    seed_log = var / "log" / "seed_demo.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        started = re.findall(r"Started (\d+) demo run", seed_log.read_text())
        if len(started) >= starts and len(RUN_LINE.findall(log.read_text())) >= int(started[-1]):
            return int(started[-1])
        assert proc.poll() is None, log.read_text()
        time.sleep(1)
    raise AssertionError(f"the demo runs never all finished:\n{log.read_text()[-3000:]}")


def admin_session(base: str, log: Path, proc: subprocess.Popen) -> requests.Session:
    login = wait_for_log(r"superuser: (\S+) / (\S+)", log, proc)
    session = requests.Session()
    for _ in range(150):
        try:
            page = session.get(f"{base}/admin/login/", timeout=5)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        raise AssertionError(f"the web server never answered:\n{log.read_text()[-3000:]}")
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": csrf(page.text),
            "username": login.group(1),
            "password": login.group(2),
        },
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    assert response.url.endswith("/admin/"), response.text[:500]
    return session


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def log_sizes(var: Path) -> dict[Path, int]:
    return {path: path.stat().st_size for path in (var / "log").glob("*.log")}


def written_since(sizes: dict[Path, int], var: Path) -> str:
    return "".join(
        path.read_bytes()[sizes.get(path, 0) :].decode(errors="replace")
        for path in (var / "log").glob("*.log")
    )


def test_up_serves_runs_stops_and_starts_again_like_the_first(tmp_path, sandbox_ports):
    """One test, two starts: each start of the demo stack costs a minute or more of demo
    runs, so the second start (the sandboxes keep their records and tokens under
    var/sandboxes/: its runs find what the ledger says was delivered, and its tokens
    still work) follows the first one's checks instead of starting a third time."""
    var = tmp_path / "var"
    port = free_port()
    with up_stack(var, port) as (proc, log):
        wait_for_log(r"Clarity Connect is running", log, proc)
        assert (var / "clarity.sqlite3").exists()
        base = f"http://127.0.0.1:{port}"
        session = admin_session(base, log, proc)
        response = session.get(f"{base}/admin/", timeout=10)
        assert "Integration back office | Clarity Connect" in response.text
        assert "Ledger" in response.text

        # The demo runs each mapped flow once — in the RQ worker process, through Redis:
        # the ledger fills for real, failures included.
        failed_url = f"{base}/admin/clarity/syncrecord/?status=failed"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ledger_page = session.get(failed_url, timeout=10).text
            if LEGACY_FAILURE.search(ledger_page):
                break
            time.sleep(2)
        assert LEGACY_FAILURE.search(ledger_page), log.read_text()[-3000:]
        runs = session.get(f"{base}/admin/clarity/syncrun/", timeout=10).text
        assert "Finished with failures" in runs
        demo_runs = wait_for_demo_runs(var, log, proc, starts=1)

        before_stop = log_sizes(var)
        ctrl_c(proc)
        children = subprocess.run(
            ["pgrep", "-f", f"runserver 127.0.0.1:{port}"], capture_output=True, check=False
        )
        assert children.stdout == b""
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)

    # The console: the banner (URL, logins, where the logs are), one line per finished
    # run, and the stop — no log records, no traceback.
    console = log.read_text()
    assert "Traceback" not in console
    assert f"Clarity Connect is running: http://127.0.0.1:{port}/admin/" in console
    assert "superuser: admin / clarity-admin" in console
    assert f"Logs: {var / 'log'}/" in console
    lines = [line for line in console.splitlines() if line.strip()]
    assert len(RUN_LINE.findall(console)) >= demo_runs
    others = [line for line in lines if not RUN_LINE.match(line) and line not in STOP_LINES]
    # The banner's six lines; at most two more logged while Django starts, before it.
    assert len(others) <= 8, others

    # The details are in the log files, and stopping wrote no traceback there either.
    worker_log = (var / "log" / "worker.log").read_text()
    assert "connectors.http" in worker_log and "rq.worker" in worker_log
    assert "Starting development server" in (var / "log" / "web.log").read_text()
    assert "Traceback" not in written_since(before_stop, var)

    assert sorted(p.name for p in (var / "sandboxes").iterdir()) == [
        f"{system}.pickle" for system in sorted(DEFAULT_PORTS)
    ]
    first = ledger(var)

    port = free_port()
    with up_stack(var, port) as (proc, log):
        wait_for_log(r"Clarity Connect is running", log, proc)
        wait_for_demo_runs(var, log, proc, starts=2)
        assert "restored from it" in (var / "log" / "sandboxes.log").read_text()

        # A record created after the restart syncs, on the connection's stored token.
        account = salesforce_account_create(sandbox_ports["salesforce"], "Restart & Co")
        base = f"http://127.0.0.1:{port}"
        session = admin_session(base, log, proc)
        flow_id = query(var, "SELECT id FROM clarity_flow WHERE name = ?",
                        "Accounts → KashFlow customers")[0][0]  # fmt: skip
        page = session.get(f"{base}/admin/clarity/flow/{flow_id}/change/", timeout=10)
        session.post(
            f"{base}/admin/clarity/flow/{flow_id}/run/",
            data={"csrfmiddlewaretoken": csrf(page.text)},
            headers={"Referer": page.url},
            timeout=10,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            delivered = query(
                var,
                "SELECT status, message FROM clarity_syncrecord "
                "WHERE source_id = ? OR business_key = ?",
                account,
                "RESTART01",
            )
            if delivered and delivered[0][0] != "pending":
                break
            time.sleep(1)
        assert delivered and delivered[0][0] == "succeeded", delivered

        # Nothing a forgetful sandbox breaks broke: no flow paused, no run failed, and no
        # record fails for a refused sign-in or for something the ledger says it sent
        # (the second start's runs also carry the first start's both-ways changes
        # back, so they may meet the seeded data problems a second time).
        paused = query(var, "SELECT name, paused_reason FROM clarity_flow WHERE paused_reason > ''")
        assert paused == []
        failed_runs = query(var, "SELECT id, message FROM clarity_syncrun WHERE status = 'failed'")
        assert failed_runs == []
        second = ledger(var)
        changed = {key: why for key, why in second.items() if first.get(key, ())[:2] != why[:2]}
        assert not [why for why in changed.values() if "not_found" in why[1].lower()], changed
        assert not [why for why in second.values() if why[0] == "auth"], second
        ctrl_c(proc)


def ledger(var: Path) -> dict[tuple[int, str], tuple[str, str, str]]:
    """Failed ledger rows: (flow, source id) -> (error kind, code, message)."""
    rows = query(
        var,
        "SELECT flow_id, source_id, error_kind, error_code, message FROM clarity_syncrecord "
        "WHERE status = 'failed'",
    )
    return {(flow, source): (kind, code, message) for flow, source, kind, code, message in rows}


def query(var: Path, sql: str, *params: object) -> list[tuple]:
    db = sqlite3.connect(f"file:{var / 'clarity.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def salesforce_account_create(port: int, name: str) -> str:
    """An Account created in the Salesforce sandbox as a user would, over its REST API."""
    base = f"http://127.0.0.1:{port}"
    token = requests.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "3MVG9demo.clarity.connect.sandbox",
            "client_secret": "demo-client-secret-0123456789",
        },
        timeout=10,
    ).json()["access_token"]
    created = requests.post(
        f"{base}/services/data/v62.0/sobjects/Account",
        json={"Name": name, "ExternalID__c": "RESTART01", "Type": "Customer",
              "BillingStreet": "2 Quay Street", "BillingCity": "Hull",
              "BillingPostalCode": "HU1 1AA", "BillingCountry": "United Kingdom"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return created.json()["id"]
