"""factory_boy factories for mappings and lookup tables."""

from __future__ import annotations

import factory

from mappings.models import ConditionalRule, FieldMappingRow, LookupEntry, LookupTable, Mapping


class LookupTableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LookupTable

    name = factory.Sequence(lambda n: f"Payment method {n}")


class LookupEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LookupEntry

    table = factory.SubFactory(LookupTableFactory)
    key = factory.Sequence(lambda n: f"K{n}")
    value = factory.Sequence(lambda n: f"V{n}")


class MappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mapping

    name = factory.Sequence(lambda n: f"SYSPRO orders → Xero invoices {n}")
    source_system = "SYSPRO"
    source_entity = "sales_orders"
    target_system = "Xero"
    target_entity = "Invoices"


class FieldMappingRowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FieldMappingRow

    mapping = factory.SubFactory(MappingFactory)
    order = factory.Sequence(lambda n: n)
    sources = factory.LazyFunction(lambda: ["Customer"])
    targets = factory.LazyFunction(lambda: ["Contact.Name"])


class ConditionalRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConditionalRule

    mapping = factory.SubFactory(MappingFactory)
    condition = "OrderStatus == 'Shipped'"
    effect = "set"
    target = "Status"
    value = "AUTHORISED"
