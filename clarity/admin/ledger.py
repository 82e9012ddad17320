"""The ledger as finance users see it: filter, search, read, fix, retry, resolve.

Built for a million rows: no full count, no DISTINCT over the table, one
query for the page's rows (see clarity/pagination.py and selectors/ledger.py).
What a finance user changes goes through clarity.services (runs, ledger),
which audit it; the detail page shows that audit trail.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from clarity.models import Flow, IntegrationPair, SyncRecord
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.ledger import flow_labels, ledger_error_codes, ledger_search
from clarity.services.ledger import ASSIGNABLE, ledger_records_assign, ledger_records_resolve
from clarity.services.runs import (
    RETRYABLE,
    ledger_record_edit_and_retry,
    ledger_records_ignore,
    ledger_records_retry,
    ledger_records_retry_code,
)


class LedgerChangeList(ChangeList):
    """The list never reads payloads: they are large and only the detail page shows them."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .defer("source_payload", "transformed_payload", "target_response", "payload_override")
        )


class _ChoiceFilter(admin.SimpleListFilter):
    """A sidebar filter on one column whose choices come from a small query."""

    field: str

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class PairFilter(_ChoiceFilter):
    title = "pair"
    parameter_name = field = "pair"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in IntegrationPair.objects.values_list("pk", "name")]


class FlowFilter(_ChoiceFilter):
    title = "flow"
    parameter_name = field = "flow"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), label) for pk, label in flow_labels().items()]


class ErrorCodeFilter(_ChoiceFilter):
    title = "error code"
    parameter_name = field = "error_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, code) for code in ledger_error_codes()]


class AssignedToMeFilter(admin.SimpleListFilter):
    title = "assigned"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(assigned_to=request.user) if self.value() == "me" else queryset


class ResolveActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        label="Note",
        widget=forms.TextInput(
            attrs={"size": 40, "placeholder": "Why (needed to resolve or ignore)"}
        ),
    )


class PayloadForm(forms.Form):
    """The record as the target should receive it; the service decides what is acceptable."""

    payload = forms.CharField(
        label="Corrected record for the target",
        widget=forms.Textarea(attrs={"rows": 18, "class": "vLargeTextField ledger-json"}),
    )

    def clean_payload(self) -> Any:
        try:
            return json.loads(self.cleaned_data["payload"])
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"This is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                "nothing was changed."
            ) from exc


class AssignForm(forms.Form):
    assigned_to = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, is_staff=True),
        required=False,
        empty_label="Nobody",
    )
    tags = forms.CharField(
        required=False, max_length=200, help_text="Comma-separated, e.g. vat, month-end."
    )


def _pretty(value: Any) -> str:
    if value in (None, "", {}, []):
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _initial_payload(record: SyncRecord) -> str:
    """What the form starts from: the last correction, else what was sent."""
    return json.dumps(
        record.payload_override or record.transformed_payload or {},
        indent=2,
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )


