"""What the portal endpoints accept, and the bodies they answer with."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from portal.models import PortalOrder
from portal.selectors import MAX_STOCK_CODES, PriceAnswer

MAX_ORDER_LINES = 200


def _code(value: str) -> str:
    """SYSPRO keys are upper case; a portal may send them in any case."""
    return value.strip().upper()


class PriceQuerySerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=15)
    stock_codes = serializers.ListField(
        child=serializers.CharField(max_length=30), min_length=1, max_length=MAX_STOCK_CODES
    )

    def validate_customer(self, value: str) -> str:
        return _code(value)

    def validate_stock_codes(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_code(code) for code in value if code.strip()))


class OrderLineSerializer(serializers.Serializer):
    stock_code = serializers.CharField(max_length=30)
    quantity = serializers.DecimalField(
        max_digits=14, decimal_places=4, min_value=Decimal("0.0001")
    )
    warehouse = serializers.CharField(max_length=10, required=False, default="")

    def validate_stock_code(self, value: str) -> str:
        return _code(value)

    def validate_warehouse(self, value: str) -> str:
        return _code(value)


class OrderSerializer(serializers.Serializer):
    reference = serializers.CharField(
        max_length=30, help_text="The portal's order reference; SYSPRO's customer PO number."
    )
    customer = serializers.CharField(max_length=15)
    lines = OrderLineSerializer(many=True, min_length=1, max_length=MAX_ORDER_LINES)

    def validate_reference(self, value: str) -> str:
        return value.strip()

    def validate_customer(self, value: str) -> str:
        return _code(value)


def price_answer_data(answer: PriceAnswer) -> dict[str, Any]:
    """Money and quantities as decimal strings, so no client rounds them through floats."""
    info = answer.customer
    return {
        "customer": info.customer,
        "name": info.name,
        "price_code": info.price_code,
        "on_hold": info.on_hold,
        "items": [
            {
                "stock_code": item.stock_code,
                "description": item.description,
                "uom": item.uom,
                "price": str(item.price),
                "price_code": item.price_code,
                "free_stock": {w: str(q) for w, q in sorted(item.free_stock.items())},
                "free_stock_total": str(sum(item.free_stock.values(), Decimal(0))),
                "priced_at": item.priced_at.isoformat(),
            }
            for item in answer.items
        ],
    }


def order_data(order: PortalOrder) -> dict[str, Any]:
    return {
        "reference": order.reference,
        "customer": order.customer,
        "status": order.status,
        "sales_order": order.sales_order,
        "lines": order.lines,
        "error_code": order.error_code,
        "message": order.message,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }
