"""Reading a source's next page while the current one is stored and sent.

Why: a page of 1,000 SYSPRO customers took the source (its sandbox, or the
real e.net server) about as long to answer as the sync core took to store,
transform and deliver the page before it, and the worker sat idle while it
did. Asking for the next page from a thread overlaps the two; waiting on a
socket releases the GIL, so the thread costs the worker next to nothing.

Only the thread touches the source connector until ``close()`` has joined
it (a connector reading its tokens does so on the thread's own database
connection, so it sees committed data only), and the pages come out in
order: what the run stores, and when the cursor moves, is as without it. At
most one page is read ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from django.db import connections

T = TypeVar("T")

_END = object()


class ReadAhead(Generic[T]):
    """Iterate ``pages`` one item ahead in a thread; use as a context manager."""

    def __init__(self, pages: Iterator[T]) -> None:
        self._pages = pages
        self._ready: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._ready.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading ahead and wait for a read in flight, so the source can be closed."""
        self._stop.set()  # a thread waiting to hand a page over sees it within 0.1 s
        self._thread.join()

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put(page):
                    return
        except BaseException as exc:  # handed to the consumer, raised where it reads
            self._put(_Failure(exc))
            return
        finally:
            # A connector may read its tokens from the database, on this thread's own
            # connection: closed with the thread, as the lease keeper's is.
            connections.close_all()
        self._put(_END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
