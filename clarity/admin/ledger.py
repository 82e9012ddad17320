"""The ledger as finance users see it: filter, search, read, fix, retry, resolve.

Built for a million rows: no full count, no DISTINCT over the table, one
query for the page's rows (see clarity/pagination.py and selectors/ledger.py).
What a finance user changes goes through clarity.services (runs, ledger),
which audit it; the detail page shows that audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
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
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from clarity.admin.exports import ExportMixin
from clarity.admin.payloads import (
    AUDIT_PREVIEW_CHARS,
    EDITABLE_CHARS,
    PREVIEW_CHARS,
    payload_download,
    payload_preview,
    payload_size,
    pretty_start,
)
from clarity.models import (
    AuditEvent,
    Flow,
    IntegrationPair,
    MatchDecision,
    RecordStatus,
    SyncRecord,
)
from clarity.models.ledger import UNDECIDED
from clarity.pagination import EstimatedCountPaginator
from clarity.selectors.exports import LEDGER_HEADERS, ledger_export_rows
from clarity.selectors.ledger import (
    flow_labels,
    ledger_error_codes,
    ledger_search,
    lookup_missing_parts,
)
from clarity.services.ledger import (
    ASSIGN,
    EDIT_AND_RETRY,
    IGNORE,
    LINK,
    LINK_TO,
    RESOLVE,
    RETRY,
    SKIP,
    Counts,
    LedgerAction,
    ledger_record_decide_create,
    ledger_record_decide_link,
    ledger_record_duplicate,
    ledger_record_edit_and_retry,
    ledger_record_find_existing,
    ledger_record_link,
    ledger_records_assign,
    ledger_records_ignore,
    ledger_records_resolve,
    ledger_records_retry,
    ledger_records_retry_code,
    ledger_records_skip,
)
from connectors.errors import ConnectorError
from mappings.engine.jsonload import JSONInputError, loads_bounded
from mappings.models import LookupTable

# What a record page offers to download: {name in the URL: (field, title)}.
PAYLOADS = {
    "source": ("source_payload", "Source record"),
    "sent": ("transformed_payload", "Sent to target"),
    "response": ("target_response", "Target response"),
    "correction": ("payload_override", "Correction by a person"),
}
# The audit trail shows the newest changes; older ones stay in the database.
AUDIT_ROWS_SHOWN = 50


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


class DecisionQueueFilter(admin.SimpleListFilter):
    """The decision queue: records that matched several target records, or one in part."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("decide", "Needs a decision")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "decide":
            return queryset.filter(status__in=UNDECIDED)
        return queryset


class ResolveActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        label="Note",
        widget=forms.TextInput(
            attrs={"size": 40, "placeholder": "Why (needed to resolve or ignore)"}
        ),
    )


class PayloadForm(forms.Form):
    """The record as the target should receive it, typed in or uploaded as a JSON file.

    A payload too large to edit in a page (see EDITABLE_CHARS) is downloaded,
    corrected and uploaded; the service decides what is acceptable.
    """

    payload = forms.CharField(
        label="Corrected record for the target",
        required=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "vLargeTextField ledger-json"}),
    )
    upload = forms.FileField(
        label="Or upload the corrected record (a JSON file)",
        required=False,
        help_text="For a large record: download it from the Payloads section, correct it, "
        "upload it here.",
    )

    def __init__(self, *args: Any, record: SyncRecord, **kwargs: Any) -> None:
        """Start from the last correction, else what was sent; say so when it is too large."""
        current = record.payload_override or record.transformed_payload or {}
        text, more = pretty_start(current, EDITABLE_CHARS)
        self.too_large = payload_size(current) if more else ""
        self.download_url = _download_url(
            record, "correction" if record.payload_override is not None else "sent"
        )
        super().__init__(*args, initial={"payload": "" if self.too_large else text}, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload, text = cleaned.get("upload"), cleaned.get("payload", "")
        if upload is not None:
            field, raw = "upload", upload.read().decode("utf-8", errors="replace")
        elif text.strip():
            field, raw = "payload", text
        else:
            raise ValidationError(
                "Type the corrected record or upload it as a JSON file; nothing was changed."
            )
        cleaned["given_in"] = field
        try:
            cleaned["record"] = loads_bounded(raw)
        except JSONInputError as exc:
            self.add_error(field, f"{exc.message} Nothing was changed.")
        return cleaned


class AssignForm(forms.Form):
    assigned_to = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, is_staff=True),
        required=False,
        empty_label="Nobody",
    )
    tags = forms.CharField(
        required=False, max_length=200, help_text="Comma-separated, e.g. vat, month-end."
    )


