"""Validate runs in the admin: the "Validate" buttons, the runs, and each run's report.

The report is a changelist like the ledger's: filtered by outcome, error code and what
changed since the previous run, searched by exact key, with the counts per outcome on
top and the ledger's streaming CSV/XLSX export. Seeing it takes the view permission of
validate records (as the ledger's); starting a run takes ``clarity.validate_flow``.
"""

from __future__ import annotations

import json
from typing import Any

import redis.exceptions
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from clarity.admin.exports import ExportMixin
from clarity.models import Flow, IntegrationPair, ValidateRecord, ValidateRun
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.validation import (
    VALIDATE_HEADERS,
    validate_outcome_counts,
    validate_records_export_rows,
    validate_run_counts,
    validate_run_summary,
)
from clarity.services.golive import validate_records_acknowledge
from clarity.services.validation import validate_pair_start, validate_run_start

QUEUE_DOWN = (
    "The validate run is saved, but the job queue (Redis) is unreachable; "
    "start it again once Redis is back."
)


def report_url(run_id: int, **filters: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"run": str(run_id), **filters}.items())
    return f"{reverse('admin:clarity_validaterecord_changelist')}?{query}"


class _ReadOnly:
    """A report is what a run found: nobody adds, edits or deletes its rows by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ValidateRun)
class ValidateRunAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "created_at",
        "started_by",
        "total_count",
        "would_create_count",
        "would_update_count",
        "unchanged_count",
        "would_skip_count",
        "would_fail_count",
        "report",
    )
    list_filter = ("flow__pair", "flow", "status")
    list_select_related = ("flow", "started_by")
    fields = (
        ("flow", "status", "started_by"),
        ("created_at", "started_at", "finished_at"),
        "message",
        "mapping_version",
        "counts",
        "since_previous",
        "report",
    )
    readonly_fields = ("counts", "since_previous", "report")

    @admin.display(description="Report")
    def report(self, run: ValidateRun) -> str:
        return format_html('<a href="{}">{} records</a>', report_url(run.pk), run.total_count)

    @admin.display(description="Counts per outcome")
    def counts(self, run: ValidateRun) -> str:
        return _count_links(run.pk, validate_run_counts(run=run))

    @admin.display(description="Since the previous run")
    def since_previous(self, run: ValidateRun) -> str:
        return validate_run_summary(run=run) or "The flow's first validate run."

    def get_urls(self) -> list[URLPattern]:
        def view(func: Any, route: str, name: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(require_POST(func)), name=name)

        own = [
            view(self.flow_start_view, "flow/<int:flow_id>/start/", "clarity_validaterun_flow"),
            view(self.pair_start_view, "pair/<int:pair_id>/start/", "clarity_validaterun_pair"),
        ]
        return [*own, *super().get_urls()]

    def _may_start(self, request: HttpRequest) -> None:
        if not request.user.has_perm("clarity.validate_flow"):
            raise PermissionDenied

    def flow_start_view(self, request: HttpRequest, flow_id: int) -> HttpResponse:
        self._may_start(request)
        flow = get_object_or_404(Flow.objects.select_related("pair"), pk=flow_id)
        try:
            run = validate_run_start(flow=flow, user=request.user)
        except redis.exceptions.RedisError:
            self.message_user(request, QUEUE_DOWN, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:clarity_flow_change", args=[flow.pk]))
        self.message_user(
            request,
            format_html(
                'Validate run <a href="{}">#{}</a> of “{}” is queued: it reads every record and '
                "writes nothing to {}.",
                reverse("admin:clarity_validaterun_change", args=[run.pk]),
                run.pk,
                flow.name,
                flow.target_connection.name,
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:clarity_validaterun_change", args=[run.pk]))

    def pair_start_view(self, request: HttpRequest, pair_id: int) -> HttpResponse:
        self._may_start(request)
        pair = get_object_or_404(IntegrationPair, pk=pair_id)
        try:
            runs = validate_pair_start(pair=pair, user=request.user)
        except redis.exceptions.RedisError:
            self.message_user(request, QUEUE_DOWN, messages.WARNING)
            runs = []
        if runs:
            self.message_user(
                request,
                f"{len(runs)} validate run(s) queued, one per flow of “{pair.name}”; "
                "they write nothing to either system.",
                messages.SUCCESS,
            )
        elif not Flow.objects.filter(pair=pair).exists():
            self.message_user(request, f"“{pair.name}” has no flows to validate.", messages.ERROR)
        listing = reverse("admin:clarity_validaterun_changelist")
        return HttpResponseRedirect(f"{listing}?flow__pair__id__exact={pair.pk}")


def _count_links(run_id: int, counts: dict[str, int]) -> str:
    labels = dict(ValidateRecord._meta.get_field("outcome").flatchoices)
    return format_html(
        '<ul class="validate-counts">{}</ul>',
        format_html_join(
            "",
            '<li><a href="{}">{}: {}</a></li>',
            (
                (report_url(run_id, outcome=outcome), labels[outcome], number)
                for outcome, number in counts.items()
            ),
        ),
    )


class ValidateChangeList(ChangeList):
    """The list never reads payloads: only the record page shows them."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .defer("transformed_payload", "differences")
        )


