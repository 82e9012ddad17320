"""The demo loader creates its connections through the connection service, like the admin."""

from __future__ import annotations

import pytest

from clarity.models import Flow
from clarity.services.demo import demo_load
from clarity.sync.queues import get_queue
from connectors import redaction
from connectors.models import Connection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget_demo_secrets(monkeypatch):
    """The demo's secrets are masked in this process's logs from now on (as they should be);
    its KashFlow memorable word is "clarity", so later tests would see "[redacted]" paths."""
    monkeypatch.setattr(redaction, "_known", dict(redaction._known))
    monkeypatch.setattr(redaction, "_forms_cache", None)


def test_the_demo_connections_have_their_secrets_bound_and_its_flows_their_schedules(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        demo_load()

    connections = list(Connection.objects.all())
    assert connections
    for connection in connections:
        # Saved by connection_save: the secrets are bound to where the connection points.
        assert connection.credentials and connection.secrets_bound_here()
        assert connection.secrets_origin == connection.secrets_binding()
    scheduled = Flow.objects.filter(enabled=True, trigger_schedule=True)
    registered = get_queue("default").scheduled_job_registry.get_job_ids()
    assert scheduled.exists()
    assert all(flow.schedule_job_id in registered for flow in scheduled)
