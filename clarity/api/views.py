"""Thin endpoints: validate, call a service or a selector, serialize the answer."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import APIRootView
from rest_framework.viewsets import GenericViewSet

from clarity.api import serializers as s
from clarity.api.pagination import NewestFirstPagination
from clarity.api.permissions import RolePermissions
from clarity.models import Flow, IntegrationPair, SyncRecord, SyncRun, Trigger
from clarity.selectors.exports import LEDGER_HEADERS, ledger_export_rows
from clarity.selectors.health import HEALTH_PERMISSIONS, pair_health, workers_alive
from clarity.selectors.ledger import ledger_records_filter
from clarity.selectors.runs import sync_runs_filter
from clarity.services.exports import CONTENT_TYPES, ExportFormat, export_response
from clarity.services.ledger import (
    RESOLVE,
    RETRY,
    Counts,
    ledger_records_resolve,
    ledger_records_retry,
    ledger_records_retry_code,
)
from clarity.services.runs import flow_run_enqueue

CONFLICT = OpenApiResponse(s.DetailSerializer, description="Refused in the record's state.")


class Conflict(APIException):
    """The request is valid but the record or flow is in a state that refuses it."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def refused(exc: ValidationError) -> Conflict:
    return Conflict(" ".join(exc.messages))


class ApiRootView(APIRootView):
    """``/api/``: links to each resource, the schema and its docs pages.

    Links only, no data: open to anyone, so a program (or a person) finds its
    way in before it has a token; each resource still asks for one.
    """

    permission_classes = (AllowAny,)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        for name in ("schema", "docs", "redoc"):
            response.data[name] = reverse(f"api:{name}", request=request)
        return response


class ApiViewSet(GenericViewSet):
    permission_classes = (RolePermissions,)
    required_permissions: dict[str, tuple[str, ...]] = {}


class ReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    pass


class PairViewSet(ReadOnlyViewSet):
    queryset = IntegrationPair.objects.all()
    serializer_class = s.PairSerializer
    required_permissions = {
        "list": ("clarity.view_integrationpair",),
        "retrieve": ("clarity.view_integrationpair",),
        "health": HEALTH_PERMISSIONS,
    }

    @extend_schema(responses=s.HealthSerializer)
    @action(detail=True, methods=["get"])
    def health(self, request: Request, pk: str) -> Response:
        """The pair's health, as on the admin dashboard."""
        pair = self.get_object()
        body = {"pair": pair_health(pair=pair), "workers_alive": workers_alive()}
        return Response(s.HealthSerializer(body).data)


