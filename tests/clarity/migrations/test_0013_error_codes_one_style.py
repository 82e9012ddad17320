"""Ledgers kept before the codes were spelt one way keep working: the stored codes are
renamed like the connectors' tables, so retry-by-code finds old and new failures alike."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from clarity.models import SyncRecord
from connectors.models import System
from connectors.registry import SYSTEMS
from connectors.xero.errors import XeroErrorCode
from tests.factories import FlowFactory, PairFactory, RecordFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("clarity.migrations.0013_error_codes_one_style")


def failed(flow, code: str, kind: str = "data") -> SyncRecord:
    return RecordFactory(flow=flow, status="failed", error_code=code, error_kind=kind)


@pytest.fixture
def flows():
    syspro_xero = PairFactory()
    kashflow_pair = PairFactory(
        connection_a__system=System.SALESFORCE, connection_b__system=System.KASHFLOW
    )
    return {
        "to_xero": FlowFactory(pair=syspro_xero),
        "to_syspro": FlowFactory(
            pair=syspro_xero,
            source_connection=syspro_xero.connection_b,
            target_connection=syspro_xero.connection_a,
        ),
        "to_kashflow": FlowFactory(pair=kashflow_pair),
        "to_salesforce": FlowFactory(
            pair=kashflow_pair,
            source_connection=kashflow_pair.connection_b,
            target_connection=kashflow_pair.connection_a,
        ),
    }


def test_stored_codes_are_renamed_to_the_one_style(flows) -> None:
    rows = {
        "xero": failed(flows["to_xero"], "xero_contact_not_found"),
        "xero_auth": failed(flows["to_xero"], "xero_token_expired", "auth"),
        "syspro_read_only": failed(flows["to_syspro"], "read_only", "config"),
        "syspro_big": failed(flows["to_syspro"], "record_too_large", "config"),
        "syspro_customer": failed(flows["to_syspro"], "customer_not_found"),
        "kashflow_customer": failed(flows["to_kashflow"], "customer_not_found"),
        "salesforce": failed(flows["to_salesforce"], "DUPLICATE_EXTERNAL_ID"),
        "lookup": failed(flows["to_salesforce"], "lookup_missing"),
    }
    migration.forwards(apps, None)
    got = {
        name: SyncRecord.objects.values_list("error_code", "error_kind").get(pk=row.pk)
        for name, row in rows.items()
    }
    assert got == {
        "xero": ("contact_not_found", "data"),
        "xero_auth": ("token_expired", "auth"),
        "syspro_read_only": ("read_only_entity", "config"),
        "syspro_big": ("too_large", "data"),
        "syspro_customer": ("customer_not_found", "data"),
        "kashflow_customer": ("customer_code_not_found", "data"),
        "salesforce": ("duplicate_external_id", "data"),
        "lookup": ("lookup_missing", "data"),
    }


def test_every_renamed_code_is_one_a_table_gives_now() -> None:
    """The migration renames to codes the connectors produce, not to new typos."""
    known = {code for entry in SYSTEMS.values() for code in entry.error_kinds}
    known |= set(XeroErrorCode)  # Xero's sign-in codes are raised outside its table
    targets = {new for new, _ in migration.RENAMED.values()} - {"too_large", "read_only_entity"}
    assert targets <= known
