"""The portal in front of a SYSPRO that is down: its circuit breaker answers for it."""

from __future__ import annotations

from connectors.models import Connection
from tests.portal.conftest import CUSTOMER_A

URL = "/portal/api/prices/"


def test_once_syspro_keeps_failing_the_portal_answers_503_without_calling_it(portal):
    Connection.objects.filter(pk=portal.connection.pk).update(
        settings={**portal.connection.settings, "circuit_breaker": {"threshold": 2, "cooldown": 20}}
    )
    portal.control.faults(shares={"5xx": 1.0})
    ask = {"customer": CUSTOMER_A, "stock_codes": "VALVE-001"}
    first = portal.api().get(URL, ask)  # its failed tries open the breaker
    assert first.status_code == 503
    calls = portal.control.stats()["requests"]

    refused = portal.api().get(URL, ask)
    assert refused.status_code == 503
    assert refused.json()["code"] == "circuit_open"
    assert "SYSPRO is not answering since" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 20  # when the breaker lets a test call through
    assert portal.control.stats()["requests"] == calls  # SYSPRO was not called
