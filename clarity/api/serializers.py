"""What the API reads and writes; validation only, the work is in services and selectors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from clarity.models import (
    Flow,
    IntegrationPair,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.models.ledger import ERROR_KIND_CHOICES

MAX_BULK = 1000


# -- query filters -------------------------------------------------------------


class RunFilterSerializer(serializers.Serializer):
    pair = serializers.IntegerField(required=False, min_value=1)
    flow = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="Inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="Exclusive.")


class RecordFilterSerializer(RunFilterSerializer):
    trigger = None  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=RecordStatus.choices, required=False)
    error_kind = serializers.ChoiceField(choices=ERROR_KIND_CHOICES, required=False)
    error_code = serializers.CharField(required=False, max_length=100)
    search = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Exact source id, target id or business key (e.g. INV-00042).",
    )


# -- resources -----------------------------------------------------------------


class PairSerializer(serializers.ModelSerializer):
    class Meta:
        model = IntegrationPair
        fields = (
            "id",
            "name",
            "active",
            "description",
            "connection_a",
            "connection_b",
            "retention_days",
            "launched_at",
            "launched_by",
        )


class FlowSerializer(serializers.ModelSerializer):
    class Meta:
        model = Flow
        fields = (
            "id",
            "pair",
            "name",
            "source_connection",
            "source_entity",
            "target_connection",
            "target_entity",
            "enabled",
            "paused_reason",
            "trigger_manual",
            "manual_only",
            "trigger_schedule",
            "schedule_cron",
            "trigger_webhook",
        )


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = (
            "id",
            "flow",
            "trigger",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "total_count",
            "succeeded_count",
            "skipped_count",
            "failed_count",
            "message",
        )


class RecordSerializer(serializers.ModelSerializer):
    """A ledger row without its payloads, which only the single-record read carries."""

    class Meta:
        model = SyncRecord
        fields = (
            "id",
            "pair",
            "flow",
            "run",
            "source_id",
            "source_version",
            "business_key",
            "parent",
            "part",
            "target_id",
            "status",
            "error_kind",
            "error_code",
            "message",
            "attempts",
            "next_retry_at",
            "resolved_at",
            "resolution_note",
            "created_at",
            "updated_at",
        )


class RecordDetailSerializer(RecordSerializer):
    class Meta(RecordSerializer.Meta):
        fields = (
            *RecordSerializer.Meta.fields,
            "idempotency_key",
            "mapping_version",
            "resolved_by",
            "source_payload",
            "transformed_payload",
            "payload_override",
            "target_response",
        )


# -- actions -------------------------------------------------------------------


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="Why; kept with the record.")


class RecordIdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=MAX_BULK
    )


class BulkResolveSerializer(RecordIdsSerializer, NoteSerializer):
    pass


class RetryCodeSerializer(serializers.Serializer):
    error_code = serializers.CharField(max_length=100, help_text="e.g. lookup_missing")
    flow = serializers.IntegerField(
        required=False, min_value=1, help_text="Retry in this flow only."
    )
    pair = serializers.IntegerField(
        required=False, min_value=1, help_text="Retry in every flow of this pair."
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("flow" in data) == ("pair" in data):
            raise serializers.ValidationError(
                "Give either flow (retry in that flow only) or pair (in every flow of the pair)."
            )
        return data


class RetryResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Records sent again.")
    refused = serializers.IntegerField(
        help_text="Records not retried: not failed (e.g. succeeded), or not found."
    )


class ResolveResultSerializer(serializers.Serializer):
    resolved = serializers.IntegerField(help_text="Failed or unknown records marked resolved.")
    refused = serializers.IntegerField(
        help_text="Records left as they were: not found, or in a status that cannot be resolved."
    )


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


# -- health (clarity.selectors.health dataclasses) -----------------------------


class HourCountSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    records = serializers.IntegerField()
    failures = serializers.IntegerField()


class ConnectionHeadroomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    system = serializers.CharField()
    minute_remaining = serializers.IntegerField(allow_null=True)
    day_remaining = serializers.IntegerField(allow_null=True)
    concurrent_free = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)
    circuit = serializers.CharField(
        allow_blank=True, help_text="The circuit breaker: closed, open or half-open."
    )
    open_since = serializers.DateTimeField(allow_null=True)
    probe_at = serializers.DateTimeField(allow_null=True, help_text="When a test call is due.")
    last_failure = serializers.CharField(allow_blank=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)


class FlowHealthSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    paused_reason = serializers.CharField(allow_blank=True)
    last_run = RunSerializer(allow_null=True)
    today = serializers.DictField(
        child=serializers.IntegerField(), help_text="Outcomes recorded today, by status."
    )
    failure_rate = serializers.FloatField(allow_null=True, help_text="Failed / all, today.")
    oldest_failure_id = serializers.IntegerField(allow_null=True)
    oldest_failure_at = serializers.DateTimeField(allow_null=True)
    polling = serializers.CharField(
        allow_blank=True, help_text="How the flow starts: adaptive poll and its interval, cron."
    )


class PairHealthSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    active = serializers.BooleanField()
    queue = serializers.CharField()
    queue_depth = serializers.IntegerField(
        allow_null=True, help_text="Jobs waiting in the pair's queue; null: Redis unreachable."
    )
    flows = FlowHealthSerializer(many=True)
    connections = ConnectionHeadroomSerializer(many=True)
    hourly = HourCountSerializer(many=True, help_text="The last 7 days, oldest hour first.")


class HealthSerializer(serializers.Serializer):
    pair = PairHealthSerializer()
    workers_alive = serializers.IntegerField(
        allow_null=True, help_text="RQ workers alive (they serve every pair); null: no Redis."
    )
