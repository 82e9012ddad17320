"""Reading a page ahead: same pages in the same order, errors where they are read, clean stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from clarity.sync.readahead import ReadAhead
from connectors.errors import ConnectorError, ErrorKind


def test_pages_come_in_order_and_the_next_is_read_meanwhile():
    """While the run holds page n, the source is asked for page n + 1 without waiting for it.

    Events, not sleeps: the test waits for the read ahead to happen (a bound only
    for a failure), so a slow machine cannot fail it or let it pass by luck.
    """
    asked = [threading.Event() for _ in range(5)]

    def pages() -> Iterator[int]:
        for n in range(5):
            asked[n].set()
            yield n

    seen = []
    with ReadAhead(pages()) as ahead:
        for page in ahead:
            if page + 1 < len(asked):  # storing and sending this page, the next is read
                assert asked[page + 1].wait(timeout=30), f"page {page + 1} not read ahead"
            seen.append(page)
    assert seen == [0, 1, 2, 3, 4]


def test_a_failure_is_raised_where_its_page_would_be_read():
    def pages() -> Iterator[int]:
        yield 1
        raise ConnectorError(ErrorKind.AUTH, "unauthorized", "Login refused.")

    got = []
    with pytest.raises(ConnectorError) as caught, ReadAhead(pages()) as ahead:
        for page in ahead:
            got.append(page)
    assert got == [1] and caught.value.kind is ErrorKind.AUTH


def test_stopping_early_ends_the_thread_without_reading_on():
    asked: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(1000):
            asked.append(n)
            yield n

    before = threading.active_count()
    with ReadAhead(pages()) as ahead:
        for page in ahead:
            if page == 2:
                break
    assert threading.active_count() == before
    assert max(asked) <= 4
