"""/api/: the resources, and the OpenAPI schema that describes them."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from clarity.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("pairs", views.PairViewSet, basename="pair")
router.register("flows", views.FlowViewSet, basename="flow")
router.register("runs", views.RunViewSet, basename="run")
router.register("records", views.RecordViewSet, basename="record")

app_name = "api"
urlpatterns = [
    # The schema holds no data, so other programs may read it before they have a token.
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
    *router.urls,
]
