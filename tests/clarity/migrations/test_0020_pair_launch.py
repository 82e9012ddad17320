"""Pairs that exist before Launch was added keep running: 0020 marks them launched (by
nobody, at migration time); its reverse takes back only those marks; consultants may launch."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.utils import timezone

from clarity.models import IntegrationPair, Trigger
from clarity.services.runs import flow_run_enqueue
from tests.clarity.golive import production_pair
from tests.factories import FlowFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("clarity.migrations.0020_pair_launch")


def test_existing_pairs_are_marked_launched_and_run() -> None:
    before = timezone.now()
    flow = FlowFactory(pair=production_pair())
    person = production_pair(name="Launched by a person")
    IntegrationPair.objects.filter(pk=person.pk).update(
        launched_at="2026-01-01T00:00Z", launched_by=UserFactory()
    )
    migration.mark_existing_launched(apps, None)
    pair = IntegrationPair.objects.get(pk=flow.pair_id)
    assert pair.launched_at >= before and pair.launched_by is None
    assert flow_run_enqueue(flow=flow, trigger=Trigger.SCHEDULE).pk
    person.refresh_from_db()
    assert person.launched_at.year == 2026 and person.launched_at.month == 1  # untouched

    migration.unmark_existing_launched(apps, None)
    assert IntegrationPair.objects.get(pk=flow.pair_id).launched_at is None
    person.refresh_from_db()
    assert person.launched_at is not None  # a person's launch is kept


def test_consultants_may_launch_and_nobody_else_by_role() -> None:
    holders = Group.objects.filter(permissions__codename="launch_pair")
    assert set(holders.values_list("name", flat=True)) == {"Consultant"}
