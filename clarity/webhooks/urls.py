"""``/webhooks/<system>``: one route per system whose connector reads webhooks, named
``webhook_<system>`` for ``reverse``, and one for a system registered later (tests)."""

from __future__ import annotations

from django.urls import path

from clarity.webhooks import views
from connectors.registry import SYSTEMS

urlpatterns = [
    *(
        path(f"webhooks/{name}", views.receive, {"system": name}, name=f"webhook_{name}")
        for name, entry in SYSTEMS.items()
        if entry.connector.webhooks is not None
    ),
    path("webhooks/doorbell/<int:connection_id>", views.doorbell, name="webhook_doorbell"),
    path("webhooks/<slug:system>", views.receive, name="webhook"),
]
