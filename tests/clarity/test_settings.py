"""With DEBUG off the project refuses unsafe defaults, saying what to set."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet


def start_django(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "CLARITY_ENCRYPTION_KEYS")
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_debug_off_with_the_default_secret_key_refuses_to_start():
    result = start_django(DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY is the development default" in result.stderr


def test_debug_off_without_an_encryption_key_refuses_to_start():
    result = start_django(DEBUG="False", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "CLARITY_ENCRYPTION_KEYS is not set" in result.stderr
    assert "generate_encryption_key" in result.stderr


def test_debug_off_with_both_set_starts():
    key = f"k1={Fernet.generate_key().decode()}"
    result = start_django(DEBUG="False", SECRET_KEY="x" * 50, CLARITY_ENCRYPTION_KEYS=key)
    assert result.returncode == 0, result.stderr


def test_mail_is_configured_from_the_environment():
    printed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, "
            "s.EMAIL_HOST_USER, s.DEFAULT_FROM_EMAIL, s.SERVER_EMAIL, sep='|')",
        ],
        env={
            **os.environ,
            "EMAIL_URL": "smtp+tls://alerts:pw@mail.example.com:587",
            "DEFAULT_FROM_EMAIL": "Clarity <clarity@example.com>",
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed.split("|") == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.com",
        "587",
        "True",
        "alerts",
        "Clarity <clarity@example.com>",
        "Clarity <clarity@example.com>",
    ]
