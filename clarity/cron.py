"""Cron expressions, checked with croniter — the parser RQ's scheduler itself uses."""

from __future__ import annotations

from croniter import croniter
from django.core.exceptions import ValidationError


def validate_cron(expression: str) -> None:
    if not croniter.is_valid(expression.strip()):
        raise ValidationError(
            f"'{expression}' is not a valid cron expression. Use five fields: minute hour "
            "day-of-month month day-of-week, e.g. '*/15 * * * *' for every 15 minutes."
        )
