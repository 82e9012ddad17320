"""The portal in the admin: consultants manage clients and issue tokens; finance sees nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.auth import token_digest
from portal.models import PortalToken


def test_a_consultant_issues_a_token_shown_once(consultant_client, portal):
    url = reverse("admin:portal_portalclient_issue_token", args=[portal.client.pk])
    confirm = consultant_client.get(url)
    assert confirm.status_code == 200
    assert (
        not PortalToken.objects.filter(client=portal.client)
        .exclude(digest=token_digest(portal.key))
        .exists()
    )
    issued = consultant_client.post(url)
    assert issued.status_code == 200
    assert "no-store" in issued["Cache-Control"]
    token = PortalToken.objects.filter(client=portal.client).order_by("-pk").first()
    key = issued.context["key"]
    assert key.startswith(token.prefix) and token_digest(key) == token.digest
    assert key in issued.content.decode()
    change = consultant_client.get(
        reverse("admin:portal_portalclient_change", args=[portal.client.pk])
    )
    assert change.status_code == 200
    assert key not in change.content.decode()
    assert (
        portal.api(key).get("/portal/api/prices/?customer=0000001&stock_codes=BOLT-001").status_code
        == 200
    )


def test_the_client_page_lists_tokens_by_prefix_only(consultant_client, portal):
    token = PortalToken.objects.get(client=portal.client)
    page = consultant_client.get(
        reverse("admin:portal_portalclient_change", args=[portal.client.pk])
    ).content.decode()
    assert token.prefix in page
    assert portal.key not in page and token.digest not in page


@pytest.mark.parametrize(
    "name", ["admin:portal_portalclient_changelist", "admin:portal_portalorder_changelist"]
)
def test_finance_cannot_see_the_portal(finance_client, portal, name):
    assert finance_client.get(reverse(name)).status_code == 403
    url = reverse("admin:portal_portalclient_issue_token", args=[portal.client.pk])
    assert finance_client.post(url).status_code == 403
    assert PortalToken.objects.filter(client=portal.client).count() == 1
    assert "Portal clients" not in finance_client.get(reverse("admin:index")).content.decode()


def test_consultants_see_clients_and_orders(consultant_client, portal):
    for name in ("admin:portal_portalclient_changelist", "admin:portal_portalorder_changelist"):
        assert consultant_client.get(reverse(name)).status_code == 200


def test_a_client_needs_customers_or_all(consultant_client, portal):
    response = consultant_client.post(
        reverse("admin:portal_portalclient_add"),
        {
            "name": "Empty",
            "connection": portal.connection.pk,
            "customer_codes": "",
            "active": "on",
            "tokens-TOTAL_FORMS": 0,
            "tokens-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "List the customers" in response.content.decode()
