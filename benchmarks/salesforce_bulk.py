"""100,000 accounts upserted into Salesforce by external ID through one Bulk API 2.0 job.

What runs is the sync core's own load path: the accounts become ledger rows
(``ledger_first``), then ``deliver`` transforms, claims and hands them to the
Salesforce connector's ``write_batch``, which goes through Bulk API 2.0 (the
connection's ``bulk_threshold`` is the default 2,000; ``bulk_max_records`` is
raised to 100,000 so one call carries them all), and stores every record's
outcome in the ledger. The source read is left out: no sandbox source pages
100,000 records at once, and a flow's batch (at most 10,000 through the admin)
is set to 100,000 here directly, as a backfill could be run.

Some rows are seeded to fail the way real ones do: every 500th has no Name
(``REQUIRED_FIELD_MISSING``), every 997th an AccountNumber longer than 40
(``STRING_TOO_LONG``). The Salesforce sandbox runs in this process and
applies every row with the same rules as its REST path.

Figures: ``api_calls`` = requests the sandbox received during the delivery
(its ``/_sandbox/stats``; target <= 20); ``failed_records_reported`` = ledger
rows failed with an error code and a message, whose source ids must be exactly
the seeded ones (target: equal to ``failed_records_seeded``);
``records_per_s`` = records / seconds from the first ledger write to the last
outcome stored. Run with ``bash .ci/bench salesforce_bulk [RECORDS]``; the last
line is one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")
os.environ.update(
    DEBUG="False",
    SECRET_KEY=Fernet.generate_key().decode() * 2,
    CLARITY_ENCRYPTION_KEYS=f"bench={Fernet.generate_key().decode()}",
)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from clarity.models import (  # noqa: E402
    Flow,
    IntegrationPair,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.sync.locks import new_owner  # noqa: E402
from clarity.sync.pipeline import FlowContext, deliver, ledger_first  # noqa: E402
from connectors.models import Connection  # noqa: E402
from connectors.sandbox.control import SandboxControl  # noqa: E402
from connectors.sandbox.core import SandboxServer  # noqa: E402
from connectors.sandbox.registry import create_app  # noqa: E402
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY  # noqa: E402

RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def accounts(n: int) -> tuple[list[dict[str, object]], set[str]]:
    records, seeded = [], set()
    for i in range(n):
        record: dict[str, object] = {
            "Id": f"SRC{i:07}",
            "ExternalID__c": f"BENCH-{i:07}",
            "Name": f"Bench Account {i}",
            "AccountNumber": f"A{i}",
            "BillingCity": "Leeds",
        }
        if i % 500 == 499:
            record["Name"] = None
            seeded.add(str(record["Id"]))
        elif i % 997 == 996:
            record["AccountNumber"] = "9" * 41
            seeded.add(str(record["Id"]))
        records.append(record)
    return records, seeded


def main() -> None:
    call_command("migrate", verbosity=0)
    tag = str(int(time.time()))
    server = SandboxServer(create_app("salesforce", {})).start()
    try:
        result = bench(server, tag)
    finally:
        server.stop()
    print(json.dumps(result))


def bench(server: SandboxServer, tag: str) -> dict[str, object]:
    connection = Connection.objects.create(
        name=f"Salesforce bench {tag}",
        system="salesforce",
        base_url=server.url,
        settings={
            "client_id": DEMO_CONSUMER_KEY,
            "auth_flow": "client_credentials",
            "bulk_max_records": RECORDS,
            "bulk_poll_seconds": 0.5,
        },
        credentials={"client_secret": DEMO_CLIENT_SECRET},
    )
    pair = IntegrationPair.objects.create(
        name=f"Salesforce bulk bench {tag}", connection_a=connection, connection_b=connection
    )
    flow = Flow.objects.create(
        pair=pair, name=f"Accounts backfill {tag}", source_connection=connection,
        source_entity="Account", target_connection=connection, target_entity="Account",
        target_reference_field="ExternalID__c", business_key_field="ExternalID__c",
    )  # fmt: skip
    Flow.objects.filter(pk=flow.pk).update(batch_size=RECORDS)  # a backfill's one batch
    run = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.RUNNING)
    ctx = FlowContext.build(SyncRun.objects.select_related("flow").get(pk=run.pk), new_owner())
    assert ctx.batch_size == RECORDS, ctx.batch_size
    records, seeded = accounts(RECORDS)
    control = SandboxControl(server.url)
    before = control.stats()["requests"]
    started = time.monotonic()
    fresh, _ = ledger_first(ctx, records)
    deliver(ctx, fresh)
    seconds = time.monotonic() - started
    calls = control.stats()["requests"] - before
    rows = SyncRecord.objects.filter(flow=flow)
    failed = rows.filter(status=RecordStatus.FAILED).exclude(error_code="").exclude(message="")
    failed_ids = set(failed.values_list("source_id", flat=True))
    succeeded = rows.filter(status=RecordStatus.SUCCEEDED).exclude(target_id="").count()
    codes = sorted(set(failed.values_list("error_code", flat=True)))
    example = failed.values_list("message", flat=True).first()
    log(f"{RECORDS} accounts in {seconds:.1f}s, {calls} calls; succeeded {succeeded}, "
        f"failed {len(failed_ids)} ({', '.join(codes)}); e.g. {example!r}")  # fmt: skip
    if failed_ids != seeded:
        log(f"failed rows differ from the seeded ones: {len(failed_ids ^ seeded)} apart")
    held = sum(
        1 for r in server.app.data["Account"].values()  # type: ignore[attr-defined]
        if str(r.get("ExternalID__c", "")).startswith("BENCH-")
    )  # fmt: skip
    return {
        "records": RECORDS,
        "api_calls": calls,
        "records_per_s": round(RECORDS / seconds, 1),
        "failed_records_seeded": len(seeded),
        "failed_records_reported": len(failed_ids),
        "failed_are_the_seeded": failed_ids == seeded,
        "succeeded_in_ledger": succeeded,
        "accounts_held_by_salesforce": held,
        "seconds": round(seconds, 2),
        "path": "ledger_first + deliver (the pipeline's load path), source read left out",
    }


if __name__ == "__main__":
    main()
