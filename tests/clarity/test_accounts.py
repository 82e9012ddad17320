"""Signing in through the real login page: lockout after wrong passwords, and the second factor."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
TWO_FACTOR = reverse("admin:two_factor")
PASSWORD = "pw-for-tests"


def sign_in(client: Client, username: str, password: str, **extra: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX}, **extra)


@pytest.mark.django_db
def test_wrong_passwords_lock_the_account_with_a_clear_message(settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="clerk", role="Finance")
    client = Client()
    for _ in range(2):
        refused = sign_in(client, "clerk", "wrong")
        assert refused.status_code == 200
        assert "Please enter the correct username and password" in refused.content.decode()

    locked = sign_in(client, "clerk", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in is locked for “clerk”, from every address, after 3 wrong passwords" in page
    assert "Try again in 30 minutes" in page
    assert "Axes → Access attempts" in page
    assert "Clarity Connect" in page

    # The right password does not get through while locked …
    assert sign_in(client, "clerk", PASSWORD).status_code == 429
    assert client.get(INDEX).status_code == 302
    # … nor from another address: a locked username is locked everywhere until the
    # cool-off ends or an administrator unlocks it (the message says both).
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert sign_in(elsewhere, "clerk", PASSWORD).status_code == 429
    assert elsewhere.get(INDEX).status_code == 302
    # Other people are not caught by clerk's lock from another browser or address; the
    # one client that made the guesses (address and browser) is locked for any username.
    UserFactory(username="other", role="Finance")
    assert sign_in(Client(HTTP_USER_AGENT="Another browser"), "other", PASSWORD).status_code == 302
    assert sign_in(Client(REMOTE_ADDR="10.9.8.7"), "other", PASSWORD).status_code == 302
    assert sign_in(Client(), "other", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_wrong_passwords_from_several_addresses_lock_the_username(settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="clerk", role="Finance")
    for address in ("10.0.0.1", "10.0.0.2"):
        assert sign_in(Client(REMOTE_ADDR=address), "clerk", "wrong").status_code == 200

    # The third guess, from yet another address, reaches the limit: changing address
    # does not reset the count.
    assert sign_in(Client(REMOTE_ADDR="10.0.0.3"), "clerk", "wrong").status_code == 429
    fresh = Client(REMOTE_ADDR="10.0.0.4")
    assert sign_in(fresh, "clerk", PASSWORD).status_code == 429
    assert fresh.get(INDEX).status_code == 302


@pytest.mark.django_db
def test_an_administrator_unlocks_an_account_in_the_admin(settings, superuser_client):
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(username="clerk", role="Finance")
    client = Client()
    for _ in range(2):
        sign_in(client, "clerk", "wrong")
    assert sign_in(client, "clerk", PASSWORD).status_code == 429

    attempts = superuser_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert attempts.status_code == 200
    assert "clerk" in attempts.content.decode()
    ids = [str(pk) for pk in attempts.context["cl"].result_list.values_list("pk", flat=True)]
    superuser_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )

    assert sign_in(client, "clerk", PASSWORD).status_code == 302
    assert client.get(INDEX).status_code == 200


@pytest.mark.django_db
def test_lockout_counts_reset_after_a_good_sign_in(settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="clerk", role="Finance")
    client = Client()
    for _ in range(2):
        sign_in(client, "clerk", "wrong")
    assert sign_in(client, "clerk", PASSWORD).status_code == 302
    client.post(reverse("admin:logout"))
    for _ in range(2):
        assert sign_in(client, "clerk", "wrong").status_code == 200


def current_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.mark.django_db
def test_with_2fa_required_staff_set_up_an_app_then_confirm_each_sign_in(settings):
    settings.CLARITY_REQUIRE_2FA = True
    user = UserFactory(username="consultant9", role="Consultant")
    client = Client()

    assert "6-digit code from your authenticator app" in client.get(LOGIN).content.decode()
    signed_in = sign_in(client, "consultant9", PASSWORD)
    assert signed_in.status_code == 302
    # A password alone opens nothing: every page sends them to the code page.
    for url in (INDEX, reverse("admin:clarity_flow_changelist"), "/api/pairs/"):
        held = client.get(url)
        assert held.status_code == 302, url
        assert held.url.startswith(TWO_FACTOR), url

    setup = client.get(f"{TWO_FACTOR}?next={INDEX}")
    page = setup.content.decode()
    assert "Set up your authenticator app" in page
    assert "<svg" in page  # the QR code
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    assert secret == base64.b32encode(device.bin_key).decode().rstrip("=")

    wrong = client.post(TWO_FACTOR, {"token": "000000", "next": INDEX})
    assert "That code is not right" in wrong.content.decode()
    assert client.get(INDEX).status_code == 302
    # Guessing is slowed down: straight after a wrong code even the right one waits.
    hurried = client.post(TWO_FACTOR, {"token": current_code(device), "next": INDEX})
    assert "Too many wrong codes in a row: wait 1 second" in hurried.content.decode()
    time.sleep(1.1)

    confirmed = client.post(TWO_FACTOR, {"token": current_code(device), "next": INDEX})
    assert confirmed.status_code == 302
    assert confirmed.url == INDEX
    assert client.get(INDEX).status_code == 200
    device.refresh_from_db()
    assert device.confirmed

    # The next sign-in asks for a code and never shows the secret again.
    later = Client()
    sign_in(later, "consultant9", PASSWORD)
    ask = later.get(TWO_FACTOR)
    assert "Enter the 6-digit code" in ask.content.decode()
    assert "totp-secret" not in ask.content.decode()
    assert later.get(INDEX).status_code == 302
    code = current_code(device, steps_ahead=1)  # the code just used may not be used again
    assert later.post(TWO_FACTOR, {"token": code, "next": INDEX}).status_code == 302
    assert later.get(INDEX).status_code == 200


@pytest.mark.django_db
def test_the_code_page_sends_nowhere_outside_the_site(settings):
    settings.CLARITY_REQUIRE_2FA = True
    user = UserFactory(username="consultant9", role="Consultant")
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    client = Client()
    sign_in(client, "consultant9", PASSWORD)
    answer = client.post(
        TWO_FACTOR, {"token": current_code(device), "next": "https://evil.example.com/"}
    )
    assert answer.status_code == 302
    assert answer.url == INDEX


@pytest.mark.django_db
def test_without_2fa_required_a_password_signs_in(settings):
    settings.CLARITY_REQUIRE_2FA = False
    UserFactory(username="consultant9", role="Consultant")
    client = Client()
    assert "authenticator" not in client.get(LOGIN).content.decode()
    assert sign_in(client, "consultant9", PASSWORD).status_code == 302
    assert client.get(INDEX).status_code == 200
