"""Alert rules (consultants and operators manage them) and the alerts they raised (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from clarity.models import Alert, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "pair", "kind", "thresholds", "recipients", "enabled")
    list_filter = ("kind", "enabled", "pair")
    list_select_related = ("pair",)
    search_fields = ("pair__name", "recipients", "webhook_url")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("pair", "kind", "enabled")}),
        (
            "Thresholds",
            {
                "description": "Only the ones for the rule's kind apply.",
                "fields": (
                    ("failures", "window_minutes"),
                    "grace_minutes",
                    "allowance_percent",
                ),
            },
        ),
        ("Who hears about it", {"fields": ("recipients", "webhook_url")}),
        ("History", {"fields": ("alert_history",)}),
    )
    readonly_fields = ("alert_history",)

    @admin.display(description="alerts")
    def alert_history(self, rule: AlertRule) -> str:
        if not rule.pk:
            return "—"
        url = reverse("admin:clarity_alert_changelist")
        return format_html(
            '<a href="{}?rule__id__exact={}">Alerts raised by this rule</a> · '
            '<a href="{}?rule__id__exact={}&amp;resolved_at__isempty=1">open ones</a>',
            url,
            rule.pk,
            url,
            rule.pk,
        )

    @admin.display(description="threshold")
    def thresholds(self, rule: AlertRule) -> str:
        return {
            "failures_over": f"> {rule.failures} in {rule.window_minutes} min",
            "schedule_missed": f"{rule.grace_minutes} min grace",
            "allowance_low": f"< {rule.allowance_percent}% left",
        }.get(rule.kind, "—")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("opened_at", "rule_link", "incident_key", "state", "resolved_at", "summary")
    list_filter = (
        ("resolved_at", admin.EmptyFieldListFilter),
        "rule__kind",
        "rule__pair",
    )
    list_select_related = ("rule__pair",)
    search_fields = ("incident_key", "last_message")
    date_hierarchy = "opened_at"
    fields = (
        "rule",
        "incident_key",
        ("opened_at", "resolved_at"),
        "last_message",
        "delivery_problem",
    )
    readonly_fields = (
        "rule",
        "incident_key",
        "opened_at",
        "resolved_at",
        "last_message",
        "delivery_problem",
    )

    @admin.display(description="rule", ordering="rule")
    def rule_link(self, alert: Alert) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:clarity_alertrule_change", args=[alert.rule_id]),
            alert.rule,
        )

    @admin.display(description="state", boolean=False)
    def state(self, alert: Alert) -> str:
        return "open" if alert.is_open else "resolved"

    @admin.display(description="message")
    def summary(self, alert: Alert) -> str:
        text = alert.last_message
        return text if len(text) <= 120 else text[:119] + "…"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
