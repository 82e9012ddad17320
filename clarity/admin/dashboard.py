"""The health dashboard: a read-only admin page over clarity.selectors.health.

Operators and consultants watch it; finance users may open it too (read-only,
like all of it) because it summarises runs and the ledger they already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from clarity.models import HealthDashboard
from clarity.selectors.health import (
    HEALTH_PERMISSIONS,
    HourCount,
    agents_health,
    pairs_health,
    subscribers_health,
    workers_alive,
)

CHART_WIDTH = 840
CHART_HEIGHT = 120


@dataclass(frozen=True)
class Bar:
    """One hour of the chart, in SVG units: the records bar with the failures bar over it."""

    hour: datetime
    records: int
    failures: int
    x: float
    width: float
    records_y: float
    records_height: float
    failures_y: float
    failures_height: float
    day_starts: bool


def chart_bars(hourly: list[HourCount]) -> list[Bar]:
    """Lay the hours out as bars, scaled to the busiest hour, so the page needs no JS library."""
    if not hourly:
        return []
    peak = max(h.records for h in hourly) or 1
    width = CHART_WIDTH / len(hourly)

    def height(n: int) -> float:
        return round(CHART_HEIGHT * n / peak, 2)

    return [
        Bar(
            hour=h.hour,
            records=h.records,
            failures=h.failures,
            x=round(i * width, 2),
            width=round(width * 0.8, 2),
            records_y=CHART_HEIGHT - height(h.records),
            records_height=height(h.records),
            failures_y=CHART_HEIGHT - height(h.failures),
            failures_height=height(h.failures),
            day_starts=h.hour.hour == 0,
        )
        for i, h in enumerate(hourly)
    ]


@admin.register(HealthDashboard)
class HealthDashboardAdmin(admin.ModelAdmin):
    """The dashboard stands in for the changelist; there is nothing to add, change or delete."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.has_perms(HEALTH_PERMISSIONS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Health dashboard",
            "opts": self.opts,
            "pairs": [(pair, chart_bars(pair.hourly)) for pair in pairs_health()],
            "workers_alive": workers_alive(),
            "subscribers": subscribers_health(),
            "agents": agents_health(),
            "chart_width": CHART_WIDTH,
            "chart_height": CHART_HEIGHT,
            "time_zone": settings.TIME_ZONE,
        }
        return TemplateResponse(request, "admin/clarity/dashboard.html", context)