class FlowViewSet(ReadOnlyViewSet):
    queryset = Flow.objects.all()
    serializer_class = s.FlowSerializer
    required_permissions = {
        "list": ("clarity.view_flow",),
        "retrieve": ("clarity.view_flow",),
        # Like the admin's "run now": the run permission alone, so it can be granted on its own.
        "run": ("clarity.run_flow",),
    }

    @extend_schema(request=None, responses={202: s.RunSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        """Queue a run of the flow, or return the run already waiting to start."""
        try:
            run = flow_run_enqueue(flow=self.get_object(), trigger=Trigger.API, user=request.user)
        except ValidationError as exc:
            raise refused(exc) from exc
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunViewSet(ReadOnlyViewSet):
    serializer_class = s.RunSerializer
    pagination_class = NewestFirstPagination
    required_permissions = {
        "list": ("clarity.view_syncrun",),
        "retrieve": ("clarity.view_syncrun",),
    }

    def get_queryset(self) -> QuerySet[SyncRun]:
        if self.action != "list":
            return SyncRun.objects.all()
        filters = s.RunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return sync_runs_filter(**_renamed(filters.validated_data))

    @extend_schema(parameters=[s.RunFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


VIEW = "clarity.view_syncrecord"


class RecordViewSet(ReadOnlyViewSet):
    pagination_class = NewestFirstPagination
    required_permissions = {
        "list": (VIEW,),
        "retrieve": (VIEW,),
        "export": (VIEW,),
        "retry": (VIEW, "clarity.retry_syncrecord"),
        "retry_many": (VIEW, "clarity.retry_syncrecord"),
        "retry_code": (VIEW, "clarity.retry_syncrecord"),
        "resolve": (VIEW, "clarity.resolve_syncrecord"),
        "resolve_many": (VIEW, "clarity.resolve_syncrecord"),
    }

    def get_queryset(self) -> QuerySet[SyncRecord]:
        if self.action not in ("list", "export"):
            return SyncRecord.objects.all()
        filters = s.RecordFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return ledger_records_filter(**_renamed(filters.validated_data))

    def get_serializer_class(self) -> type[s.RecordSerializer]:
        return s.RecordDetailSerializer if self.action == "retrieve" else s.RecordSerializer

    @extend_schema(parameters=[s.RecordFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            s.RecordFilterSerializer,
            OpenApiParameter(
                "export_format", str, OpenApiParameter.PATH, enum=[f.value for f in ExportFormat]
            ),
        ],
        responses={
            (200, CONTENT_TYPES[f].split(";")[0]): OpenApiTypes.BINARY for f in ExportFormat
        },
    )
    @action(detail=False, methods=["get"], url_path="export/(?P<export_format>csv|xlsx)")
    def export(self, request: Request, export_format: str) -> HttpResponseBase:
        """The records the list's filters select, newest first, as one CSV or XLSX file
        (streamed: no paging); the same columns and escaping as the admin's export."""
        records = self.get_queryset().order_by("-id")
        return export_response(
            name="ledger",
            export_format=ExportFormat(export_format),
            headers=LEDGER_HEADERS,
            rows=ledger_export_rows(records=records),
        )

    @extend_schema(request=None, responses={202: s.RecordSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Send one record again with the current mapping; a succeeded one is refused."""
        record = self.get_object()
        if not RETRY.applies_to(record.status):
            raise Conflict(RETRY.refusal(record.status) + " Nothing is sent to the target twice.")
        _retry(SyncRecord.objects.filter(pk=record.pk), request)
        record.refresh_from_db()
        return Response(s.RecordSerializer(record).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="records_retry_many",
        request=s.RecordIdsSerializer,
        responses={202: s.RetryResultSerializer, 409: CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="retry")
    def retry_many(self, request: Request) -> Response:
        """Retry up to 1,000 records at once; those that may not be retried are counted."""
        ids = _valid(s.RecordIdsSerializer, request)["ids"]
        queued, _ = _retry(SyncRecord.objects.filter(pk__in=ids), request)
        body = {"queued": queued, "refused": len(set(ids)) - queued}
        return Response(s.RetryResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="records_retry_code",
        request=s.RetryCodeSerializer,
        responses={202: s.RetryResultSerializer, 409: CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="retry-code")
    def retry_code(self, request: Request) -> Response:
        """Retry every failed record with one error code: in one flow, or every flow of a pair."""
        data = _valid(s.RetryCodeSerializer, request)
        flow = get_object_or_404(Flow, pk=data["flow"]) if "flow" in data else None
        pair = get_object_or_404(IntegrationPair, pk=data["pair"]) if "pair" in data else None
        try:
            queued, refused_count = ledger_records_retry_code(
                flow=flow, pair=pair, error_code=data["error_code"], user=request.user
            )
        except ValidationError as exc:  # e.g. the flow is disabled
            raise refused(exc) from exc
        body = {"queued": queued, "refused": refused_count}
        return Response(s.RetryResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.NoteSerializer, responses={200: s.RecordSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        """Mark a failed or unknown record resolved by a person, saying why."""
        record = self.get_object()
        note = _valid(s.NoteSerializer, request)["note"]
        counts = _resolve(SyncRecord.objects.filter(pk=record.pk), request, note)
        record.refresh_from_db()
        if not counts.done:
            raise Conflict(RESOLVE.refusal(record.status))
        return Response(s.RecordSerializer(record).data)

    @extend_schema(
        operation_id="records_resolve_many",
        request=s.BulkResolveSerializer,
        responses=s.ResolveResultSerializer,
    )
    @action(detail=False, methods=["post"], url_path="resolve")
    def resolve_many(self, request: Request) -> Response:
        """Mark up to 1,000 failed or unknown records resolved with one note; others are left
        alone and counted."""
        data = _valid(s.BulkResolveSerializer, request)
        counts = _resolve(SyncRecord.objects.filter(pk__in=data["ids"]), request, data["note"])
        body = {"resolved": counts.done, "refused": len(set(data["ids"])) - counts.done}
        return Response(s.ResolveResultSerializer(body).data)


def _renamed(filters: dict[str, Any]) -> dict[str, Any]:
    """Query parameters (pair, flow) to the selectors' keyword arguments (pair_id, flow_id)."""
    return {f"{k}_id" if k in ("pair", "flow") else k: v for k, v in filters.items()}


def _valid(serializer_class: type[s.serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _retry(records: QuerySet[SyncRecord], request: Request) -> Counts:
    try:
        return ledger_records_retry(records=records, user=request.user)
    except ValidationError as exc:  # e.g. the record's flow is disabled
        raise refused(exc) from exc


def _resolve(records: QuerySet[SyncRecord], request: Request, note: str) -> Counts:
    try:
        return ledger_records_resolve(records=records, user=request.user, note=note)
    except ValidationError as exc:
        raise refused(exc) from exc
