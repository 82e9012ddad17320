"""``manage.py sandbox``: run every system's sandbox on loopback until Ctrl-C."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.sandbox.registry import (
    DEFAULT_PORTS,
    PORTS_ENV,
    SANDBOXES,
    parse_ports,
    sandbox_ports,
    start_sandboxes,
)


class Command(BaseCommand):
    help = "Run the local sandboxes of the external systems (Xero, SYSPRO, Salesforce, KashFlow)."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = ",".join(f"{name}={port}" for name, port in DEFAULT_PORTS.items())
        parser.add_argument(
            "--ports", default="", help=f"system=port,... (default {defaults}, or ${PORTS_ENV})"
        )
        parser.add_argument(
            "--only", default="", help=f"comma-separated systems to start, from {sorted(SANDBOXES)}"
        )
        parser.add_argument("--seed", type=int, default=1, help="seed for the demo data")
        parser.add_argument(
            "--options",
            default="",
            help='JSON of per-system options, e.g. \'{"syspro": {"customers": 5000}, '
            '"xero": {"limits": {"minute": 600}}}\'',
        )
        parser.add_argument(
            "--state-dir",
            type=Path,
            help="keep each sandbox's records and tokens in this folder across restarts "
            "(default: start from the demo data every time)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ports = {**sandbox_ports(), **parse_ports(options["ports"])}
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        systems = [name.strip() for name in options["only"].split(",") if name.strip()] or None
        unknown = set(systems or ()) - set(SANDBOXES)
        if unknown:
            raise CommandError(f"unknown systems: {sorted(unknown)}")
        try:
            extra = json.loads(options["options"] or "{}")
        except ValueError as exc:
            raise CommandError(f"--options is not valid JSON: {exc}") from exc
        if not isinstance(extra, dict) or set(extra) - set(SANDBOXES):
            raise CommandError(f"--options must be an object keyed by {sorted(SANDBOXES)}")
        seeded = {name: {"seed": options["seed"], **extra.get(name, {})} for name in SANDBOXES}
        state_dir = options.get("state_dir")
        try:
            servers, skipped = start_sandboxes(
                systems, ports=ports, options=seeded, state_dir=state_dir
            )
        except OSError as exc:
            raise CommandError(f"could not start a sandbox: {exc}") from exc
        for name in skipped:
            self.stdout.write(f"{name}: skipped (its sandbox module is not there yet)")
        for name, server in servers.items():
            kept = f" (state kept in {server.state_file})" if server.state_file else ""
            restored = ", restored from it" if server.restored else ""
            self.stdout.write(self.style.SUCCESS(f"{name}: {server.url}{kept}{restored}"))
            if endpoint := getattr(server.app, "pubsub_endpoint", None):
                self.stdout.write(f"{name}: Pub/Sub API (gRPC) on {endpoint}")
        self.stdout.flush()
        if not servers:
            return
        self.stdout.write("Press Ctrl-C to stop.")
        # `manage.py up`, `kill` and process managers stop us with SIGTERM: stop as on
        # Ctrl-C, so every sandbox saves its state before the process ends.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            # A second Ctrl-C must not cut a state file's save short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for server in servers.values():
                server.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
