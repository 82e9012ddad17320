"""Payload capping: the ledger keeps a note and a preview of a payload too large to keep whole."""

from __future__ import annotations

import json

from clarity.models import RecordStatus
from clarity.sync.payloads import is_capped, payload_capped, record_payloads_cap
from tests.factories import RecordFactory

# --- payload capping --------------------------------------------------------------------------


def test_a_small_payload_is_kept_as_it_is():
    value = {"Name": "Acme Ltd", "Lines": [1, 2, 3]}
    assert payload_capped(value, limit_bytes=1024) is value
    assert payload_capped(None) is None


def test_a_large_payload_is_capped_with_a_note():
    value = {"Invoices": [{"InvoiceID": f"INV-{i:05d}", "Total": "10.00"} for i in range(5000)]}
    size_kb = len(json.dumps(value, ensure_ascii=False).encode()) / 1024
    capped = payload_capped(value, limit_bytes=8 * 1024)
    assert is_capped(capped)
    assert f"original was {size_kb:,.0f} KB" in capped["note"]
    assert "capped at 8 KB" in capped["note"]
    assert capped["preview"].startswith('{"Invoices": [{"InvoiceID": "INV-00000"')
    assert len(json.dumps(capped).encode()) < 8 * 1024


def test_the_preview_never_splits_a_character():
    capped = payload_capped({"Name": "é" * 5000}, limit_bytes=1001)
    assert is_capped(capped)
    capped["preview"].encode()  # valid text


def test_a_failed_record_keeps_what_a_retry_sends(db):
    big = {"Notes": "x" * 10_000}
    failed = RecordFactory(
        status=RecordStatus.FAILED, source_payload=big, target_response={"Detail": "y" * 10_000}
    )
    assert record_payloads_cap(failed, limit_bytes=1024) == ["target_response"]
    assert failed.source_payload == big
    assert is_capped(failed.target_response)

    done = RecordFactory(status=RecordStatus.SUCCEEDED, source_payload=big, transformed_payload=big)
    assert record_payloads_cap(done, limit_bytes=1024) == ["source_payload", "transformed_payload"]
    done.save()
    done.refresh_from_db()
    assert is_capped(done.source_payload) and is_capped(done.transformed_payload)
