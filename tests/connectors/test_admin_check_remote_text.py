"""Issue #11: text a remote system answers (NUL included) never breaks a save."""

from __future__ import annotations

import json

import pytest

from clarity.models import Flow
from clarity.services.flows import flow_pause
from clarity.sync.pipeline import login_refused_reason
from connectors.errors import ConnectorError, ErrorKind
from tests.connectors import recorder
from tests.connectors.test_admin_check import check_url, pointed_at
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db
local_server = recorder.local_server


@pytest.mark.parametrize("system", ["salesforce", "xero"])
def test_an_error_with_nul_in_its_description_is_a_message_not_a_500(
    consultant_client, local_server, system
):
    body = json.dumps({"error": "x", "error_description": "bad\u0000thing"}).encode()
    server = local_server(body=body, content_type="application/json", status=400)
    connection = pointed_at(system, server.url)

    page = consultant_client.post(check_url(connection), follow=True)

    assert page.status_code == 200
    assert server.seen
    connection.refresh_from_db()
    assert connection.last_check_ok is False
    assert connection.last_check_message
    assert "\x00" not in connection.last_check_message


def test_a_refused_login_with_nul_in_its_message_pauses_the_flow_readably():
    flow = FlowFactory()
    refused = ConnectorError(ErrorKind.AUTH, "invalid_grant", "Refused:\u0000 by the server.")

    flow_pause(flow=flow, reason=login_refused_reason(refused))

    flow = Flow.objects.get(pk=flow.pk)
    assert flow.enabled is False
    assert "Refused:\\u0000 by the server." in flow.paused_reason
