"""Numbers as a finance user reads them on the admin pages."""

from __future__ import annotations

from collections.abc import Mapping

from django import template

register = template.Library()


@register.simple_tag
def failure_rate(outcomes: Mapping[str, int]) -> str:
    """Failed of all outcomes (``{"succeeded": n, "failed": n, ...}``), never "0%" if any failed.

    Whole percents hid two failures among 500 as "0%"; small rates get a
    decimal, and below 0.1% the rate says so rather than rounding to nothing.
    """
    failed, finished = outcomes.get("failed", 0), sum(outcomes.values())
    if not finished:
        return "—"
    percent = 100 * failed / finished
    if failed and percent < 0.1:
        return "<0.1%"
    if failed < finished and percent > 99.9:
        return ">99.9%"
    return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.1f}%"
