"""The REST API: roles as in the admin, filters, cursor pages, actions, and a schemathesis run."""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from clarity.models import AuditEvent, RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from tests.factories import FlowFactory, RecordFactory, RunFactory, UserFactory


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}"
        )
    return client


@pytest.fixture
def ledger(db):
    flow_a = FlowFactory(name="Customers")
    flow_b = FlowFactory(name="Invoices")
    ok = RecordFactory(flow=flow_a, source_id="CUST1", target_id="xero-contact-1")
    failed = RecordFactory(
        flow=flow_a,
        source_id="CUST2",
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="lookup_missing",
        message="No Xero account for payment method 'EFT'",
        source_payload={"PaymentMethod": "EFT"},
    )
    other = RecordFactory(
        flow=flow_b,
        source_id="SO-1",
        business_key="INV-00042",
        status=RecordStatus.FAILED,
        error_kind="transient",
        error_code="http_503",
    )
    old = RecordFactory(flow=flow_b, source_id="SO-0")
    SyncRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    runs = [RunFactory(flow=flow, status=RunStatus.SUCCEEDED) for flow in (flow_a, flow_b)]
    return {"ok": ok, "failed": failed, "other": other, "old": old, "flows": (flow_a, flow_b),
            "runs": runs}  # fmt: skip


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# -- who may do what ---------------------------------------------------------------


def test_anonymous_and_bad_tokens_get_401(ledger):
    assert api().get("/api/records/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get("/api/records/").status_code == 401
    assert api().get("/api/schema/").status_code == 200  # the schema holds no data


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # (list records, list runs, list pairs, health, retry, resolve, run a flow)
        ("Finance", (200, 200, 403, 200, 202, 200, 403)),
        ("Consultant", (200, 200, 200, 200, 403, 403, 202)),
        ("Operator", (200, 200, 200, 200, 403, 403, 202)),
    ],
)
def test_each_role_may_do_what_it_may_do_in_the_admin(ledger, role, expected):
    client = api(UserFactory(role=role))
    failed, flow = ledger["failed"], ledger["flows"][0]
    got = (
        client.get("/api/records/").status_code,
        client.get("/api/runs/").status_code,
        client.get("/api/pairs/").status_code,
        client.get(f"/api/pairs/{flow.pair_id}/health/").status_code,
        client.post(f"/api/records/{failed.pk}/retry/").status_code,
        client.post(f"/api/records/{ledger['other'].pk}/resolve/", {"note": "fixed"}).status_code,
        client.post(f"/api/flows/{flow.pk}/run/").status_code,
    )
    assert got == expected


def test_a_user_without_a_role_sees_nothing(ledger):
    client = api(UserFactory(is_staff=False))
    for url in ("/api/records/", "/api/runs/", f"/api/records/{ledger['ok'].pk}/", "/api/pairs/"):
        assert client.get(url).status_code == 403, url


