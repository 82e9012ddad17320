"""Thin endpoints: authenticate the portal client, validate, call a selector or service."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.auth import IsPortalClient, PortalTokenAuthentication, client_of
from portal.errors import PortalError
from portal.selectors import customer_prices, portal_order
from portal.serializers import OrderSerializer, PriceQuerySerializer, order_data, price_answer_data
from portal.services import OrderLine, portal_order_place


class PortalView(APIView):
    authentication_classes = (PortalTokenAuthentication,)
    permission_classes = (IsPortalClient,)
    schema = None  # documented in the README, not in the back office's /api/schema/

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, PortalError):
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            return Response(exc.body(), status=exc.status, headers=headers)
        return super().handle_exception(exc)


class PricesView(PortalView):
    """A customer's SYSPRO price and free stock per warehouse for a list of stock codes."""

    def get(self, request: Request) -> Response:
        params = request.query_params
        codes = [c for value in params.getlist("stock_codes") for c in value.split(",")]
        return self._answer(request, {"customer": params.get("customer", ""), "stock_codes": codes})

    def post(self, request: Request) -> Response:
        return self._answer(request, request.data)

    def _answer(self, request: Request, data: Any) -> Response:
        query = PriceQuerySerializer(data=data)
        query.is_valid(raise_exception=True)
        answer = customer_prices(client=client_of(request), **query.validated_data)
        headers = {"X-Cache": "hit" if answer.from_cache else "miss"}
        return Response(price_answer_data(answer), headers=headers)


class OrdersView(PortalView):
    """Place an order in SYSPRO, once per order reference."""

    def post(self, request: Request) -> Response:
        body = OrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        placed = portal_order_place(
            client=client_of(request),
            reference=data["reference"],
            customer=data["customer"],
            lines=[OrderLine(**line) for line in data["lines"]],
        )
        code = status.HTTP_201_CREATED if placed.created else status.HTTP_200_OK
        return Response(order_data(placed.order), status=code)


class OrderView(PortalView):
    """What became of one order reference (e.g. after a 503)."""

    def get(self, request: Request, reference: str) -> Response:
        order = portal_order(client=client_of(request), reference=reference)
        if order is None:
            raise PortalError(404, "not_found", f"No order with reference '{reference}'.")
        return Response(order_data(order))
