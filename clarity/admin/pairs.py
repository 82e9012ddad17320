from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from clarity.forms import BundleImportForm
from clarity.models import IntegrationPair
from clarity.services.bundles import (
    bundle_export,
    bundle_import,
    bundle_import_permissions_missing,
    bundle_permissions_missing,
    bundle_preview,
)
from connectors.models import Connection

PENDING_BUNDLE = "pending_bundle"


@admin.register(IntegrationPair)
class IntegrationPairAdmin(admin.ModelAdmin):
    list_display = ("name", "connection_a", "connection_b", "active")
    list_filter = ("active",)
    list_select_related = ("connection_a", "connection_b")
    search_fields = ("name",)
    actions = ("export_bundle",)
    change_list_template = "admin/clarity/integrationpair/change_list.html"

    def has_export_bundle_permission(self, request: HttpRequest) -> bool:
        """Offered only to those who may view everything a bundle holds."""
        return not bundle_permissions_missing(user=request.user, actions=("view",))

    def has_import_bundle_permission(self, request: HttpRequest) -> bool:
        return not bundle_import_permissions_missing(request.user)

    @admin.action(
        description="Export configuration bundle (no credentials)", permissions=["export_bundle"]
    )
    def export_bundle(self, request: HttpRequest, queryset: QuerySet[IntegrationPair]) -> Any:
        if not self.has_export_bundle_permission(request):
            raise PermissionDenied(_bundle_refusal("export", request))
        if queryset.count() != 1:
            self.message_user(request, "Export one pair at a time.", messages.WARNING)
            return None
        pair = queryset.select_related("connection_a", "connection_b").get()
        response = HttpResponse(
            json.dumps(bundle_export(pair=pair), indent=2, ensure_ascii=False, default=str),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="{slugify(pair.name)}.json"'
        return response

    def get_urls(self) -> list[Any]:
        return [
            path(
                "import-bundle/",
                self.admin_site.admin_view(self.import_view),
                name="clarity_integrationpair_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload or pick a bundle → preview what changes → apply, all or nothing."""
        if not self.has_import_bundle_permission(request):
            raise PermissionDenied(_bundle_refusal("import", request))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a configuration bundle",
        }
        if request.method == "POST" and "apply" in request.POST:
            return self._apply(request)
        form = BundleImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST":
            try:
                valid = form.is_valid()
                changes = valid and bundle_preview(
                    bundle=form.cleaned_data["bundle"],
                    connections=form.connections(),
                    pair_name=form.cleaned_data["pair_name"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                valid = False
            if valid:
                request.session[PENDING_BUNDLE] = {
                    "bundle": form.cleaned_data["bundle"],
                    "pair_name": form.cleaned_data["pair_name"],
                    "a": form.cleaned_data["connection_a"].pk,
                    "b": form.cleaned_data["connection_b"].pk,
                }
                context["changes"] = changes
        context["form"] = form
        return TemplateResponse(
            request, "admin/clarity/integrationpair/import_bundle.html", context
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_import_bundle": self.has_import_bundle_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def _apply(self, request: HttpRequest) -> HttpResponse:
        pending = request.session.pop(PENDING_BUNDLE, None)
        back = reverse("admin:clarity_integrationpair_import")
        if not pending:
            self.message_user(
                request, "Nothing to apply: preview the bundle first.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        connections = {role: Connection.objects.get(pk=pending[role]) for role in ("a", "b")}
        try:
            pair = bundle_import(
                bundle=pending["bundle"],
                connections=connections,
                pair_name=pending["pair_name"],
                user=request.user,
            )
        except ValidationError as exc:
            self.message_user(
                request, "Nothing was imported: " + "; ".join(exc.messages), messages.ERROR
            )
            return HttpResponseRedirect(back)
        self.message_user(
            request, f"Imported the configuration of “{pair.name}”.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:clarity_integrationpair_change", args=[pair.pk]))


def _bundle_refusal(verb: str, request: HttpRequest) -> str:
    if verb == "export":
        missing = bundle_permissions_missing(user=request.user, actions=("view",))
    else:
        missing = bundle_import_permissions_missing(request.user)
    return (
        f"A bundle holds the pair's flows, mappings and lookup tables; to {verb} one your "
        f"role must also be allowed to {', '.join(missing)}."
    )
