"""/portal/api/: real-time pricing and order write-back for B2B portals."""

from __future__ import annotations

from django.urls import path

from portal import views

app_name = "portal"
urlpatterns = [
    path("prices/", views.PricesView.as_view(), name="prices"),
    path("orders/", views.OrdersView.as_view(), name="orders"),
    path("orders/<str:reference>/", views.OrderView.as_view(), name="order"),
]
