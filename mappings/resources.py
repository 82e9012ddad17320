"""Spreadsheet import and export of lookup entries and mapping rows.

Both resources are all-or-nothing: an import writes only when every row of the
file is valid, and a dry run reports each invalid row with its error. Exports
quote cells a spreadsheet would run as a formula.

Lookup files can hold 100,000 rows, so ``LookupEntryResource.import_data``
replaces django-import-export's row-at-a-time loop (one query and one save per
row) with one read of the tables' existing entries and bulk writes that still
record history. It returns the library's own ``Result`` so the admin's dry-run
page and confirm step work unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import django_rq
import openpyxl
import tablib
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.results import Error, Result, RowResult
from openpyxl.cell import WriteOnlyCell
from redis.exceptions import RedisError
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from mappings import selectors, services
from mappings.engine.jsonload import JSONInputError, loads_bounded
from mappings.models import FieldMappingRow, LookupEntry, LookupTable, Mapping

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
LOOKUP_COLUMNS = ("table", "key", "value")
PROGRESS_EVERY = 5_000
WRITE_BATCH = 5_000


# Cells ------------------------------------------------------------------------
#
# An exported cell a spreadsheet would run as a formula (OWASP: = + - @ tab CR)
# gets a leading quote, which a spreadsheet shows as text. So that the quote is
# reversible, a text that itself starts with a quote, or has spaces around it
# (which an import otherwise trims), is quoted too; an import takes exactly one
# leading quote off a cell whose rest needs it, and keeps every other cell as
# typed. An unquoted cell starting with = is a live formula, refused by row.


def _needs_quote(text: str) -> bool:
    return bool(text) and (
        text.startswith(FORMULA_STARTS)
        or text[0] == QUOTE
        or text[0].isspace()
        or text[-1].isspace()
    )


def escape_cell(value: Any) -> Any:
    """An exported cell: text that would run, or lose its quote or spaces, quoted."""
    if isinstance(value, str) and _needs_quote(value):
        return QUOTE + value
    return value


def is_quoted(text: str) -> bool:
    """Whether ``escape_cell`` quoted this text (its rest is exact, not to be trimmed)."""
    return text.startswith(QUOTE) and _needs_quote(text[1:])


def unescape_cell(text: str) -> str:
    """The value an exported cell holds: ``escape_cell`` undone."""
    return text[1:] if is_quoted(text) else text


def is_formula(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("=")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why the database cannot store ``text`` (a NUL, a lone surrogate), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    what = "a NUL character" if found.group() == "\x00" else "an invalid character"
    return f"It contains {what} at position {found.start() + 1}, which cannot be stored; remove it."


def formula_error(text: str) -> str:
    return (
        f"{text[:40]!r} is a spreadsheet formula; type the value itself "
        "(start it with ' to keep a leading =)."
    )


class SpreadsheetCellsMixin:
    """Export every cell through ``escape_cell``; import every cell through ``unescape_cell``.

    django-import-export's own ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` only
    deletes a leading ``=`` (losing data, and leaving ``+ - @`` live).
    """

    def export_field(self, field: fields.Field, instance: Any, **kwargs: Any) -> Any:
        return escape_cell(super().export_field(field, instance, **kwargs))  # type: ignore[misc]

    @classmethod
    def field_from_django_field(
        cls, field_name: str, django_field: Any, readonly: bool
    ) -> fields.Field:
        """An empty text cell imports as the empty text it was exported from, not the default.

        (A separator of "" otherwise came back as the model's default " ".)
        """
        field = super().field_from_django_field(field_name, django_field, readonly)  # type: ignore[misc]
        if isinstance(django_field, models.CharField) and not django_field.null:
            field.default = NOT_PROVIDED
        return field

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        """Unquote each cell; a formula or a text the database cannot store makes the row invalid.

        Checked here, in the dry run, so the confirmation never meets what the
        dry run let through (a NUL would otherwise only fail on saving).
        """
        errors: dict[str, list[str]] = {}
        for column, value in row.items():
            if not isinstance(value, str):
                continue
            if is_formula(value):
                errors[column] = [formula_error(value)]
            elif problem := unstorable(value) or _json_nul(value):
                errors[column] = [problem]
            else:
                row[column] = unescape_cell(value)
        if errors:
            raise ValidationError(errors)
        super().before_import_row(row, **kwargs)  # type: ignore[misc]


def _json_nul(text: str) -> str | None:
    """A JSON column may spell a NUL as an escape, which PostgreSQL's jsonb refuses too."""
    if "\\u0000" in text:
        return "It contains a NUL character (\\u0000), which cannot be stored; remove it."
    return None


# In an XLSX file (XML) control characters cannot appear and a CR reads back as
# a LF; OOXML writes them as _xHHHH_ and an underscore as _x005F_, which Excel
# reads back. openpyxl does neither, so the XLSX format does both. Every "_"
# before an "x" is escaped, not only one that starts a literal _xHHHH_: "_xABCD"
# followed by an escaped control character, or "_x0000_x000D_" (two patterns
# sharing an underscore), would otherwise read back as other text.
_XLSX_ESCAPE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]|_(?=x)")
_XLSX_UNESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def _xlsx_escape(text: str) -> str:
    return _XLSX_ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def xlsx_unescape(value: Any) -> Any:
    """A cell's value as it was before ``xlsx_cell`` escaped it (``_xHHHH_`` undone)."""
    if isinstance(value, str) and "_x" in value:
        return _XLSX_UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A value for a write-only sheet's row: a text as an escaped text cell, never a formula.

    Every XLSX this project writes goes through here (the lookup and mapping
    formats, the ledger and audit exports), so a text reads back exactly.
    """
    if not isinstance(value, str):
        return value
    written = WriteOnlyCell(sheet, value=_xlsx_escape(value))
    written.data_type = "s"  # a text, never a formula
    return written


class FormulaAwareXLSX(base_formats.XLSX):
    """XLSX written with every text as a text cell and read with formulas as their text.

    The stock reader loads cached results (``data_only=True``), which are empty
    for a formula no spreadsheet program has calculated yet; so formulas are
    read as their text, and an import refuses them by row. Texts are escaped as
    OOXML does, so every text the database holds round-trips exactly.
    """

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        book = openpyxl.load_workbook(BytesIO(in_stream), read_only=True, data_only=False)
        rows = book.active.iter_rows(values_only=True)
        headers = [xlsx_unescape(h) for h in next(rows, ())]
        # built in one go: Dataset.append re-validates the whole row shape every call
        dataset = tablib.Dataset(
            *(
                tuple(xlsx_unescape(value) for value in row)
                for row in rows
                if any(value is not None for value in row)
            ),
            headers=headers,
        )
        book.close()
        return dataset

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(title=(dataset.title or "Sheet1")[:31])

        if dataset.headers:
            sheet.append([xlsx_cell(sheet, h) for h in dataset.headers])
        for row in dataset:
            sheet.append([xlsx_cell(sheet, value) for value in row])
        out = BytesIO()
        book.save(out)
        return out.getvalue()


IMPORT_FORMATS = (base_formats.CSV, FormulaAwareXLSX)


def _cell(value: Any) -> str:
    """A spreadsheet cell as the text a lookup stores (``12.0`` from Excel is ``"12"``).

    Typed text is trimmed; a quoted cell (see ``escape_cell``) is kept exactly.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    text = str(value)
    return text if is_quoted(text) else text.strip()


