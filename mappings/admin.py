"""Admin pages for mappings and lookup tables: thin faces over services and resources."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from import_export.results import Result
from simple_history.admin import SimpleHistoryAdmin

from mappings import catalogue, selectors, services
from mappings import forms as mapping_forms
from mappings.engine.jsonload import JSONInputError, loads_bounded
from mappings.models import (
    Aggregation,
    ConditionalRule,
    Default,
    Enrichment,
    FieldMappingRow,
    ImportJob,
    ImportStatus,
    LookupEntry,
    LookupTable,
    Mapping,
    Split,
)
from mappings.resources import IMPORT_FORMATS, FieldMappingRowResource, LookupEntryResource

LOOKUP_INLINE_LIMIT = 200
logger = logging.getLogger(__name__)


class ImportRefused(Exception):
    """The confirmed import found what it refuses: roll back, and say why."""


def _refusal(result: Result) -> str:
    """The first problems of an import's result, in words."""
    problems = [f"row {row.number}: {'; '.join(row.error.messages)}" for row in result.invalid_rows]
    problems += [f"row {row.number}: {e.error}" for row in result.error_rows for e in row.errors]
    problems += [str(e.error) for e in result.base_errors]
    shown = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"{shown}{more}"


def _may_import_lookup_entries(request: HttpRequest) -> bool:
    """An import of lookup entries adds some and changes others: both permissions."""
    return request.user.has_perms(("mappings.add_lookupentry", "mappings.change_lookupentry"))


class ConfirmedImportMixin:
    """The confirm step of an import: all of it or none, and never a server error.

    The dry run checks everything the import refuses, so a confirmation only
    fails when the data changed in between or the uploaded file is gone; then
    nothing is kept and the import page says why.
    """

    def has_import_permission(self, request: HttpRequest) -> bool:
        """An import adds rows and changes existing ones, so it needs both permissions."""
        opts = self.model._meta  # type: ignore[attr-defined]
        return all(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("add", "change")
        )

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            with transaction.atomic():
                return super().process_import(request, **kwargs)  # type: ignore[misc]
        except PermissionDenied:
            raise
        except ImportRefused as exc:
            messages.error(
                request,
                f"Nothing was imported: {str(exc).rstrip('.')}. Upload the file again to check it.",
            )
        except Exception:  # a file gone from temporary storage, unreadable, refused by the DB
            logger.exception("confirming an import failed")
            messages.error(
                request,
                "Nothing was imported: the checked file could not be imported. "
                "Upload it again to check it.",
            )
        opts = self.model._meta  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import"))

    def process_result(self, result: Result, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            raise ImportRefused(_refusal(result))
        return super().process_result(result, request)  # type: ignore[misc]


def _formset(part_name: str) -> type[mapping_forms.MappingPartFormSet]:
    return type(
        f"{part_name.title()}FormSet", (mapping_forms.MappingPartFormSet,), {"part_name": part_name}
    )


class FieldMappingRowInline(admin.TabularInline):
    model = FieldMappingRow
    form = mapping_forms.FieldMappingRowForm
    formset = _formset("rows")
    extra = 0


class ConditionalRuleInline(admin.TabularInline):
    model = ConditionalRule
    formset = _formset("rules")
    fields = ("order", "condition", "effect", "target", "value", "message")
    extra = 0


class EnrichmentInline(admin.TabularInline):
    model = Enrichment
    formset = _formset("enrichments")
    fields = ("order", "target", "key", "lookup")
    autocomplete_fields = ("lookup",)
    extra = 0


class DefaultInline(admin.TabularInline):
    model = Default
    formset = _formset("defaults")
    fields = ("target", "value")
    extra = 0


class AggregationInline(admin.TabularInline):
    model = Aggregation
    form = mapping_forms.AggregationForm
    formset = _formset("aggregations")
    fields = ("order", "lines", "key", "sum")
    extra = 0


class SplitInline(admin.TabularInline):
    model = Split
    formset = _formset("splits")
    fields = ("lines", "key", "header_field", "max_lines")
    max_num = 1
    extra = 0


class TryItForm(forms.Form):
    record = forms.CharField(
        label="Sample source record (JSON)",
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "class": "vLargeTextField"}),
    )

    def clean_record(self) -> Any:
        try:
            return loads_bounded(self.cleaned_data["record"])
        except JSONInputError as exc:
            raise forms.ValidationError(exc.message) from None


