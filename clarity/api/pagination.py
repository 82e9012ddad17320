"""Paging the ledger and the runs at a million rows."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Newest first by id: each page is one range scan of an index ending in -id.

    A cursor never counts the rows and never skips an OFFSET, so page 5,000
    costs what page 1 does, and rows arriving meanwhile do not shift pages.
    """

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
