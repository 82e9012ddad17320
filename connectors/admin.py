from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

import connectors.agents.admin  # noqa: F401  (registers the agents' admin)
from connectors.errors import ConnectorError
from connectors.forms import ConnectionForm
from connectors.models import Connection, System
from connectors.secrets import SecretUnreadable
from connectors.services import (
    check_passed,
    connection_check,
    connection_check_summary,
    connection_save,
    xero_connect_finish,
    xero_connect_start,
)

XERO_STATE_SESSION_KEY = "xero_connect"


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin[Connection]):
    form = ConnectionForm
    list_display = ("name", "system", "environment", "base_url", "last_check_ok", "last_check_at")
    list_filter = ("system", "environment", "last_check_ok")
    search_fields = ("name",)
    actions = ("test_connections",)
    readonly_fields = (
        "stored_secrets",
        "token_expires_at",
        "last_check_at",
        "last_check_ok",
        "last_check_message",
    )
    fieldsets = (
        (None, {"fields": ("name", "system", "environment", "base_url", "settings")}),
        (
            "Secrets (write-only)",
            {"fields": ("stored_secrets", "new_credentials", "forget_secrets")},
        ),
        (
            "Status",
            {
                "fields": (
                    "token_expires_at",
                    "last_check_at",
                    "last_check_ok",
                    "last_check_message",
                )
            },
        ),
    )

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: Connection) -> str:
        """Names only: the admin shows *that* a secret is stored, never its value."""
        if obj.pk is None:
            return "—"
        try:
            names = sorted(obj.credentials or {})
        except SecretUnreadable as exc:
            return format_html('<span class="errornote">{}</span>', str(exc))
        names += [
            label
            for label, field in (
                ("OAuth access token", "access_token"),
                ("OAuth refresh token", "refresh_token"),
            )
            if obj.__dict__.get(field)
        ]
        if not names:
            return "None stored."
        return format_html_join(", ", "<code>{}</code>", ((n,) for n in names))

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        """Through the one service every change goes through: re-pointing clears the secrets."""
        cleared = connection_save(
            connection=obj,
            new_credentials=form.cleaned_data.get("new_credentials") or {},
            forget_secrets=bool(form.cleaned_data.get("forget_secrets")),
        )
        if cleared:
            self.message_user(
                request,
                f"{obj.name}: the environment or address changed, so the stored "
                "credentials and sign-in tokens were cleared; they are never sent elsewhere. "
                "Enter them again (and, for Xero, use Connect to Xero).",
                messages.WARNING,
            )

    @admin.action(description="Test connection", permissions=["change"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            self._report_check(request, connection)

    def _report_check(self, request: HttpRequest, connection: Connection) -> None:
        check = connection_check(connection=connection)
        level = messages.SUCCESS if check_passed(check) else messages.ERROR
        self.message_user(request, f"{connection.name}: {connection_check_summary(check)}", level)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        # Testing calls out and connecting starts a sign-in: POST (with CSRF) only.
        return [
            path(
                "<int:pk>/check/",
                view(require_POST(self.check_view)),
                name="connectors_connection_check",
            ),
            path(
                "<int:pk>/xero/connect/",
                view(require_POST(self.xero_connect_view)),
                name="connectors_connection_xero_connect",
            ),
            path(
                "xero/callback/",
                view(self.xero_callback_view),
                name="connectors_connection_xero_callback",
            ),
            *super().get_urls(),
        ]

    def _editable(self, request: HttpRequest, pk: int) -> Connection:
        connection = get_object_or_404(Connection, pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        return connection

    def _change_url(self, connection: Connection) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:connectors_connection_change", args=[connection.pk])
        )

    def check_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self._editable(request, pk)
        self._report_check(request, connection)
        return self._change_url(connection)

    def _callback_uri(self, request: HttpRequest) -> str:
        return request.build_absolute_uri(reverse("admin:connectors_connection_xero_callback"))

    def xero_connect_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self._editable(request, pk)
        if connection.system != System.XERO:
            raise PermissionDenied
        try:
            url, state = xero_connect_start(
                connection=connection, redirect_uri=self._callback_uri(request)
            )
        except (ConnectorError, SecretUnreadable) as exc:
            self.message_user(request, f"Cannot start the Xero sign-in: {exc}", messages.ERROR)
            return self._change_url(connection)
        request.session[XERO_STATE_SESSION_KEY] = {"state": state, "connection": connection.pk}
        return HttpResponseRedirect(url)

    def xero_callback_view(self, request: HttpRequest) -> HttpResponse:
        pending = request.session.pop(XERO_STATE_SESSION_KEY, None)
        if not pending or request.GET.get("state") != pending["state"]:
            self.message_user(
                request,
                "This Xero sign-in does not match one started here (or it was already used); "
                "press “Connect to Xero” again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:connectors_connection_changelist"))
        connection = self._editable(request, pending["connection"])
        if "error" in request.GET:
            self.message_user(
                request, f"Xero did not connect: {request.GET['error']}.", messages.ERROR
            )
            return self._change_url(connection)
        try:
            tenant = xero_connect_finish(
                connection=connection,
                redirect_uri=self._callback_uri(request),
                callback_url=request.build_absolute_uri(),
                state=pending["state"],
            )
        except ConnectorError as exc:
            self.message_user(request, f"Xero did not connect: {exc}", messages.ERROR)
            return self._change_url(connection)
        who = f" as {tenant.connected_as}" if tenant.connected_as else ""
        self.message_user(
            request,
            f"Connected to Xero organisation “{tenant.tenant_name}”{who}.",
            messages.SUCCESS,
        )
        return self._change_url(connection)
