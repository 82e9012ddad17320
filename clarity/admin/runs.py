"""Run history: counts, live progress while a run works, and the way into its ledger rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from clarity.models import SyncRun, Trigger
from clarity.pagination import EstimatedCountPaginator


def run_known_total(run: SyncRun) -> int | None:
    """How many records the run has to do, where that is known; None where it is not.

    A retry run sends a known set of ledger rows (it does not read the
    source), so it can say "40 of 100". A run reading a source knows once the
    source said how many records its read yields (Salesforce's ``totalSize``,
    Xero's ``itemCount``: the pipeline keeps it as ``expected_total``). Other
    sources (KashFlow, SYSPRO) are learnt page by page, so their runs show
    counts so far, never a bar that is always full. Never less than what is
    done: records that arrive while the run reads count too.
    """
    if run.trigger == Trigger.RETRY:
        return run.total_count or None
    if run.expected_total is None:
        return None
    return max(run.expected_total, run.done_count) or None


def run_total_known(run: SyncRun) -> bool:
    """Whether the run knows how many records it has to do (see ``run_known_total``)."""
    return run_known_total(run) is not None


def run_progress_html(run: SyncRun) -> str:
    """Where the run stands, in words (and a bar when the total is known)."""
    counts = format_html(
        "{} succeeded, {} skipped, {} failed",
        run.succeeded_count,
        run.skipped_count,
        run.failed_count,
    )
    total = run_known_total(run)
    if total is not None:
        return format_html(
            '{} of {} done <progress value="{}" max="{}"></progress> ({})',
            run.done_count,
            total,
            run.done_count,
            total,
            counts,
        )
    if run.active:
        return format_html(
            "{} done of {} read so far; the source does not say how many more there are ({})",
            run.done_count,
            run.total_count,
            counts,
        )
    return format_html("{} done of {} read ({})", run.done_count, run.total_count, counts)


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
    )
    list_filter = ("status", "trigger")
    list_select_related = ("flow__pair",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # While the run is queued or running, its page asks progress_view every few
    # seconds and redraws the progress line (static/clarity/run_progress.js).
    change_form_template = "admin/clarity/syncrun/change_form.html"
    fields = (
        ("flow", "trigger", "status"),
        ("created_at", "started_at", "finished_at"),
        "progress",
        "reads",
        ("succeeded_count", "skipped_count", "failed_count"),
        "message",
        "ledger_records",
    )
    readonly_fields = ("created_at", "progress", "reads", "ledger_records")

    def get_urls(self) -> list[URLPattern]:
        progress = self.admin_site.admin_view(self.progress_view)
        return [
            path("<path:object_id>/progress/", progress, name="clarity_syncrun_progress"),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """The progress line as the page shows it, for the page to refresh itself."""
        run = self.get_object(request, object_id)
        if run is None or not self.has_view_permission(request, run):
            raise PermissionDenied
        return JsonResponse(
            {
                "active": run.active,
                "status": run.get_status_display(),
                "done": run.done_count,
                # The known total (retry, or as the source said), else what was read so far.
                "total": run_known_total(run) or run.total_count,
                "total_known": run_total_known(run),
                "progress_html": run_progress_html(run),
            }
        )

    @admin.display(description="progress")
    def progress(self, run: SyncRun) -> str:
        return format_html('<span class="run-progress">{}</span>', run_progress_html(run))

    @admin.display(description="Reads")
    def reads(self, run: SyncRun) -> str:
        """What the run reads: the records events named (a targeted run), or the changes."""
        if run.trigger == Trigger.RETRY:
            return "The ledger records chosen to be sent again (the source is not read)."
        if run.target_ids is None:
            return "Every change since the flow's cursor."
        by = f" by {run.target_field}" if run.target_field else ""
        shown = ", ".join(run.target_ids[:20])
        more = f" and {len(run.target_ids) - 20} more" if len(run.target_ids) > 20 else ""
        return f"Only the {len(run.target_ids)} records events named{by}: {shown}{more}."

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

    class Media:
        js = ("clarity/run_progress.js",)
