"""/api/: a root listing the resources, the resources, the OpenAPI schema and its docs pages.

The docs pages (Swagger UI at /api/docs/, Redoc at /api/redoc/) are served
from this server (drf-spectacular-sidecar), not a CDN: they work offline and
on a locked-down network.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from clarity.api import views

router = DefaultRouter(trailing_slash=True)
router.APIRootView = views.ApiRootView
router.register("pairs", views.PairViewSet, basename="pair")
router.register("flows", views.FlowViewSet, basename="flow")
router.register("runs", views.RunViewSet, basename="run")
router.register("records", views.RecordViewSet, basename="record")

app_name = "api"
# The schema and its docs hold no data: other programs may read them before they have a token.
DOCS: dict[str, Any] = {
    "authentication_classes": [],
    "permission_classes": [AllowAny],
    "url_name": "api:schema",
}
urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[],
            permission_classes=[AllowAny],
            custom_settings={
                "TITLE": "Clarity Connect API",
                "DESCRIPTION": "Runs, the ledger and pair health. "
                "Send `Authorization: Token <key>`; each action needs the same "
                "permission as in the admin.",
                "VERSION": "1",
                "ENUM_NAME_OVERRIDES": {
                    "RecordStatusEnum": "clarity.models.RecordStatus",
                    "RunStatusEnum": "clarity.models.RunStatus",
                },
            },
        ),
        name="schema",
    ),
    path("docs/", SpectacularSwaggerView.as_view(**DOCS), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(**DOCS), name="redoc"),
    *router.urls,
]
