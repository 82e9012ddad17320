"""Retention: expired successes of pairs with a retention period go; everything else stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clarity.jobs_maintenance import prune_ledger
from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.services.retention import ledger_prune
from tests.factories import FlowFactory, PairFactory, RecordFactory

ALL_STATUSES = [status for status, _ in RecordStatus.choices]


def records_aged(flow, days: int, *, updated_days: int | None = None) -> dict[str, int]:
    """One record of every status, created ``days`` ago; returns status → pk."""
    then = timezone.now() - timedelta(days=days)
    changed = timezone.now() - timedelta(days=days if updated_days is None else updated_days)
    made = {}
    for status in ALL_STATUSES:
        row = RecordFactory(flow=flow, status=status)
        SyncRecord.objects.filter(pk=row.pk).update(created_at=then, updated_at=changed)
        made[status] = row.pk
    return made


@pytest.fixture
def flows(db):
    return {
        "pruned": FlowFactory(pair=PairFactory(retention_days=30)),
        "forever": FlowFactory(pair=PairFactory()),
    }


def test_prune_deletes_only_expired_successes_of_pairs_with_retention(flows):
    old = records_aged(flows["pruned"], 40)
    recent = records_aged(flows["pruned"], 5)
    old_kept_forever = records_aged(flows["forever"], 400)
    # Created long ago, but it only succeeded yesterday: kept for the full period.
    late = records_aged(flows["pruned"], 60, updated_days=1)

    assert ledger_prune(batch_size=4) == 2
    left = set(SyncRecord.objects.values_list("pk", flat=True))
    gone = {old[RecordStatus.SUCCEEDED], old[RecordStatus.SKIPPED]}
    assert gone.isdisjoint(left)
    for kept in (recent, old_kept_forever, late):
        assert set(kept.values()) <= left
    for status in ("failed", "pending", "unknown", "resolved", "ignored"):
        assert old[status] in left
    assert ledger_prune() == 0


def test_prune_works_in_short_batches_by_key_range(flows):
    for _ in range(5):
        records_aged(flows["pruned"], 31)
    total = SyncRecord.objects.count()
    with CaptureQueriesContext(connection) as queries:
        assert ledger_prune(batch_size=7) == 10
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("DELETE")]
    assert len(deletes) >= total // 7
    assert all("r.id >= " in sql and "r.id < " in sql for sql in deletes)
    assert SyncRecord.objects.count() == total - 10


def test_a_record_with_an_audit_trail_is_kept(flows, finance):
    old = records_aged(flows["pruned"], 40)
    retried = SyncRecord.objects.get(pk=old[RecordStatus.SUCCEEDED])
    AuditEvent.objects.create(user=finance, action="retry", flow=retried.flow, record=retried)
    assert ledger_prune() == 1  # only the skipped one
    assert SyncRecord.objects.filter(pk=retried.pk).exists()
    assert AuditEvent.objects.filter(record=retried).exists()


def test_a_retention_change_is_honoured_on_the_next_prune(flows):
    old = records_aged(flows["forever"], 10)
    now = timezone.now()
    assert ledger_prune(now=now) == 0
    pair = flows["forever"].pair
    pair.retention_days = 7
    pair.save()
    assert ledger_prune(now=now) == 2
    assert not SyncRecord.objects.filter(pk=old[RecordStatus.SUCCEEDED]).exists()


def test_the_prune_job(flows):
    records_aged(flows["pruned"], 90)
    assert prune_ledger() == 2


def test_nothing_to_prune_without_retention(db):
    records_aged(FlowFactory(), 1000)
    assert ledger_prune() == 0


def test_retention_is_at_least_a_day(db):
    pair = PairFactory.build(retention_days=0)
    pair.connection_a.save()
    pair.connection_b.save()
    pair.connection_a_id, pair.connection_b_id = pair.connection_a.pk, pair.connection_b.pk
    with pytest.raises(ValidationError) as error:
        pair.full_clean()
    assert "retention_days" in error.value.message_dict
