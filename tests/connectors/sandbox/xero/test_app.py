"""The Xero sandbox's Accounting API on the wire: whatever is posted, it answers like
Xero (a 200 or a validation error, never a 500), and a refused element changes nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.xero.spec_fields import SCHEMAS


def api_url(server: SandboxServer, path: str) -> str:
    return f"{server.url}/api.xro/2.0/{path}"


def org_state(server: SandboxServer, tenant_id: str) -> str:
    """Everything the organisation holds, to compare before and after a request."""
    org = server.app.orgs[tenant_id]  # type: ignore[attr-defined]
    return json.dumps(
        [copy.deepcopy(org.records), org.invoice_sequence], sort_keys=True, default=str
    )


def a_contact_id(server: SandboxServer, tenant_id: str) -> str:
    org = server.app.orgs[tenant_id]  # type: ignore[attr-defined]
    return next(iter(org.records["Contacts"]))


def invoice(contact_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "LineItems": [
            {"Description": "Bolts", "Quantity": 2, "UnitAmount": 10, "AccountCode": "200"}
        ],
        **fields,
    }


# -- the reported defect: a bad date answered 500 and was stored anyway --------------


@pytest.mark.parametrize(
    "date",
    ["not a date", "", "2026-11-31", "2026-02-30T00:00:00", "/Date(abc)/", 20261130, "31/11/2026"],
)
def test_a_bad_date_is_a_validation_error_and_stores_nothing(
    xero_module_server: SandboxServer, xero_api: requests.Session, date: Any
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    before = org_state(server, tenant)
    body = {"Invoices": [invoice(a_contact_id(server, tenant), Date=date)]}
    headers = {"Idempotency-Key": f"bad-date-{date!r}"}

    first = xero_api.post(api_url(server, "Invoices"), json=body, headers=headers, timeout=10)
    again = xero_api.post(api_url(server, "Invoices"), json=body, headers=headers, timeout=10)

    assert first.status_code == 400, first.text
    message = first.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert message.startswith("Date ") and "is not a valid date" in message
    assert (again.status_code, again.content) == (400, first.content)  # replayed, not re-run
    assert org_state(server, tenant) == before
    assert xero_api.get(api_url(server, "Invoices"), timeout=10).status_code == 200


def test_a_contact_named_on_a_refused_invoice_is_not_created(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    """Xero creates a contact named on a document, but only with the document."""
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    before = org_state(server, tenant)
    refused = {
        "Type": "ACCREC",
        "Contact": {"Name": "Brand New Ltd"},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "999"}],
        "Status": "AUTHORISED",
    }
    answer = xero_api.post(
        api_url(server, "Invoices"),
        params={"summarizeErrors": "false"},
        json={"Invoices": [refused]},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["Invoices"][0]["StatusAttributeString"] == "ERROR"
    assert org_state(server, tenant) == before


# -- any element: never a 500, and a refused one leaves the organisation unchanged ----

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "2026-11-31",
            "2026-01-31",
            "",
            "/Date(1775692800000+0000)/",
            "NaN",
            "1e999",
            "-5",
            "ACCREC",
            "ACCPAY",
            "AUTHORISED",
            "DRAFT",
            "VOIDED",
            "DELETED",
            "Exclusive",
            "Bogus",
            "GBP",
            "XXX",
            "200",
            "OUTPUT2",
            "x" * 60,
            "\x00",
        ]
    ),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
LINE = st.fixed_dictionaries(
    {},
    optional={
        "Description": JSON_VALUES,
        "Quantity": JSON_VALUES,
        "UnitAmount": JSON_VALUES,
        "AccountCode": st.sampled_from(["200", "260", "090", "nope"]) | JSON_VALUES,
        "TaxType": st.sampled_from(["OUTPUT2", "NONE", "BOGUS"]) | JSON_VALUES,
        "ItemCode": JSON_VALUES,
        "DiscountRate": JSON_VALUES,
        "Tracking": JSON_VALUES,
        "Unknown": JSON_VALUES,
    },
)
CONTACT = st.fixed_dictionaries(
    {},
    optional={
        "Name": st.text(max_size=20) | JSON_VALUES,
        "ContactNumber": st.text(max_size=60) | JSON_VALUES,
        "EmailAddress": st.sampled_from(["a@b.example", "nope"]) | JSON_VALUES,
        "ContactID": JSON_VALUES,
        "IsCustomer": JSON_VALUES,
        "Addresses": JSON_VALUES,
        "Whatever": JSON_VALUES,
    },
)
INVOICE = st.fixed_dictionaries(
    {},
    optional={
        "Type": st.sampled_from(["ACCREC", "ACCPAY"]) | JSON_VALUES,
        "Contact": CONTACT | JSON_VALUES,
        "Date": JSON_VALUES,
        "DueDate": JSON_VALUES,
        "Status": st.sampled_from(["DRAFT", "AUTHORISED", "VOIDED"]) | JSON_VALUES,
        "LineAmountTypes": JSON_VALUES,
        "CurrencyCode": JSON_VALUES,
        "InvoiceNumber": JSON_VALUES,
        "InvoiceID": JSON_VALUES,
        "LineItems": st.lists(LINE, max_size=3) | JSON_VALUES,
        "Reference": JSON_VALUES,
        "Total": JSON_VALUES,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    entity=st.sampled_from(["Invoices", "Contacts"]),
    element=st.data(),
    method=st.sampled_from(["PUT", "POST"]),
)
def test_any_element_is_answered_without_a_500_and_a_refused_one_changes_nothing(
    xero_module_server: SandboxServer,
    xero_api: requests.Session,
    entity: str,
    element: st.DataObject,
    method: str,
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    drawn = element.draw(INVOICE if entity == "Invoices" else CONTACT)
    before = org_state(server, tenant)

    answer = xero_api.request(
        method,
        api_url(server, entity),
        params={"summarizeErrors": "false"},
        json={entity: [drawn]},
        timeout=10,
    )

    assert answer.status_code in (200, 400), answer.text
    results = answer.json()[entity] if answer.status_code == 200 else answer.json()["Elements"]
    if answer.status_code == 400 or results[0]["StatusAttributeString"] == "ERROR":
        assert org_state(server, tenant) == before
    assert xero_api.get(api_url(server, entity), timeout=10).status_code == 200


# -- what Xero echoes, and how it shows dates and unit amounts -------------------------


def test_unknown_fields_are_dropped_never_echoed_nor_stored(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    contact = a_contact_id(server, tenant)
    good = invoice(
        contact,
        Colour="red",
        LineItems=[
            {
                "Description": "a",
                "Quantity": 1,
                "UnitAmount": 3,
                "AccountCode": "200",
                "Secret": "s",
            }
        ],
    )
    bad = {**good, "Type": "NOPE"}
    answer = xero_api.put(
        api_url(server, "Invoices"),
        params={"summarizeErrors": "false"},
        json={"Invoices": [good, bad]},
        timeout=10,
    )
    saved, refused = answer.json()["Invoices"]
    assert "Colour" not in saved and "Secret" not in saved["LineItems"][0]
    assert "Colour" not in refused and refused["StatusAttributeString"] == "ERROR"
    stored = xero_api.get(api_url(server, f"Invoices/{saved['InvoiceID']}"), timeout=10)
    assert "Colour" not in stored.json()["Invoices"][0]


@pytest.mark.parametrize(
    ("sent", "ms", "string"),
    [
        ("2026-01-31", 1769817600000, "2026-01-31T00:00:00"),
        ("2026-01-31T00:00:00", 1769817600000, "2026-01-31T00:00:00"),
        ("/Date(1769817600000+0000)/", 1769817600000, "2026-01-31T00:00:00"),
        ("/Date(1769817600000)/", 1769817600000, "2026-01-31T00:00:00"),
    ],
)
def test_every_date_has_its_date_string_twin_whatever_form_it_was_sent_in(
    xero_module_server: SandboxServer, xero_api: requests.Session, sent: str, ms: int, string: str
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    body = {"Invoices": [invoice(a_contact_id(server, tenant), Date=sent, DueDate=sent)]}
    saved = xero_api.put(api_url(server, "Invoices"), json=body, timeout=10).json()["Invoices"][0]
    fetched = xero_api.get(api_url(server, f"Invoices/{saved['InvoiceID']}"), timeout=10)
    for shown in (saved, fetched.json()["Invoices"][0]):
        assert shown["Date"] == shown["DueDate"] == f"/Date({ms}+0000)/"
        assert shown["DateString"] == shown["DueDateString"] == string


def test_unit_amounts_are_rounded_to_two_places_unless_unitdp_4(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    lines = [
        {"Description": "Screw", "Quantity": 1000, "UnitAmount": 0.01234, "AccountCode": "200"}
    ]
    body = {"Invoices": [invoice(a_contact_id(server, tenant), LineItems=lines)]}

    two = xero_api.put(api_url(server, "Invoices"), json=body, timeout=10).json()["Invoices"][0]
    four = xero_api.put(
        api_url(server, "Invoices"), params={"unitdp": "4"}, json=body, timeout=10
    ).json()["Invoices"][0]

    assert (two["LineItems"][0]["UnitAmount"], two["LineItems"][0]["LineAmount"]) == (0.01, 10.0)
    assert (four["LineItems"][0]["UnitAmount"], four["LineItems"][0]["LineAmount"]) == (
        0.0123,
        12.3,
    )
    path = f"Invoices/{four['InvoiceID']}"
    plain = xero_api.get(api_url(server, path), timeout=10).json()["Invoices"][0]
    precise = xero_api.get(api_url(server, path), params={"unitdp": "4"}, timeout=10)
    assert plain["LineItems"][0]["UnitAmount"] == 0.01
    assert precise.json()["Invoices"][0]["LineItems"][0]["UnitAmount"] == 0.0123


# -- rate limits: only the limits Xero names ------------------------------------------


def test_an_injected_429_names_a_limit_xero_documents(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    server = xero_module_server
    SandboxControl(server.url).faults(next=["429"])
    refused = xero_api.get(api_url(server, "Items"), timeout=10)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert int(refused.headers["Retry-After"]) >= 1


def test_the_app_wide_minute_limit_is_emulated_across_tenants(xero_factory: Any) -> None:
    """[P] developer.xero.com/faq/limits: 10,000 calls a minute per app across tenants."""
    start, sign_in = xero_factory
    tenants = [
        {"tenantId": "11111111-1111-4111-8111-111111111111", "tenantName": "North Ltd"},
        {"tenantId": "22222222-2222-4222-8222-222222222222", "tenantName": "South Ltd"},
    ]
    server = start(tenants=tenants, limits={"minute": 100, "appminute": 3})
    token = sign_in(server)
    auth = {"Authorization": f"Bearer {token['access_token']}"}

    def get(tenant: dict[str, str]) -> requests.Response:
        headers = {**auth, "xero-tenant-id": tenant["tenantId"]}
        return requests.get(api_url(server, "Items"), headers=headers, timeout=10)

    answers = [get(tenants[0]), get(tenants[1]), get(tenants[0]), get(tenants[1])]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].headers["X-AppMinLimit-Remaining"] == "0"
    assert answers[3].headers["X-Rate-Limit-Problem"] == "appminute"
    assert answers[1].headers["X-MinLimit-Remaining"] == "99"  # per tenant: South's first


def any_element_of(schema: str) -> st.SearchStrategy[dict[str, Any]]:
    """Random elements over a schema's own property names, nested a level, plus strangers."""
    names = [*sorted(SCHEMAS[schema]), "Unknown"]
    return st.dictionaries(
        st.sampled_from(names), JSON_VALUES | st.lists(JSON_VALUES, max_size=2), max_size=6
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.sampled_from(
        [
            ("Payments", "Payment"),
            ("ManualJournals", "ManualJournal"),
            ("Items", "Item"),
            ("Accounts", "Account"),
        ]
    ),
    element=st.data(),
    method=st.sampled_from(["PUT", "POST"]),
)
def test_any_payment_journal_item_or_account_is_answered_without_a_500(
    xero_module_server: SandboxServer,
    xero_api: requests.Session,
    case: tuple[str, str],
    element: st.DataObject,
    method: str,
) -> None:
    server, tenant = xero_module_server, xero_api.tenant_id  # type: ignore[attr-defined]
    entity, schema = case
    drawn = element.draw(any_element_of(schema))
    before = org_state(server, tenant)
    body = drawn if entity == "Accounts" else {entity: [drawn]}

    answer = xero_api.request(
        method, api_url(server, entity), params={"summarizeErrors": "false"}, json=body, timeout=10
    )

    assert answer.status_code in (200, 400), answer.text
    results = answer.json().get(entity) or answer.json().get("Elements")
    if answer.status_code == 400 or results[0]["StatusAttributeString"] == "ERROR":
        assert org_state(server, tenant) == before
    assert xero_api.get(api_url(server, entity), timeout=10).status_code == 200


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    where=st.text(alphabet="NameStatus=!<>&|().\"' DateTime0123,GuidAORContains", max_size=40),
    order=st.sampled_from(
        ["", "Name", "Name DESC", "UpdatedDateUTC", "Contact", "Addresses", "Nope ASC"]
    ),
)
def test_any_where_or_order_is_answered_without_a_500(
    xero_module_server: SandboxServer, xero_api: requests.Session, where: str, order: str
) -> None:
    answer = xero_api.get(
        api_url(xero_module_server, "Contacts"),
        params={"where": where, "order": order},
        timeout=10,
    )
    assert answer.status_code in (200, 400), answer.text