class ErrorCodeFilter(admin.SimpleListFilter):
    """The codes of the run on screen (a report holds a handful)."""

    title = "error code"
    parameter_name = "code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        records = ValidateRecord.objects.exclude(error_code="")
        run = request.GET.get("run", "")
        if run.isdigit():
            records = records.filter(run_id=int(run))
        codes = records.order_by("error_code").values_list("error_code", flat=True).distinct()
        return [(code, code) for code in codes[:200]]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(error_code=self.value()) if self.value() else queryset


class AcknowledgeActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        label="Note",
        widget=forms.TextInput(
            attrs={"size": 40, "placeholder": "Why it may fail at go-live (needed to acknowledge)"}
        ),
    )


@admin.register(ValidateRecord)
class ValidateRecordAdmin(_ReadOnly, ExportMixin, admin.ModelAdmin):
    action_form = AcknowledgeActionForm
    actions = ("acknowledge_selected",)
    list_display = (
        "outcome",
        "short_message",
        "error_code",
        "business_key",
        "source_id",
        "part",
        "target_id",
        "since_previous",
        "acknowledged",
    )
    list_display_links = ("outcome", "source_id")
    list_filter = ("outcome", ErrorCodeFilter, "since_previous")
    list_select_related = False
    search_fields = ("=source_id", "=business_key", "=target_id")
    search_help_text = "Exact source id, business key or target id (e.g. 0000042)."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    change_list_template = "admin/clarity/validaterecord/change_list.html"
    export_name = "validate-report"
    fieldsets = (
        (
            "Verdict",
            {
                "fields": (
                    ("outcome", "since_previous"),
                    ("error_kind", "error_code"),
                    "message",
                    "difference",
                )
            },
        ),
        ("Record", {"fields": (("run", "source_id", "part"), ("business_key", "target_id"))}),
        ("Would send", {"fields": ("payload",)}),
        (
            "Acknowledged",
            {"fields": (("acknowledged_by", "acknowledged_at"), "acknowledged_note")},
        ),
    )
    readonly_fields = ("difference", "payload")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ValidateChangeList

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        """Whoever may validate a flow may accept its would-fail records for go-live."""
        return request.user.has_perm("clarity.validate_flow")

    @admin.action(
        description="Acknowledge selected would-fail records (with note)",
        permissions=["acknowledge"],
    )
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        """The go-live checklist accepts a would-fail record once it is acknowledged."""
        try:
            done = validate_records_acknowledge(
                records=queryset, note=request.POST.get("note", ""), user=request.user
            )
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
            return
        self.message_user(
            request,
            f"{done} would-fail record(s) acknowledged; the pair's go-live checklist counts "
            "them as accepted.",
            messages.SUCCESS,
        )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """``?run=<id>``: a run's page links to its report."""
        return lookup == "run" or super().lookup_allowed(lookup, value, request)

    def get_urls(self) -> list[URLPattern]:
        return [*self.export_urls(), *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run_id = request.GET.get("run", "")
        run = ValidateRun.objects.filter(pk=int(run_id)).first() if run_id.isdigit() else None
        extra = {"validate_run": run, "validate_summary": ""}
        if run is not None:
            extra["validate_counts"] = _count_links(run.pk, validate_run_counts(run=run))
            extra["validate_summary"] = validate_run_summary(run=run)
        response = super().changelist_view(request, {**(extra_context or {}), **extra})
        if run is None and hasattr(response, "context_data") and "cl" in response.context_data:
            # No run chosen: the counts of what the filters select.
            records = response.context_data["cl"].queryset
            counts = validate_outcome_counts(records=records)
            response.context_data["validate_counts"] = format_html_join(
                "", "<li>{}: {}</li>", ((outcome, n) for outcome, n in counts.items())
            )
        return response

    def export_rows(self, request: HttpRequest, changelist: ChangeList) -> tuple[Any, Any]:
        return VALIDATE_HEADERS, validate_records_export_rows(records=changelist.queryset)

    @admin.display(description="Message")
    def short_message(self, record: ValidateRecord) -> str:
        first = record.message.splitlines()[0] if record.message else ""
        return format_html('<span title="{}">{}</span>', record.message, first[:120])

    @admin.display(description="Acknowledged", boolean=True)
    def acknowledged(self, record: ValidateRecord) -> bool:
        return bool(record.acknowledged_at)

    @admin.display(description="Difference from the twin")
    def difference(self, record: ValidateRecord) -> str:
        if not record.differences:
            return "—"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td><code>{}</code></td><td><code>{}</code></td></tr>",
            (
                (name, _shown(change.get("held")), _shown(change.get("sent")))
                for name, change in sorted(record.differences.items())
            ),
        )
        return format_html(
            '<table class="validate-diff"><thead><tr><th>Field</th><th>In the target now</th>'
            "<th>Would be sent</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Record as it would be sent")
    def payload(self, record: ValidateRecord) -> str:
        if record.transformed_payload is None:
            return "—"
        text = json.dumps(record.transformed_payload, indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)


def _shown(value: Any) -> str:
    return "(empty)" if value in (None, "") else json.dumps(value, ensure_ascii=False)