def test_finance_may_run_a_flow_once_granted(ledger):
    user = UserFactory(role="Finance")
    flow = ledger["flows"][0]
    assert api(user).post(f"/api/flows/{flow.pk}/run/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="run_flow"))
    user = type(user).objects.get(pk=user.pk)  # drop the permission cache
    response = api(user).post(f"/api/flows/{flow.pk}/run/")
    assert response.status_code == 202
    run = SyncRun.objects.get(pk=response.json()["id"])
    assert run.trigger == Trigger.API and run.flow == flow


# -- reading -----------------------------------------------------------------------


def test_filters_narrow_the_ledger(ledger):
    client = api(UserFactory(role="Finance"))
    flow_a, flow_b = ledger["flows"]
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    cases = [
        ({"status": "failed"}, {ledger["failed"].pk, ledger["other"].pk}),
        ({"error_kind": "transient"}, {ledger["other"].pk}),
        ({"error_code": "lookup_missing"}, {ledger["failed"].pk}),
        ({"flow": flow_b.pk}, {ledger["other"].pk, ledger["old"].pk}),
        ({"pair": flow_a.pair_id}, {ledger["ok"].pk, ledger["failed"].pk}),
        ({"created_after": week_ago}, {ledger["ok"].pk, ledger["failed"].pk, ledger["other"].pk}),
        ({"created_before": week_ago}, {ledger["old"].pk}),
        ({"search": "CUST2"}, {ledger["failed"].pk}),
        ({"search": "xero-contact-1"}, {ledger["ok"].pk}),
        ({"search": "INV-00042"}, {ledger["other"].pk}),
        ({"search": "CUST"}, set()),
        ({"status": "failed", "flow": flow_a.pk}, {ledger["failed"].pk}),
    ]
    for query, expected in cases:
        assert ids(client.get("/api/records/", query)) == expected, query
    assert client.get("/api/records/", {"status": "nonsense"}).status_code == 400
    assert ids(client.get("/api/runs/", {"flow": flow_b.pk})) == {ledger["runs"][1].pk}


def test_pages_follow_a_cursor_newest_first_without_counting(ledger):
    client = api(UserFactory(role="Finance"))
    first = client.get("/api/records/", {"page_size": 3}).json()
    assert "count" not in first
    assert [r["id"] for r in first["results"]] == sorted(
        (r["id"] for r in first["results"]), reverse=True
    )
    second = client.get(first["next"]).json()
    assert {r["id"] for r in first["results"] + second["results"]} == set(
        SyncRecord.objects.values_list("id", flat=True)
    )


def test_one_record_carries_its_payloads(ledger):
    client = api(UserFactory(role="Finance"))
    body = client.get(f"/api/records/{ledger['failed'].pk}/").json()
    assert body["source_payload"] == {"PaymentMethod": "EFT"}
    assert body["message"] == "No Xero account for payment method 'EFT'"
    assert "source_payload" not in client.get("/api/records/").json()["results"][0]


def test_listing_costs_the_same_queries_for_3_or_30_records(ledger):
    client = api(UserFactory(role="Finance"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get("/api/records/")
            client.get("/api/runs/")
        return len(ctx.captured_queries)

    few = queries()
    for _ in range(30):
        RecordFactory(flow=FlowFactory())
        RunFactory()
    assert queries() == few


def test_a_pair_shows_its_retention_period(ledger):
    pair = ledger["flows"][0].pair
    pair.retention_days = 365
    pair.save()
    body = api(UserFactory(role="Operator")).get(f"/api/pairs/{pair.pk}/").json()
    assert body["retention_days"] == 365
    assert body["name"] == pair.name


def test_health_is_the_dashboards(ledger):
    client = api(UserFactory(role="Operator"))
    flow = ledger["flows"][0]
    body = client.get(f"/api/pairs/{flow.pair_id}/health/").json()
    assert body["pair"]["flows"][0]["oldest_failure_id"] == ledger["failed"].pk
    assert len(body["pair"]["hourly"]) == 7 * 24
    assert body["workers_alive"] == 0


# -- acting ------------------------------------------------------------------------


def test_retrying_a_failed_record_queues_it_and_audits(ledger):
    user = UserFactory(role="Finance")
    response = api(user).post(f"/api/records/{ledger['failed'].pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == RecordStatus.PENDING
    assert AuditEvent.objects.filter(record=ledger["failed"], action="retry", user=user).exists()


def test_retrying_a_succeeded_record_is_refused_with_a_reason(ledger):
    response = api(UserFactory(role="Finance")).post(f"/api/records/{ledger['ok'].pk}/retry/")
    assert response.status_code == 409
    assert "only failed, unknown or ignored records can be retried" in response.json()["detail"]
    assert SyncRecord.objects.get(pk=ledger["ok"].pk).status == RecordStatus.SUCCEEDED


def test_bulk_retry_counts_what_it_refused(ledger):
    client = api(UserFactory(role="Finance"))
    pks = [ledger["failed"].pk, ledger["other"].pk, ledger["ok"].pk, 999_999]
    response = client.post("/api/records/retry/", {"ids": pks}, format="json")
    assert response.status_code == 202
    assert response.json() == {"queued": 2, "refused": 2}


def test_retry_by_error_code_in_a_flow_or_every_flow_of_a_pair(ledger):
    flow_a, _ = ledger["flows"]
    sibling = FlowFactory(pair=flow_a.pair, name="Payments")
    common = {"status": RecordStatus.FAILED, "error_kind": "data", "error_code": "lookup_missing"}
    twin = RecordFactory(flow=sibling, **common)
    stranger = RecordFactory(flow=FlowFactory(name="Elsewhere"), **common)
    client = api(UserFactory(role="Finance"))
    url = "/api/records/retry-code/"
    for body in ({"error_code": "lookup_missing"}, {"error_code": "x", "flow": 1, "pair": 1}):
        assert client.post(url, body, format="json").status_code == 400, body
    only_flow = {"error_code": "lookup_missing", "flow": flow_a.pk}
    assert client.post(url, only_flow, format="json").json() == {"queued": 1, "refused": 0}
    assert SyncRecord.objects.get(pk=twin.pk).status == RecordStatus.FAILED
    pair_wide = {"error_code": "lookup_missing", "pair": flow_a.pair_id}
    response = client.post(url, pair_wide, format="json")
    assert (response.status_code, response.json()) == (202, {"queued": 1, "refused": 0})
    assert SyncRecord.objects.get(pk=twin.pk).status == RecordStatus.PENDING
    assert SyncRecord.objects.get(pk=stranger.pk).status == RecordStatus.FAILED
    missing = {"error_code": "lookup_missing", "pair": 999_999}
    assert client.post(url, missing, format="json").status_code == 404
    consultant = api(UserFactory(role="Consultant"))
    assert consultant.post(url, pair_wide, format="json").status_code == 403


def test_resolving_needs_a_note_and_a_failed_record(ledger):
    user = UserFactory(role="Finance")
    client = api(user)
    failed = ledger["failed"]
    assert client.post(f"/api/records/{failed.pk}/resolve/", {"note": " "}).status_code == 400
    assert SyncRecord.objects.get(pk=failed.pk).status == RecordStatus.FAILED
    response = client.post(f"/api/records/{failed.pk}/resolve/", {"note": "Paid by hand"})
    assert response.status_code == 200 and response.json()["status"] == RecordStatus.RESOLVED
    failed.refresh_from_db()
    assert (failed.resolved_by, failed.resolution_note) == (user, "Paid by hand")
    again = client.post(f"/api/records/{ledger['ok'].pk}/resolve/", {"note": "x"})
    assert again.status_code == 409
    bulk = client.post(
        "/api/records/resolve/", {"ids": [ledger["other"].pk, ledger["ok"].pk], "note": "ok"}
    )
    assert bulk.json() == {"resolved": 1, "refused": 1}


def test_running_a_disabled_flow_is_refused(ledger):
    flow = ledger["flows"][0]
    flow.enabled = False
    flow.paused_reason = "Xero refused the login."
    flow.save()
    response = api(UserFactory(role="Operator")).post(f"/api/flows/{flow.pk}/run/")
    assert response.status_code == 409
    assert "Xero refused the login." in response.json()["detail"]


# -- the schema, fuzzed ------------------------------------------------------------


@pytest.fixture
def keep_db_connection():
    """Keep the database connection open between in-process requests, like Django's test client.

    Closing it at the end of a request would end the test's transaction and its data.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def superuser_token(superuser) -> str:
    return Token.objects.create(user=superuser).key


# The schema view needs no database, so it can be read while the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, ledger, superuser_token, keep_db_connection):
    """Generated requests on real PostgreSQL data: no 500, no response that breaks the schema."""
    case.call_and_validate(
        headers={"Authorization": f"Token {superuser_token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


# -- the way in: a root, the schema and its docs pages, all served from here ---------


def test_the_api_root_lists_every_resource_schema_and_docs(db):
    response = api().get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    links = response.json()
    for name, path in (
        ("pairs", "/api/pairs/"),
        ("flows", "/api/flows/"),
        ("runs", "/api/runs/"),
        ("records", "/api/records/"),
        ("schema", "/api/schema/"),
        ("docs", "/api/docs/"),
        ("redoc", "/api/redoc/"),
    ):
        assert links[name].endswith(path), name
    # Links only: the resources behind them still need a token.
    assert api().get("/api/records/").status_code == 401


@pytest.mark.parametrize("page, asset", [
    ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
    ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
])  # fmt: skip
def test_the_docs_pages_are_served_from_here_not_a_cdn(db, page, asset):
    from django.contrib.staticfiles import finders

    response = api().get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f"/static/{asset}" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/api/schema/" in html
    assert finders.find(asset) is not None  # the file itself ships with the app


HOSTILE_BODIES = [
    b'{"ids": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",  # RecursionError in json.load
    b'{"ids": [' + b"9" * 5_000 + b"]}",  # past the int digit limit
    b'{"ids": [NaN]}',
    b'{"ids": [Infinity]}',
    b'{"ids": [1e400]}',
    b'{"ids": [1], "note": "a\\u0000b"}',
    b'{"ids": [1], "\\ud800": 1}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_a_hostile_json_body_is_a_400_not_a_500(ledger, body):
    client = api(UserFactory(role="Finance"))
    response = client.post("/api/records/retry/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "JSON parse error" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="retry").exists()
