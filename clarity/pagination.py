"""Pagination that never counts a million rows.

Django's admin asks the paginator for a count on every page view. Here the
planner's estimate answers when it is large (a count of a big table costs more
than the page itself), and an exact count when the estimate is small enough
to be cheap, so a search or a narrow filter still shows the true number.
"""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_BELOW = 10_000


def planner_estimate(queryset) -> int | None:  # type: ignore[no-untyped-def]
    """Rows PostgreSQL expects the query to return, or None elsewhere."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        estimate = planner_estimate(self.object_list)
        if estimate is None or estimate < EXACT_COUNT_BELOW:
            return super().count
        return estimate
