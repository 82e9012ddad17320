"""The Xero sandbox's ``where`` filters, as Xero documents them, through the wire."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from connectors.sandbox.core import SandboxServer

# [P] developer.xero.com/documentation/api/accounting/requests-and-responses
CASES = [
    ('Name.StartsWith("{first3}")', lambda c, s: c["Name"].startswith(s["first3"])),
    ('Name.Contains("{middle}")', lambda c, s: s["middle"] in c["Name"]),
    (
        'Name.ToLower().StartsWith("{lower3}")',
        lambda c, s: c["Name"].lower().startswith(s["lower3"]),
    ),
    (
        'IsCustomer == true && Name != "{name}"',
        lambda c, s: c["IsCustomer"] and c["Name"] != s["name"],
    ),
    (
        'Name == "{name}" || IsSupplier == true',
        lambda c, s: c["Name"] == s["name"] or c["IsSupplier"],
    ),
    ('ContactID == Guid("{upper_id}")', lambda c, s: c["ContactID"] == s["id"]),
    ("UpdatedDateUTC >= DateTime({y}, {m}, {d})", lambda c, s: True),
    ("UpdatedDateUTC < DateTime({y}, {m}, {d})", lambda c, s: False),
]


@pytest.mark.parametrize(("where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_where_filters_as_xero_documents_them(
    xero_module_server: SandboxServer, xero_api: requests.Session, where: str, expected: object
) -> None:
    base = f"{xero_module_server.url}/api.xro/2.0/Contacts"
    contacts = xero_api.get(base, timeout=10).json()["Contacts"]
    sample = contacts[3]
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    facts = {
        "first3": sample["Name"][:3],
        "middle": sample["Name"][2:5],
        "lower3": sample["Name"][:3].lower(),
        "name": sample["Name"],
        "id": sample["ContactID"],
        "upper_id": sample["ContactID"].upper(),
        "y": created.year,
        "m": f"{created.month:02d}",
        "d": f"{created.day:02d}",
    }
    answer = xero_api.get(base, params={"where": where.format(**facts)}, timeout=10)

    assert answer.status_code == 200, answer.text
    got = {c["ContactID"] for c in answer.json()["Contacts"]}
    assert got == {c["ContactID"] for c in contacts if expected(c, facts)}  # type: ignore[operator]
    assert got or "<" in where  # each case matches something, or is the empty check


def test_dates_compare_with_datetime_and_numbers_with_comparisons(
    xero_module_server: SandboxServer, xero_api: requests.Session
) -> None:
    base = f"{xero_module_server.url}/api.xro/2.0/Invoices"
    invoices = xero_api.get(base, timeout=10).json()["Invoices"]
    cut = sorted(i["AmountDue"] for i in invoices)[len(invoices) // 2]
    where = f'AmountDue >= {cut} AND Date <= DateTime(2999, 12, 31) AND Status != "VOIDED"'
    answer = xero_api.get(base, params={"where": where}, timeout=10).json()["Invoices"]
    assert {i["InvoiceID"] for i in answer} == {
        i["InvoiceID"] for i in invoices if i["AmountDue"] >= cut and i["Status"] != "VOIDED"
    }
    assert 0 < len(answer) < len(invoices) or len({i["AmountDue"] for i in invoices}) == 1


@pytest.mark.parametrize(
    "where",
    [
        "Name ==",
        'Name.Sounds("x")',
        "Date > DateTime(2026, 13, 01)",
        '((Name=="a")',
        "Status == DRAFT",
    ],
)
def test_a_where_xero_cannot_read_is_a_400_not_a_500(
    xero_module_server: SandboxServer, xero_api: requests.Session, where: str
) -> None:
    answer = xero_api.get(
        f"{xero_module_server.url}/api.xro/2.0/Contacts", params={"where": where}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
