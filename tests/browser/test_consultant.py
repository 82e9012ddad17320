"""A consultant imports a lookup table from a spreadsheet, edits a mapping row and tries
the mapping on a sample record, in the browser, at a laptop and at a phone width."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from playwright.sync_api import expect

from mappings import services
from mappings.models import FieldMappingRow, LookupEntry, LookupTable, Mapping
from tests.browser.conftest import no_sideways_scroll, usable
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = "SYSPRO payment method → Xero bank account"
ENTRIES = [("EFT", "090"), ("CHQ", "091"), ("CARD", "092")]


def payments_mapping() -> Mapping:
    mapping = Mapping.objects.create(
        name="SYSPRO payments → Xero payments",
        source_system="SYSPRO",
        source_entity="ar_payments",
        target_system="Xero",
        target_entity="Payments",
    )
    rows = [
        (["Customer"], ["Contact.ContactNumber"], []),
        (["PaymentMethod"], ["Account.Code"], [{"name": "lookup", "args": {"table": TABLE}}]),
        (["Reference"], ["Reference"], []),
    ]
    for order, (sources, targets, transforms) in enumerate(rows, 1):
        FieldMappingRow.objects.create(
            mapping=mapping, order=order, sources=sources, targets=targets, transforms=transforms
        )
    services.mapping_touch(mapping=mapping)
    return mapping


def spreadsheet(path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["table", "key", "value"])
    for key, value in ENTRIES:
        sheet.append([TABLE, key, value])
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())


def test_consultant_imports_a_lookup_edits_a_row_and_tries_the_mapping(people, tmp_path):
    LookupTable.objects.create(name=TABLE)
    mapping = payments_mapping()
    UserFactory(username="consultant1", role="Consultant")
    upload = tmp_path / "payment-methods.xlsx"
    spreadsheet(upload)

    consultant = people("consultant")
    consultant.log_in("consultant1")
    page = consultant.page

    # 1. The lookup table from a spreadsheet: upload, read the dry run, confirm.
    consultant.press(page.get_by_role("link", name="Lookup entries", exact=True))
    consultant.press(page.get_by_role("link", name="Import", exact=True))
    usable(page, page.get_by_label("Format"))
    page.get_by_label("Format").select_option(label="xlsx")
    usable(page, page.get_by_label("File to import"))
    page.get_by_label("File to import").set_input_files(upload)
    consultant.shot("import-form")
    consultant.press(page.get_by_role("button", name="Submit"))
    preview = page.locator("table.import-preview")
    for key, value in ENTRIES:
        expect(preview.get_by_role("row").filter(has_text=key)).to_contain_text(value)
    expect(preview).to_contain_text("New")
    assert not LookupEntry.objects.exists()  # a dry run writes nothing
    no_sideways_scroll(page)
    consultant.shot("import-dry-run")
    consultant.press(page.get_by_role("button", name="Confirm import"))
    expect(page.locator(".messagelist")).to_contain_text("Import finished")
    results = page.locator("#result_list")
    for key, value in ENTRIES:
        expect(results.get_by_role("row").filter(has_text=key)).to_contain_text(value)
    no_sideways_scroll(page)
    consultant.shot("import-done")
    assert dict(LookupEntry.objects.values_list("key", "value")) == dict(ENTRIES)

    # 2. One mapping row edited on the mapping's page: the reference in capitals.
    consultant.goto("/admin/")
    consultant.press(page.locator("#mappings-mapping").get_by_role("link", name="Mappings"))
    consultant.press(page.get_by_role("link", name=mapping.name))
    row = page.locator('input[name$="-targets"][value="Reference"]').locator("xpath=ancestor::tr")
    transforms = row.locator('textarea[name$="-transforms"]')
    usable(page, transforms)
    transforms.fill('[{"name": "upper"}]')
    consultant.shot("row-edited")
    consultant.press(page.get_by_role("button", name="Save and continue editing"))
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    saved = FieldMappingRow.objects.get(mapping=mapping, targets=["Reference"])
    assert saved.transforms == [{"name": "upper", "args": {}}]

    # 3. Try it on a sample record: the looked-up account and the capitalised reference.
    consultant.press(page.get_by_role("link", name="Try it on a sample record"))
    sample = {"Customer": "0000150", "PaymentMethod": "EFT", "Reference": "bacs 100027"}
    # The page renders the textarea without its label (a gap for screen readers).
    record = page.locator('textarea[name="record"]')
    usable(page, record, fits=False)  # too wide for a phone: test_phone_gaps.py
    record.fill(json.dumps(sample, indent=2))
    consultant.press(page.get_by_role("button", name="Try it"))
    expect(page.locator("#outcome")).to_have_text("Outcome: mapped")
    target = page.locator("pre.target-record")
    usable(page, target)
    result = json.loads(target.inner_text())
    assert result == {
        "Contact": {"ContactNumber": "0000150"},
        "Account": {"Code": "090"},
        "Reference": "BACS 100027",
    }
    expect(page.locator("table.provenance")).to_contain_text("Reference")
    no_sideways_scroll(page)
    consultant.shot("try-it-result")
