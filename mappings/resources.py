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
from collections.abc import Callable
from io import BytesIO
from typing import Any

import openpyxl
import tablib
from django.core.exceptions import ValidationError
from django.db import transaction
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.results import Error, Result, RowResult
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from mappings import selectors, services
from mappings.models import FieldMappingRow, LookupEntry, LookupTable, Mapping

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LOOKUP_COLUMNS = ("table", "key", "value")
PROGRESS_EVERY = 5_000
WRITE_BATCH = 5_000


def escape_formula(value: Any) -> Any:
    """OWASP's advice: a leading quote makes a spreadsheet show the text, not run it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class FormulaSafeExportMixin:
    """Quote every exported cell that starts like a formula.

    django-import-export's own ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` only
    deletes a leading ``=`` (losing data, and leaving ``+ - @`` live).
    """

    def export_field(self, field: fields.Field, instance: Any, **kwargs: Any) -> Any:
        return escape_formula(super().export_field(field, instance, **kwargs))  # type: ignore[misc]


class FormulaAwareXLSX(base_formats.XLSX):
    """XLSX read with formulas as their text, so an import can refuse them by row.

    The stock reader loads cached results (``data_only=True``), which are empty
    for a formula no spreadsheet program has calculated yet.
    """

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        book = openpyxl.load_workbook(BytesIO(in_stream), read_only=True, data_only=False)
        rows = book.active.iter_rows(values_only=True)
        headers = list(next(rows, ()))
        # built in one go: Dataset.append re-validates the whole row shape every call
        dataset = tablib.Dataset(
            *(row for row in rows if any(value is not None for value in row)), headers=headers
        )
        book.close()
        return dataset


IMPORT_FORMATS = (base_formats.CSV, FormulaAwareXLSX)


def _cell(value: Any) -> str:
    """A spreadsheet cell as the text a lookup stores (``12.0`` from Excel is ``"12"``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value).strip()


