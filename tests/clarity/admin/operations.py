"""Shared helpers of the admin operation tests (flows, runs, ledger, the RQ dashboard)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.sync.queues import get_queue, pair_queue_name
from tests.factories import FlowFactory

LEDGER = reverse("admin:clarity_syncrecord_changelist")


def queued_job_ids(pair_id: int) -> list[str]:
    return get_queue(pair_queue_name(pair_id)).get_job_ids()


@pytest.fixture(autouse=True)
def empty_queues(flow):
    get_queue(pair_queue_name(flow.pair_id)).empty()


@pytest.fixture
def flow():
    return FlowFactory(name="Customers → Contacts")


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])