class LookupEntryResource(SpreadsheetCellsMixin, resources.ModelResource):
    table = fields.Field(attribute="table__name", column_name="table")

    class Meta:
        model = LookupEntry
        fields = LOOKUP_COLUMNS
        export_order = LOOKUP_COLUMNS
        import_id_fields = ("table", "key")

    def get_diff_headers(self) -> list[str]:
        return list(LOOKUP_COLUMNS)

    def import_data(  # type: ignore[override]
        self,
        dataset: tablib.Dataset,
        dry_run: bool = False,
        raise_errors: bool = False,
        progress: Callable[[int], None] | None = None,
        user: Any = None,
        **kwargs: Any,
    ) -> Result:
        """Check every row, then (unless a dry run, and only if all are valid) write them."""
        return self.import_rows(
            lookup_rows(dataset),
            dry_run=dry_run,
            raise_errors=raise_errors,
            progress=progress,
            user=user,
        )

    def import_rows(
        self,
        rows: LookupRows,
        *,
        dry_run: bool,
        raise_errors: bool = False,
        progress: Callable[[int], None] | None = None,
        user: Any = None,
    ) -> Result:
        """``import_data`` on a file already read into its table, key and value texts."""
        result = Result()
        result.diff_headers = self.get_diff_headers()
        result.total_rows = len(rows.texts)
        if rows.missing:
            result.append_base_error(
                Error(
                    ValueError(
                        "The file needs the columns table, key and value in its first row "
                        f"(missing: {', '.join(rows.missing)})."
                    )
                )
            )
            return result
        plan = _LookupPlan(rows.texts)
        plan.check(result, progress)
        if raise_errors and (result.has_errors() or result.has_validation_errors()):
            raise ValidationError("The file has invalid rows; nothing was imported.")
        if not dry_run and not result.has_validation_errors():
            plan.write(user)
        return result


