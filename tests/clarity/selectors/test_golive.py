"""The go-live checklist: each item met, and each unmet in the ways a consultant meets it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clarity.models import AlertKind, AlertRule, Flow
from clarity.models.validation import ValidateStatus
from clarity.selectors.golive import pair_checklist
from connectors.base import Tokens
from connectors.services import connection_save
from connectors.tokens import ConnectionTokenStore
from mappings.models import FieldMappingRow
from mappings.services import mapping_touch
from tests.clarity.golive import mark_tested, ready_pair, validated
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db


def items(pair) -> dict[str, tuple[bool, str]]:
    return {item.key: (item.ok, item.detail) for item in pair_checklist(pair=pair)}


def unmet(pair) -> dict[str, str]:
    return {key: detail for key, (ok, detail) in items(pair).items() if not ok}


def test_a_ready_pair_meets_every_item_with_what_was_found() -> None:
    ready = ready_pair()
    checklist = pair_checklist(pair=ready.pair)
    assert [item.key for item in checklist] == [
        "connections",
        "mappings",
        "validate",
        "schedules",
        "alerts",
    ]
    assert all(item.ok for item in checklist), [i.detail for i in checklist if not i.ok]
    found = items(ready.pair)
    assert "tested OK" in found["connections"][1]
    assert "compiles" in found["mappings"][1]
    assert "1 would-fail record(s), each acknowledged with a note" in found["validate"][1]
    assert "scheduled (*/15 * * * *)" in found["schedules"][1]
    assert "finance@example.com" in found["alerts"][1]
    assert all(item.link.startswith("/admin/") for item in checklist)


def test_connections_never_tested_failed_or_changed_since_their_test() -> None:
    ready = ready_pair()
    a, b = ready.pair.connection_a, ready.pair.connection_b
    a.last_check_ok, a.last_check_at = None, None
    a.save(update_fields=["last_check_ok", "last_check_at"])
    assert "was never tested" in unmet(ready.pair)["connections"]

    mark_tested(a)
    b.last_check_ok, b.last_check_message = False, "Not reachable: connection refused."
    b.save(update_fields=["last_check_ok", "last_check_message"])
    detail = unmet(ready.pair)["connections"]
    assert "failed its last test" in detail and "connection refused" in detail
    assert a.name not in detail  # only what is unmet is listed

    mark_tested(b)
    assert "connections" not in unmet(ready.pair)
    # Tokens refreshed after the test (every half hour for Xero) change nothing that was tested.
    tokens = ConnectionTokenStore(b.pk, b.secrets_binding())
    tokens.save(Tokens(access_token="fresh", refresh_token="next", expires_at=None))
    assert "connections" not in unmet(ready.pair)
    b.refresh_from_db()
    b.settings = {"tenant_id": "another"}
    connection_save(connection=b)  # a change after the test: the test no longer counts
    assert "before its last change" in unmet(ready.pair)["connections"]
    mark_tested(b)
    assert "connections" not in unmet(ready.pair)


def test_a_mapping_that_does_not_compile_or_a_flow_without_one() -> None:
    ready = ready_pair()
    FieldMappingRow.objects.create(
        mapping=ready.mapping,
        order=1,
        sources=["Currency"],
        targets=["DefaultCurrency"],
        transforms=[{"name": "lookup", "args": {"table": "No such table"}}],
    )
    detail = unmet(ready.pair)["mappings"]
    assert "does not compile" in detail and "No such table" in detail

    Flow.objects.filter(pk=ready.flow.pk).update(mapping=None)
    assert "has no mapping" in unmet(ready.pair)["mappings"]


def test_disabled_flows_are_not_checked_and_a_pair_without_enabled_flows_is_not_ready() -> None:
    ready = ready_pair()
    Flow.objects.filter(pk=ready.flow.pk).update(enabled=False)
    missing = unmet(ready.pair)
    assert set(missing) == {"mappings", "validate", "schedules"}
    assert all("no enabled flow" in detail for detail in missing.values())


def test_validate_never_run_unfinished_or_failed() -> None:
    ready = ready_pair()
    ready.run.delete()
    assert "never validated" in unmet(ready.pair)["validate"]

    run = validated(ready.flow)
    run.status = ValidateStatus.RUNNING
    run.save()
    assert "has not finished" in unmet(ready.pair)["validate"]

    run.status, run.message = ValidateStatus.FAILED, "The source refused the login."
    run.save()
    assert "failed: The source refused the login." in unmet(ready.pair)["validate"]


def test_would_fail_records_count_only_once_each_is_acknowledged_with_a_note() -> None:
    ready = ready_pair()
    ready.failing.acknowledged_note, ready.failing.acknowledged_at = "", None
    ready.failing.save()
    detail = unmet(ready.pair)["validate"]
    assert "1 record(s) of validate run" in detail and "acknowledge each with a note" in detail
    link = next(item.link for item in pair_checklist(pair=ready.pair) if item.key == "validate")
    assert link.endswith(f"?run={ready.run.pk}&outcome=would_fail")  # the failures to act on

    ready.failing.acknowledged_note = "Closed accounts, not migrated"
    ready.failing.acknowledged_at = timezone.now()
    ready.failing.save()
    assert "validate" not in unmet(ready.pair)


def test_only_the_latest_validate_run_counts() -> None:
    ready = ready_pair()
    validated(ready.flow, failing=2, acknowledged=False)  # a newer run with fresh failures
    assert "2 record(s)" in unmet(ready.pair)["validate"]
    validated(ready.flow)  # fixed, validated again
    assert "validate" not in unmet(ready.pair)


def test_a_run_older_than_the_latest_mapping_or_lookup_change_does_not_count() -> None:
    ready = ready_pair()
    mapping_touch(mapping=ready.mapping, reason="Changed")  # a row edited: a new version
    detail = unmet(ready.pair)["validate"]
    assert "older than the last change of its mapping or lookups" in detail
    assert "validate again" in detail
    validated(ready.flow)
    assert "validate" not in unmet(ready.pair)

    # A change recorded after the run's start, even at the same version number (another
    # mapping chosen for the flow), makes it stale too.
    ready.run.refresh_from_db()
    later = ready.flow.validate_runs.order_by("-pk").first()
    later.started_at = timezone.now() - timedelta(hours=1)
    later.save()
    ready.mapping.description = "edited"
    ready.mapping.save()
    assert "older than the last change" in unmet(ready.pair)["validate"]


def test_a_flow_that_runs_only_by_hand_must_say_it_is_on_purpose() -> None:
    ready = ready_pair()
    Flow.objects.filter(pk=ready.flow.pk).update(trigger_schedule=False, schedule_cron="")
    assert "no schedule and no events" in unmet(ready.pair)["schedules"]
    Flow.objects.filter(pk=ready.flow.pk).update(manual_only=True)
    assert items(ready.pair)["schedules"] == (
        True,
        "“Customers → Contacts”: manual runs only, on purpose.",
    )
    Flow.objects.filter(pk=ready.flow.pk).update(manual_only=False, trigger_webhook=True)
    assert items(ready.pair)["schedules"][1] == "“Customers → Contacts”: on events."


def test_alerts_need_an_enabled_rule_with_a_recipient_on_this_pair() -> None:
    ready = ready_pair()
    ready.rule.enabled = False
    ready.rule.save()
    assert "No enabled alert rule" in unmet(ready.pair)["alerts"]
    AlertRule.objects.create(pair=PairFactory(), kind=AlertKind.FAILURES_OVER, recipients="a@b.c")
    assert "alerts" in unmet(ready.pair)  # another pair's rule does not cover this one
    ready.rule.enabled = True
    ready.rule.recipients = ""
    ready.rule.webhook_url = "https://hooks.example.com/clarity"
    ready.rule.save()
    assert "hooks.example.com" in items(ready.pair)["alerts"][1]
