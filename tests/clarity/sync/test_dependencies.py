"""Dependency hints: each error code is read in the table of the system the record went to."""

from __future__ import annotations

import pytest

from clarity.models import RecordStatus
from clarity.sync.dependencies import dependency_hint
from connectors.xero.errors import XeroErrorCode
from tests.factories import ConnectionFactory, FlowFactory, PairFactory, RecordFactory

pytestmark = pytest.mark.django_db

# The codes the connectors give (their error tables; tests/connectors/test_dependencies.py
# checks that every declared code is one of them).
SYSPRO_CUSTOMER_NOT_FOUND = "customer_not_found"
KASHFLOW_CUSTOMER_NOT_FOUND = "customer_code_not_found"


def failed(flow, code: str, sent: dict, **fields):
    return RecordFactory(
        flow=flow,
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code=code,
        message="Rejected.",
        transformed_payload=sent,
        **fields,
    )


@pytest.fixture
def syspro_xero():
    """SYSPRO customers → Xero Contacts and SYSPRO orders → Xero Invoices, one pair."""
    pair = PairFactory()
    customers = FlowFactory(pair=pair, source_entity="customers", target_entity="Contacts")
    orders = FlowFactory(pair=pair, source_entity="sales_orders", target_entity="Invoices")
    return customers, orders


def test_a_xero_invoice_without_its_contact_points_at_the_customers_own_failure(syspro_xero):
    customers, orders = syspro_xero
    customer = failed(customers, "duplicate_contact_name", {}, source_id="C100")
    customer.message = "Xero already has a contact named 'Acme'."
    customer.save()
    invoice = failed(
        orders, XeroErrorCode.CONTACT_NOT_FOUND, {"Contact": {"ContactNumber": "C100"}}
    )

    hint = dependency_hint(invoice)

    assert hint is not None and hint.record_id == customer.pk
    assert "already has a contact named 'Acme'" in hint.sentence


@pytest.mark.parametrize("code", [SYSPRO_CUSTOMER_NOT_FOUND, KASHFLOW_CUSTOMER_NOT_FOUND])
def test_a_code_another_system_declares_means_nothing_for_xero(syspro_xero, code):
    """SYSPRO's and KashFlow's codes are theirs: a record sent to Xero failing with one
    of them is not read in their tables."""
    _, orders = syspro_xero
    invoice = failed(orders, code, {"Customer": "C100", "CustomerCode": "C100"})
    assert dependency_hint(invoice) is None


def test_a_syspro_order_without_its_customer_is_read_in_syspros_table():
    pair = PairFactory(connection_a__system="xero", connection_b__system="syspro")
    FlowFactory(pair=pair, source_entity="Contacts", target_entity="customers")
    orders = FlowFactory(pair=pair, source_entity="Invoices", target_entity="SORTOI")
    order = failed(orders, SYSPRO_CUSTOMER_NOT_FOUND, {"OrderHeader": {"Customer": "C7"}})

    hint = dependency_hint(order)

    assert hint is not None and hint.reference == "C7"
    assert "customer C7 has not been read by flow" in hint.sentence


def test_the_same_code_from_kashflow_is_read_in_kashflows_table():
    """KashFlow names the invoice's customer in CustomerCode: the hint finds the customer
    by the code its flow sent (``Code``), whatever other systems mean by their codes."""
    salesforce = ConnectionFactory(system="salesforce")
    kashflow = ConnectionFactory(system="kashflow")
    pair = PairFactory(connection_a=salesforce, connection_b=kashflow)
    accounts = FlowFactory(
        pair=pair, source_entity="Account", target_entity="customers", target_reference_field="Code"
    )
    invoices = FlowFactory(pair=pair, source_entity="Opportunity", target_entity="invoices")
    account = failed(accounts, "validation", {"Code": "NEWCO1"}, source_id="001A")
    invoice = failed(invoices, "customer_code_not_found", {"CustomerCode": "NEWCO1"})

    hint = dependency_hint(invoice)

    assert hint is not None and hint.record_id == account.pk
    assert "The customer NEWCO1 did not reach the target" in hint.sentence


def test_a_code_no_system_declares_costs_no_query(syspro_xero, django_assert_num_queries):
    _, orders = syspro_xero
    record = failed(orders, "lookup_missing", {"Contact": {"ContactNumber": "C1"}})
    with django_assert_num_queries(0):
        assert dependency_hint(record) is None