@dataclass(frozen=True)
class LookupRows:
    """A lookup file as the import reads it: each row's table, key and value cell as text.

    ``missing`` names the required columns the header row lacks (then ``texts`` is empty).
    """

    texts: list[tuple[str, str, str]]
    missing: tuple[str, ...] = ()


def lookup_rows(dataset: tablib.Dataset) -> LookupRows:
    headers = [_cell(h).lower() for h in dataset.headers or ()]
    missing = tuple(c for c in LOOKUP_COLUMNS if c not in headers)
    if missing:
        return LookupRows([], missing)
    ti, ki, vi = (headers.index(c) for c in LOOKUP_COLUMNS)
    return LookupRows([(_cell(r[ti]), _cell(r[ki]), _cell(r[vi])) for r in dataset])


class _LookupPlan:
    """One file's rows sorted into new, changed, unchanged and invalid."""

    def __init__(self, texts: list[tuple[str, str, str]]) -> None:
        self.texts = texts
        names = {unescape_cell(t[0]) for t in texts}
        storable = [name for name in names if unstorable(name) is None]
        self.tables = {t.name: t for t in selectors.lookup_tables_named(names=storable)}
        self.folds = {t.pk: not t.case_sensitive for t in self.tables.values()}
        self.existing: dict[tuple[int, str], tuple[int, str, str]] = {}
        for pk, table_id, key, value in LookupEntry.objects.filter(
            table__in=self.tables.values()
        ).values_list("pk", "table_id", "key", "value"):
            self.existing[(table_id, self._norm(table_id, key))] = (pk, key, value)
        self.new: list[tuple[int, str, str]] = []  # (table id, key, value)
        self.changed: list[tuple[int, int, str, str]] = []  # (pk, table id, key, value)

    def _norm(self, table_id: int, key: str) -> str:
        """Keys of a table that ignores case are compared case-folded."""
        return key.casefold() if self.folds[table_id] else key

    def check(self, result: Result, progress: Callable[[int], None] | None) -> None:
        seen: dict[tuple[int, str], int] = {}
        tables, folds = self.tables, self.folds
        for number, texts in enumerate(self.texts, 1):
            table_name, key, value = (unescape_cell(t) for t in texts)
            table = tables.get(table_name)
            row_result = RowResult()
            row_result.diff = [table_name, key, value]
            # the common case, a clean row, costs a few comparisons; any doubt takes
            # the full check below, which words every error
            if (
                table is not None
                and 0 < len(key) <= 200
                and 0 < len(value) <= 500
                and not any(t.startswith("=") for t in texts)
                and _UNSTORABLE.search(key + value) is None
            ):
                norm = (table.pk, key.casefold() if folds[table.pk] else key)
                if norm not in seen:
                    seen[norm] = number
                    self._sort(row_result, table, norm, key, value)
                    errors = None
                else:
                    errors = {
                        "key": [f"The key {key!r} is already on row {seen[norm]} for this table."]
                    }
            else:
                errors = self._errors(number, texts, table, seen)
            if errors:
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = ValidationError(errors)
                result.append_invalid_row(
                    number,
                    dict(zip(LOOKUP_COLUMNS, texts, strict=True)),
                    row_result.validation_error,
                )
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(number)

    def _errors(
        self,
        number: int,
        texts: tuple[str, str, str],
        table: LookupTable | None,
        seen: dict[tuple[int, str], int],
    ) -> dict[str, list[str]]:
        """Every problem of one row, by column (empty when the row is valid)."""
        errors: dict[str, list[str]] = {}
        for column, text in zip(LOOKUP_COLUMNS, texts, strict=True):
            if is_formula(text):
                errors[column] = [formula_error(text)]
            elif problem := unstorable(text):
                errors[column] = [problem]
        table_name, key, value = (unescape_cell(t) for t in texts)
        if not table_name:
            errors.setdefault("table", ["The table is blank."])
        elif table is None:
            errors.setdefault("table", [f'There is no lookup table named "{table_name}".'])
        if not key:
            errors.setdefault("key", ["The key is blank."])
        elif len(key) > 200:
            errors.setdefault("key", ["The key is longer than 200 characters."])
        if not value:
            errors.setdefault("value", ["The value is blank; delete the row instead."])
        elif len(value) > 500:
            errors.setdefault("value", ["The value is longer than 500 characters."])
        if table is not None and key and "key" not in errors:
            norm = (table.pk, self._norm(table.pk, key))
            if norm in seen:
                errors["key"] = [f"The key {key!r} is already on row {seen[norm]} for this table."]
            else:
                seen[norm] = number
        return errors

    def _sort(
        self, row_result: RowResult, table: LookupTable, norm: tuple[int, str], key: str, value: str
    ) -> None:
        found = self.existing.get(norm)
        if found is None:
            row_result.import_type = RowResult.IMPORT_TYPE_NEW
            self.new.append((table.pk, key, value))
        elif found[2] == value:
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
        else:
            row_result.import_type = RowResult.IMPORT_TYPE_UPDATE
            row_result.diff = [table.name, found[1], f"{found[2]} → {value}"]
            self.changed.append((found[0], table.pk, found[1], value))

    def write(self, user: Any) -> None:
        """All rows or none; each written entry gets a history record naming ``user``."""
        who = user if getattr(user, "pk", None) else None
        with transaction.atomic():
            _create_with_history(self.new, who)
            bulk_update_with_history(
                [LookupEntry(pk=pk, table_id=t, key=k, value=v) for pk, t, k, v in self.changed],
                LookupEntry,
                ["value"],
                batch_size=WRITE_BATCH,
                default_user=who,
            )
            touched = {t for t, _, _ in self.new} | {t for _, t, _, _ in self.changed}
            if touched:
                services.lookup_tables_touch(
                    table_ids=touched, user=who, reason="Imported from a file"
                )