@admin.register(SyncRecord)
class SyncRecordAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "flow",
        "source_id",
        "business_key",
        "target_id",
        "status",
        "error_kind",
        "error_code",
        "short_message",
        "attempts",
        "assigned_to",
        "tags",
    )
    list_display_links = ("id", "source_id")
    # No joins in the page query: at page 500 PostgreSQL would join 50,000 skipped
    # rows. Flow and assignee names come from two small queries instead.
    list_select_related = False
    list_filter = (
        AssignedToMeFilter,
        PairFilter,
        FlowFilter,
        "status",
        "error_kind",
        ErrorCodeFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("source_id",)
    search_help_text = "Exact source id, target id or business key (e.g. INV-00042)."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    action_form = ResolveActionForm
    actions = (
        "retry_selected",
        "retry_error_codes",
        "ignore_selected",
        "resolve_selected",
        "assign_to_me",
    )
    change_form_template = "admin/clarity/syncrecord/change_form.html"
    fieldsets = (
        (
            "Outcome",
            {
                "fields": (
                    "status",
                    "problem",
                    ("error_kind", "error_code"),
                    ("attempts", "next_retry_at"),
                    "mapping_version_note",
                )
            },
        ),
        ("Who is on it", {"fields": (("assigned_to", "tags"),)}),
        (
            "Record",
            {
                "fields": (
                    ("flow", "pair", "run"),
                    ("source_id", "source_version"),
                    ("business_key", "target_id"),
                    "idempotency_key",
                    ("created_at", "updated_at"),
                )
            },
        ),
        ("Payloads", {"fields": ("payloads",)}),
        ("Resolution", {"fields": (("resolved_by", "resolved_at"), "resolution_note")}),
        ("Changes by people", {"fields": ("audit_trail",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRecord | None = None) -> Any:
        return [
            "problem",
            "payloads",
            "mapping_version_note",
            "audit_trail",
            *(f.name for f in SyncRecord._meta.fields if f.name != "id"),
        ]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """The detail page also shows the flow's current mapping version and the assignee."""
        queryset = self.get_queryset(request).select_related("flow__mapping", "assigned_to")
        return queryset.filter(pk=object_id).first() if str(object_id).isdigit() else None

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """``?run=<id>``: a run's page links to its records."""
        return lookup == "run" or super().lookup_allowed(lookup, value, request)

    def get_urls(self) -> list[URLPattern]:
        def view(func: Any, suffix: str) -> URLPattern:
            wrapped = self.admin_site.admin_view(func)
            return path(f"<path:object_id>/{suffix}/", wrapped, name=f"clarity_syncrecord_{suffix}")

        return [
            view(self.edit_payload_view, "edit_payload"),
            view(require_POST(self.assign_view), "assign"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        record = self.get_object(request, object_id)
        status = record.status if record is not None else None
        extra: dict[str, Any] = {}
        if status in RETRYABLE and self.has_retry_permission(request):
            extra["payload_form"] = PayloadForm(initial={"payload": _initial_payload(record)})
        if status in ASSIGNABLE and self.has_resolve_permission(request):
            extra["assign_form"] = AssignForm(
                initial={"assigned_to": record.assigned_to_id, "tags": record.tags}
            )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact matches on indexed keys: a LIKE over a million rows is never fast."""
        return ledger_search(records=queryset, term=search_term), False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.resolve_syncrecord")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.retry_syncrecord")

    def _record_for(self, request: HttpRequest, object_id: str, *, allowed: bool) -> SyncRecord:
        record = self.get_object(request, object_id)
        if record is None or not allowed or not self.has_view_permission(request, record):
            raise PermissionDenied
        return record

    def edit_payload_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Edit the payload and retry; a bad edit is shown again with its error, nothing changed."""
        record = self._record_for(request, object_id, allowed=self.has_retry_permission(request))
        form = PayloadForm(request.POST or None, initial={"payload": _initial_payload(record)})
        if request.method == "POST" and form.is_valid():
            try:
                ledger_record_edit_and_retry(
                    record=record, payload=form.cleaned_data["payload"], user=request.user
                )
            except ValidationError as exc:
                form.add_error("payload", exc)
            else:
                self.message_user(
                    request,
                    "The corrected record is saved and queued to be sent again.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:clarity_syncrecord_change", args=[record.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Edit the payload of {record} and retry",
            "opts": self.opts,
            "original": record,
            "payload_form": form,
        }
        return TemplateResponse(request, "admin/clarity/syncrecord/edit_payload.html", context)

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        record = self._record_for(request, object_id, allowed=self.has_resolve_permission(request))
        form = AssignForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Not changed: {form.errors.as_text()}", messages.ERROR)
        elif ledger_records_assign(
            records=SyncRecord.objects.filter(pk=record.pk),
            assignee=form.cleaned_data["assigned_to"],
            tags=form.cleaned_data["tags"],
            user=request.user,
        ):
            self.message_user(request, "Assignment and tags saved.", messages.SUCCESS)
        else:
            self.message_user(
                request, "Only failed records can be assigned or tagged.", messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:clarity_syncrecord_change", args=[record.pk]))

    @admin.display(description="message")
    def get_list_display(self, request: HttpRequest) -> Any:
        flows = flow_labels()
        users = dict(get_user_model().objects.filter(is_staff=True).values_list("pk", "username"))

        @admin.display(description="flow", ordering="flow")
        def flow(obj: SyncRecord) -> str:
            return flows.get(obj.flow_id, "")

        @admin.display(description="assigned to", ordering="assigned_to")
        def assigned_to(obj: SyncRecord) -> str:
            return users.get(obj.assigned_to_id, "")

        named = {"flow": flow, "assigned_to": assigned_to}
        return tuple(named.get(name, name) for name in self.list_display)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LedgerChangeList

    def short_message(self, obj: SyncRecord) -> str:
        return Truncator(obj.message).chars(90)

    @admin.display(description="Why")
    def problem(self, obj: SyncRecord) -> str:
        return obj.message or "—"

    @admin.display(description="Mapping version")
    def mapping_version_note(self, obj: SyncRecord) -> str:
        if obj.mapping_version is None:
            return "—"
        current = obj.flow.mapping.version if obj.flow.mapping else None
        if current is None or current == obj.mapping_version:
            return f"Transformed with version {obj.mapping_version} (the current one)."
        return format_html(
            "Transformed with version {}. <strong>The mapping has changed since: "
            "a retry will use version {}.</strong>",
            obj.mapping_version,
            current,
        )

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: SyncRecord) -> str:
        events = obj.audit_events.select_related("user").order_by("-id")
        rows = [
            (
                f"{localtime(e.created_at):%Y-%m-%d %H:%M:%S}",
                e.user.get_username() if e.user else "—",
                e.action.replace("_", " "),
                _pretty(e.detail.get("before")),
                # Ignores and retries keep a note or nothing: shown as what came after.
                _pretty(
                    e.detail.get("after", {k: v for k, v in e.detail.items() if k != "before"})
                ),
            )
            for e in events
        ]
        if not rows:
            return "Nobody has changed this record."
        return format_html(
            '<table class="ledger-audit"><thead><tr><th>When</th><th>Who</th><th>What</th>'
            "<th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td>{}</td><td>{}</td><td><pre class="ledger-json">{}</pre></td>'
                '<td><pre class="ledger-json">{}</pre></td></tr>',
                rows,
            ),
        )

    @admin.display(description="Source, transformed, target response")
    def payloads(self, obj: SyncRecord) -> str:
        panels = (
            ("Source record", obj.source_payload),
            ("Sent to target", obj.transformed_payload),
            ("Target response", obj.target_response),
        )
        return format_html(
            '<div class="ledger-payloads">{}</div>',
            format_html_join(
                "",
                '<section><h4>{}</h4><pre class="ledger-json">{}</pre></section>',
                ((title, _pretty(value)) for title, value in panels),
            ),
        )

    @admin.action(
        description="Mark selected failed records resolved (with note)", permissions=["resolve"]
    )
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            count = ledger_records_resolve(
                records=queryset, user=request.user, note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
            return
        self.message_user(request, f"{count} record(s) marked resolved.", messages.SUCCESS)

    @admin.action(description="Retry selected records", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            queued, refused = ledger_records_retry(records=queryset, user=request.user)
        except ValidationError as exc:
            self.message_user(request, f"Nothing retried: {' '.join(exc.messages)}", messages.ERROR)
            return
        if queued:
            self.message_user(request, f"{queued} record(s) queued to be sent again.")
        if refused:
            self.message_user(
                request,
                f"{refused} record(s) refused: only failed, unknown or ignored records are sent "
                "again; a succeeded one would be doubled in the target.",
                messages.WARNING,
            )

    @admin.action(
        description="Retry every record failing with the selected records' error code(s)",
        permissions=["retry"],
    )
    def retry_error_codes(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Per flow: a code names one fault of one flow (its lookup, its target's rule)."""
        pairs = sorted(
            set(queryset.exclude(error_code="").values_list("flow_id", "error_code").distinct())
        )
        if not pairs:
            self.message_user(request, "The selected records have no error code.", messages.WARNING)
            return
        flows = Flow.objects.in_bulk({flow_id for flow_id, _ in pairs})
        queued = 0
        for flow_id, code in pairs:
            try:
                queued += ledger_records_retry_code(
                    flow=flows[flow_id], error_code=code, user=request.user
                )[0]
            except ValidationError as exc:
                self.message_user(request, f"{code}: {' '.join(exc.messages)}", messages.ERROR)
        codes = ", ".join(sorted({code for _, code in pairs}))
        self.message_user(request, f"{queued} record(s) failing with {codes} queued to retry.")

    @admin.action(description="Ignore selected failed records (with note)", permissions=["resolve"])
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            count = ledger_records_ignore(
                records=queryset, user=request.user, note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
            return
        self.message_user(request, f"{count} record(s) ignored.", messages.SUCCESS)

    @admin.action(description="Assign selected failed records to me", permissions=["resolve"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = ledger_records_assign(
            records=queryset, assignee=request.user, tags=None, user=request.user
        )
        self.message_user(request, f"{count} failed record(s) assigned to you.", messages.SUCCESS)

    class Media:
        css = {"all": ("clarity/ledger.css",)}
