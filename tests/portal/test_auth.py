"""Token authentication per portal client: every refusal is 401 and changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.models import PortalToken

URL = "/portal/api/prices/?customer=0000001&stock_codes=BOLT-001"


def test_no_token_is_401_with_the_scheme_named(portal):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer ccp_not-a-real-token", "Bearer", "Bearer two words", "Token ccp_whatever"],
)
def test_a_wrong_or_malformed_token_is_401(portal, header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    assert api.get(URL).status_code == 401
    assert portal.control.stats()["requests"] == 0  # SYSPRO was never asked


def test_a_revoked_token_is_401(portal):
    PortalToken.objects.filter(client=portal.client).update(revoked=True)
    assert portal.api().get(URL).status_code == 401


def test_an_inactive_client_is_401(portal):
    portal.client.active = False
    portal.client.save()
    response = portal.api().get(URL)
    assert response.status_code == 401
    assert "deactivated" in response.json()["detail"]


def test_only_the_digest_is_stored_and_use_is_recorded(portal):
    token = PortalToken.objects.get(client=portal.client)
    assert portal.key not in (token.digest, token.prefix)
    assert portal.key.startswith(token.prefix)
    assert token.last_used_at is None
    assert portal.api().get(URL).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_one_clients_token_does_not_act_for_another_clients_customers(make_portal, db):
    shop = make_portal(customer_codes="0000001")
    response = shop.api().get("/portal/api/prices/?customer=0000002&stock_codes=BOLT-001")
    assert response.status_code == 403
    assert response.json()["code"] == "customer_not_allowed"
    assert "0000002" in response.json()["detail"]
    assert shop.control.stats()["requests"] == 0