def _create_with_history(new: list[tuple[int, str, str]], who: Any) -> None:
    """Insert new entries, each with its "+" history record, as ``bulk_create_with_history``.

    On PostgreSQL both tables are filled with COPY (ids drawn from the entries'
    sequence first, so each history record points at its entry); elsewhere, SQLite
    included, through ``bulk_create_with_history`` itself.
    """
    if not new:
        return
    connection = transaction.get_connection()
    if not _can_copy(connection):
        bulk_create_with_history(
            [LookupEntry(table_id=t, key=k, value=v) for t, k, v in new],
            LookupEntry,
            batch_size=WRITE_BATCH,
            default_user=who,
        )
        return
    history = LookupEntry.history.model
    quote = connection.ops.quote_name
    meta = LookupEntry._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(meta.db_table), meta.pk.column, len(new)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        entries = [(pk, t, k, v) for pk, (t, k, v) in zip(ids, new, strict=True)]
        _copy(cursor, meta.db_table, [meta.pk.column, "table_id", "key", "value"], entries)
        if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
            return
        # what bulk_history_create would give each record
        user = who or history.get_default_history_user(LookupEntry(table_id=new[0][0]))
        now = timezone.now()
        fixed = {
            "history_date": now,
            "history_change_reason": None,
            "history_type": "+",
            "history_user_id": getattr(user, "pk", None),
        }
        tracked = [f.attname for f in history.tracked_fields]
        by_name = {"id": 0, "table_id": 1, "key": 2, "value": 3}
        columns = tracked + list(fixed)
        positions = [by_name[name] for name in tracked]
        tail = tuple(fixed.values())
        _copy(
            cursor,
            history._meta.db_table,
            [history._meta.get_field(c).column if c in fixed else c for c in columns],
            (tuple(e[i] for i in positions) + tail for e in entries),
        )


def _can_copy(connection: Any) -> bool:
    """COPY is PostgreSQL's: the one place the writer is chosen."""
    return connection.vendor == "postgresql"


