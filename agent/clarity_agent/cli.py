"""``clarity-agent``: the entry point a service manager (systemd, NSSM) starts."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from clarity_agent import __version__
from clarity_agent.config import ENV_CONFIG, ConfigError, default_path, load
from clarity_agent.logs import Redactor, configure
from clarity_agent.relay import Agent

logger = logging.getLogger("clarity_agent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="clarity-agent",
        description="Relay Clarity Connect's SYSPRO e.net calls from inside this network.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get(ENV_CONFIG) or default_path()),
        help=f"the TOML configuration (default: ${ENV_CONFIG}, else {default_path()})",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument(
        "--check", action="store_true", help="read the configuration, say if it is valid, exit"
    )
    parser.add_argument("--version", action="version", version=f"clarity-agent {__version__}")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"clarity-agent: {exc}", file=sys.stderr)
        return 2
    redactor = Redactor(config.secrets())
    configure(args.log_level, redactor)
    if args.check:
        logger.info("configuration %s is valid", args.config)
        return 0
    agent = Agent(config, redactor)
    on_stop_signals(agent.stop)
    agent.run()
    return 0


# SIGTERM from systemd; Ctrl-C (SIGINT) in a console and from NSSM on Windows, which sends
# a console Ctrl-C before it ends a service [P] nssm.cc/usage "Stopping the service";
# Ctrl-Break (SIGBREAK, Windows only [P] docs.python.org/3/library/signal.html#signal.SIGBREAK).
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGBREAK")


def on_stop_signals(stop: Callable[[], None]) -> list[str]:
    """Make each stop signal this platform has call ``stop`` (finish the calls in hand,
    then exit); the names handled."""

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %s: stopping after the current poll", signal.Signals(signum).name)
        stop()

    handled = [name for name in STOP_SIGNALS if hasattr(signal, name)]
    for name in handled:
        signal.signal(getattr(signal, name), handler)
    return handled


if __name__ == "__main__":
    sys.exit(main())
