"""Shared set-up of the benchmarks that run sandboxes in processes of their own.

Import after ``django.setup()``. Each sandbox is ``manage.py sandbox`` on a port of its
own, in its own session (so it is stopped with everything it started), ready once its
port accepts connections.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from clarity.models import Flow, IntegrationPair
from connectors.models import Connection
from connectors.services import xero_connect_finish, xero_connect_start
from mappings.models import FieldMappingRow, Mapping

ROOT = Path(__file__).resolve().parent.parent
CALLBACK = "http://localhost:8000/admin/connectors/connection/xero/callback/"
# Xero's rate limits, lifted in the sandbox (its rules by name) and in the connection.
NO_LIMITS = {"minute": 10**9, "day": 10**9, "appminute": 10**9, "concurrent": 10**6}
XERO_NO_LIMITS = {"per_minute": 10**9, "per_day": 10**9, "concurrent": 10}


def sandbox(system: str, port: int, options: dict[str, Any]) -> subprocess.Popen:
    """One sandbox in a process of its own, listening on ``port``."""
    argv = [sys.executable, str(ROOT / "manage.py"), "sandbox", "--skip-checks", "--only", system,
            "--options", json.dumps({system: options}), "--ports", f"{system}={port}"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return proc
        time.sleep(0.2)
    raise SystemExit(f"the {system} sandbox did not start")


@contextlib.contextmanager
def sandboxes(options: dict[str, tuple[int, dict[str, Any]]]) -> Iterator[None]:
    """``{system: (port, options)}`` started, and stopped on the way out."""
    procs = []
    try:
        for system, (port, system_options) in options.items():
            procs.append(sandbox(system, port, system_options))
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def connect_xero(connection: Connection) -> None:
    """The "Connect to Xero" consent, done by a program instead of a browser."""
    url, state = xero_connect_start(connection=connection, redirect_uri=CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(
        connection=connection,
        redirect_uri=CALLBACK,
        callback_url=consent.headers["Location"],
        state=state,
    )


def customers_to_contacts(
    *, label: str, syspro_url: str, xero_url: str, xero_settings: dict[str, Any], **flow: Any
) -> Flow:
    """The SYSPRO customers → Xero contacts flow the benchmarks run (the customer code as
    the contact number, name and email mapped) on connections named for ``label``;
    ``flow`` sets the flow's own fields (read mode, batch size...)."""
    syspro = Connection.objects.create(
        name=f"SYSPRO ({label})",
        system="syspro",
        base_url=syspro_url,
        settings={"company_id": "EDU1", "operator": "ADMIN", "page_size": 5000},
        credentials={"operator_password": "demo", "company_password": "demo"},
    )
    xero = Connection.objects.create(
        name=f"Xero ({label})",
        system="xero",
        base_url=xero_url,
        settings=xero_settings,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
    )
    connect_xero(xero)
    mapping = Mapping.objects.create(
        name=f"SYSPRO customers → Xero contacts ({label})",
        source_system="SYSPRO",
        source_entity="customers",
        target_system="Xero",
        target_entity="Contacts",
    )
    for order, (source, target) in enumerate(
        (("Customer", "ContactNumber"), ("Name", "Name"), ("Email", "EmailAddress"))
    ):
        FieldMappingRow.objects.create(
            mapping=mapping, order=order, sources=[source], targets=[target]
        )
    pair = IntegrationPair.objects.create(
        name=f"SYSPRO ↔ Xero ({label})", connection_a=syspro, connection_b=xero
    )
    return Flow.objects.create(
        pair=pair,
        name=f"Customers → Contacts ({label})",
        source_connection=syspro,
        source_entity="customers",
        target_connection=xero,
        target_entity="Contacts",
        mapping=mapping,
        target_reference_field="ContactNumber",
        business_key_field="Customer",
        **flow,
    )
