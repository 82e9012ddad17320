"""Signing in and what a role may reach: lockout, the second factor, and who holds a permission.

Wrong passwords are counted by django-axes per username, from any address; at
``AXES_FAILURE_LIMIT`` the username is locked from every address for
``AXES_COOLOFF_TIME`` and the login page says so, and how to get unlocked
sooner. With ``CLARITY_REQUIRE_2FA`` on, a password alone opens nothing: the
person confirms the sign-in with a code from an authenticator app (TOTP,
django-otp), and sets that app up on their first sign-in — the only time its
secret is shown.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import segno
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

ENROLMENT_DEVICE_NAME = "Authenticator app"


def two_factor_pending(request: HttpRequest) -> bool:
    """True while a signed-in person still owes the code that 2FA asks for."""
    user = request.user
    if not (settings.CLARITY_REQUIRE_2FA and user.is_authenticated):
        return False
    return not user.is_verified()  # type: ignore[union-attr]


def totp_device_confirmed(*, user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def totp_enrolment_device(*, user: AbstractBaseUser) -> TOTPDevice:
    """The device being set up: kept across page loads so the scanned secret stays valid."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=ENROLMENT_DEVICE_NAME, confirmed=False)
    return device


def totp_setup_details(device: TOTPDevice) -> dict[str, str]:
    """What an authenticator app needs: a QR code, and the secret to type in instead."""
    return {
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4),
        "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
    }


@transaction.atomic
def totp_verify(*, request: HttpRequest, token: str) -> str | None:
    """Check the code and mark the session verified; returns why not, or None when it is.

    A person with a confirmed device must use it; one without is confirming the
    device they are setting up, which becomes their device on success. Wrong
    codes slow further tries down (django-otp's throttling), so a stolen
    password cannot guess its way through.
    """
    user = request.user
    device = totp_device_confirmed(user=user) or totp_enrolment_device(user=user)  # type: ignore[arg-type]
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    allowed, details = device.verify_is_allowed()
    if not allowed:
        wait = math.ceil((details["locked_until"] - timezone.now()).total_seconds())
        return (
            f"Too many wrong codes in a row: wait {wait} second{pluralize(wait)}, "
            "then enter the code your app shows."
        )
    if not device.verify_token(token.strip().replace(" ", "")):
        return "That code is not right. Enter the 6-digit code your app shows now."
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return None


def roles_with_permission(*, app_label: str, codename: str) -> list[str]:
    """The roles (groups) granting a permission, to tell a refused person whom to ask for."""
    return list(
        Group.objects.filter(
            permissions__content_type__app_label=app_label, permissions__codename=codename
        )
        .order_by("name")
        .values_list("name", flat=True)
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any]
) -> HttpResponse:
    """The login page, saying the account is locked, for how long, and who can unlock it."""
    from django.contrib import admin

    cool_off = get_cool_off(request)
    minutes = round(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "minutes": minutes,
    }
    return TemplateResponse(request, "admin/locked_out.html", context, status=429).render()


class TwoFactorMiddleware:
    """Sends a signed-in person who still owes the second factor to the code page.

    Everything behind a session (the admin, the queue pages, the API used from
    a browser) is held back, not only the admin index; signing out stays open.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if two_factor_pending(request) and not self._exempt(request.path):
            return redirect_to_login(request.get_full_path(), reverse("admin:two_factor"))
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        open_paths = (reverse("admin:two_factor"), reverse("admin:logout"))
        return path in open_paths or path.startswith("/" + settings.STATIC_URL.lstrip("/"))
