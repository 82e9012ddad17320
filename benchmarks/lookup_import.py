"""Imports a 100,000-row XLSX lookup table the way the admin does, and times it.

Run with ``bash .ci/bench lookup_import`` (PostgreSQL and Redis up, DATABASE_URL
set). Steps: dry run, then confirm, through ``lookup_import`` and
``LookupEntryResource``, exactly as the RQ job for large files does (the admin's
own dry run and confirm run the same checks and writes). The dry run parses the
file; the confirm takes the rows the clean dry run kept in Redis for these exact
bytes (parsing again only when they are gone), checks every row again and writes
entries and history. The floor is one plain openpyxl read-only parse of the same
file. Last line: one JSON object of figures.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")

import django

django.setup()

import openpyxl  # noqa: E402
from django.core.management import call_command  # noqa: E402

from mappings.models import LookupEntry, LookupTable  # noqa: E402
from mappings.resources import lookup_import  # noqa: E402

ROWS = 100_000
TABLE = "SYSPRO stock code → Xero account code"


def build_file() -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["table", "key", "value"])
    for n in range(ROWS):
        sheet.append([TABLE, f"STK-{n:06d}-Ü", str(200 + n % 700)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parse_floor(content: bytes) -> float:
    started = time.perf_counter()
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    count = sum(1 for _ in book.active.iter_rows(values_only=True))
    book.close()
    assert count == ROWS + 1
    return time.perf_counter() - started


def main() -> None:
    call_command("migrate", verbosity=0)
    LookupTable.objects.filter(name=TABLE).delete()
    LookupTable.objects.create(name=TABLE)
    content = build_file()
    floor = min(parse_floor(content) for _ in range(2))

    started = time.perf_counter()
    dry = lookup_import(content=content, file_format="xlsx", dry_run=True)
    dry_run_s = time.perf_counter() - started
    assert not dry.has_validation_errors() and dry.totals["new"] == ROWS

    started = time.perf_counter()
    done = lookup_import(content=content, file_format="xlsx", dry_run=False)
    import_s = time.perf_counter() - started
    assert not done.has_validation_errors()
    assert LookupEntry.objects.filter(table__name=TABLE).count() == ROWS
    history_records = LookupEntry.history.filter(table__name=TABLE, history_type="+").count()
    assert history_records == ROWS

    total = dry_run_s + import_s
    print(f"dry run {dry_run_s:.2f}s, import {import_s:.2f}s, parse floor {floor:.2f}s")
    print(
        json.dumps(
            {
                "rows": ROWS,
                "dry_run_s": round(dry_run_s, 3),
                "import_s": round(import_s, 3),
                "total_s": round(total, 3),
                "parse_floor_s": round(floor, 3),
                "vs_floor": round(total / floor, 2),
                "history_records": history_records,
            }
        )
    )


if __name__ == "__main__":
    main()
