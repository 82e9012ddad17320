"""Issue 5's promises under chaos, with real processes.

Everything here runs as it would in production: the SYSPRO and Xero
sandboxes in their own process (``manage.py sandbox``), RQ workers as
``manage.py syncworker`` processes, a redis-server of the test's own and
PostgreSQL. Killing a worker SIGKILLs its work horse by pid as well (RQ moves
the horse into a process group of its own) and waits until both are gone.
The test supervises the workers as systemd would: one that exits is started
again. Leases, claims and the sweep interval are set to
seconds through the environment, so a dead worker's run is picked up fast.

Each test checks the same two promises at the end: nothing lost (every
customer is in the ledger, succeeded) and nothing doubled (the Xero sandbox
counted exactly one create per customer, and every ledger row points at a
different contact). The seed has no duplicate names, so no record fails as
data.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from clarity.models import Flow, IntegrationPair, RunStatus, SyncRun, Trigger
from clarity.sync.queues import pair_queue_name
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from devtools.localservers import (
    _pg_bindir,
    _service_account,
    free_port,
    postgres_server,
    redis_server_binary,
)
from tests.clarity.conftest import connect_xero, customers_to_contacts_mapping

pytestmark = [pytest.mark.slow, pytest.mark.apart, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
# System checks are the web app's business (and import every URLconf): skipped here.
MANAGE = [sys.executable, str(ROOT / "manage.py")]
SKIP_CHECKS = "--skip-checks"
DEADLINE = 150  # seconds a scenario may take before it is called stuck

WORKER_ENV = {
    "CLARITY_SWEEP_SECONDS": "1",
    "CLARITY_FLOW_LEASE_SECONDS": "3",
    "CLARITY_CLAIM_SECONDS": "3",
    "CLARITY_STALE_QUEUED_SECONDS": "4",
    "CLARITY_RETRY_BACKOFF_SECONDS": "1",
}
NO_LIMITS = {"per_minute": 1_000_000, "per_day": 100_000_000, "concurrent": 5}


def database_url(settings: dict[str, Any]) -> str:
    """The URL of the database this test process uses (pytest-django's ``test_…``)."""
    user = quote(settings["USER"] or "")
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def wait_port(port: int, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process meant to listen on {port} exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


class Processes:
    """Child processes of one test, each in a session of its own; all stopped at the end."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 — kept with the process
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )
        log.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen) -> list[int]:
        """SIGKILL the worker, its work horse and every other process it started; returns
        the pids of the horses killed, once all of them are really gone.

        Why not ``os.killpg`` alone: RQ's work horse calls ``setpgrp()`` right after the
        fork, so signalling the worker's group leaves the horse running to finish its
        batch. Its pid is read from /proc (RQ keeps it only in the worker's memory)
        *before* the worker dies: afterwards the horse is re-parented and unfindable.
        """
        children = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        for pid in [proc.pid, *children]:
            wait_dead(pid)
        return [pid for pid in children if process_group(pid) not in (None, proc.pid)]

    def stop_all(self) -> None:
        """SIGKILL everything: a gentler stop would let a worker's horse finish its run."""
        for proc in self.procs:
            self.kill(proc)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None once the pid is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def process_group(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[2]) if fields else None


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid``: the scheduler, the work horse, whatever they forked."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def wait_dead(pid: int, timeout: float = 10) -> None:
    """Until ``pid`` no longer runs (gone, or a zombie nobody has reaped yet)."""
    deadline = time.monotonic() + timeout
    while (fields := _stat(pid)) and fields[0] != "Z":
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still runs {timeout}s after SIGKILL")
        time.sleep(0.05)


class RedisServer:
    """A redis-server of this test's own on a fixed port, so it can be stopped and started."""

    def __init__(self, workdir: Path) -> None:
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class Harness:
    """Sandboxes, workers and the flow of one scenario; see the module docstring."""

    def __init__(self, tmp: Path, customers: int, xero_faults: dict | None = None) -> None:
        self.tmp = tmp
        self.customers = customers
        self.processes = Processes(tmp)
        self.redis = RedisServer(tmp)
        self.redis.start()
        self.db_url = database_url(connection.settings_dict)
        self.workers: list[subprocess.Popen] = []
        self.supervising = True
        self.restarts = 0
        self.xero_port, self.syspro_port = free_port(), free_port()
        options = {
            "syspro": {"customers": customers, "duplicate_names": False},
            "xero": {
                "limits": {"minute": 1_000_000, "day": 100_000_000, "appminute": 1_000_000},
                "demo": {"contacts": 0, "items": 0, "invoices": 0},
                **({"faults": xero_faults} if xero_faults else {}),
            },
        }
        sandboxes = self.processes.start(
            "sandbox",
            [*MANAGE, "sandbox", SKIP_CHECKS, "--only", "xero,syspro",
             "--options", json.dumps(options),
             "--ports", f"xero={self.xero_port},syspro={self.syspro_port}"],
            self.env(),
        )  # fmt: skip
        wait_port(self.xero_port, 60, sandboxes)
        wait_port(self.syspro_port, 60, sandboxes)
        self.xero = SandboxControl(f"http://127.0.0.1:{self.xero_port}")
        self.flow = self._flow()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            # The test session's key, so the workers can read the connections' secrets.
            "CLARITY_ENCRYPTION_KEYS": ",".join(settings.CLARITY_ENCRYPTION_KEYS),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis.url,
            "PYTHONUNBUFFERED": "1",
            **WORKER_ENV,
            **extra,
        }

    def _flow(self) -> Flow:
        syspro = Connection.objects.create(
            name="SYSPRO",
            system="syspro",
            base_url=f"http://127.0.0.1:{self.syspro_port}",
            settings={"company_id": "EDU1", "operator": "ADMIN"},
            credentials={"operator_password": "demo", "company_password": "demo"},
        )
        xero = Connection.objects.create(
            name="Xero",
            system="xero",
            base_url=f"http://127.0.0.1:{self.xero_port}",
            settings={"rate_limits": NO_LIMITS},
            credentials={
                "client_id": "sandbox-client-id",
                "client_secret": "sandbox-client-secret",
            },
        )
        connect_xero(xero)
        pair = IntegrationPair.objects.create(name="SYSPRO ↔ Xero", connection_a=syspro,
                                              connection_b=xero)  # fmt: skip
        return Flow.objects.create(
            pair=pair,
            name="Customers → Contacts",
            source_connection=syspro,
            source_entity="customers",
            target_connection=xero,
            target_entity="Contacts",
            mapping=customers_to_contacts_mapping(),
            source_version_field="LastChanged",
            target_reference_field="ContactNumber",
            business_key_field="Customer",
            batch_size=50,
        )

    # -- workers ------------------------------------------------------------------

    def start_workers(self, n: int = 1) -> None:
        for _ in range(n):
            self.workers.append(self._worker())
        if not self._supervisor.is_alive():
            self._supervisor.start()

    def _worker(self) -> subprocess.Popen:
        return self.processes.start(
            f"worker-{len(self.processes.procs)}",
            [*MANAGE, "syncworker", SKIP_CHECKS, "--with-scheduler"],
            self.env(),
        )

    def _supervise(self) -> None:
        """Start again any worker that exited (lost Redis, say), as a process manager would."""
        while self.supervising:
            for i, proc in enumerate(self.workers):
                if proc.poll() is not None and self.supervising:
                    time.sleep(0.5)
                    self.workers[i] = self._worker()
                    self.restarts += 1
            time.sleep(0.3)

    def kill_worker(self, i: int = 0) -> list[int]:
        """SIGKILL worker ``i`` and its horse (their pids returned); the supervisor starts
        a new worker half a second later."""
        return Processes.kill(self.workers[i])

    def wait_for_horse(self, i: int, timeout: float = 60) -> int:
        """The pid of worker ``i``'s work horse, once it has forked one for a job."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker = self.workers[i]
            horses = [pid for pid in descendants(worker.pid) if process_group(pid) == pid]
            if horses:
                return horses[0]
            time.sleep(0.1)
        raise AssertionError(f"worker {i} forked no work horse within {timeout:.0f}s")

    # -- the run ------------------------------------------------------------------

    def prepare_run(self) -> SyncRun:
        return SyncRun.objects.create(flow=self.flow, trigger=Trigger.MANUAL,
                                      status=RunStatus.QUEUED)  # fmt: skip

    def ring(self, run_id: int) -> None:
        """The doorbell "Run now" rings, on this test's own Redis."""
        queue = Queue(pair_queue_name(self.flow.pair_id), connection=Redis.from_url(self.redis.url),
                      serializer=JSONSerializer)  # fmt: skip
        queue.enqueue("clarity.jobs.run_flow", run_id)

    def start_run(self) -> None:
        self.ring(self.prepare_run().pk)

    def close(self) -> None:
        self.supervising = False
        self.processes.stop_all()
        self.redis.kill()


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []
    with tempfile.TemporaryDirectory(prefix="clarity-chaos-") as tmp:

        def make(customers: int, **kwargs: Any) -> Harness:
            h = Harness(Path(tmp), customers, **kwargs)
            made.append(h)
            return h

        try:
            yield make
        finally:
            for h in made:
                h.close()
            if keep := os.environ.get("CLARITY_CHAOS_KEEP_LOGS"):
                for log in Path(tmp).glob("*.log"):
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    (Path(keep) / log.name).write_bytes(log.read_bytes())
            if os.environ.get("CLARITY_CHAOS_LOGS"):
                for log in sorted(Path(tmp).glob("*.log")):
                    print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


# -- what "done, nothing lost, nothing doubled" means ----------------------------


LEDGER_SQL = """
    SELECT status, count(*), count(DISTINCT target_id), count(DISTINCT source_id)
    FROM clarity_syncrecord WHERE flow_id = %s GROUP BY status
"""


def ledger(db_url: str, flow_id: int) -> dict[str, tuple[int, int, int]]:
    """Status -> (rows, distinct target ids, distinct source ids), read straight from SQL."""
    with psycopg.connect(db_url.replace("postgres://", "postgresql://"), connect_timeout=5) as db:
        return {row[0]: tuple(row[1:]) for row in db.execute(LEDGER_SQL, (flow_id,))}


def created(h: Harness) -> int:
    return h.xero.stats().get("created", {}).get("Contacts", 0)


def wait_until_done(
    h: Harness,
    *,
    db_url: str | None = None,
    during: Callable[[], None] = lambda: None,
    timeout: float = DEADLINE,
) -> dict[str, tuple[int, int, int]]:
    """Until every customer succeeded (or the deadline); ``during`` runs between polls."""
    deadline = time.monotonic() + timeout
    counts: dict[str, tuple[int, int, int]] = {}
    while time.monotonic() < deadline:
        during()
        with contextlib.suppress(psycopg.OperationalError):
            counts = ledger(db_url or h.db_url, h.flow.pk)
            if counts.get("succeeded", (0,))[0] == h.customers and len(counts) == 1:
                return counts
        time.sleep(0.5)
    raise AssertionError(f"not done after {timeout:.0f}s: ledger {counts}, created {created(h)}")


def assert_once_each(h: Harness, counts: dict[str, tuple[int, int, int]]) -> None:
    n = h.customers
    assert counts == {"succeeded": (n, n, n)}  # all there, each its own contact
    assert created(h) == n  # and Xero created exactly one contact per customer


# -- the scenarios ---------------------------------------------------------------


def test_worker_killed_at_random_moments_loses_and_doubles_nothing(harness):
    h = harness(5000)
    h.xero.faults(latency=0.12)  # ~100 calls: long enough to be killed in six times
    h.start_workers(1)
    h.start_run()
    rng = random.Random(5)
    horses_killed = []
    for _ in range(6):
        # Each kill lands while a work horse is sending: the run dies with it, and the
        # rows it had claimed may or may not have reached Xero.
        h.wait_for_horse(0)
        time.sleep(rng.uniform(0.5, 2.5))
        if ledger(h.db_url, h.flow.pk).get("succeeded", (0,))[0] >= h.customers:
            break
        horses_killed += h.kill_worker(0)
    assert len(horses_killed) >= 5, horses_killed
    counts = wait_until_done(h)
    assert_once_each(h, counts)


def test_faults_5xx_timeouts_and_429_bursts_lose_and_double_nothing(harness):
    shares = {"5xx": 0.10, "timeout": 0.05, "reset_after": 0.03}
    # Only the Accounting API misbehaves (the sign-in was done while setting up).
    plan = {"shares": shares, "timeout_seconds": 1.0, "retry_after": 1, "path_prefix": "/api.xro"}
    h = harness(1000)  # 20 batches: each ~2 s cycle of burst, lost answer, lookup
    # Besides the draws: the first calls meet one of each fault for sure (a short run
    # may draw no timeout at 5%), and the first write after each burst lands and its
    # answer is lost.
    h.xero.faults(next=["timeout", "5xx", "reset_after"], **plan)
    h.start_workers(2)
    h.start_run()
    last_burst: list[float] = []

    def bursts() -> None:
        """Every ~2 s a one-second 429 burst: every call in it refused, Retry-After honest.
        The first waits until the first calls met their sure faults: a burst's plan
        replaces the queued ones (a slow start once lost its sure 5xx that way)."""
        if not last_burst:
            seen = h.xero.stats()["faults"]
            if not all(seen.get(fault) for fault in ("timeout", "5xx", "reset_after")):
                return
            last_burst.append(time.monotonic())
        if time.monotonic() - last_burst[0] > 2:
            last_burst[0] = time.monotonic()
            h.xero.faults(burst_seconds=1.0, next=["reset_after"], next_methods=["POST"], **plan)

    # Each write whose answer is lost is settled by looking its records up in the
    # target, under the same faults: slower than the other scenarios.
    counts = wait_until_done(h, during=bursts, timeout=DEADLINE + 90)
    stats = h.xero.stats()
    assert stats["faults"].get("5xx", 0) > 0 and stats["faults"].get("timeout", 0) > 0
    assert stats["faults"].get("reset_after", 0) > 0  # writes that landed, answer lost
    assert stats["faults"].get("429", 0) >= 4
    assert_once_each(h, counts)


def _redis_chaos(h: Harness, what: str) -> None:
    h.start_workers(2)
    h.start_run()
    wait_progress(h, h.customers // 4)
    if what == "restart":
        h.redis.kill()
        time.sleep(2)
        h.redis.start()
    else:
        Redis.from_url(h.redis.url).flushall()
    counts = wait_until_done(h)
    assert_once_each(h, counts)


def wait_progress(h: Harness, n: int, db_url: str | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        rows = ledger(db_url or h.db_url, h.flow.pk)
        if rows.get("succeeded", (0,))[0] >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"no progress: {rows}")


def test_redis_killed_and_restarted_mid_run(harness):
    h = harness(3000)
    h.xero.faults(latency=0.02)
    _redis_chaos(h, "restart")


def test_redis_flushall_mid_run(harness):
    h = harness(3000)
    h.xero.faults(latency=0.02)
    _redis_chaos(h, "flushall")


def test_postgresql_stopped_and_restarted_mid_run(harness):
    """On a PostgreSQL of its own (a copy of the test database), stopped for a few seconds."""
    h = harness(3000)
    h.xero.faults(latency=0.02)
    run = h.prepare_run()
    with tempfile.TemporaryDirectory(prefix="clarity-pg-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)  # noqa: S103 — the PostgreSQL account must enter it
        with postgres_server(workdir) as url:
            copy_database(h.db_url, url)
            h.db_url = url  # the workers use the copy from now on
            h.start_workers(2)
            h.ring(run.pk)
            wait_progress(h, h.customers // 4, db_url=url)
            pg = PgControl(workdir)
            pg.stop()
            time.sleep(3)
            pg.start()
            counts = wait_until_done(h, db_url=url)
            assert_once_each(h, counts)
            h.close()  # before the server goes


def copy_database(source: str, target: str) -> None:
    bindir = _pg_bindir()
    dump = subprocess.run([bindir / "pg_dump", "--no-owner", "--dbname", source],
                          check=True, capture_output=True)  # fmt: skip
    subprocess.run([bindir / "psql", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", target],
                   input=dump.stdout, check=True, capture_output=True)  # fmt: skip


class PgControl:
    """pg_ctl stop / start of a server from ``postgres_server``, on the same port and options."""

    def __init__(self, workdir: Path) -> None:
        self.datadir = workdir / "pgdata"
        self.workdir = workdir
        account = _service_account()
        self.as_account: dict = (
            {"user": account[0], "group": account[1], "extra_groups": []} if account else {}
        )
        self.pg_ctl = _pg_bindir() / "pg_ctl"
        words = shlex.split((self.datadir / "postmaster.opts").read_text())[1:]
        options = []
        skip = False
        for word in words:
            if skip:
                skip = False
            elif word == "-D":
                skip = True
            else:
                options.append(word)
        self.options = shlex.join(options)

    def stop(self) -> None:
        subprocess.run([self.pg_ctl, "-D", self.datadir, "-m", "immediate", "-w", "stop"],
                       check=True, stdout=subprocess.DEVNULL, **self.as_account)  # fmt: skip

    def start(self) -> None:
        subprocess.run([self.pg_ctl, "-D", self.datadir, "-l", self.workdir / "postgres.log",
                        "-o", self.options, "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL, **self.as_account)  # fmt: skip
