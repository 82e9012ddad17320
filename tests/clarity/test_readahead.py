"""Reading a page ahead: same pages in the same order, errors where they are read, clean stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from clarity.sync.readahead import ReadAhead
from connectors.errors import ConnectorError, ErrorKind


def test_pages_come_in_order_and_the_next_is_read_meanwhile():
    asked: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(5):
            asked.append(n)
            yield n

    seen = []
    with ReadAhead(pages()) as ahead:
        for page in ahead:
            time.sleep(0.05)  # storing and sending this page
            seen.append((page, max(asked)))
    assert [page for page, _ in seen] == [0, 1, 2, 3, 4]
    assert all(read >= min(page + 1, 4) for page, read in seen)  # one ahead, no more


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
