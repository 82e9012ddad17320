"""Portal clients for consultants: who may price and order for which customers, and tokens.

A token's key is shown once, on the page that issues it, and never again:
only its digest is stored. Finance has no permission here and so no menu entry.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from portal.models import PortalClient, PortalOrder, PortalToken
from portal.services import portal_token_issue


class PortalTokenInline(admin.TabularInline):
    model = PortalToken
    extra = 0
    fields = ("prefix", "created_at", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    verbose_name_plural = "API tokens (tick 'revoked' to refuse a token from now on)"

    def has_add_permission(self, request: HttpRequest, obj: PortalClient | None = None) -> bool:
        return False  # issued with the "Issue a new token" link, which shows the key once


@admin.register(PortalClient)
class PortalClientAdmin(admin.ModelAdmin):
    list_display = ("name", "connection", "customer_summary", "active", "updated_at")
    list_filter = ("active", "connection")
    search_fields = ("name", "customer_codes")
    fields = ("name", "connection", "all_customers", "customer_codes", "active", "issue_token")
    readonly_fields = ("issue_token",)
    inlines = (PortalTokenInline,)

    @admin.display(description="customers")
    def customer_summary(self, client: PortalClient) -> str:
        if client.all_customers:
            return "all"
        codes = sorted(client.customers)
        return ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")

    @admin.display(description="API token")
    def issue_token(self, client: PortalClient) -> str:
        if client.pk is None:
            return "Save the client first, then issue its token."
        url = reverse("admin:portal_portalclient_issue_token", args=[client.pk])
        return format_html('<a class="button" href="{}">Issue a new token</a>', url)

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/issue-token/",
                self.admin_site.admin_view(self.issue_token_view),
                name="portal_portalclient_issue_token",
            ),
            *super().get_urls(),
        ]

    def issue_token_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET asks to confirm; POST issues the token and shows its key this once."""
        client = get_object_or_404(PortalClient, pk=pk)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "client": client,
            "title": f"Issue a token for {client}",
        }
        if request.method == "POST":
            token, key = portal_token_issue(client=client)
            context.update(token=token, key=key)
        # admin_view() marks the page never_cache, so the key stays in no cache.
        return TemplateResponse(request, "admin/portal/portalclient/issue_token.html", context)


@admin.register(PortalOrder)
class PortalOrderAdmin(admin.ModelAdmin):
    """What each portal order became in SYSPRO; read-only, the portal owns these rows."""

    list_display = ("reference", "client", "customer", "status", "sales_order", "updated_at")
    list_filter = ("status", "client")
    search_fields = ("reference", "sales_order", "customer")
    readonly_fields = [f.name for f in PortalOrder._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PortalOrder | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PortalOrder | None = None) -> bool:
        return False
