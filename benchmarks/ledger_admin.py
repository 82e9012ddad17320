"""Ledger admin at a million rows: how long the finance user's pages take.

Fills 1,000,000 ledger rows across 10 flows in PostgreSQL with one set-based
INSERT, then times the ledger changelist through Django's test client (the
whole admin stack: middleware, filters, paginator, template) — default view,
status=failed, an exact source-id search and page 500 — and the operator's
health dashboard, and prints the median of each. Run with
`bash .ci/bench ledger_admin [ROWS]`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")
# Timed as in production: DEBUG off (no query logging), real keys.
os.environ.update(
    DEBUG="False",
    SECRET_KEY=Fernet.generate_key().decode() * 2,
    CLARITY_ENCRYPTION_KEYS=f"bench={Fernet.generate_key().decode()}",
)

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from clarity.models import Flow, IntegrationPair, LedgerHourlyCount, SyncRecord  # noqa: E402
from clarity.models.ledger import COUNTED as COUNTED_OUTCOMES  # noqa: E402
from connectors.models import Connection  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
FLOWS = 10
REPEAT = 15


def build_flows() -> list[Flow]:
    connections = [
        Connection.objects.create(system=system, name=system, base_url="http://127.0.0.1:1")
        for system in ("syspro", "xero", "salesforce", "kashflow")
    ]
    pairs = [
        IntegrationPair.objects.create(name="SYSPRO ↔ Xero", connection_a=connections[0],
                                       connection_b=connections[1]),
        IntegrationPair.objects.create(name="Salesforce ↔ KashFlow", connection_a=connections[2],
                                       connection_b=connections[3]),
    ]  # fmt: skip
    return [
        Flow.objects.create(
            pair=pairs[i % 2],
            name=f"Flow {i}",
            source_connection=pairs[i % 2].connection_a,
            source_entity="customers",
            target_connection=pairs[i % 2].connection_b,
            target_entity="Contacts",
        )
        for i in range(FLOWS)
    ]


def fill(flows: list[Flow]) -> float:
    """One INSERT … SELECT over generate_series: the database builds the rows itself.

    The secondary indexes are dropped first and built again afterwards — the
    usual way to bulk-load a table, and several times faster than maintaining
    ten indexes row by row.
    """
    flow_ids = [f.pk for f in flows]
    pair_ids = [f.pair_id for f in flows]
    table = SyncRecord._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        secondary = cursor.fetchall()
        for name, _ in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        expressions = {
            "flow_id": f"(%(flows)s::bigint[])[1 + n %% {FLOWS}]",
            "pair_id": f"(%(pairs)s::bigint[])[1 + n %% {FLOWS}]",
            "source_id": "'SRC' || lpad(n::text, 8, '0')",
            "source_version": "'1'",
            "business_key": "'INV-' || lpad(n::text, 8, '0')",
            "idempotency_key": "'bench:' || n",
            "target_id": "CASE WHEN n %% 100 < 90 THEN 'T' || n ELSE '' END",
            "status": "CASE WHEN n %% 100 < 90 THEN 'succeeded' "
            "WHEN n %% 100 < 96 THEN 'failed' ELSE 'skipped' END",
            "error_kind": "CASE WHEN n %% 100 BETWEEN 90 AND 95 THEN "
            "(ARRAY['data', 'transient', 'config', 'auth'])[1 + n %% 4] ELSE '' END",
            "error_code": "CASE WHEN n %% 100 BETWEEN 90 AND 95 THEN "
            "(ARRAY['lookup_missing', 'http_503', 'invalid_account', 'unknown_customer', "
            "'duplicate_contact'])[1 + n %% 5] ELSE '' END",
            "message": "CASE WHEN n %% 100 BETWEEN 90 AND 95 THEN "
            "'No Xero account code for SYSPRO stock code W-' || n ELSE '' END",
            "attempts": "1",
            "source_payload": "jsonb_build_object('Customer', 'SRC' || n, "
            "'Name', 'Customer ' || n, 'Balance', (n %% 10000) / 100.0)",
            "created_at": f"now() - make_interval(secs => {ROWS} - n)",
            "updated_at": f"now() - make_interval(secs => {ROWS} - n)",
        }
        # Every other column gets the model's own default, so new fields need no edit here.
        params: dict[str, object] = {"flows": flow_ids, "pairs": pair_ids, "rows": ROWS}
        for field in SyncRecord._meta.concrete_fields:
            if field.primary_key or field.column in expressions:
                continue
            value = None if field.null else field.get_default()
            params[field.column] = field.get_db_prep_save(value, connection)
            expressions[field.column] = f"%({field.column})s"
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(expressions)}) "
            f"SELECT {', '.join(expressions.values())} FROM generate_series(1, %(rows)s) AS n",
            params,
        )
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in secondary:
            cursor.execute(definition)
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def fill_hourly_counts() -> None:
    """The dashboard's counters as the pipeline's outcome saving would have left them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {LedgerHourlyCount._meta.db_table} (hour, flow_id, status, count)
            SELECT date_trunc('hour', created_at), flow_id, status, count(*)
            FROM {SyncRecord._meta.db_table} WHERE status = ANY(%s) GROUP BY 1, 2, 3
            """,
            [[str(status) for status in COUNTED_OUTCOMES]],
        )


def median_ms(client: Client, url: str) -> float:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return round(statistics.median(timings), 1)


def operator_client() -> Client:
    from django.contrib.auth.models import Group

    operator = User.objects.create_user("operator", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client = Client()
    client.force_login(operator)
    return client


def main() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    fill_s = fill(build_flows())
    fill_hourly_counts()
    user = User.objects.create_user("finance", is_staff=True)
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="Finance"))
    client = Client()
    client.force_login(user)
    base = "/admin/clarity/syncrecord/"
    probe = f"SRC{ROWS // 2:08d}"
    search = client.get(base, {"q": probe})
    assert probe.encode() in search.content, "the search must find the record"
    figures = {
        "rows": SyncRecord.objects.count(),
        "fill_s": round(fill_s, 1),
        "changelist_default_ms": median_ms(client, base),
        "changelist_failed_ms": median_ms(client, base + "?status=failed"),
        "changelist_search_ms": median_ms(client, f"{base}?q={probe}"),
        "changelist_page500_ms": median_ms(client, base + "?p=500"),
        "dashboard_ms": median_ms(operator_client(), "/admin/clarity/healthdashboard/"),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
