"""With DEBUG off the project refuses unsafe defaults and passes `check --deploy`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
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


def production_env(**extra: str) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "CLARITY_ENCRYPTION_KEYS": f"k1={Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS": "clarity.example.com",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_SSL_REDIRECT": "1",
        **extra,
    }


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests' fixture, never in production.
    dropped = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_passes_with_the_production_environment():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_https_settings_come_from_the_environment():
    printed = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, "
        "s.CLARITY_REQUIRE_2FA, sep='|')",
        env=production_env(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"),
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip().splitlines()[-1].split("|") == [
        "31536000",
        "True",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
        "True",
        "True",
        "DENY",
        "True",  # staff confirm sign-ins with a code unless told otherwise
    ]


def test_a_malformed_proxy_header_setting_refuses_to_start():
    result = run_manage(
        "check", env=production_env(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    )
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER is a header and its HTTPS value" in result.stderr


def test_the_demo_signs_in_with_a_password_alone():
    printed = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.CLARITY_REQUIRE_2FA)",
        env={"DEBUG": "1"},
    )
    assert printed.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.django_db
def test_https_is_enforced_with_hsts(settings, client):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    redirected = client.get("/admin/login/")
    assert redirected.status_code == 301
    assert redirected.url == "https://testserver/admin/login/"
    secure = client.get("/admin/login/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure["X-Frame-Options"] == "DENY"
