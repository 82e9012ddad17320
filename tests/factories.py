"""factory_boy factories for the core models, shared by every test package."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group, User

from clarity.models import Flow, IntegrationPair, RecordStatus, SyncRecord, SyncRun, Trigger
from connectors.models import Connection, System


def role_group(name: str) -> Group:
    return Group.objects.get(name=name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("pw-for-tests")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if extracted:
            self.groups.add(role_group(extracted))


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    system = System.SYSPRO
    name = factory.Sequence(lambda n: f"Connection {n}")
    base_url = "http://127.0.0.1:8702"
    settings = factory.LazyFunction(dict)
    credentials = factory.LazyFunction(lambda: {"operator_password": "s3cret-operator"})


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntegrationPair

    name = factory.Sequence(lambda n: f"Pair {n}")
    connection_a = factory.SubFactory(ConnectionFactory, system=System.SYSPRO)
    connection_b = factory.SubFactory(ConnectionFactory, system=System.XERO)


class FlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flow

    pair = factory.SubFactory(PairFactory)
    name = factory.Sequence(lambda n: f"Flow {n}")
    source_connection = factory.SelfAttribute("pair.connection_a")
    source_entity = "customers"
    target_connection = factory.SelfAttribute("pair.connection_b")
    target_entity = "Contacts"


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    flow = factory.SubFactory(FlowFactory)
    trigger = Trigger.MANUAL


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRecord

    flow = factory.SubFactory(FlowFactory)
    pair = factory.SelfAttribute("flow.pair")
    source_id = factory.Sequence(lambda n: f"CUST{n:05d}")
    source_version = "1"
    idempotency_key = factory.LazyAttribute(
        lambda o: f"{o.flow.pk}:{o.source_id}:{o.source_version}"
    )
    status = RecordStatus.SUCCEEDED
    source_payload = factory.LazyAttribute(lambda o: {"Customer": o.source_id, "Name": "Acme Ltd"})