def _download_url(record: SyncRecord, part: str) -> str:
    return reverse("admin:clarity_syncrecord_download", args=[record.pk, part])


def _shown(value: Any, url: str, limit: int, *, always_link: bool = False) -> SafeString:
    """A payload's preview in a box, with a link to the whole of it (always, or when cut)."""
    preview = payload_preview(value, limit)
    if preview.shortened:
        link = format_html(
            '<p class="ledger-cut">{} <a href="{}" download>Download the whole payload (JSON)</a>'
            "</p>",
            preview.note,
            url,
        )
    elif always_link and value not in (None, "", {}, []):
        link = format_html(
            '<p class="ledger-cut"><a href="{}" download>Download (JSON, {})</a></p>',
            url,
            preview.size,
        )
    else:
        link = ""
    return format_html('{}<pre class="ledger-json">{}</pre>', link, preview.text)


@admin.register(SyncRecord)
class SyncRecordAdmin(ExportMixin, admin.ModelAdmin):
    # What a finance user scans for comes first, so a laptop's screen shows it
    # without scrolling sideways; the rest follows (static/clarity/ledger.css).
    list_display = (
        "status",
        "short_message",
        "error_code",
        "business_key",
        "source_id",
        "flow",
        "created_at",
        "target_id",
        "attempts",
        "assigned_to",
        "tags",
    )
    list_display_links = ("status", "source_id")
    # No joins in the page query: at page 500 PostgreSQL would join 50,000 skipped
    # rows. Flow and assignee names come from two small queries instead.
    list_select_related = False
    list_filter = (
        DecisionQueueFilter,
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
        "retry_error_codes_pair",
        "ignore_selected",
        "resolve_selected",
        "skip_selected",
        "assign_to_me",
    )
    change_form_template = "admin/clarity/syncrecord/change_form.html"
    export_name = "ledger"
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
        """The detail page also shows the flow's current mapping version and the assignee.

        Read once per request: the page asks twice (its forms, then Django's
        view), and a row's payloads may weigh megabytes.
        """
        cache = request.__dict__.setdefault("_ledger_records", {})
        if object_id not in cache:
            queryset = self.get_queryset(request).select_related(
                "flow__mapping", "flow__pair", "assigned_to", "run__flow"
            )
            cache[object_id] = (
                queryset.filter(pk=object_id).first() if str(object_id).isdigit() else None
            )
        return cache[object_id]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """``?run=<id>``: a run's page links to its records."""
        return lookup == "run" or super().lookup_allowed(lookup, value, request)

    def get_urls(self) -> list[URLPattern]:
        def view(func: Any, suffix: str, route: str = "") -> URLPattern:
            wrapped = self.admin_site.admin_view(func)
            return path(
                f"<path:object_id>/{suffix}/{route}",
                wrapped,
                name=f"clarity_syncrecord_{suffix}",
            )

        return [
            view(self.edit_payload_view, "edit_payload"),
            view(self.link_view, "link"),
            view(require_POST(self.decide_view), "decide"),
            view(require_POST(self.assign_view), "assign"),
            view(require_POST(self.retry_code_view), "retry_code"),
            view(self.download_view, "download", "<slug:part>/"),
            *self.export_urls(),
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
        if status and EDIT_AND_RETRY.applies_to(status) and self.has_retry_permission(request):
            extra["payload_form"] = PayloadForm(record=record)
        if (
            status == RecordStatus.FAILED
            and record.error_code
            and self.has_retry_permission(request)
        ):
            extra["retry_scopes"] = _retry_scopes(record)
        if status and ASSIGN.applies_to(status) and self.has_resolve_permission(request):
            extra["assign_form"] = AssignForm(
                initial={"assigned_to": record.assigned_to_id, "tags": record.tags}
            )
        if status and LINK.applies_to(status) and self.has_resolve_permission(request):
            duplicate = ledger_record_duplicate(record)
            if duplicate is not None:
                extra["link_offer"] = f"Link to the existing {duplicate[0].what} '{duplicate[1]}'"
        if status and LINK_TO.applies_to(status) and self.has_resolve_permission(request):
            extra["decision"] = _decision(record)
        if status == RecordStatus.FAILED and record.error_code == "lookup_missing":
            extra["next_step"] = lookup_missing_step(record, request.user)
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

    def _back_to(self, record: SyncRecord) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:clarity_syncrecord_change", args=[record.pk]))

    def download_view(self, request: HttpRequest, object_id: str, part: str) -> HttpResponse:
        """The whole of one payload as JSON, for whoever may read the record."""
        record = self._record_for(request, object_id, allowed=True)
        if part in PAYLOADS:
            value = getattr(record, PAYLOADS[part][0])
        else:
            value = _audit_value(record, part)
        return payload_download(value, f"ledger-{record.pk}-{part}.json")

    def edit_payload_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Edit the payload and retry; a bad edit is shown again with its error, nothing changed."""
        record = self._record_for(request, object_id, allowed=self.has_retry_permission(request))
        if request.method == "POST":
            form = PayloadForm(request.POST, request.FILES, record=record)
        else:
            form = PayloadForm(record=record)
        if request.method == "POST" and form.is_valid():
            try:
                ledger_record_edit_and_retry(
                    record=record, payload=form.cleaned_data["record"], user=request.user
                )
            except ValidationError as exc:
                form.add_error(form.cleaned_data["given_in"], exc)
            else:
                self.message_user(
                    request,
                    "The corrected record is saved and queued to be sent again.",
                    messages.SUCCESS,
                )
                return self._back_to(record)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Edit the payload of {record} and retry",
            "opts": self.opts,
            "original": record,
            "payload_form": form,
        }
        return TemplateResponse(request, "admin/clarity/syncrecord/edit_payload.html", context)

    def link_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the record the target already holds (looked up read-only); link on confirmation."""
        record = self._record_for(request, object_id, allowed=self.has_resolve_permission(request))
        try:
            if request.method == "POST":
                ledger_record_link(
                    record=record, target_id=request.POST.get("target_id", ""), user=request.user
                )
                self.message_user(
                    request,
                    "Linked: the next change of this record updates the existing one.",
                    messages.SUCCESS,
                )
                return self._back_to(record)
            twin = ledger_record_find_existing(record=record)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back_to(record)
        except ConnectorError as exc:
            reason = f"Could not look the record up in the target: {exc.message}"
            self.message_user(request, reason, messages.ERROR)
            return self._back_to(record)
        if twin is None:
            duplicate, value = ledger_record_duplicate(record) or (None, "")
            self.message_user(
                request,
                f"The target no longer holds a {duplicate.what if duplicate else 'record'} "
                f"'{value}' (renamed or archived since): there is nothing to link to. "
                "Retry this record.",
                messages.WARNING,
            )
            return self._back_to(record)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Link {record} to the existing {twin.label}",
            "opts": self.opts,
            "original": record,
            "twin": twin,
            "twin_preview": payload_preview(twin.record, PREVIEW_CHARS).text,
        }
        return TemplateResponse(request, "admin/clarity/syncrecord/link.html", context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A person's decision on a record that matched target records: link, create, skip."""
        record = self._record_for(request, object_id, allowed=self.has_resolve_permission(request))
        decision = request.POST.get("decision", "")
        try:
            if decision == "link":
                target_id = request.POST.get("target_id", "")
                ledger_record_decide_link(record=record, target_id=target_id, user=request.user)
                done = "Linked: it is being sent as an update of the record chosen."
            elif decision == "create":
                ledger_record_decide_create(record=record, user=request.user)
                done = "It is being sent as a new record, and will not be matched again."
            elif decision == "skip":
                counts = ledger_records_skip(
                    records=SyncRecord.objects.filter(pk=record.pk),
                    user=request.user,
                    note=request.POST.get("note", ""),
                )
                if not counts.done:
                    raise ValidationError(SKIP.refusal(record.status))
                done = "Skipped: nothing was sent."
            else:
                raise ValidationError("Choose link, create new or skip.")
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back_to(record)
        except ConnectorError as exc:
            reason = f"Could not look the record up in the target: {exc.message}"
            self.message_user(request, reason, messages.ERROR)
            return self._back_to(record)
        self.message_user(request, done, messages.SUCCESS)
        return self._back_to(record)

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        record = self._record_for(request, object_id, allowed=self.has_resolve_permission(request))
        form = AssignForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Not changed: {form.errors.as_text()}", messages.ERROR)
        else:
            counts = ledger_records_assign(
                records=SyncRecord.objects.filter(pk=record.pk),
                assignee=form.cleaned_data["assigned_to"],
                tags=form.cleaned_data["tags"],
                user=request.user,
            )
            self._report(request, ASSIGN, counts, "Assignment and tags saved.")
        return self._back_to(record)

    def retry_code_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The record page's "retry every record failing with this code", in its flow or pair."""
        record = self._record_for(request, object_id, allowed=self.has_retry_permission(request))
        pair_wide = request.POST.get("scope") == "pair"
        scope = record.pair if pair_wide else record.flow
        self._retry_found(request, [(scope, record.error_code)] if record.error_code else [])
        return self._back_to(record)

    def _retry_codes(
        self, request: HttpRequest, scopes: list[tuple[Flow | IntegrationPair, str]]
    ) -> None:
        """Retry each (flow or pair, code) and say how many records went, and where."""
        for scope, code in scopes:
            where = _scope_label(scope)
            try:
                queued, _ = ledger_records_retry_code(
                    flow=scope if isinstance(scope, Flow) else None,
                    pair=scope if isinstance(scope, IntegrationPair) else None,
                    error_code=code,
                    user=request.user,
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"{code} {where}: {' '.join(exc.messages)}", messages.ERROR
                )
                continue
            self.message_user(
                request, f"{queued} record(s) failing with {code} {where} queued to retry."
            )

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

    def export_rows(self, request: HttpRequest, changelist: ChangeList) -> tuple[Any, Any]:
        """Every record the page's filters, search and ordering select (all pages)."""
        return LEDGER_HEADERS, ledger_export_rows(records=changelist.queryset)

    @admin.display(description="message")
    def short_message(self, obj: SyncRecord) -> str:
        """One line in the list (the cell cuts it to its width); the whole in its tooltip."""
        message = Truncator(obj.message).chars(200)
        return format_html('<span title="{}">{}</span>', message, message) if message else ""

    @admin.display(description="Why")
    def problem(self, obj: SyncRecord) -> str:
        """The message; one a system made huge (a whole error page) is cut like a payload."""
        if len(obj.message) <= PREVIEW_CHARS:
            return obj.message or "—"
        return format_html(
            "{} <em>(shortened: {} characters in all; the REST API gives the whole)</em>",
            Truncator(obj.message).chars(PREVIEW_CHARS),
            len(obj.message),
        )

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
        events = list(
            obj.audit_events.select_related("user").order_by("-id")[: AUDIT_ROWS_SHOWN + 1]
        )
        rows = [
            (
                f"{localtime(e.created_at):%Y-%m-%d %H:%M:%S %Z}",
                e.user.get_username() if e.user else "—",
                e.action.replace("_", " "),
                _shown(
                    e.detail.get("before"),
                    _download_url(obj, f"audit-{e.pk}-before"),
                    AUDIT_PREVIEW_CHARS,
                ),
                # Ignores and retries keep a note or nothing: shown as what came after.
                _shown(
                    _after(e),
                    _download_url(obj, f"audit-{e.pk}-after"),
                    AUDIT_PREVIEW_CHARS,
                ),
            )
            for e in events[:AUDIT_ROWS_SHOWN]
        ]
        if not rows:
            return "Nobody has changed this record."
        more = (
            f"Showing the newest {AUDIT_ROWS_SHOWN} changes; older ones are kept."
            if len(events) > AUDIT_ROWS_SHOWN
            else ""
        )
        return format_html(
            '<table class="ledger-audit"><thead><tr><th>When</th><th>Who</th><th>What</th>'
            "<th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>{}",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
            format_html('<p class="help">{}</p>', more) if more else "",
        )

    @admin.display(description="Source, transformed, target response")
    def payloads(self, obj: SyncRecord) -> str:
        """Each payload's start, with its size and a download of the whole of it."""
        panels = (
            (
                title,
                _shown(
                    getattr(obj, field), _download_url(obj, part), PREVIEW_CHARS, always_link=True
                ),
            )
            for part, (field, title) in PAYLOADS.items()
            if part != "correction" or obj.payload_override is not None
        )
        return format_html(
            '<div class="ledger-payloads">{}</div>',
            format_html_join("", "<section><h4>{}</h4>{}</section>", panels),
        )

    @admin.action(
        description="Mark selected failed or unknown records resolved (with note)",
        permissions=["resolve"],
    )
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._close_with_note(request, queryset, ledger_records_resolve, RESOLVE, "marked resolved")

    @admin.action(description="Retry selected records", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            counts = ledger_records_retry(records=queryset, user=request.user)
        except ValidationError as exc:
            self.message_user(request, f"Nothing retried: {' '.join(exc.messages)}", messages.ERROR)
            return
        self._report(request, RETRY, counts, f"{counts.done} record(s) queued to be sent again.")

    @admin.action(
        description="Retry every failed record with the selected records' error code(s), "
        "in the same flow",
        permissions=["retry"],
    )
    def retry_error_codes(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Per flow: a code usually names one fault of one flow (its lookup, its target's rule)."""
        found = sorted(
            set(queryset.exclude(error_code="").values_list("flow_id", "error_code").distinct())
        )
        flows = Flow.objects.select_related("pair").in_bulk({flow_id for flow_id, _ in found})
        self._retry_found(request, [(flows[flow_id], code) for flow_id, code in found])

    @admin.action(
        description="Retry every failed record with the selected records' error code(s), "
        "in every flow of the same pair",
        permissions=["retry"],
    )
    def retry_error_codes_pair(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Pair-wide: a lookup table shared by the pair's flows fails them all with one code."""
        found = sorted(
            set(queryset.exclude(error_code="").values_list("pair_id", "error_code").distinct())
        )
        pairs = IntegrationPair.objects.in_bulk({pair_id for pair_id, _ in found})
        self._retry_found(request, [(pairs[pair_id], code) for pair_id, code in found])

    def _retry_found(
        self, request: HttpRequest, scopes: list[tuple[Flow | IntegrationPair, str]]
    ) -> None:
        if not scopes:
            self.message_user(
                request, "These records have no error code: nothing was retried.", messages.WARNING
            )
            return
        self._retry_codes(request, scopes)

    @admin.action(
        description="Ignore selected failed or unknown records (with note)", permissions=["resolve"]
    )
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._close_with_note(request, queryset, ledger_records_ignore, IGNORE, "ignored")

    @admin.action(
        description="Skip selected records waiting for a decision (with note)",
        permissions=["resolve"],
    )
    def skip_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._close_with_note(request, queryset, ledger_records_skip, SKIP, "skipped, none sent")

    @admin.action(
        description="Assign selected failed or unknown records to me", permissions=["resolve"]
    )
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        counts = ledger_records_assign(
            records=queryset, assignee=request.user, tags=None, user=request.user
        )
        self._report(request, ASSIGN, counts, f"{counts.done} failed record(s) assigned to you.")

    def _close_with_note(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        service: Callable[..., Counts],
        action: LedgerAction,
        done: str,
    ) -> None:
        """Resolve, ignore or skip: the service with the note typed beside the action."""
        try:
            counts = service(records=queryset, user=request.user, note=request.POST.get("note", ""))
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
            return
        self._report(request, action, counts, f"{counts.done} record(s) {done}.")

    def _report(
        self, request: HttpRequest, action: LedgerAction, counts: Counts, done: str
    ) -> None:
        """What a ledger action did, and which records it refused for their status, and why."""
        if counts.done or not counts.refused:
            self.message_user(request, done, messages.SUCCESS)
        if counts.refused:
            self.message_user(request, action.refused(counts.refused), messages.WARNING)

    class Media:
        css = {"all": ("clarity/ledger.css",)}


def _decision(record: SyncRecord) -> dict[str, Any] | None:
    """The candidates a record matched, laid out for its page: the compared fields as columns."""
    match = MatchDecision.objects.filter(record=record).first()
    if match is None:
        return None
    names = list(dict.fromkeys(n for c in match.candidates for n in c.get("fields", {})))
    candidates = [
        {**c, "values": [c.get("fields", {}).get(n, "") for n in names]} for c in match.candidates
    ]
    return {"fields": names, "candidates": candidates, "outcome": match.get_outcome_display()}


def _scope_label(scope: Flow | IntegrationPair) -> str:
    if isinstance(scope, Flow):
        return f"in flow “{scope.pair.name}: {scope.name}”"
    return f"in every flow of pair “{scope.name}”"


def _retry_scopes(record: SyncRecord) -> list[tuple[str, str]]:
    """The record page's retry-by-code buttons: (scope, label), the flow first."""
    code = record.error_code
    return [
        ("flow", f"Retry every record failing with {code} in this flow ({record.flow.name})"),
        ("pair", f"Retry every record failing with {code} in every flow of {record.pair.name}"),
    ]


def _after(event: AuditEvent) -> Any:
    return event.detail.get("after", {k: v for k, v in event.detail.items() if k != "before"})


def _audit_value(record: SyncRecord, part: str) -> Any:
    """``audit-<id>-before`` / ``-after``: one side of one change to this record."""
    _, _, rest = part.partition("audit-")
    event_id, _, side = rest.partition("-")
    event = (
        record.audit_events.filter(pk=event_id).first()
        if event_id.isdigit() and side in ("before", "after")
        else None
    )
    if event is None:
        raise PermissionDenied
    return event.detail.get("before") if side == "before" else _after(event)


def lookup_missing_step(record: SyncRecord, user: Any) -> SafeString:
    """What to do about a missing lookup entry, for who is reading.

    A consultant (who may add lookup entries) gets a link to the add form,
    prefilled with the table and the value; anyone else is told whom to ask.
    """
    miss = lookup_missing_parts(record.message)
    if miss is None:
        return format_html(
            "A value is missing from a lookup table. Ask your consultant to add it, "
            "then retry this record."
        )
    value = f"“{miss.value}”" if miss.value is not None else "the value this record has"
    what = format_html(
        "The lookup table <strong>{}</strong> has no entry for <strong>{}</strong>, so this "
        "record could not be translated for the target.",
        miss.table,
        value,
    )
    table_id = LookupTable.objects.filter(name=miss.table).values_list("pk", flat=True).first()
    if table_id is not None and user.has_perm("mappings.add_lookupentry"):
        query = {"table": table_id, **({"key": miss.value} if miss.value is not None else {})}
        url = f"{reverse('admin:mappings_lookupentry_add')}?{urlencode(query)}"
        return format_html(
            '{} <a class="button" href="{}">Add the entry for {} to {}</a>, then retry this '
            "record (or every record failing with lookup_missing).",
            what,
            url,
            value,
            miss.table,
        )
    return format_html(
        "{} Ask your consultant to add an entry for {} to the lookup table “{}”, then retry "
        "this record.",
        what,
        value,
        miss.table,
    )
