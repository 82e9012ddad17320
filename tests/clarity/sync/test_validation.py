"""Validate runs against real PostgreSQL and the SYSPRO and Xero sandboxes over HTTP: each
outcome, the same code and message as a real run, nothing written, and a repeat that
says what changed."""

from __future__ import annotations

import pytest

from clarity.models import (
    MatchBy,
    MatchDecision,
    MatchingRule,
    SincePrevious,
    SyncRecord,
    ValidateOutcome,
    ValidateStatus,
)
from clarity.selectors.validation import validate_run_summary
from clarity.sync import validation
from clarity.sync.validation import field_differences
from connectors.configs import connector_for
from connectors.xero.connector import XeroConnector
from mappings.models import LookupEntry
from mappings.services import lookup_tables_touch, mapping_compile
from tests.clarity.validation import build

db = pytest.mark.django_db(transaction=True)


def by_source(run):
    return {(r.source_id, r.part): r for r in run.records.all()}


def verdicts(run):
    return {k: (r.outcome, r.target_id, r.differences) for k, r in by_source(run).items()}


@db
def test_each_outcome_as_a_real_run_would_have_it_and_nothing_written(sandbox):
    case = build(sandbox)
    writes = case.writes()
    cursor = case.flow.cursor

    run = case.validate()

    assert run.status == ValidateStatus.SUCCEEDED, run.message
    got = by_source(run)
    assert got[(case.same, 0)].outcome == ValidateOutcome.UNCHANGED
    assert got[(case.same, 0)].target_id
    update = got[(case.differs, 0)]
    assert update.outcome == ValidateOutcome.WOULD_UPDATE
    customer = next(c for c in case.customers if c["Customer"] == case.differs)
    assert update.differences == {
        "Name": {"held": "Old name Ltd", "sent": customer["Name"].strip()},
        "EmailAddress": {"held": "old@example.com", "sent": customer["Email"]},
    }
    assert got[(case.new, 0)].outcome == ValidateOutcome.WOULD_CREATE
    assert got[(case.new, 0)].transformed_payload["ContactNumber"] == case.new
    skipped = got[(case.skipped, 0)]
    assert (skipped.outcome, skipped.message) == (
        ValidateOutcome.WOULD_SKIP,
        "Internal account: not for Xero.",
    )
    failing = got[(case.failing, 0)]
    assert failing.outcome == ValidateOutcome.WOULD_FAIL
    assert failing.error_code and case.failing in failing.message
    assert (run.total_count, run.unchanged_count, run.would_update_count) == (8, 1, 1)
    assert (run.would_skip_count, run.would_fail_count, run.would_create_count) == (1, 1, 4)
    assert run.previous is None and {r.since_previous for r in got.values()} == {"first"}

    # Nothing written: not to Xero, not to the ledger, the cursor or the cross-reference.
    assert case.writes() == writes
    assert not SyncRecord.objects.filter(flow=case.flow).exists()
    case.flow.refresh_from_db()
    assert case.flow.cursor == cursor

    # The real run afterwards gives the same code and message, and does what was foretold.
    case.run_for_real()
    real = case.ledger(case.failing)
    assert (real.error_kind, real.error_code, real.message) == (
        failing.error_kind,
        failing.error_code,
        failing.message,
    )
    assert (case.ledger(case.skipped).status, case.ledger(case.skipped).message) == (
        "skipped",
        skipped.message,
    )
    assert case.ledger(case.differs).target_id == update.target_id
    created, updated = case.writes()
    assert created - writes[0] == 4  # the would-creates
    assert updated - writes[1] >= 1


@db
def test_a_repeat_after_fixing_a_lookup_says_what_changed(sandbox):
    case = build(sandbox)
    first = case.validate()
    # The consultant adds the missing code, and a mistake removes another one.
    broken = case.new
    LookupEntry.objects.create(table=case.table, key=case.failing, value=case.failing)
    LookupEntry.objects.filter(table=case.table, key=broken).delete()
    lookup_tables_touch(table_ids=[case.table.pk])

    second = case.validate()

    assert second.previous_id == first.pk
    assert second.mapping_version > first.mapping_version
    got = by_source(second)
    assert got[(case.failing, 0)].since_previous == SincePrevious.FIXED
    assert got[(case.failing, 0)].outcome == ValidateOutcome.WOULD_CREATE
    assert got[(broken, 0)].since_previous == SincePrevious.CHANGED
    assert got[(broken, 0)].outcome == ValidateOutcome.WOULD_FAIL
    assert got[(case.same, 0)].since_previous == SincePrevious.SAME
    assert (second.fixed_count, second.new_count, second.gone_count) == (1, 1, 0)
    assert validate_run_summary(run=second) == (
        f"Since validate run #{first.pk}: 1 would-fail fixed, 1 new would-fail."
    )


