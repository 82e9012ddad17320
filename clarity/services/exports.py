"""Ledger and audit exports as CSV or XLSX files that stream, formula-safe and exact.

CSV goes out row by row through ``StreamingHttpResponse``; XLSX is written by
openpyxl's write-only workbook, which appends each row's XML to a temporary
file (its strings inline, no shared-string table in memory), then the file is
streamed. Either way memory holds a chunk of rows, not the export.

Cells go through the one escaping the project has for spreadsheets
(``mappings.resources``): a text a spreadsheet would run as a formula gets a
leading quote (``escape_cell``), and in XLSX characters XML cannot hold are
written as ``_xHHHH_`` (``xlsx_cell``). Reading a file back through
``unescape_cell``/``xlsx_unescape`` gives the exact values.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any

import openpyxl
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from mappings.resources import escape_cell, xlsx_cell


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Excel opens at most 1,048,576 rows a sheet [P] (support.microsoft.com, "Excel specifications
# and limits"): a longer export goes on over further sheets.
XLSX_MAX_ROWS = 1_048_576
# Excel reads a CSV as UTF-8 only when it starts with a byte order mark.
UTF8_BOM = "\ufeff"


class _Line:
    """A file-like sink for csv.writer that hands back what it was given: one line."""

    def write(self, text: str) -> str:
        return text


def csv_lines(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The export as CSV lines, each encoded as it is produced."""
    writer = csv.writer(_Line())
    yield (UTF8_BOM + writer.writerow([escape_cell(h) for h in headers])).encode()
    for row in rows:
        yield writer.writerow([escape_cell(value) for value in row]).encode()


def xlsx_file(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str,
    sheet_rows: int = XLSX_MAX_ROWS,
) -> Any:
    """The export as an XLSX file, written row by row to a temporary file, rewound.

    A sheet holds at most ``sheet_rows`` rows, its header included (Excel's limit):
    the rest go on to sheets ``<title> 2``, ``<title> 3``…, each with the header.
    """
    book = openpyxl.Workbook(write_only=True)
    sheet, used, number = None, sheet_rows, 0
    for row in rows:
        if used >= sheet_rows:
            number += 1
            name = title if number == 1 else f"{title[:25]} {number}"
            sheet = book.create_sheet(title=name[:31])
            sheet.append([xlsx_cell(sheet, escape_cell(h)) for h in headers])
            used = 1
        sheet.append([xlsx_cell(sheet, escape_cell(value)) for value in row])  # type: ignore[union-attr]
        used += 1
    if sheet is None:  # no rows: the header alone
        sheet = book.create_sheet(title=title[:31])
        sheet.append([xlsx_cell(sheet, escape_cell(h)) for h in headers])
    out = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
    book.save(out)
    out.seek(0)
    return out


def export_response(
    *,
    name: str,
    export_format: ExportFormat,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> StreamingHttpResponse | FileResponse:
    """A download named ``<name>-<date and time>.<format>`` that streams ``rows``."""
    filename = f"{name}-{timezone.localtime():%Y%m%d-%H%M%S}.{export_format}"
    if export_format == ExportFormat.CSV:
        response = StreamingHttpResponse(
            csv_lines(headers, rows), content_type=CONTENT_TYPES[export_format]
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        xlsx_file(headers, rows, title=name),
        as_attachment=True,
        filename=filename,
        content_type=CONTENT_TYPES[export_format],
    )
