"""Reconciliation in the admin: runs with counts per kind, findings with their records, the
XLSX/CSV export, "Acknowledge with a note", and the settings and nightly schedules. A thin
face over clarity.services.reconciliation and clarity.selectors.reconciliation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from clarity.admin.exports import ExportMixin
from clarity.models import (
    ReconciliationFinding,
    ReconciliationRun,
    ReconciliationSchedule,
    ReconciliationSetting,
)
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.reconciliation import (
    FINDING_HEADERS,
    reconciliation_export_rows,
    reconciliation_kind_counts,
)
from clarity.services.reconciliation import (
    SETTING_FIELDS,
    reconciliation_findings_acknowledge,
    reconciliation_run_start,
    reconciliation_schedule_save,
    reconciliation_setting_check,
    reconciliation_setting_save,
)


def _findings_url(**filters: Any) -> str:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"{reverse('admin:clarity_reconciliationfinding_changelist')}?{query}"


class StartForm(forms.ModelForm):
    class Meta:
        model = ReconciliationRun
        fields = ("pair",)
        help_texts = {"pair": "Both systems of this pair are read and compared now, read-only."}


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    """A run's page shows what it found per kind, each a link to those findings. "Add" is
    "Reconcile now": it queues a run of the chosen pair (or shows the one already queued)."""

    list_display = ("id", "pair", "trigger", "status", "started_at", "finished_at", "found")
    list_filter = ("status", "trigger", "pair")
    list_select_related = ("pair",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = (
        "pair", "trigger", "requested_by", "status", "created_at", "started_at", "finished_at",
        "source_records", "target_records", "twins_compared", "findings_count", "message",
        "per_kind",
    )  # fmt: skip

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = StartForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("pair",) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.run_reconciliation")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        run = reconciliation_run_start(pair=form.cleaned_data["pair"], user=request.user)
        obj.pk = run.pk

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        self.message_user(
            request,
            f"Reconciliation #{obj.pk} of {obj.pair} is queued; this page shows what it finds.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:clarity_reconciliationrun_change",
                                            args=[obj.pk]))  # fmt: skip

    @admin.display(description="found")
    def found(self, obj: ReconciliationRun) -> str:
        if not obj.findings_count:
            return "—"
        return format_html('<a href="{}">{}</a>', _findings_url(run__id__exact=obj.pk),
                           obj.findings_count)  # fmt: skip

    @admin.display(description="what was found")
    def per_kind(self, obj: ReconciliationRun) -> str:
        counts = reconciliation_kind_counts(run=obj)
        if not counts:
            return "Nothing: the two systems agree." if obj.finished_at else "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}: {}</a> ({} not acknowledged)</li>',
                (
                    (_findings_url(run__id__exact=obj.pk, kind__exact=kind), label, n, still)
                    for kind, label, n, still in counts
                ),
            ),
        )


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not yet"), ("yes", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: fixed in Xero, expected (e.g. a credit note raised there), or who is "
        "looking at it. Kept with each finding and in the audit trail.",
    )


@admin.register(ReconciliationFinding)
class ReconciliationFindingAdmin(ExportMixin, admin.ModelAdmin):
    export_name = "reconciliation"
    change_list_template = "admin/clarity/reconciliationfinding/change_list.html"
    list_display = (
        "kind", "flow", "period", "business_key", "source_id", "target_id", "source_value",
        "target_value", "ledger", "acknowledged_at",
    )  # fmt: skip
    list_filter = ("kind", AcknowledgedFilter, "flow", "run")
    list_select_related = ("flow",)
    search_fields = ("=business_key", "=source_id", "=target_id")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ("acknowledge",)
    fields = (
        ("run", "flow", "kind"), "period", ("source_value", "target_value"),
        ("business_key", "source_id", "target_id"), "ledger", "differences", "message",
        ("acknowledged_at", "acknowledged_by"), "acknowledged_note",
    )  # fmt: skip
    readonly_fields = ("ledger", "differences")

    def get_urls(self) -> list[Any]:
        return [*self.export_urls(), *super().get_urls()]

    def export_rows(self, request: HttpRequest, changelist: ChangeList) -> tuple[Any, Any]:
        return FINDING_HEADERS, reconciliation_export_rows(findings=changelist.queryset)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.acknowledge_reconciliationfinding")

    @admin.display(description="ledger record")
    def ledger(self, obj: ReconciliationFinding) -> str:
        if obj.record_id is None:
            return "—"
        url = reverse("admin:clarity_syncrecord_change", args=[obj.record_id])
        return format_html('<a href="{}">#{}</a>', url, obj.record_id)

    @admin.display(description="fields that differ")
    def differences(self, obj: ReconciliationFinding) -> str:
        if not obj.field_diff:
            return "—"
        return format_html(
            "<table><tr><th>field</th><th>the mapping makes</th><th>the target holds</th></tr>"
            "{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                ((d.get("field"), d.get("source"), d.get("target")) for d in obj.field_diff),
            ),
        )

    @admin.action(description="Acknowledge with a note", permissions=["acknowledge"])
    def acknowledge(
        self, request: HttpRequest, queryset: QuerySet[ReconciliationFinding]
    ) -> HttpResponse | None:
        form = NoteForm(request.POST if "note" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                count = reconciliation_findings_acknowledge(
                    findings=queryset, note=form.cleaned_data["note"], user=request.user
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None
            self.message_user(
                request,
                f"{count} finding(s) acknowledged"
                + (f"; {queryset.count() - count} already were." if queryset.count() > count
                   else "."),
                messages.SUCCESS,
            )  # fmt: skip
            return None
        return TemplateResponse(
            request,
            "admin/clarity/reconciliationfinding/acknowledge.html",
            {
                **self.admin_site.each_context(request),
                "title": "Acknowledge findings with a note",
                "opts": self.model._meta,
                "form": form,
                "findings": queryset[:50],
                "count": queryset.count(),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            },
        )


class SettingForm(forms.ModelForm):
    class Meta:
        model = ReconciliationSetting
        fields = ("flow", *SETTING_FIELDS)


@admin.register(ReconciliationSetting)
class ReconciliationSettingAdmin(admin.ModelAdmin):
    """Saved through the service, which checks the fields against both connectors."""

    form = SettingForm
    list_display = ("flow", "enabled", "period", "source_amount_field", "target_amount_field")
    list_select_related = ("flow__pair",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("flow",) if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, **kwargs)

        class Checked(form_class):  # type: ignore[misc, valid-type]
            """The service's check of the fields against both connectors, as field errors."""

            def clean(self) -> dict[str, Any]:
                cleaned = super().clean() or {}
                flow = cleaned.get("flow") or (obj.flow if obj is not None else None)
                if self.errors or flow is None:
                    return cleaned
                probe = ReconciliationSetting(flow=flow, **{
                    name: cleaned[name] for name in SETTING_FIELDS if name in cleaned
                })  # fmt: skip
                for field, message in reconciliation_setting_check(setting=probe).items():
                    self.add_error(field if field in self.fields else None, message)
                return cleaned

        return Checked

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Through the service: audited, and the pair gets its nightly schedule."""
        data = {name: form.cleaned_data[name] for name in SETTING_FIELDS}
        saved = reconciliation_setting_save(flow=obj.flow, data=data, user=request.user)
        obj.pk = saved.pk


@admin.register(ReconciliationSchedule)
class ReconciliationScheduleAdmin(admin.ModelAdmin):
    list_display = ("pair", "enabled", "at", "job_id")
    fields = ("pair", "enabled", "at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("pair",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Through the service: audited, and the nightly job follows once committed."""
        saved = reconciliation_schedule_save(
            pair=obj.pair,
            data={"enabled": obj.enabled, "at": obj.at},
            user=request.user,
        )
        obj.pk = saved.pk
