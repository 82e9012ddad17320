"""The README's run command: an admin you can log into, a worker that runs jobs, Ctrl-C stops all.

Runs ``manage.py up`` for real with no DATABASE_URL or REDIS_URL: SQLite in a
temporary folder and the embedded Redis (forced, since CI has redis-server).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
import requests

from clarity.localservers import free_port, up_stack, wait_for_log

pytestmark = pytest.mark.slow


def test_up_serves_the_admin_runs_jobs_and_stops_everything(tmp_path):
    port = free_port()
    with up_stack(tmp_path / "var", port) as (proc, log):
        wait_for_log(r"Clarity Connect is running", log, proc)
        login = wait_for_log(r"superuser: (\S+) / (\S+)", log, proc)
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

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(30)
        children = subprocess.run(
            ["pgrep", "-f", f"runserver 127.0.0.1:{port}"], capture_output=True, check=False
        )
        assert children.stdout == b""
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
