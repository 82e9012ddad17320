"""A first sync into Salesforce through Bulk API 2.0, end to end: the shipped Salesforce ↔
KashFlow template, real RQ workers, Redis and PostgreSQL, both sandboxes over loopback."""

from __future__ import annotations

import pytest

from clarity.models import RecordStatus
from tests.usecases.sf_kf_fixtures import CUSTOMERS_TO_ACCOUNTS, sf_kf  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_sync_through_a_bulk_job_keeps_each_records_outcome(sf_kf):  # noqa: F811
    uc = sf_kf()
    uc.salesforce.settings = {**uc.salesforce.settings, "bulk_threshold": 10,
                              "bulk_poll_seconds": 0.05}  # fmt: skip
    uc.salesforce.save(update_fields=["settings"])
    flow = uc.flow(CUSTOMERS_TO_ACCOUNTS)
    flow.batch_size = 1000
    flow.save(update_fields=["batch_size"])

    run = uc.run(CUSTOMERS_TO_ACCOUNTS)

    jobs = list(uc.sf_app.bulk_jobs.values())
    assert jobs and all(j.operation == "upsert" and j.state == "JobComplete" for j in jobs)
    sent = sum(j.processed for j in jobs)
    rows = uc.records(CUSTOMERS_TO_ACCOUNTS)
    delivered = [r for r in rows if r.status == RecordStatus.SUCCEEDED]
    failed = [r for r in rows if r.status == RecordStatus.FAILED]
    assert sent >= 10 and len(delivered) + len(failed) >= sent
    assert run.succeeded_count == len(delivered) and run.failed_count == len(failed)
    accounts = uc.sf_app.data["Account"]
    for row in delivered:
        # Each row's own Salesforce record, matched back from the unordered result file.
        account = accounts[row.target_id]
        assert account["ExternalID__c"] == row.transformed_payload["ExternalID__c"]
        assert row.target_response["job"] in uc.sf_app.bulk_jobs
    # The customer KashFlow holds without a name fails alone, with Salesforce's reason.
    [nameless] = [r for r in failed if r.business_key == "NON01" or r.source_id == "NON01"]
    assert nameless.error_kind == "data"
    assert nameless.error_code.upper() == "REQUIRED_FIELD_MISSING"
    assert "Name" in nameless.message
    assert nameless.target_response["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
