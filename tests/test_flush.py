"""The suite's quick end of a transactional test (tests/flush.py): the same clean slate as
Django's flush, the next test finding every table empty and the roles as migrated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from clarity.models import SyncRecord
from tests.factories import RecordFactory, UserFactory
from tests.flush import ROLE_TABLES, transactional_teardown

pytestmark = pytest.mark.django_db(transaction=True)


def _roles() -> dict[str, set[tuple[str, str]]]:
    return {
        group.name: set(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.all()
    }


def _filled_tables() -> list[str]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        filled = []
        for table in sorted(set(tables) - set(ROLE_TABLES)):
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
            if cursor.fetchone()[0]:
                filled.append(table)
    return filled


def _end_of_test() -> None:
    transactional_teardown(TransactionTestCase())


def test_the_end_empties_every_table_filled_and_leaves_the_migrated_roles_as_they_are():
    migrated = _roles()
    permission_ids = set(Permission.objects.values_list("pk", flat=True))
    content_type_ids = set(ContentType.objects.values_list("pk", flat=True))
    UserFactory(username="someone", role="Finance")
    RecordFactory.create_batch(3)
    assert SyncRecord.objects.count() == 3

    _end_of_test()

    assert _filled_tables() == []
    assert _roles() == migrated
    # Left as they were, not deleted and made again (Django's flush gives them new ids).
    assert set(Permission.objects.values_list("pk", flat=True)) == permission_ids
    assert set(ContentType.objects.values_list("pk", flat=True)) == content_type_ids


def test_a_test_that_changed_a_role_still_leaves_the_roles_as_migrated():
    migrated = _roles()
    finance = Group.objects.get(name="Finance")
    finance.permissions.add(Permission.objects.get(codename="delete_connection"))
    Group.objects.create(name="Made by a test")
    RecordFactory()

    _end_of_test()

    assert _filled_tables() == []
    assert _roles() == migrated
    # And the next test's end is quick again: a batch of rows gone, the roles kept.
    permission_ids = set(Permission.objects.values_list("pk", flat=True))
    RecordFactory.create_batch(2)
    _end_of_test()
    assert _filled_tables() == []
    assert set(Permission.objects.values_list("pk", flat=True)) == permission_ids


def test_every_foreign_key_is_checked_at_commit_so_the_tables_empty_in_any_order():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND NOT (condeferrable AND condeferred)"
        )
        assert cursor.fetchall() == []
