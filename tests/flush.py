"""The end of a transactional test, made cheap: empty only the tables the test filled.

Django's ``TransactionTestCase`` ends every test with ``flush``: a TRUNCATE of all
sixty tables, then ``post_migrate`` for every app to make the content types and
permissions again (and, here, the roles put back: ``roles_restore``). Measured on
PostgreSQL: 0.26 s for the TRUNCATE and 0.19 s for the rest, after each of some five
hundred transactional tests.

The same end state costs a few hundredths of a second when only the tables holding
rows are emptied, and the content types, permissions and roles the migrations made
are left alone while no test changed them (a fingerprint of their rows says so). A
test that did change them, or a database other than PostgreSQL, gets Django's own
flush.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import connections, transaction
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django.test import TransactionTestCase

# The rows the migrations made, which a flush would delete and make again.
ROLE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions")

ROLES_FINGERPRINT = """
SELECT
  (SELECT md5(coalesce(string_agg(concat_ws(':', id, app_label, model), ',' ORDER BY id), ''))
   FROM django_content_type),
  (SELECT md5(coalesce(string_agg(concat_ws(':', id, content_type_id, codename, name), ','
                                  ORDER BY id), ''))
   FROM auth_permission),
  (SELECT md5(coalesce(string_agg(concat_ws(':', id, name), ',' ORDER BY id), '')) FROM auth_group),
  (SELECT md5(coalesce(string_agg(concat_ws(':', group_id, permission_id), ','
                                  ORDER BY group_id, permission_id), ''))
   FROM auth_group_permissions)
"""

# The roles (groups and their permissions by app label and codename) as the migrations
# made them, read once the test database is migrated. Only the migrations create rows,
# and only these: a full flush empties every table, and the roles are put back from here
# exactly as migrated, whatever migration granted what.
MIGRATED_ROLES: dict[str, list[tuple[str, str]]] = {}


def roles_remember(using: str) -> None:
    MIGRATED_ROLES.clear()
    for group in Group.objects.using(using).prefetch_related("permissions__content_type"):
        MIGRATED_ROLES[group.name] = sorted(
            (p.content_type.app_label, p.codename) for p in group.permissions.all()
        )


def roles_restore(using: str) -> None:
    """The migrated roles again, after a flush (permissions are made anew with new ids)."""
    permissions = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(using).select_related("content_type")
    }
    for name, codes in MIGRATED_ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set([permissions[code] for code in codes])


@receiver(post_migrate)
def roles_back_after_a_flush(sender: Any, using: str, **kwargs: Any) -> None:
    """A full flush ends with ``post_migrate`` for each app, which makes the content
    types and permissions again but not the roles the data migrations made; after the
    last app's, they are put back, so no test depends on running before one."""
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if MIGRATED_ROLES and sender is with_models[-1]:
        roles_restore(using)


# Per database alias: the fingerprint of the role tables as migrated (or as the last
# full flush left them), and the other tables a test may fill.
_roles_as_migrated: dict[str, tuple[str, ...]] = {}
_tables: dict[str, list[str]] = {}


def database_as_migrated_remember(using: str) -> None:
    """Called once, when the test database is migrated: the roles to put back after a
    full flush, and what a quick end may leave alone."""
    roles_remember(using)
    roles_fingerprint_remember(using)


def roles_fingerprint_remember(using: str) -> None:
    """Called once the database is as a test may find it (migrated, or fully flushed)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(ROLES_FINGERPRINT)
        _roles_as_migrated[using] = tuple(cursor.fetchone())
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    _tables[using] = sorted(set(names) - set(ROLE_TABLES))


def tables_empty_quickly(using: str) -> bool:
    """Empty every table a test filled, leaving the untouched role tables; False when only
    Django's full flush will do (the roles changed, or no fingerprint for this database)."""
    if using not in _roles_as_migrated:
        return False
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(ROLES_FINGERPRINT)
        if tuple(cursor.fetchone()) != _roles_as_migrated[using]:
            return False
        tables = _tables[using]
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(table)})"  # noqa: S608 — Django's names
                for table in tables
            ),
            tables,
        )
        filled = [row[0] for row in cursor.fetchall()]
        if filled:
            # DELETE, not TRUNCATE: ten times quicker on tables this small (a TRUNCATE makes
            # each table's files anew). In one transaction, in any order: Django makes every
            # foreign key DEFERRABLE INITIALLY DEFERRED, checked when it commits.
            with transaction.atomic(using=using):
                deletes = [f"DELETE FROM {quote(table)}" for table in filled]  # noqa: S608
                cursor.execute("; ".join(deletes))
    return True


def transactional_teardown(self: TransactionTestCase) -> None:
    """``TransactionTestCase._fixture_teardown`` for this suite (see the module docstring);
    Django's own remains for what the quick one cannot do."""
    databases = self._databases_names(include_mirrors=False)
    quick = self.available_apps is None and not self.serialized_rollback
    if quick and all(tables_empty_quickly(using) for using in databases):
        return
    DJANGO_TEARDOWN(self)
    for using in databases:
        roles_fingerprint_remember(using)


DJANGO_TEARDOWN = TransactionTestCase._fixture_teardown
