"""Xero's batched lookup by field values (matching what already exists, #16), against the
sandbox over HTTP: one ``where`` of OR-ed ``ToLower().Contains`` a chunk of values."""

from __future__ import annotations

from connectors.base import match_text
from connectors.sandbox.control import SandboxControl
from connectors.xero import XeroConnector


def names_equal(found, field: str, value: str) -> list[str]:
    return [f.target_id for f in found if match_text(f.record.get(field)) == match_text(value)]


def test_a_name_typed_in_another_case_and_spacing_is_a_candidate(xero: XeroConnector):
    [typed] = xero.write_batch("Contacts", [{"Name": "  ACME   widgets LTD "}])
    found = xero.find_by_fields("Contacts", "Name", ["Acme Widgets Ltd"])
    assert names_equal(found, "Name", "Acme Widgets Ltd") == [typed.target_id]


def test_archived_contacts_are_not_candidates(xero: XeroConnector):
    [live, gone] = xero.write_batch(
        "Contacts",
        [
            {"Name": "Archive Test Live", "EmailAddress": "same@archive.example"},
            {"Name": "Archive Test Gone", "EmailAddress": "same@archive.example"},
        ],
    )
    xero.write_batch("Contacts", [{"ContactID": gone.target_id, "ContactStatus": "ARCHIVED"}])
    found = xero.find_by_fields("Contacts", "EmailAddress", ["SAME@archive.example"])
    assert names_equal(found, "EmailAddress", "same@archive.example") == [live.target_id]


def test_many_values_cost_one_request_per_chunk(xero: XeroConnector, xero_server):
    control = SandboxControl(xero_server.url)
    names = [f"Chunked Co {n:03d}" for n in range(120)]
    for start in range(0, 120, 50):
        xero.write_batch("Contacts", [{"Name": n} for n in names[start : start + 50]])
    before = control.stats()["requests"]
    found = xero.find_by_fields("Contacts", "Name", [n.lower() for n in names])
    asked = control.stats()["requests"] - before
    assert {match_text(f.record["Name"]) for f in found} >= {match_text(n) for n in names}
    assert asked <= 6, asked  # 3 chunks of 50 words, each a page or two: not 120
