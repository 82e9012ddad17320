"""Shared by the mapping tests: a worker's view of a mapping, and posting admin forms back."""

from __future__ import annotations

from types import SimpleNamespace

from mappings import services
from mappings.engine import Outcome
from mappings.models import Mapping
from tests.mappings.factories import (
    ConditionalRuleFactory,
    FieldMappingRowFactory,
    LookupEntryFactory,
    LookupTableFactory,
    MappingFactory,
)


def mapped(mapping_pk: int, method: str):
    """Map one record as a worker's next run does: the mapping read afresh, its plan cached."""
    mapping = Mapping.objects.get(pk=mapping_pk)
    return services.mapping_compile(mapping=mapping).apply({"PayMethod": method})


def bank(mapping_pk: int, method: str) -> str | None:
    result = mapped(mapping_pk, method)
    return result.record.get("BankAccount") if result.outcome == Outcome.MAPPED else None


def pay_mapping() -> SimpleNamespace:
    """Lookup "Pay" (EFT → 090, CHQ → 091), a row mapping PayMethod through it, and a rule
    skipping cheques; compiled once, as a running worker has it."""
    table = LookupTableFactory(name="Pay")
    eft = LookupEntryFactory(table=table, key="EFT", value="090")
    LookupEntryFactory(table=table, key="CHQ", value="091")
    mapping = MappingFactory()
    row = FieldMappingRowFactory(
        mapping=mapping,
        order=1,
        sources=["PayMethod"],
        targets=["BankAccount"],
        transforms=[{"name": "lookup", "args": {"table": "Pay"}}],
    )
    rule = ConditionalRuleFactory(
        mapping=mapping,
        condition="PayMethod == 'CHQ'",
        effect="skip",
        target="",
        value="",
        message="cheques are banked by hand",
    )
    services.mapping_touch(mapping=mapping)
    # the worker's plan is warm: EFT maps, cheques are skipped
    assert bank(mapping.pk, "EFT") == "090"
    assert mapped(mapping.pk, "CHQ").outcome == Outcome.SKIPPED
    return SimpleNamespace(table=table, eft=eft, mapping=mapping, row=row, rule=rule)


def change_form_data(page) -> dict[str, str]:
    """What a browser posts back from an admin change page as it was rendered."""
    data: dict[str, str] = {}
    forms = [page.context["adminform"].form]
    for inline in page.context.get("inline_admin_formsets", ()):
        formset = inline.formset
        data |= {
            f"{formset.prefix}-{k}": str(v) for k, v in formset.management_form.initial.items()
        }
        forms += formset.forms
    for form in forms:
        for bound in form:
            value = bound.value()
            if isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            else:
                data[bound.html_name] = "" if value is None else str(value)
    return data
