from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from clarity.forms import BundleImportForm
from clarity.models import IntegrationPair
from clarity.selectors.golive import pair_checklist
from clarity.services.bundles import (
    bundle_export,
    bundle_import,
    bundle_import_permissions_missing,
    bundle_permissions_missing,
    bundle_preview,
)
from clarity.services.golive import pair_launch
from clarity.services.reconciliation import reconciliation_run_start
from clarity.sync.admission import launch_refusal
from connectors.models import Connection

PENDING_BUNDLE = "pending_bundle"


@admin.register(IntegrationPair)
class IntegrationPairAdmin(admin.ModelAdmin):
    list_display = ("name", "connection_a", "connection_b", "active", "launch_status")
    list_filter = ("active",)
    list_select_related = ("connection_a", "connection_b", "launched_by")
    search_fields = ("name",)
    actions = ("export_bundle",)
    change_list_template = "admin/clarity/integrationpair/change_list.html"
    change_form_template = "admin/clarity/integrationpair/golive_change_form.html"
    readonly_fields = ("launch_status", "go_live_checklist")

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.launch_pair")

    @admin.display(description="go live")
    def launch_status(self, pair: IntegrationPair) -> str:
        """Live since when and by whom; or why its flows do not run yet."""
        if not pair.pk:
            return "Not launched yet."
        if pair.launched_at is not None:
            who = f" by {pair.launched_by}" if pair.launched_by_id else ""
            return f"Live since {localtime(pair.launched_at):%Y-%m-%d %H:%M}{who}"
        if launch_refusal(pair_id=pair.pk):
            return "Not launched: its flows only validate until Launch"
        return "Sandbox: runs without Launch"

    @admin.display(description="go-live checklist")
    def go_live_checklist(self, pair: IntegrationPair) -> str:
        if not pair.pk:
            return "Save the pair first: its checklist follows its connections and flows."
        icons = {True: static("admin/img/icon-yes.svg"), False: static("admin/img/icon-no.svg")}
        rows = format_html_join(
            "",
            '<li class="golive-{}"><img src="{}" alt="{}"> <strong>{}</strong>: {}{}</li>',
            (
                (
                    "met" if item.ok else "unmet",
                    icons[item.ok],
                    "met" if item.ok else "not met",
                    item.label,
                    item.detail,
                    format_html(' <a href="{}">Open</a>', item.link) if item.link else "",
                )
                for item in pair_checklist(pair=pair)
            ),
        )
        return format_html('<ul class="golive-checklist">{}</ul>', rows)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        pair = self.get_object(request, object_id)
        can_launch = (
            pair is not None and pair.launched_at is None and self.has_launch_permission(request)
        )
        extra_context = {
            **(extra_context or {}),
            "can_launch": can_launch,
            "can_reconcile": pair is not None and self.has_reconcile_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.run_reconciliation")

    def reconcile_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Reconcile now, from the pair's page: queued (or the one already queued shown)."""
        if not self.has_reconcile_permission(request):
            raise PermissionDenied("Reconciling takes the “Can start a reconciliation” permission.")
        pair = get_object_or_404(IntegrationPair, pk=object_id)
        run = reconciliation_run_start(pair=pair, user=request.user)
        self.message_user(
            request,
            f"Reconciliation #{run.pk} of {pair} is {run.get_status_display().lower()}; "
            "this page shows what it finds.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:clarity_reconciliationrun_change",
                                            args=[run.pk]))  # fmt: skip

    def launch_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Launch: refused with the unmet items, or live from now on."""
        if not self.has_launch_permission(request):
            raise PermissionDenied("Launching a pair takes the “Can launch a pair” permission.")
        pair = get_object_or_404(IntegrationPair, pk=object_id)
        back = HttpResponseRedirect(reverse("admin:clarity_integrationpair_change", args=[pair.pk]))
        try:
            pair = pair_launch(pair=pair, user=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return back
        flows = pair.flows.filter(enabled=True).count()
        self.message_user(
            request,
            f"“{pair.name}” is live: its {flows} enabled flow(s) run from now on, their "
            "schedules are registered.",
            messages.SUCCESS,
        )
        return back

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
            path(
                "<int:object_id>/launch/",
                self.admin_site.admin_view(require_POST(self.launch_view)),
                name="clarity_integrationpair_launch",
            ),
            path(
                "<int:object_id>/reconcile/",
                self.admin_site.admin_view(require_POST(self.reconcile_view)),
                name="clarity_integrationpair_reconcile",
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
