from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from connectors.forms import ConnectionForm
from connectors.models import Connection
from connectors.secrets import SecretUnreadable


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("name", "system", "environment", "base_url", "last_check_ok", "last_check_at")
    list_filter = ("system", "environment", "last_check_ok")
    search_fields = ("name",)
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
