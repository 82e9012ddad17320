"""The ledger as finance users see it: filter, search, read, resolve.

Built for a million rows: no full count, no DISTINCT over the table, one
query for the page's rows (see clarity/pagination.py and selectors/ledger.py).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from clarity.models import Flow, IntegrationPair, SyncRecord
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.ledger import ledger_error_codes
from clarity.services.ledger import ledger_records_resolve


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
        flows = Flow.objects.values_list("pk", "pair__name", "name")
        return [(str(pk), f"{pair}: {name}") for pk, pair, name in flows]


class ErrorCodeFilter(_ChoiceFilter):
    title = "error code"
    parameter_name = field = "error_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, code) for code in ledger_error_codes()]


class ResolveActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        label="Note",
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "Why (needed to resolve)"}),
    )


def _pretty(value: Any) -> str:
    if value in (None, "", {}, []):
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


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
    )
    list_display_links = ("id", "source_id")
    list_select_related = ("flow__pair",)
    list_filter = (
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
    actions = ("resolve_selected",)
    fieldsets = (
        (
            "Outcome",
            {
                "fields": (
                    "status",
                    "problem",
                    ("error_kind", "error_code"),
                    ("attempts", "next_retry_at"),
                )
            },
        ),
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
    )

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRecord | None = None) -> Any:
        return [
            "problem",
            "payloads",
            *(f.name for f in SyncRecord._meta.fields if f.name != "id"),
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact matches on indexed keys: a LIKE over a million rows is never fast."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(source_id=term) | Q(target_id=term) | Q(business_key=term)), False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.resolve_syncrecord")

    @admin.display(description="message")
    def short_message(self, obj: SyncRecord) -> str:
        return Truncator(obj.message).chars(90)

    @admin.display(description="Why")
    def problem(self, obj: SyncRecord) -> str:
        return obj.message or "—"

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

    class Media:
        css = {"all": ("clarity/ledger.css",)}
