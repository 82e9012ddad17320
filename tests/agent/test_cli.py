"""``clarity-agent`` as a service manager starts and stops it: the arguments NSSM passes
on Windows (a path with spaces and backslashes), the configuration named by the
environment, and the stop signals (SIGTERM from systemd, the console Ctrl-C NSSM sends,
Ctrl-Break). What needs Windows itself is listed in the README as not verified here."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from clarity_agent import cli
from clarity_agent.cli import main, on_stop_signals
from clarity_agent.config import ENV_CONFIG

from tests.agent.conftest import AGENT_DIR, agent_settings, write_config
from tests.connectors.conftest import free_port

TOKEN = "cca_" + "t" * 43
NSSM_PARAMETERS = r"--config C:\ProgramData\ClarityAgent\agent.toml"  # README, AppParameters


def test_the_readmes_nssm_parameters_are_one_config_argument():
    """NSSM hands AppParameters to the program as its command line; Windows' C runtime
    splits it by the rules ``subprocess.list2cmdline`` writes [P]
    learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments: backslashes are
    literal, only spaces and quotes split or group."""
    argv = ["--config", r"C:\ProgramData\ClarityAgent\agent.toml"]
    assert subprocess.list2cmdline(argv) == NSSM_PARAMETERS
    spaced = ["--config", r"D:\Clarity Agent\agent.toml"]
    assert subprocess.list2cmdline(spaced) == r'--config "D:\Clarity Agent\agent.toml"'


def test_a_config_path_with_spaces_and_backslashes_reaches_the_agent_whole(capsys):
    path = r"C:\Program Files\Clarity Agent\agent.toml"  # not on this machine: it says so
    assert main(["--config", path, "--check"]) == 2
    assert f"no configuration file at {path}" in capsys.readouterr().err


def test_the_environment_names_the_config_when_no_argument_does(tmp_path, monkeypatch):
    folder = tmp_path / "Clarity Agent"
    folder.mkdir()
    settings = agent_settings("https://c.example", TOKEN, ["http://sys01:20000"])
    monkeypatch.setenv(ENV_CONFIG, str(write_config(folder / "agent.toml", settings)))
    assert main(["--check"]) == 0
    monkeypatch.setenv(ENV_CONFIG, str(folder / "missing.toml"))
    assert main(["--check"]) == 2


def test_every_stop_signal_the_platform_has_stops_the_agent(monkeypatch):
    """SIGBREAK exists only on Windows: stand it in with SIGUSR1 to see it handled."""
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    saved = {name: signal.getsignal(getattr(signal, name)) for name in cli.STOP_SIGNALS}
    stopped = []
    try:
        assert on_stop_signals(lambda: stopped.append(True)) == list(cli.STOP_SIGNALS)
        signal.raise_signal(signal.SIGUSR1)
        assert stopped == [True]
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_the_service_stop_ends_the_agent_cleanly(tmp_path, stop):
    """The agent process, its server unreachable (it backs off), stopped as NSSM (a
    console Ctrl-C) or systemd (SIGTERM) does: it exits 0 at once."""
    settings = agent_settings(f"http://127.0.0.1:{free_port()}", TOKEN, ["http://127.0.0.1:9"])
    config = write_config(tmp_path / "agent.toml", settings)
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clarity_agent", "--config", str(config)],
            stdout=out,
            stderr=out,
            env={"PYTHONPATH": str(AGENT_DIR)},
        )
    try:
        deadline = time.monotonic() + 10
        while "cannot poll the server" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert f"signal {signal.Signals(stop).name}: stopping" in text and "stopped after" in text
    assert TOKEN not in text
