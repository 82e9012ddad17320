"""Run history: counts, live progress while a run works, and the way into its ledger rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from clarity.models import SyncRun
from clarity.pagination import EstimatedCountPaginator


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "flow",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "progress",
        "succeeded_count",
        "skipped_count",
        "failed_count",
    )
    list_filter = ("status", "trigger")
    list_select_related = ("flow__pair",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # The change page reloads itself every few seconds while the run is queued or running.
    change_form_template = "admin/clarity/syncrun/change_form.html"
    fields = (
        ("flow", "trigger", "status"),
        ("created_at", "started_at", "finished_at"),
        "progress",
        ("succeeded_count", "skipped_count", "failed_count"),
        "message",
        "ledger_records",
    )
    readonly_fields = ("created_at", "progress", "ledger_records")

    @admin.display(description="done / read")
    def progress(self, run: SyncRun) -> str:
        return format_html(
            '{} / {} <progress value="{}" max="{}"></progress>',
            run.done_count,
            run.total_count,
            run.done_count,
            max(run.total_count, 1),
        )

    @admin.display(description="Ledger")
    def ledger_records(self, run: SyncRun) -> str:
        url = reverse("admin:clarity_syncrecord_changelist")
        return format_html(
            '<a href="{}?run={}">Ledger records of this run</a> · '
            '<a href="{}?run={}&amp;status=failed">its failures</a>',
            url,
            run.pk,
            url,
            run.pk,
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
