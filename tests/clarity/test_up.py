"""The README's run command: an admin you can log into, a worker that runs jobs, Ctrl-C stops all.

Runs ``manage.py up`` for real with no DATABASE_URL or REDIS_URL: SQLite in a
temporary folder and the embedded Redis (forced, since CI has redis-server).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from clarity.localservers import free_port

pytestmark = pytest.mark.slow


def wait_for(pattern: str, log: Path, proc: subprocess.Popen, timeout: float = 90) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.3)
    raise AssertionError(f"'{pattern}' never appeared:\n{log.read_text()[-3000:]}")


def test_up_serves_the_admin_runs_jobs_and_stops_everything(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")
    }
    env.update(CLARITY_VAR_DIR=str(tmp_path / "var"), CLARITY_EMBEDDED_REDIS="1")
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for(r"Clarity Connect is running", log, proc)
        login = wait_for(r"superuser: (\S+) / (\S+)", log, proc)
        assert (tmp_path / "var" / "clarity.sqlite3").exists()

        session = requests.Session()
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                page = session.get(f"{base}/admin/login/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"the web server never answered:\n{log.read_text()[-3000:]}")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token,
                "username": login.group(1),
                "password": login.group(2),
            },
            headers={"Referer": f"{base}/admin/login/"},
            timeout=10,
        )
        assert response.url.endswith("/admin/"), response.text[:500]
        assert "Site administration" in response.text
        assert "Ledger" in response.text

        # The demo runs each mapped flow once — in the RQ worker process, through Redis:
        # the ledger fills for real, failures included.
        failed_url = f"{base}/admin/clarity/syncrecord/?status=failed"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ledger = session.get(failed_url, timeout=10).text
            if "no entry for &#x27;LEGACY-001&#x27;" in ledger:
                break
            time.sleep(2)
        assert "no entry for &#x27;LEGACY-001&#x27;" in ledger, log.read_text()[-3000:]
        runs = session.get(f"{base}/admin/clarity/syncrun/", timeout=10).text
        assert "Finished with failures" in runs
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    children = subprocess.run(
        ["pgrep", "-f", f"runserver 127.0.0.1:{port}"], capture_output=True, check=False
    )
    assert children.stdout == b""
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
