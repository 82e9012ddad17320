"""The audit trail: who changed which record, mapping or lookup, and when; read and export.

The page lists people's changes to the ledger (clarity.models.AuditEvent); its
export adds, for the same period and person, every change of a mapping or a
lookup (their django-simple-history rows), so an auditor gets one file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from clarity.admin.exports import ExportMixin
from clarity.models import AuditEvent
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.exports import AUDIT_HEADERS, audit_trail_rows

# Filters that only ledger changes have: with one of them chosen, configuration is left out.
LEDGER_ONLY_FILTERS = ("action", "action__exact", "record", "flow", "flow__id__exact")


def _moment(text: str | None) -> datetime | None:
    """A date filter's bound (``2026-12-01`` or a full time) as an aware time; None if absent."""
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            return None
        moment = datetime(day.year, day.month, day.day)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@admin.register(AuditEvent)
class AuditEventAdmin(ExportMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "action", "record", "flow")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter), "user")
    list_select_related = ("user", "record", "flow__pair")
    ordering = ("-created_at", "-id")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    raw_id_fields = ("record", "flow")
    readonly_fields = ("created_at", "user", "action", "flow", "record", "detail")
    export_name = "audit-trail"

    def get_urls(self) -> list[Any]:
        return [*self.export_urls(), *super().get_urls()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def export_rows(self, request: HttpRequest, changelist: ChangeList) -> tuple[Any, Any]:
        """The listed changes, and the configuration's in the same period and by the same user."""
        params = request.GET
        return AUDIT_HEADERS, audit_trail_rows(
            events=changelist.queryset,
            configuration=not any(params.get(name) for name in LEDGER_ONLY_FILTERS),
            since=_moment(params.get("created_at__gte")),
            until=_moment(params.get("created_at__lt")),
            user_id=params.get("user__id__exact") or None,
        )
