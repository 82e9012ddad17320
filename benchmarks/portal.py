"""B2B portal price & availability: request latency against the SYSPRO sandbox over HTTP.

Migrates, starts the SYSPRO sandbox in-process on a free loopback port, creates
a portal client with a token, then times price requests through Django's test
client (the whole DRF stack, token check, Redis cache, connector, real HTTP to
the sandbox):

* ``cold``: every request asks SYSPRO (a new customer each time, nothing cached);
* ``mixed``: what a web shop sends while buyers browse — 1 to 10 stock codes
  from a catalogue of 60 for 8 customers, so most answers come from the cache.

Prints p50 and p95 of each; the last line is one JSON object of figures.
Run with `bash .ci/bench portal [REQUESTS]`.
"""

from __future__ import annotations

import json
import os
import random
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
    LOG_LEVEL="WARNING",
)

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from connectors.models import Connection  # noqa: E402
from connectors.sandbox.core import SandboxServer  # noqa: E402
from connectors.sandbox.registry import create_app  # noqa: E402
from connectors.services import connection_save  # noqa: E402
from portal.models import PortalClient  # noqa: E402
from portal.services import portal_token_issue  # noqa: E402

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
COLD = 50
URL = "/portal/api/prices/"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def timed(api: APIClient, customer: str, codes: list[str]) -> float:
    started = time.perf_counter()
    response = api.post(URL, {"customer": customer, "stock_codes": codes}, format="json")
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.content
    return elapsed


def main() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    app = create_app("syspro", {})
    with SandboxServer(app) as server:
        connection = Connection(
            name="SYSPRO (bench)",
            system="syspro",
            base_url=server.url,
            settings={"company_id": "EDU1", "operator": "ADMIN"},
        )
        connection_save(
            connection=connection,
            new_credentials={"operator_password": "demo", "company_password": "demo"},
        )
        client = PortalClient.objects.create(
            name="Bench shop", connection=connection, all_customers=True
        )
        _, key = portal_token_issue(client=client)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        stock = [row["StockCode"] for row in app.table("InvMaster")]
        customers = [row["Customer"] for row in app.table("ArCustomer")]
        rng = random.Random(5)

        timed(api, customers[-1], stock[:1])  # logon once, as a running server would have
        cold = [timed(api, customers[i], rng.sample(stock, 5)) for i in range(COLD)]

        catalogue = rng.sample(stock, 60)
        shoppers = customers[100:108]
        mixed = [
            timed(api, rng.choice(shoppers), rng.sample(catalogue, rng.randint(1, 10)))
            for _ in range(REQUESTS)
        ]
        syspro_calls = app.stats["requests"]

    figures = {
        "requests": REQUESTS,
        "p50_ms": percentile(mixed, 0.50),
        "p95_ms": percentile(mixed, 0.95),
        "p99_ms": percentile(mixed, 0.99),
        "mean_ms": round(statistics.fmean(mixed), 1),
        "cold_requests": COLD,
        "cold_p50_ms": percentile(cold, 0.50),
        "cold_p95_ms": percentile(cold, 0.95),
        "syspro_calls": syspro_calls,
    }
    print(
        f"cold  (every request asks SYSPRO): p50 {figures['cold_p50_ms']} ms, "
        f"p95 {figures['cold_p95_ms']} ms over {COLD} requests"
    )
    print(
        f"mixed (30 s cache, 1-10 codes):   p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms over {REQUESTS} requests"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
