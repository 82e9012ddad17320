"""The agent's TOML configuration: what it must name, and what it refuses."""

from __future__ import annotations

from pathlib import PureWindowsPath

import pytest
from clarity_agent.cli import main
from clarity_agent.config import ConfigError, default_path, load, parse

from tests.agent.conftest import agent_settings, write_config

TOKEN = "cca_" + "t" * 43


def settings(**syspro):
    data = agent_settings("https://clarity.example.com", TOKEN, ["http://sys01:20000"])
    data["syspro"].update(syspro)
    data["server"].pop("allow_plain_http")
    return data


def test_a_full_configuration_is_read(tmp_path):
    config = load(write_config(tmp_path / "agent.toml", settings()))
    assert config.server_url == "https://clarity.example.com"
    assert config.base_urls == ("http://sys01:20000",)
    assert config.credentials is not None and config.credentials.operator == "ADMIN"
    assert config.poll_wait_s == 2
    assert TOKEN not in repr(config) and "demo" not in repr(config)  # never printed whole


def test_the_rest_root_is_accepted_as_a_base_url():
    config = parse(settings(base_urls=["https://sys01:20001/SYSPROWCFService/Rest/"]))
    assert config.base_urls == ("https://sys01:20001",)


def test_credentials_are_optional_for_the_server_held_mode():
    data = settings()
    for key in ("operator", "operator_password", "company_id", "company_password"):
        data["syspro"].pop(key)
    assert parse(data).credentials is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"server": {"url": "http://clarity.example.com", "token": TOKEN}}, "https"),
        ({"server": {"url": "https://c.example", "token": "abc"}}, "server.token"),
        ({"server": {"token": TOKEN}}, "server.url"),
        ({"syspro": {"base_urls": []}}, "base_urls"),
        ({"syspro": {"base_urls": "http://sys01"}}, "base_urls"),
        ({"syspro": {"base_urls": ["http://sys01:20000/other/path"]}}, "base_urls"),
        ({"syspro": {"base_urls": ["ftp://sys01"]}}, "base_urls"),
        ({"syspro": {"base_urls": ["http://user:pw@sys01"]}}, "user or password"),
        ({"syspro": {"base_urls": ["http://sys01"], "operator": "ADMIN"}}, "operator_password"),
        ({"limits": {"threads": 0}}, "limits.threads"),
        ({"limits": {"max_answer_mb": 500}}, "limits.max_answer_mb"),
        ({"limits": {"poll_wait_s": "long"}}, "limits.poll_wait_s"),
    ],
)
def test_mistakes_name_the_key_to_fix(change, message):
    data = settings()
    for section, values in change.items():
        data[section] = values
    with pytest.raises(ConfigError, match=message):
        parse(data)


def test_check_says_whether_a_file_is_valid(tmp_path, capsys):
    good = write_config(tmp_path / "good.toml", settings())
    assert main(["--config", str(good), "--check"]) == 0
    (tmp_path / "bad.toml").write_text("[server\n")
    assert main(["--config", str(tmp_path / "bad.toml"), "--check"]) == 2
    assert main(["--config", str(tmp_path / "missing.toml"), "--check"]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "no configuration file" in err
    assert TOKEN not in err


# -- Windows: what can be checked without Windows (README "Installing on Windows") -------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PROGRAMDATA": r"C:\ProgramData"}, r"C:\ProgramData\ClarityAgent\agent.toml"),
        ({"PROGRAMDATA": r"D:\Shared Data"}, r"D:\Shared Data\ClarityAgent\agent.toml"),
        ({}, r"C:\ProgramData\ClarityAgent\agent.toml"),
    ],
)
def test_the_default_path_on_windows_is_under_programdata(environ, expected):
    path = default_path("win32", environ)
    assert isinstance(path, PureWindowsPath) and str(path) == expected
    assert path.name == "agent.toml" and path.parent.name == "ClarityAgent"


def test_the_default_path_elsewhere_is_under_etc():
    assert str(default_path("linux", {"PROGRAMDATA": r"C:\ProgramData"})) == (
        "/etc/clarity-agent/agent.toml"
    )


WINDOWS_FILE = (
    "[server]\r\n"
    'url = "https://clarity.example.com"\r\n'
    f'token = "{TOKEN}"\r\n'
    "ca_bundle = {ca_bundle}\r\n"
    "[syspro]\r\n"
    'base_urls = ["http://syspro-app01:20000"]\r\n'
)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf-8", "utf-8 with BOM"])
@pytest.mark.parametrize(
    "ca_bundle",
    [r"'C:\Program Files\Clarity Agent\ca.pem'", r'"C:\\Program Files\\Clarity Agent\\ca.pem"'],
    ids=["single quotes", "doubled backslashes"],
)
def test_a_file_saved_by_notepad_with_a_windows_path_is_read(tmp_path, bom, ca_bundle):
    path = tmp_path / "Clarity Agent" / "agent.toml"  # a folder with a space, too
    path.parent.mkdir()
    path.write_bytes(bom + WINDOWS_FILE.format(ca_bundle=ca_bundle).encode())
    config = load(path)
    assert config.verify_tls == r"C:\Program Files\Clarity Agent\ca.pem"
    assert PureWindowsPath(config.verify_tls).parts == (
        "C:\\",
        "Program Files",
        "Clarity Agent",
        "ca.pem",
    )


@pytest.mark.parametrize(
    "ca_bundle",
    [
        r'"C:\ProgramData\ca.pem"',  # \P is no escape: TOML refuses it
        r'"C:\Users\agent\ca.pem"',  # \U wants eight hex digits
        r'"C:\new\table.pem"',  # \n and \t ARE escapes: a newline and a tab, silently
    ],
)
def test_a_windows_path_in_double_quotes_is_refused_with_how_to_write_it(tmp_path, ca_bundle):
    path = tmp_path / "agent.toml"
    path.write_text(WINDOWS_FILE.format(ca_bundle=ca_bundle))
    with pytest.raises(ConfigError, match="single quotes"):
        load(path)


def test_a_file_not_saved_as_utf8_says_so(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_bytes(WINDOWS_FILE.format(ca_bundle="'x'").encode("utf-16"))  # Notepad "Unicode"
    with pytest.raises(ConfigError, match="UTF-8"):
        load(path)
