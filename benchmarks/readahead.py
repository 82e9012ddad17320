"""Reading a source's next page while the current one is stored and sent: time saved.

The tests (tests/clarity/sync/test_readahead.py) prove the order of pages, the
read ahead, errors and clean stops with events, never timing; this measures
what it buys. Each of PAGES pages takes SOURCE_MS to read (a sleep, as a socket
wait releases the GIL) and WORK_MS to store and send, read one after the other
and then through ``ReadAhead``. With both equal the read-ahead run should take
about half the time (``speedup`` near 2).

Run with ``bash .ci/bench readahead [PAGES [SOURCE_MS [WORK_MS]]]``. The last line is JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")

import django

django.setup()

from clarity.sync.readahead import ReadAhead  # noqa: E402

PAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 50
SOURCE_MS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
WORK_MS = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0


def pages() -> Iterator[int]:
    for n in range(PAGES):
        time.sleep(SOURCE_MS / 1000)
        yield n


def work(page: int) -> None:
    time.sleep(WORK_MS / 1000)


def timed(run: object) -> float:
    started = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - started


def sequential() -> None:
    for page in pages():
        work(page)


def read_ahead() -> None:
    with ReadAhead(pages()) as ahead:
        for page in ahead:
            work(page)


def main() -> None:
    plain, ahead = timed(sequential), timed(read_ahead)
    print(json.dumps({
        "pages": PAGES, "source_ms": SOURCE_MS, "work_ms": WORK_MS,
        "sequential_s": round(plain, 3), "read_ahead_s": round(ahead, 3),
        "speedup": round(plain / ahead, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
