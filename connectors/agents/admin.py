"""The admin's face over agents: create one (its token shown once), revoke, see health."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from connectors.agents.models import Agent
from connectors.agents.services import (
    agent_counts,
    agent_create,
    agent_delete,
    agent_online,
    agent_revoke,
)
from connectors.models import System


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    list_display = (
        "name",
        "connection",
        "health",
        "version",
        "host",
        "last_heartbeat",
        "calls",
        "call_errors",
    )
    list_filter = ("connection",)
    list_select_related = ("connection",)
    search_fields = ("name", "host")
    actions = ("revoke",)
    readonly_fields = (
        "health",
        "version",
        "host",
        "last_heartbeat",
        "calls",
        "call_errors",
        "created_at",
        "revoked_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> Any:
        # An agent's token is bound to its connection: moving it would hand another
        # connection's calls to a program installed for this one.
        return (*self.readonly_fields, "connection") if obj else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Agent | None = None) -> Any:
        return ("name", "connection", *self.readonly_fields) if obj else ("name", "connection")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "connection":
            kwargs["queryset"] = db_field.related_model.objects.filter(system=System.SYSPRO)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="calls served")
    def calls(self, agent: Agent) -> int:
        return agent_counts(agent)[0]

    @admin.display(description="errors")
    def call_errors(self, agent: Agent) -> int:
        return agent_counts(agent)[1]

    @admin.display(description="health")
    def health(self, agent: Agent) -> str:
        if agent.revoked:
            return "revoked"
        if agent.last_heartbeat is None:
            return "never connected"
        return "online" if agent_online(agent) else "offline"

    def save_model(
        self, request: HttpRequest, obj: Agent, form: ModelForm[Agent], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        agent, token = agent_create(connection=obj.connection, name=obj.name)
        obj.pk, obj.token_digest, obj.created_at = agent.pk, agent.token_digest, agent.created_at
        messages.warning(
            request,
            f"The agent's token is shown this once: {token} — copy it into the agent's "
            "configuration now. Only its digest is stored; if it is lost, revoke this agent "
            "and create another.",
        )

    @admin.action(description="Revoke the selected agents (their tokens stop working at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("connection"):
            agent_revoke(agent=agent)
        self.message_user(request, f"{queryset.count()} agent(s) revoked.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Agent) -> None:
        agent_delete(agent=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("connection"):
            agent_delete(agent=agent)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            actions.pop("revoke", None)
        return actions