def _copy(cursor: Any, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    quote = cursor.db.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


# A checked file's rows, kept so its confirmation need not read the file again.
PARSED_TTL_S = 2 * 24 * 3600
PARSED_VERSION = 1


def _parsed_key(content: bytes, file_format: str) -> str:
    digest = hashlib.sha256(content).hexdigest()
    return f"mappings:lookup-rows:v{PARSED_VERSION}:{file_format}:{digest}"


def _parsed_store(key: str, rows: LookupRows) -> None:
    try:
        blob = zlib.compress(json.dumps(rows.texts, ensure_ascii=False).encode(), 1)
        django_rq.get_connection("default").set(key, blob, ex=PARSED_TTL_S)
    except (RedisError, OSError):
        pass  # only a shortcut: the confirmation reads the file again


def _parsed_take(key: str) -> LookupRows | None:
    try:
        connection = django_rq.get_connection("default")
        blob = connection.get(key)
        if blob is None:
            return None
        connection.delete(key)
        texts = json.loads(zlib.decompress(blob))
    except (RedisError, OSError, ValueError, zlib.error):
        return None
    return LookupRows([tuple(t) for t in texts])


def lookup_import(
    *,
    content: bytes,
    file_format: str,
    dry_run: bool,
    user: Any = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Parse a stored upload and import it: the admin's path, for jobs and the benchmark.

    A clean dry run keeps the file's rows (in Redis, under the SHA-256 of the file's
    bytes), and importing the very same bytes takes them instead of parsing the
    file again. Every row is still checked again against the tables as they are
    now, so only the parse is saved: other bytes, an expired or unreadable entry
    or no Redis simply mean the file is read again.
    """
    key = _parsed_key(content, file_format)
    rows = None if dry_run else _parsed_take(key)
    if rows is None:
        rows = lookup_rows(import_format(file_format).create_dataset(content))
    result = LookupEntryResource().import_rows(rows, dry_run=dry_run, user=user, progress=progress)
    if dry_run and not (result.has_errors() or result.has_validation_errors()):
        _parsed_store(key, rows)
    return result


def import_format(file_format: str) -> base_formats.Format:
    """The reader for ``"csv"`` or ``"xlsx"``."""
    for format_class in IMPORT_FORMATS:
        if format_class().get_extension() == file_format:
            return format_class(encoding="utf-8-sig")
    raise ValueError(f"Unsupported file format {file_format!r}; use CSV or XLSX.")


class JSONListWidget(widgets.JSONWidget):
    """A list column: an empty list round-trips as ``[]``, and an empty cell reads as one."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """JSON, nesting bounded (``loads_bounded``); 'single' quotes read as JSONWidget does."""
        if value is None or not str(value).strip():
            return []
        try:
            return loads_bounded(str(value)) or []
        except JSONInputError as exc:
            try:
                return loads_bounded(str(value).replace("'", '"')) or []
            except JSONInputError:
                raise ValueError(exc.message) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        return json.dumps(value if value is not None else [])


class MappingByName(widgets.ForeignKeyWidget):
    """A mapping named in a file; an unknown name is a row error that names it."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        try:
            return super().clean(value, row, **kwargs)
        except Mapping.DoesNotExist:
            raise ValueError(f'There is no mapping named "{value}".') from None


class FieldMappingRowResource(SpreadsheetCellsMixin, resources.ModelResource):
    """Mapping rows by mapping name; every mapping touched must still compile."""

    mapping = fields.Field(
        attribute="mapping",
        column_name="mapping",
        widget=MappingByName(Mapping, field="name"),
    )
    sources = fields.Field(attribute="sources", widget=JSONListWidget())
    targets = fields.Field(attribute="targets", widget=JSONListWidget())
    transforms = fields.Field(attribute="transforms", widget=JSONListWidget())

    class Meta:
        model = FieldMappingRow
        fields = (
            "id",
            "mapping",
            "order",
            "kind",
            "sources",
            "targets",
            "transforms",
            "template",
            "combine",
            "separator",
        )
        clean_model_instances = True

    def import_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Result:  # type: ignore[override]
        """Roll back on any invalid row too, not only on errors (the library's default)."""
        kwargs["rollback_on_validation_errors"] = True
        kwargs["use_transactions"] = True
        kwargs["retain_instance_in_row_result"] = True
        return super().import_data(dataset, **kwargs)

    def before_save_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
        """Note the mapping a row moved out of: it changes too (see ``after_import``)."""
        super().before_save_instance(instance, row, **kwargs)
        if instance.pk is not None:
            left = (
                type(instance)
                .objects.filter(pk=instance.pk)
                .values_list("mapping_id", flat=True)
                .first()
            )
            if left is not None and left != instance.mapping_id:
                self.__dict__.setdefault("_left_mapping_ids", set()).add(left)

    def after_import(self, dataset: tablib.Dataset, result: Result, **kwargs: Any) -> None:
        mapping_ids = {r.instance.mapping_id for r in result.valid_rows() if r.instance}
        mapping_ids |= self.__dict__.pop("_left_mapping_ids", set())
        problems = []
        for mapping in Mapping.objects.filter(pk__in=mapping_ids):
            problems += [
                f"{mapping.name}: {p.message}"
                for p in services.mapping_validate(parts=selectors.mapping_parts(mapping=mapping))
            ]
        if problems:
            raise ValidationError(problems)
        if not kwargs.get("dry_run"):
            for mapping in Mapping.objects.filter(pk__in=mapping_ids):
                services.mapping_touch(
                    mapping=mapping, user=kwargs.get("user"), reason="Rows imported from a file"
                )
