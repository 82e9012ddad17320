"""factory_boy factories for the core models, shared by every test package."""

from __future__ import annotations

import importlib

import factory
from django.contrib.auth.models import Group, Permission, User

from clarity.models import Flow, IntegrationPair, RecordStatus, SyncRecord, SyncRun, Trigger
from connectors.models import Connection, System

# The data migrations that give the roles their permissions: {role: [codes]} or,
# for an app's consultant grant, a CONSULTANT list.
ROLE_MIGRATIONS = (
    "clarity.migrations.0002_roles",
    "clarity.migrations.0008_alert_roles",
    "clarity.migrations.0019_validate_runs",
    "clarity.migrations.0020_pair_launch",
    "clarity.migrations.0021_matching_rules",
    "mappings.migrations.0002_consultant_permissions",
    "portal.migrations.0002_consultant_permissions",
)


def role_codes(name: str) -> list[str]:
    codes: list[str] = []
    for module_name in ROLE_MIGRATIONS:
        module = importlib.import_module(module_name)
        roles = getattr(module, "ROLES", None) or {"Consultant": module.CONSULTANT}
        codes += roles.get(name, [])
    return codes


def role_group(name: str) -> Group:
    """The role's group, made again if a transactional test's flush took the migrated one."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        for code in role_codes(name):
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    return group


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