@db
def test_a_run_that_cannot_read_fails_with_the_reason_and_writes_nothing(sandbox):
    case = build(sandbox)
    case.flow.source_entity = "no_such_table"
    case.flow.save(update_fields=["source_entity"])

    run = case.validate()

    assert run.status == ValidateStatus.FAILED and run.message
    assert not run.records.exists()


def test_differences_follow_the_compare_rules():
    sent = {"Name": "Acme ", "Total": "12.50", "ContactID": "x", "Email": None}
    held = {"Name": "Acme", "Total": 12.5, "ContactID": "y", "Email": ""}
    assert field_differences(sent, held, ignore={"ContactID"}) == {}
    assert field_differences({"Name": "B"}, {"Name": "A"}) == {"Name": {"held": "A", "sent": "B"}}


@db
def test_reading_the_whole_target_gives_the_verdicts_lookups_give(sandbox, monkeypatch):
    """Past the calls one full read costs, twins come from that read, never from lookups."""
    case = build(sandbox)
    by_lookups = {
        k: (r.outcome, r.target_id, r.differences) for k, r in by_source(case.validate()).items()
    }

    def no_lookups(*args, **kwargs):
        raise AssertionError("looked up one by one after the full read was cheaper")

    monkeypatch.setattr(validation, "LOOKUP_VALUES", 1)  # so lookups cost more than one page
    monkeypatch.setattr(XeroConnector, "find_by_references", no_lookups)
    monkeypatch.setattr(XeroConnector, "read_keys", no_lookups)

    run = case.validate()

    assert run.status == ValidateStatus.SUCCEEDED, run.message
    assert verdicts(run) == by_lookups


def seed_contact(case, contact):
    target = connector_for(case.flow.target_connection)
    try:
        [outcome] = target.write_batch("Contacts", [contact])
    finally:
        target.close()
    assert outcome.ok, outcome.message
    return outcome.target_id


def mapped(case, code):
    customer = next(c for c in case.customers if c["Customer"] == code)
    return mapping_compile(mapping=case.flow.mapping).apply(customer).records[0]


@db
def test_a_contact_typed_in_by_hand_is_found_by_the_matching_rules(sandbox):
    case = build(sandbox)
    sent = mapped(case, case.new)
    twin_id = seed_contact(case, {"Name": sent["Name"], "EmailAddress": "typed@by.hand"})
    MatchingRule.objects.create(flow=case.flow, match_by=MatchBy.KEYS, keys="Name")

    run = case.validate()

    # Found, not linked: a validate run writes no cross-reference and no decision.
    assert not SyncRecord.objects.filter(flow=case.flow).exists()
    assert not MatchDecision.objects.exists()

    verdict = by_source(run)[(case.new, 0)]
    assert (verdict.outcome, verdict.target_id) == (ValidateOutcome.WOULD_UPDATE, twin_id)
    assert verdict.differences["EmailAddress"] == {
        "held": "typed@by.hand",
        "sent": sent["EmailAddress"],
    }
    case.run_for_real()
    assert case.ledger(case.new).target_id == twin_id  # the real run updated that one


@db
def test_a_partial_match_would_fail_as_the_real_run_holds_it_for_a_decision(sandbox):
    case = build(sandbox)
    sent = mapped(case, case.new)
    seed_contact(case, {"Name": sent["Name"], "EmailAddress": "typed@by.hand"})
    MatchingRule.objects.create(flow=case.flow, match_by=MatchBy.KEYS, keys="Name, EmailAddress")

    verdict = by_source(case.validate())[(case.new, 0)]

    assert verdict.outcome == ValidateOutcome.WOULD_FAIL
    assert not MatchDecision.objects.exists()  # the real run's decision queue is untouched
    case.run_for_real()
    real = case.ledger(case.new)
    assert (real.error_code, real.message) == (verdict.error_code, verdict.message)
    assert real.error_code == "match_partial"


@db
def test_records_too_large_for_a_request_would_fail_with_the_real_runs_message(sandbox):
    case = build(sandbox)
    xero = case.flow.target_connection
    xero.settings = {**xero.settings, "max_request_bytes": 1100}  # the envelope and ~80 bytes
    xero.save(update_fields=["settings"])
    writes = case.writes()

    run = case.validate()

    too_large = {k[0]: r for k, r in by_source(run).items() if r.error_code == "too_large"}
    assert too_large and all(r.outcome == ValidateOutcome.WOULD_FAIL for r in too_large.values())
    case.run_for_real()
    for code, verdict in too_large.items():
        real = case.ledger(code)
        assert (real.error_code, real.message) == (verdict.error_code, verdict.message)
    assert case.writes()[0] == writes[0]  # nothing fitted: nothing created