class FetchSampleForm(forms.Form):
    """Fetch a try-it sample from a connection of the mapping's source system."""

    connection = forms.ModelChoiceField(queryset=None, empty_label=None)  # type: ignore[arg-type]
    key = forms.CharField(label="Record key", max_length=200)

    def __init__(self, *args: Any, mapping: Mapping, **kwargs: Any) -> None:
        super().__init__(*args, prefix="fetch", **kwargs)
        field = self.fields["connection"]
        field.queryset = catalogue.connections_of(mapping.source_system)  # type: ignore[attr-defined]
        field.label = f"{mapping.source_system} connection"
        self.fields["key"].help_text = f"The key of one {mapping.source_entity} record"


@admin.register(Mapping)
class MappingAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "source_system",
        "source_entity",
        "target_system",
        "target_entity",
        "row_count",
        "version",
        "updated_at",
    )
    search_fields = ("name", "source_entity", "target_entity")
    readonly_fields = ("version", "try_it")
    change_form_template = "mappings/mapping_change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "description", "try_it")}),
        (
            "Entities",
            {"fields": (("source_system", "source_entity"), ("target_system", "target_entity"))},
        ),
        ("Version", {"fields": ("version",)}),
    )
    inlines = (
        FieldMappingRowInline,
        ConditionalRuleInline,
        EnrichmentInline,
        DefaultInline,
        AggregationInline,
        SplitInline,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mapping]:
        return super().get_queryset(request).annotate(row_count=Count("fieldmappingrows"))

    @admin.display(description="rows", ordering="row_count")
    def row_count(self, obj: Mapping) -> int:
        return obj.row_count  # type: ignore[attr-defined]

    @admin.display(description="Try it")
    def try_it(self, obj: Mapping) -> str:
        if not obj.pk:
            return "Save the mapping first."
        url = reverse("admin:mappings_mapping_try", args=[obj.pk])
        return format_html('<a class="button" href="{}">Try it on a sample record</a>', url)

    def get_formsets_with_inlines(
        self, request: HttpRequest, obj: Mapping | None = None
    ) -> Iterator[tuple[type, admin.options.InlineModelAdmin]]:
        """Give this request's inline formsets one shared compile check."""
        pairs = list(super().get_formsets_with_inlines(request, obj))
        check = mapping_forms.MappingCheck(expected=len(pairs))
        for formset, inline in pairs:
            yield type(formset.__name__, (formset,), {"check": check}), inline

    def save_model(self, request: HttpRequest, obj: Mapping, form: Any, change: bool) -> None:
        services.mapping_save(mapping=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.mapping_touch(
            mapping=form.instance, user=request.user, reason="Changed" if change else "Added"
        )

    def set_history_delta_changes(
        self, request: HttpRequest, historical_records: Any, foreign_keys_are_objs: bool = True
    ) -> None:
        """Each record's changes: the mapping's fields and every row, rule and lookup entry."""
        records = list(historical_records)
        if not records:
            return
        mapping = Mapping(pk=records[0].id)
        changes = selectors.mapping_history_changes(mapping=mapping, records=records)
        for record in records:
            record.history_delta_changes = [vars(line) for line in changes[record.history_id]]

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        """Revert the whole mapping to one point of its history: what changes, then do it."""
        mapping = get_object_or_404(Mapping, pk=object_id)
        record = get_object_or_404(Mapping.history.model, id=mapping.pk, history_id=version_id)
        if not self.has_view_history_or_change_history_permission(request, mapping):
            raise PermissionDenied
        can_revert = self.has_change_permission(request, mapping)
        if request.method == "POST":
            if not can_revert:
                raise PermissionDenied
            try:
                count = services.mapping_revert(mapping=mapping, record=record, user=request.user)
            except ValidationError as exc:
                for message in exc.messages:
                    messages.error(request, message)
            else:
                mapping.refresh_from_db()
                when = formats.localize(timezone.localtime(record.history_date))
                messages.success(
                    request,
                    f"{mapping.name} is back as it was on {when}: {count} changes, now version "
                    f"{mapping.version}. Runs use it from their next record.",
                )
                return HttpResponseRedirect(
                    reverse("admin:mappings_mapping_change", args=[mapping.pk])
                )
        preview = selectors.mapping_revert_preview(mapping=mapping, record=record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": mapping,
            "record": record,
            "title": f"Revert {mapping.name}",
            "preview": preview,
            "can_revert": can_revert,
        }
        return TemplateResponse(request, "mappings/mapping_revert.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """The fields of both entities, when connections describe them, as suggestions."""
        adminform = context.get("adminform")
        mapping = adminform.form.instance if adminform is not None else None
        if mapping is not None:
            context["catalogue"] = catalogue.mapping_catalogue(mapping=mapping)
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.try_it_view)
        return [path("<int:pk>/try/", view, name="mappings_mapping_try"), *super().get_urls()]

    def try_it_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        mapping = get_object_or_404(Mapping, pk=pk)
        if not self.has_view_permission(request, mapping):
            raise PermissionDenied
        fetching = request.method == "POST" and "fetch" in request.POST
        fetch_form = FetchSampleForm(request.POST if fetching else None, mapping=mapping)
        form = TryItForm(request.POST if request.method == "POST" and not fetching else None)
        result, fetch_error = None, None
        if fetching and fetch_form.is_valid():
            fetched = catalogue.source_record_fetch(
                mapping=mapping,
                connection=fetch_form.cleaned_data["connection"],
                key=fetch_form.cleaned_data["key"],
            )
            fetch_error = fetched.error
            if fetched.record_json is not None:
                form = TryItForm(initial={"record": fetched.record_json})
        elif form.is_bound and form.is_valid():
            result = services.mapping_try(mapping=mapping, record=form.cleaned_data["record"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": mapping,
            "title": f"Try {mapping.name}",
            "form": form,
            "fetch_form": fetch_form,
            "can_fetch": fetch_form.fields["connection"].queryset.exists(),  # type: ignore[attr-defined]
            "fetch_error": fetch_error,
            "result": result,
            "records_json": [
                json.dumps(r, indent=2, ensure_ascii=False)
                for r in (result.records if result else [])
            ],
        }
        return TemplateResponse(request, "mappings/try_it.html", context)


class MappingPartAdmin(SimpleHistoryAdmin):
    """A row or rule on its own page: its history, and reverting it, re-check the mapping."""

    list_select_related = ("mapping",)
    list_filter = ("mapping",)
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.mapping_part_save(part=obj, user=request.user)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.mapping_parts_delete(parts=type(obj).objects.filter(pk=obj.pk), user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        services.mapping_parts_delete(parts=queryset, user=request.user)


@admin.register(FieldMappingRow)
class FieldMappingRowAdmin(ConfirmedImportMixin, ImportExportModelAdmin, MappingPartAdmin):
    form = mapping_forms.StandaloneFieldMappingRowForm
    resource_classes = (FieldMappingRowResource,)
    import_formats = IMPORT_FORMATS
    export_formats = IMPORT_FORMATS
    list_display = ("__str__", "mapping", "order", "kind", "combine")


@admin.register(ConditionalRule)
class ConditionalRuleAdmin(MappingPartAdmin):
    form = mapping_forms.StandaloneRuleForm
    list_display = ("condition", "effect", "target", "mapping", "order")


class LookupEntryInline(admin.TabularInline):
    model = LookupEntry
    fields = ("key", "value")
    extra = 1


@admin.register(LookupTable)
class LookupTableAdmin(SimpleHistoryAdmin):
    form = mapping_forms.LookupTableForm
    list_display = ("name", "on_missing", "case_sensitive", "entry_count", "version", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("version", "entries_link")
    fields = (
        "name",
        "description",
        "on_missing",
        "default_value",
        "case_sensitive",
        "version",
        "entries_link",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[LookupTable]:
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description="entries", ordering="entry_count")
    def entry_count(self, obj: LookupTable) -> int:
        return obj.entry_count  # type: ignore[attr-defined]

    @admin.display(description="Entries")
    def entries_link(self, obj: LookupTable) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:mappings_lookupentry_changelist") + f"?table__id__exact={obj.pk}"
        return format_html('<a href="{}">All entries, import and export</a>', url)

    def get_inlines(self, request: HttpRequest, obj: LookupTable | None) -> list[type]:
        """Edit small tables in place; large ones page through the entries list."""
        if obj is not None and obj.entries.count() > LOOKUP_INLINE_LIMIT:
            return []
        return [LookupEntryInline]

    def save_model(self, request: HttpRequest, obj: LookupTable, form: Any, change: bool) -> None:
        services.lookup_table_save(table=obj, user=request.user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if any(formset.has_changed() for formset in formsets):
            services.lookup_tables_touch(table_ids=[form.instance.pk], user=request.user)


@admin.register(LookupEntry)
class LookupEntryAdmin(ConfirmedImportMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = (LookupEntryResource,)
    import_formats = IMPORT_FORMATS
    export_formats = IMPORT_FORMATS
    skip_admin_log = True  # every imported entry gets a history record instead
    list_display = ("key", "value", "table")
    list_filter = ("table",)
    list_select_related = ("table",)
    search_fields = ("=key",)
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: LookupEntry, form: Any, change: bool) -> None:
        services.lookup_entry_save(entry=obj, user=request.user)

    def delete_model(self, request: HttpRequest, obj: LookupEntry) -> None:
        services.lookup_entries_delete(
            entries=LookupEntry.objects.filter(pk=obj.pk), user=request.user
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[LookupEntry]) -> None:
        services.lookup_entries_delete(entries=queryset, user=request.user)

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Hand a large file to a worker; small ones take the usual dry run and confirm."""
        if request.method == "POST" and self.has_import_permission(request):
            form = self.create_import_form(request)
            if form.is_valid():
                input_format = self.get_import_formats()[int(form.cleaned_data["format"])]()
                if not input_format.is_binary():
                    input_format.encoding = self.from_encoding
                upload = form.cleaned_data["import_file"]
                content = upload.read()
                upload.seek(0)
                try:
                    row_count = len(input_format.create_dataset(content))
                except Exception:
                    row_count = 0
                if row_count > services.LARGE_IMPORT_ROWS:
                    job = services.import_job_create(
                        file_name=upload.name,
                        file_format=input_format.get_extension(),
                        content=content,
                        row_count=row_count,
                        user=request.user,
                    )
                    messages.info(
                        request,
                        f"{row_count} rows is a large file: a worker is checking it. "
                        "This page shows its progress; confirm here once it is checked.",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:mappings_importjob_change", args=[job.pk])
                    )
        return super().import_action(request, **kwargs)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("file_name", "status", "progress", "row_count", "created_by", "created_at")
    list_select_related = ("created_by",)
    readonly_fields = (
        "file_name",
        "file_format",
        "row_count",
        "status",
        "progress",
        "totals",
        "error_list",
        "created_by",
        "created_at",
        "updated_at",
    )
    exclude = ("errors",)
    change_form_template = "mappings/importjob_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Invalid rows")
    def error_list(self, obj: ImportJob) -> str:
        if not obj.errors:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html(
                "".join(
                    format_html("<li>Row {}: {}</li>", e["row"] or "-", e["error"])
                    for e in obj.errors
                )
            ),
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.confirm_view)
        return [
            path("<int:pk>/confirm/", view, name="mappings_importjob_confirm"),
            *super().get_urls(),
        ]

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST" or not _may_import_lookup_entries(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=pk)
        try:
            services.import_job_confirm(job=job)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.info(request, "Importing: this page shows the progress.")
        return HttpResponseRedirect(reverse("admin:mappings_importjob_change", args=[pk]))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = context.get("original")
        context["can_confirm"] = (
            obj is not None
            and obj.status == ImportStatus.VALIDATED
            and _may_import_lookup_entries(request)
        )
        context["refresh"] = obj is not None and obj.status in (
            ImportStatus.VALIDATING,
            ImportStatus.IMPORTING,
        )
        return super().render_change_form(request, context, *args, **kwargs)
