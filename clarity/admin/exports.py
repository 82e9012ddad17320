"""The "Export CSV / XLSX" buttons of a changelist: the rows on screen, all pages, as a file.

The export takes the changelist's own queryset (its filters, search and
ordering, as ``ModelAdmin.get_changelist_instance`` builds it for the page),
so the file holds what the screen lists; clarity.selectors.exports reads the
rows and clarity.services.exports writes the file as it streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from clarity.services.exports import ExportFormat, export_response


class ExportMixin:
    """Adds ``export/<csv|xlsx>/`` to a ModelAdmin, for anyone who may view its records."""

    export_name: str

    def export_rows(
        self, request: HttpRequest, changelist: ChangeList
    ) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
        """The headers and rows of the export of what ``changelist`` lists."""
        raise NotImplementedError

    def export_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        return [
            path(
                "export/<str:export_format>/",
                self.admin_site.admin_view(self.export_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_export",
            )
        ]

    def export_view(self, request: HttpRequest, export_format: str) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        try:
            chosen = ExportFormat(export_format)
        except ValueError:
            raise PermissionDenied from None
        opts = self.model._meta  # type: ignore[attr-defined]
        listing = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters:
            self.message_user(  # type: ignore[attr-defined]
                request,
                "Those filters do not apply to this list; nothing was exported.",
                messages.ERROR,
            )
            return HttpResponseRedirect(listing)
        headers, rows = self.export_rows(request, changelist)
        return export_response(
            name=self.export_name, export_format=chosen, headers=headers, rows=rows
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        opts = self.model._meta  # type: ignore[attr-defined]
        query = request.GET.urlencode()
        links = [
            (
                f"Export {fmt.name}",
                reverse(f"admin:{opts.app_label}_{opts.model_name}_export", args=[fmt.value])
                + (f"?{query}" if query else ""),
            )
            for fmt in ExportFormat
        ]
        return super().changelist_view(  # type: ignore[misc]
            request, {**(extra_context or {}), "export_links": links}
        )
