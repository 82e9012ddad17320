"""Writing a batch of ledger rows in one statement on PostgreSQL, the batch sent as one JSON value.

Why not the ORM's ``bulk_update``/``bulk_create``: at 1,000-row batches they
were most of a sync's time. ``bulk_update`` builds a ``CASE WHEN id = …`` per
column, so each row costs a comparison per row per column (4.7 s a batch);
``bulk_create`` sends each column as an array that psycopg quotes element by
element in Python (1.5 s a batch). Even ``UPDATE … FROM (VALUES …)`` with a
parameter per value spent half of its 240 ms in psycopg splitting and quoting
15,000 parameters. One ``jsonb`` parameter, unpacked by ``jsonb_to_recordset``
into typed columns and joined on the key, takes 120 ms — nearly all of it
PostgreSQL updating the ledger's indexes. SQLite (the embedded demo) keeps
the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import DateTimeField, Field, JSONField, Model

from clarity.models import SyncRecord

# Rows per statement: bounds the one JSON parameter to a few megabytes.
BATCH = 1000


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def rows_update(rows: Sequence[SyncRecord], names: Sequence[str]) -> None:
    """Write the fields ``names`` of every row, as ``bulk_update`` does (no ``pre_save``)."""
    if not on_postgresql():
        SyncRecord.objects.bulk_update(rows, names, batch_size=500)
        return
    fields = [_field(name) for name in names]
    table, pk, quote = SyncRecord._meta.db_table, _pk(), connection.ops.quote_name
    sql = (
        f"UPDATE {quote(table)} AS t "  # noqa: S608 - names from the model, values are a parameter
        f"SET {', '.join(f'{quote(f.column)} = v.{quote(f.column)}' for f in fields)} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS v ({_columns([pk, *fields])}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    lock = (
        f"SELECT 1 FROM {quote(table)} WHERE {quote(pk.column)} = ANY(%s) "  # noqa: S608 - as above
        f"ORDER BY {quote(pk.column)} FOR UPDATE"
    )
    # Rows locked in id order first: two workers saving overlapping rows (a
    # retry sweep and a run settling the same batch) otherwise lock them in
    # the join's order and deadlock.
    ordered = sorted(rows, key=lambda row: row.pk)
    for start in range(0, len(ordered), BATCH):
        chunk = ordered[start : start + BATCH]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(lock, [[row.pk for row in chunk]])
            cursor.execute(sql, [_json(chunk, [pk, *fields])])


def rows_store(rows: Sequence[SyncRecord]) -> list[SyncRecord]:
    """Insert the rows whose idempotency key is not stored yet; returns every row as stored.

    As ``bulk_create(ignore_conflicts=True)`` and a read back by key, in the
    order given — but on PostgreSQL only the rows that were already there are
    read back: the new ones are the objects passed in, with their ids. As in
    ``bulk_create``, ``pre_save`` stamps ``created_at``/``updated_at`` first.
    """
    if not rows:
        return []
    if not on_postgresql():
        SyncRecord.objects.bulk_create(rows, ignore_conflicts=True, batch_size=BATCH)
        stored = SyncRecord.objects.in_bulk([r.idempotency_key for r in rows],
                                            field_name="idempotency_key")  # fmt: skip
        return [stored[r.idempotency_key] for r in rows if r.idempotency_key in stored]
    fields = [f for f in SyncRecord._meta.concrete_fields if not f.primary_key]
    stamped = [f for f in fields if type(f).pre_save is not Field.pre_save]  # auto_now(_add)
    for row in rows:
        for f in stamped:
            f.pre_save(row, add=True)
    table, pk, quote = SyncRecord._meta.db_table, _pk(), connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {quote(table)} ({names}) "  # noqa: S608 - as above
        f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS v ({_columns(fields)}) "
        f"ON CONFLICT DO NOTHING RETURNING idempotency_key, {quote(pk.column)}"
    )
    new: dict[str, int] = {}
    for start in range(0, len(rows), BATCH):
        with connection.cursor() as cursor:
            cursor.execute(sql, [_json(rows[start : start + BATCH], fields)])
            new.update(cursor.fetchall())
    old = [r.idempotency_key for r in rows if r.idempotency_key not in new]
    stored = SyncRecord.objects.in_bulk(old, field_name="idempotency_key") if old else {}
    result: list[SyncRecord] = []
    for row in rows:
        key = row.idempotency_key
        if key in new:
            row.pk = new.pop(key)  # popped: a key given twice is one row
            row._state.adding = False
            row._state.db = connection.alias
            result.append(row)
        elif key in stored:
            result.append(stored.pop(key))
    return result


def rows_insert(model: type[Model], rows: Sequence[Model]) -> None:
    """Insert new rows of ``model`` the way ``rows_store`` inserts ledger rows (one JSON
    parameter a statement, see the module), with no conflict handling and no ids read back:
    for report rows written by the thousand (a validate run's). SQLite: ``bulk_create``."""
    if not rows:
        return
    if not on_postgresql():
        model._default_manager.bulk_create(rows, batch_size=BATCH)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    stamped = [f for f in fields if type(f).pre_save is not Field.pre_save]  # auto_now(_add)
    for row in rows:
        for f in stamped:
            f.pre_save(row, add=True)
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) "  # noqa: S608 - as above
        f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS v ({_columns(fields)})"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.execute(sql, [_json(rows[start : start + BATCH], fields)])


def _field(name: str) -> Field:
    field = SyncRecord._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _pk() -> Field:
    pk = SyncRecord._meta.pk
    assert pk is not None
    return pk


def _columns(fields: Sequence[Field]) -> str:
    """``jsonb_to_recordset``'s column list: every value typed, NULLs included.

    Strings are ``text``, not ``varchar(n)``, so a value too long for its column
    fails on assignment as with the ORM instead of being cut short by a cast.
    """
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(f.column)} {_sql_type(f)}" for f in fields)


def _sql_type(field: Field) -> str:
    if field.get_internal_type() in ("CharField", "TextField"):
        return "text"
    return str(field.db_type(connection)).split("(")[0]


def _json(rows: Sequence[Model], fields: Sequence[Field]) -> str:
    """The rows as one JSON array of objects keyed by column, each value as the ORM saves it."""
    convert = [(f.column, f.attname, _converter(f)) for f in fields]
    return json.dumps(
        [{column: to(getattr(row, attname)) for column, attname, to in convert} for row in rows],
        ensure_ascii=False,
        allow_nan=False,
    )


PLAIN = (str, int, bool)


def _converter(field: Field) -> Callable[[Any], Any]:
    """JSON stays JSON (None is SQL NULL, as in the ORM); dates in ISO 8601; the rest as the
    field prepares it — skipped for a plain value it would return unchanged, which is most."""
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: this runs for every value
    if isinstance(field, JSONField) and field.encoder is None:
        return lambda value: value
    if isinstance(field, DateTimeField):

        def iso(value: Any) -> Any:
            if value is not None and value.tzinfo is None:
                value = field.get_db_prep_save(value, db)  # naive: made aware, with its warning
            return None if value is None else value.isoformat()

        return iso

    def prepared(value: Any) -> Any:
        if value is None or type(value) in PLAIN:
            return value
        return field.get_db_prep_save(value, db)

    return prepared
