"""KashFlow's lookup by field values (#16): its REST API filters lists by nothing but paging
and sort (systems/kashflow.md), so the connector reads the entity once and keeps an index
for the rest of the run; against the sandbox over HTTP."""

from __future__ import annotations

from connectors.base import match_text
from connectors.kashflow import KashFlowConnector
from connectors.sandbox.control import SandboxControl
from tests.connectors.kashflow.test_connector import (  # noqa: F401 - the fixtures
    ctl,
    kf,
    make,
    running,
)


def test_one_full_read_serves_every_lookup_of_a_run(
    kf: KashFlowConnector,  # noqa: F811 - the imported fixture
    ctl: SandboxControl,  # noqa: F811
):
    [typed] = kf.write_batch("customers", [{"Code": "MATCH01", "Name": "  ACME  widgets LTD"}])
    before = ctl.stats()["requests"]
    found = kf.find_by_fields("customers", "Name", ["Acme Widgets Ltd"])
    first = ctl.stats()["requests"] - before
    assert [f.target_id for f in found] == [typed.target_id]
    assert match_text(found[0].record["Name"]) == "acme widgets ltd"
    again = kf.find_by_fields("customers", "Name", ["acme widgets ltd", "nobody"])
    assert [f.target_id for f in again] == [typed.target_id]
    assert ctl.stats()["requests"] - before == first, "the index is kept, not read again"
