"""Saving outcomes and storing new ledger rows: one statement a batch on PostgreSQL, same result
as the ORM."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clarity.models import ErrorKind, LedgerHourlyCount, RecordStatus, SyncRecord
from clarity.sync import bulk, outcomes
from tests.factories import FlowFactory, RecordFactory, RunFactory

pytestmark = pytest.mark.django_db

UNICODE = "Café Ünïcødé — 東京 ✓ \U0001f600 'quoted' \"double\" \\ back"


@pytest.fixture(autouse=True)
def postgresql():
    """These tests are about the PostgreSQL statements; the suite runs on PostgreSQL."""
    if not bulk.on_postgresql():
        pytest.skip("the jsonb_to_recordset statements are PostgreSQL's")


def saved_values(rows):
    fields = [SyncRecord._meta.get_field(name).attname for name in outcomes.SAVED_FIELDS]
    ids = [r.pk for r in rows]
    return list(SyncRecord.objects.filter(pk__in=ids).order_by("pk").values("pk", *fields))


def outcome_rows(flow, run):
    """Rows in every shape a batch can hold: nulls, JSON of each kind, unicode, dates."""
    rows = RecordFactory.create_batch(
        5, flow=flow, status=RecordStatus.PENDING, claimed_by="worker-1",
        claimed_until=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    succeeded, failed, skipped, unknown, listed = rows
    succeeded.run, succeeded.mapping_version = run, 3
    succeeded.transformed_payload = {"Name": UNICODE, "Nested": {"n": [1, 2.5, None, True]}}
    outcomes.mark_succeeded(succeeded, target_id=f"id-{UNICODE}", raw={"Contacts": [UNICODE]})
    failed.attempts = 2
    failed.transformed_payload = {"Name": "x"}
    outcomes.mark_failed(failed, kind=ErrorKind.TRANSIENT, code="timeout", message=UNICODE,
                         raw="a JSON string, not an object")  # fmt: skip
    outcomes.mark_skipped(skipped, reason="Skipped by a rule.")
    unknown.status = RecordStatus.UNKNOWN
    unknown.message = ""
    unknown.target_response = None
    listed.transformed_payload = [1, "two", {"three": None}]
    outcomes.mark_failed(listed, kind=ErrorKind.DATA, code="rejected", message="no", raw=[])
    return rows


def test_every_saved_field_is_written_with_its_type(db):
    flow = FlowFactory()
    run = RunFactory(flow=flow)
    rows = outcome_rows(flow, run)

    outcomes.save(rows)

    succeeded, failed, skipped, unknown, listed = SyncRecord.objects.filter(
        pk__in=[r.pk for r in rows]
    ).order_by("pk")
    assert succeeded.status == RecordStatus.SUCCEEDED
    assert succeeded.target_id == f"id-{UNICODE}"
    assert succeeded.transformed_payload == {
        "Name": UNICODE,
        "Nested": {"n": [1, 2.5, None, True]},
    }
    assert succeeded.target_response == {"Contacts": [UNICODE]}
    assert succeeded.run_id == run.pk and succeeded.mapping_version == 3
    assert failed.message == UNICODE and failed.error_kind == ErrorKind.TRANSIENT
    assert failed.target_response == "a JSON string, not an object"
    assert failed.next_retry_at is not None and failed.next_retry_at > timezone.now()
    assert failed.attempts == 2 and failed.run_id is None and failed.mapping_version is None
    assert skipped.status == RecordStatus.SKIPPED and skipped.next_retry_at is None
    assert listed.transformed_payload == [1, "two", {"three": None}]
    assert listed.target_response == []
    for row in (succeeded, failed, skipped, unknown, listed):
        assert row.claimed_by == "" and row.claimed_until is None
    # None is SQL NULL (as with the ORM), not JSON null.
    assert SyncRecord.objects.filter(pk=unknown.pk, target_response__isnull=True).exists()
    assert SyncRecord.objects.filter(pk=skipped.pk, transformed_payload__isnull=True).exists()


def test_the_same_result_as_the_orms_bulk_update(db):
    flow = FlowFactory()
    run = RunFactory(flow=flow)
    ours = outcome_rows(flow, run)
    theirs = outcome_rows(flow, run)
    now = timezone.now()
    for mine, other in zip(ours, theirs, strict=True):
        mine.updated_at = other.updated_at = now
        other.next_retry_at, other.claimed_until = mine.next_retry_at, mine.claimed_until

    bulk.rows_update(ours, outcomes.SAVED_FIELDS)
    SyncRecord.objects.bulk_update(theirs, outcomes.SAVED_FIELDS)

    def comparable(values):
        return [{k: v for k, v in row.items() if k != "pk"} for row in values]

    assert comparable(saved_values(ours)) == comparable(saved_values(theirs))


def test_only_the_saved_fields_change(db):
    row = RecordFactory(status=RecordStatus.PENDING, business_key="BK-1", tags="vat")
    row.business_key = "changed in memory"
    row.source_payload = {"changed": True}
    outcomes.mark_succeeded(row, target_id="T-1")

    outcomes.save([row])

    stored = SyncRecord.objects.get(pk=row.pk)
    assert stored.status == RecordStatus.SUCCEEDED and stored.target_id == "T-1"
    assert stored.business_key == "BK-1"
    assert stored.source_payload == {"Customer": row.source_id, "Name": "Acme Ltd"}


def test_one_statement_per_batch(db, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH", 2)
    rows = RecordFactory.create_batch(5, status=RecordStatus.PENDING)
    for row in rows:
        outcomes.mark_skipped(row, reason="not needed")

    with CaptureQueriesContext(connection) as queries:
        bulk.rows_update(rows, outcomes.SAVED_FIELDS)

    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3
    assert all("jsonb_to_recordset" in sql and "CASE" not in sql for sql in updates)
    assert SyncRecord.objects.filter(status=RecordStatus.SKIPPED).count() == 5


def test_outcomes_are_counted_and_older_failures_resolved(db):
    flow = FlowFactory()
    older = RecordFactory(flow=flow, source_id="C1", source_version="1",
                          status=RecordStatus.FAILED)  # fmt: skip
    newer = RecordFactory(flow=flow, source_id="C1", source_version="2",
                          status=RecordStatus.PENDING)  # fmt: skip
    other = RecordFactory(flow=flow, status=RecordStatus.PENDING)
    outcomes.mark_succeeded(newer, target_id="T-1")
    outcomes.mark_failed(other, kind=ErrorKind.DATA, code="rejected", message="no")

    outcomes.save([newer, other])

    older.refresh_from_db()
    assert older.status == RecordStatus.RESOLVED and older.resolved_at is not None
    counts = dict(LedgerHourlyCount.objects.filter(flow=flow).values_list("status", "count"))
    assert counts == {RecordStatus.SUCCEEDED: 1, RecordStatus.FAILED: 1}


def test_large_payloads_are_capped(db, settings):
    settings.CLARITY_PAYLOAD_CAP_BYTES = 1024
    row = RecordFactory(status=RecordStatus.PENDING)
    row.transformed_payload = {"Name": "é" * 2000}
    outcomes.mark_succeeded(row, target_id="T-1", raw={"Body": "x" * 5000})

    outcomes.save([row])

    stored = SyncRecord.objects.get(pk=row.pk)
    assert stored.target_response["_truncated"] is True
    assert stored.transformed_payload["_truncated"] is True


def test_a_value_too_long_fails_the_batch_and_changes_nothing(db):
    rows = RecordFactory.create_batch(2, status=RecordStatus.PENDING)
    outcomes.mark_succeeded(rows[0], target_id="T-1")
    outcomes.mark_failed(rows[1], kind=ErrorKind.DATA, code="rejected", message="no")
    rows[1].error_kind = "k" * 21  # error_kind is a varchar(20): never silently cut short

    with pytest.raises(DataError):
        outcomes.save(rows)

    assert set(SyncRecord.objects.values_list("status", flat=True)) == {RecordStatus.PENDING}
    assert not LedgerHourlyCount.objects.exists()


def test_nothing_to_save_runs_no_query(db):
    with CaptureQueriesContext(connection) as queries:
        outcomes.save([])
    assert not queries


def new_row(flow, source_id: str, **values) -> SyncRecord:
    return SyncRecord(flow=flow, pair_id=flow.pair_id, source_id=source_id,
                      idempotency_key=f"{flow.pk}:{source_id}:1", **values)  # fmt: skip


def test_storing_inserts_the_new_rows_and_reads_back_only_the_known(db):
    flow = FlowFactory()
    known = RecordFactory(flow=flow, source_id="C1", status=RecordStatus.FAILED, message=UNICODE)
    rows = [
        new_row(flow, "C0", source_payload={"Name": UNICODE, "Lines": [{"n": None}]},
                business_key=UNICODE),
        new_row(flow, "C1", source_payload={"Name": "a different copy"}),
        new_row(flow, "C2"),
        new_row(flow, "C2"),  # the same key twice in one page: one row
    ]  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        stored = bulk.rows_store(rows)

    assert len(queries) == 2  # one INSERT … RETURNING, one read of the known row
    assert [r.source_id for r in stored] == ["C0", "C1", "C2"]
    assert stored[1].pk == known.pk and stored[1].message == UNICODE  # as stored, not as given
    assert stored[0] is rows[0] and stored[0].pk and not stored[0]._state.adding
    again = SyncRecord.objects.get(pk=stored[0].pk)
    assert again.source_payload == {"Name": UNICODE, "Lines": [{"n": None}]}
    assert again.business_key == UNICODE and again.status == RecordStatus.PENDING
    assert again.created_at is not None and again.transformed_payload is None
    assert SyncRecord.objects.filter(flow=flow).count() == 3


def test_storing_nothing_new_inserts_nothing(db):
    flow = FlowFactory()
    RecordFactory(flow=flow, source_id="C1")
    stored = bulk.rows_store([new_row(flow, "C1")])
    assert [r.status for r in stored] == [RecordStatus.SUCCEEDED]
    assert SyncRecord.objects.count() == 1