def _unquote(text: str) -> str:
    """Undo ``escape_formula`` so an exported file imports back to the same values."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


class LookupEntryResource(FormulaSafeExportMixin, resources.ModelResource):
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
        result = Result()
        result.diff_headers = self.get_diff_headers()
        result.total_rows = len(dataset)
        headers = [_cell(h).lower() for h in dataset.headers or ()]
        missing = [c for c in LOOKUP_COLUMNS if c not in headers]
        if missing:
            result.append_base_error(
                Error(
                    ValueError(
                        "The file needs the columns table, key and value in its first row "
                        f"(missing: {', '.join(missing)})."
                    )
                )
            )
            return result
        plan = _LookupPlan(dataset, [headers.index(c) for c in LOOKUP_COLUMNS])
        plan.check(result, progress)
        if raise_errors and (result.has_errors() or result.has_validation_errors()):
            raise ValidationError("The file has invalid rows; nothing was imported.")
        if not dry_run and not result.has_validation_errors():
            plan.write(user)
        return result


class _LookupPlan:
    """One file's rows sorted into new, changed, unchanged and invalid."""

    def __init__(self, dataset: tablib.Dataset, columns: list[int]) -> None:
        self.dataset = dataset
        self.columns = columns
        names = {_cell(row[columns[0]]) for row in dataset}
        self.tables = {t.name: t for t in selectors.lookup_tables_named(names=names)}
        self.folds = {t.pk: not t.case_sensitive for t in self.tables.values()}
        self.existing: dict[tuple[int, str], tuple[int, str, str]] = {}
        for pk, table_id, key, value in LookupEntry.objects.filter(
            table__in=self.tables.values()
        ).values_list("pk", "table_id", "key", "value"):
            self.existing[(table_id, self._norm(table_id, key))] = (pk, key, value)
        self.new: list[LookupEntry] = []
        self.changed: list[LookupEntry] = []

    def _norm(self, table_id: int, key: str) -> str:
        """Keys of a table that ignores case are compared case-folded."""
        return key.casefold() if self.folds[table_id] else key

    def check(self, result: Result, progress: Callable[[int], None] | None) -> None:
        seen: dict[tuple[int, str], int] = {}
        ti, ki, vi = self.columns
        for number, raw in enumerate(self.dataset, 1):
            texts = [_cell(raw[ti]), _cell(raw[ki]), _cell(raw[vi])]
            errors: dict[str, list[str]] = {}
            for column, text in zip(LOOKUP_COLUMNS, texts, strict=True):
                if text.startswith("="):
                    errors[column] = [
                        f"{text[:40]!r} is a spreadsheet formula; type the value itself "
                        "(start it with ' to keep a leading =)."
                    ]
            table_name, key, value = (_unquote(t) for t in texts)
            table = self.tables.get(table_name)
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
            row_result = RowResult()
            row_result.diff = [table_name, key, value]
            if table is not None and key and "key" not in errors:
                norm = (table.pk, self._norm(table.pk, key))
                if norm in seen:
                    errors["key"] = [
                        f"The key {key!r} is already on row {seen[norm]} for this table."
                    ]
                else:
                    seen[norm] = number
            if errors:
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = ValidationError(errors)
                result.append_invalid_row(
                    number,
                    dict(zip(LOOKUP_COLUMNS, texts, strict=True)),
                    row_result.validation_error,
                )
            else:
                self._sort(row_result, table, norm, key, value)  # type: ignore[arg-type]
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(number)

    def _sort(
        self, row_result: RowResult, table: LookupTable, norm: tuple[int, str], key: str, value: str
    ) -> None:
        found = self.existing.get(norm)
        if found is None:
            row_result.import_type = RowResult.IMPORT_TYPE_NEW
            self.new.append(LookupEntry(table=table, key=key, value=value))
        elif found[2] == value:
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
        else:
            row_result.import_type = RowResult.IMPORT_TYPE_UPDATE
            row_result.diff = [table.name, found[1], f"{found[2]} → {value}"]
            self.changed.append(LookupEntry(pk=found[0], table=table, key=found[1], value=value))

    def write(self, user: Any) -> None:
        """All rows or none; each written entry gets a history record naming ``user``."""
        who = user if getattr(user, "pk", None) else None
        with transaction.atomic():
            bulk_create_with_history(
                self.new, LookupEntry, batch_size=WRITE_BATCH, default_user=who
            )
            bulk_update_with_history(
                self.changed, LookupEntry, ["value"], batch_size=WRITE_BATCH, default_user=who
            )
            touched = {e.table_id for e in self.new} | {e.table_id for e in self.changed}
            if touched:
                services.lookup_tables_changed(table_ids=touched)


def lookup_import(
    *,
    content: bytes,
    file_format: str,
    dry_run: bool,
    user: Any = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Parse a stored upload and import it: the admin's path, for jobs and the benchmark."""
    dataset = import_format(file_format).create_dataset(content)
    return LookupEntryResource().import_data(dataset, dry_run=dry_run, user=user, progress=progress)


def import_format(file_format: str) -> base_formats.Format:
    """The reader for ``"csv"`` or ``"xlsx"``."""
    for format_class in IMPORT_FORMATS:
        if format_class().get_extension() == file_format:
            return format_class(encoding="utf-8-sig")
    raise ValueError(f"Unsupported file format {file_format!r}; use CSV or XLSX.")


class FieldMappingRowResource(FormulaSafeExportMixin, resources.ModelResource):
    """Mapping rows by mapping name; every mapping touched must still compile."""

    mapping = fields.Field(
        attribute="mapping",
        column_name="mapping",
        widget=widgets.ForeignKeyWidget(Mapping, field="name"),
    )
    sources = fields.Field(attribute="sources", widget=widgets.JSONWidget())
    targets = fields.Field(attribute="targets", widget=widgets.JSONWidget())
    transforms = fields.Field(attribute="transforms", widget=widgets.JSONWidget())

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

    def after_import(self, dataset: tablib.Dataset, result: Result, **kwargs: Any) -> None:
        mapping_ids = {r.instance.mapping_id for r in result.valid_rows() if r.instance}
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
                services.mapping_changed(mapping=mapping)
