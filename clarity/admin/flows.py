"""Flows: configuration, plus Run now, recent runs and the audited backfill."""

from __future__ import annotations

from typing import Any

import redis
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from clarity.models import Flow, MatchingRule, SyncRun, Trigger
from clarity.services.flows import (
    MATCHING_RULE_FIELDS,
    flow_create,
    flow_cursor_set,
    flow_matching_rules_set,
    flow_update,
)
from clarity.services.runs import flow_run_enqueue
from clarity.sync.schedules import polling_mode, schedule_wanted

RECENT_RUNS = 10


class BackfillForm(forms.Form):
    since = forms.DateTimeField(
        required=False,
        label=f"Read again from ({settings.TIME_ZONE} time)",
        help_text="Leave blank to read everything again. Records already delivered are skipped.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


def _when(moment: Any) -> str:
    return f"{localtime(moment):%Y-%m-%d %H:%M:%S %Z}" if moment else "—"


class FlowForm(forms.ModelForm):
    class Meta:
        model = Flow
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what is shown)

    # Left out of a post (a script filling the form, a page from before they existed) or
    # emptied, these take their defaults: no filter, the default polling bounds.
    DEFAULTED = ("event_filter", "poll_min_seconds", "poll_max_seconds")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.DEFAULTED:
            if name in cleaned and cleaned[name] in (None, ""):
                cleaned[name] = Flow.field_default(name)
        return cleaned


class MatchingRuleInline(admin.TabularInline):
    """How the flow recognises records its target already holds (clarity.sync.matching);
    each rule's fields are checked against the target's catalogue when saved."""

    model = MatchingRule
    extra = 0
    fields = ("position", "match_by", "keys", "enabled")
    verbose_name = "matching rule (tried in order; the first that finds a match wins)"


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    form = FlowForm
    inlines = (MatchingRuleInline,)

    def get_inline_instances(self, request: HttpRequest, obj: Flow | None = None) -> list[Any]:
        """A post without the rules' part (a script filling the form, a page from before
        matching rules) leaves the flow's rules as they are instead of failing the form."""
        inlines = super().get_inline_instances(request, obj)
        if request.method == "POST" and "matching_rules-TOTAL_FORMS" not in request.POST:
            return [i for i in inlines if not isinstance(i, MatchingRuleInline)]
        return inlines

    list_display = (
        "name",
        "pair",
        "source_connection",
        "source_entity",
        "target_connection",
        "target_entity",
        "schedule_cron",
        "enabled",
    )
    list_filter = ("pair", "enabled", "trigger_schedule", "trigger_webhook")
    list_select_related = ("pair", "source_connection", "target_connection")
    search_fields = ("name", "source_entity", "target_entity")
    autocomplete_fields = ("mapping",)
    actions = ("run_selected",)
    change_form_template = "admin/clarity/flow/change_form.html"
    # The cursor moves only through the audited backfill form below the page.
    readonly_fields = ("cursor", "paused_reason", "poll_interval_now", "recent_runs")
    fieldsets = (
        (None, {"fields": ("pair", "name", "enabled", "paused_reason")}),
        (
            "What moves",
            {
                "fields": (
                    ("source_connection", "source_entity"),
                    ("target_connection", "target_entity"),
                    "mapping",
                    "source_of_truth",
                    "business_key_field",
                    "batch_size",
                    ("read_mode", "change_field"),
                )
            },
        ),
        (
            "When it runs",
            {
                "fields": (
                    ("trigger_manual", "manual_only"),
                    "trigger_schedule",
                    "schedule_cron",
                    ("poll_adaptive", "poll_min_seconds", "poll_max_seconds"),
                    "poll_interval_now",
                    "trigger_webhook",
                    "event_filter",
                )
            },
        ),
        ("Progress", {"fields": ("cursor", "recent_runs")}),
    )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clarity.run_flow")

    def has_backfill_permission(self, request: HttpRequest) -> bool:
        """Consultants (who change flows) and operators (who run them) may re-read a period."""
        return self.has_change_permission(request) or self.has_run_permission(request)

    def get_urls(self) -> list[URLPattern]:
        def view(func: Any, suffix: str) -> URLPattern:
            wrapped = self.admin_site.admin_view(require_POST(func))
            return path(f"<path:object_id>/{suffix}/", wrapped, name=f"clarity_flow_{suffix}")

        own = [view(self.run_view, "run"), view(self.backfill_view, "backfill")]
        return [*own, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {
            "can_run": self.has_run_permission(request),
            "backfill_form": BackfillForm() if self.has_backfill_permission(request) else None,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def save_model(self, request: HttpRequest, obj: Flow, form: Any, change: bool) -> None:
        """Through the flow services: audited, re-enabling un-pauses, the schedule follows."""
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            flow = flow_update(flow=obj, data=data, user=request.user)
        else:
            flow = flow_create(data=dict(form.cleaned_data), user=request.user)
            obj.pk = flow.pk
        transaction.on_commit(lambda: self._warn_unless_scheduled(request, flow))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The matching rules are saved whole through their service, as a bundle's are:
        checked, and audited with what they were before and after."""
        if formset.model is not MatchingRule:
            super().save_formset(request, form, formset, change)
            return
        kept = [
            {name: rule.cleaned_data[name] for name in MATCHING_RULE_FIELDS}
            for rule in formset.forms
            if rule.cleaned_data and not rule.cleaned_data.get("DELETE")
        ]
        kept.sort(key=lambda rule: rule["position"])  # the order they are tried in
        flow_matching_rules_set(flow=form.instance, rules=kept, user=request.user)
        # The admin's own history entry reads these; the audit row holds the detail.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _warn_unless_scheduled(self, request: HttpRequest, flow: Flow) -> None:
        # Runs after the services' own on-commit step that registered the schedule.
        if schedule_wanted(flow) and not flow.schedule_job_id:
            self.message_user(
                request,
                "Saved, but the job queue (Redis) is unreachable, so the schedule is not "
                "registered yet; the sweeper registers it once Redis is back.",
                messages.WARNING,
            )

    @admin.display(description="Starts")
    def poll_interval_now(self, flow: Flow) -> str:
        return polling_mode(flow)

    @admin.display(description="Recent runs")
    def recent_runs(self, flow: Flow) -> str:
        runs = SyncRun.objects.filter(flow=flow).order_by("-id")[:RECENT_RUNS]
        if not runs:
            return "No runs yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:clarity_syncrun_change", args=[run.pk]),
                    run.pk,
                    run.get_trigger_display(),
                    run.get_status_display(),
                    _when(run.started_at),
                    _when(run.finished_at),
                    run.done_count,
                    run.total_count,
                    run.succeeded_count,
                    run.skipped_count,
                    run.failed_count,
                )
                for run in runs
            ),
        )
        return format_html(
            "<table><thead><tr><th>Run</th><th>Trigger</th><th>Status</th><th>Started</th>"
            "<th>Finished</th><th>Done / read</th><th>Succeeded</th><th>Skipped</th>"
            "<th>Failed</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Run selected flows now", permissions=["run"])
    def run_selected(self, request: HttpRequest, queryset: QuerySet[Flow]) -> None:
        for flow in queryset.select_related("pair"):
            self._run(request, flow)

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        flow = self._flow_for(request, object_id, allowed=self.has_run_permission(request))
        self._run(request, flow)
        return HttpResponseRedirect(reverse("admin:clarity_flow_change", args=[flow.pk]))

    def backfill_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        flow = self._flow_for(request, object_id, allowed=self.has_backfill_permission(request))
        form = BackfillForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError(form.errors["since"])
            flow = flow_cursor_set(flow=flow, when=form.cleaned_data["since"], user=request.user)
        except ValidationError as exc:
            self.message_user(
                request, f"Cursor not moved: {' '.join(exc.messages)}", messages.ERROR
            )
        else:
            where = f"from {flow.cursor}" if flow.cursor else "from the beginning"
            self.message_user(
                request,
                f"The next run of “{flow.name}” reads again {where}; "
                "records already delivered are skipped.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:clarity_flow_change", args=[flow.pk]))

    def _flow_for(self, request: HttpRequest, object_id: str, *, allowed: bool) -> Flow:
        flow = self.get_object(request, object_id)
        if flow is None or not allowed or not self.has_view_or_change_permission(request, flow):
            raise PermissionDenied
        return flow

    def _run(self, request: HttpRequest, flow: Flow) -> None:
        try:
            run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL, user=request.user)
        except ValidationError as exc:
            self.message_user(request, f"Not run: {' '.join(exc.messages)}", messages.ERROR)
            return
        except redis.exceptions.RedisError:
            self.message_user(
                request,
                f"The run of “{flow.name}” is saved, but the job queue (Redis) is unreachable; "
                "the sweeper starts it once Redis is back.",
                messages.WARNING,
            )
            return
        self.message_user(
            request,
            format_html(
                'Run <a href="{}">{}</a> of “{}” is {}.',
                reverse("admin:clarity_syncrun_change", args=[run.pk]),
                run.pk,
                flow.name,
                run.get_status_display().lower(),
            ),
            messages.SUCCESS,
        )
