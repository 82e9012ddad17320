"""Writes for the portal: issuing tokens and placing orders in SYSPRO exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from connectors.errors import ConnectorError, ErrorKind
from connectors.syspro import SysproConnector
from portal.auth import new_token_key, token_digest
from portal.errors import RETRY_AFTER_SECONDS, PortalError, from_connector
from portal.models import OrderStatus, PortalClient, PortalOrder, PortalToken
from portal.selectors import authorise_customer, customer_prices, portal_connector

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderLine:
    stock_code: str
    quantity: Decimal
    warehouse: str = ""  # blank: SYSPRO's default warehouse for the stock code


@dataclass(frozen=True)
class PlacedOrder:
    order: PortalOrder
    created: bool  # False when the reference had already been placed


def portal_token_issue(*, client: PortalClient) -> tuple[PortalToken, str]:
    """A new token for the client; the key is returned once and only its digest is kept."""
    key = new_token_key()
    token = PortalToken.objects.create(client=client, prefix=key[:12], digest=token_digest(key))
    return token, key


def _request_of(customer: str, lines: list[OrderLine]) -> dict[str, Any]:
    """The order as compared between repeats: quantities normalised (2 == 2.000)."""
    return {
        "customer": customer,
        "lines": [
            {
                "stock_code": x.stock_code,
                "quantity": f"{x.quantity.normalize():f}",
                "warehouse": x.warehouse,
            }
            for x in lines
        ],
    }


def _already_placed(order: PortalOrder, request: dict[str, Any]) -> PlacedOrder:
    if order.request != request:
        raise PortalError(
            409,
            "reference_reused",
            f"Order reference '{order.reference}' was already used for a different order "
            f"(SYSPRO sales order {order.sales_order}). Use a new reference for a new order.",
            details={"sales_order": order.sales_order},
        )
    return PlacedOrder(order, created=False)


def portal_order_place(
    *, client: PortalClient, reference: str, customer: str, lines: list[OrderLine]
) -> PlacedOrder:
    """Place the order in SYSPRO (SORTOI) once per (client, reference).

    Two guards keep a repeat — a retry after a lost answer, a double click, two
    requests at once — from making a second SYSPRO order:

    1. the PortalOrder row, unique per (client, reference) and locked while
       SYSPRO is asked, so a concurrent duplicate waits and then finds it placed;
    2. the connector's lookup of the customer PO number (the reference) before
       posting, for when SYSPRO took an order whose answer never arrived.

    Lines are priced at the customer's SYSPRO price (the same cached answer the
    price endpoint gives), so the order carries the price the buyer was shown.
    """
    authorise_customer(client, customer)
    request = _request_of(customer, lines)
    existing = PortalOrder.objects.filter(client=client, reference=reference).first()
    if existing is not None and existing.status == OrderStatus.PLACED:
        return _already_placed(existing, request)
    codes = list(dict.fromkeys(line.stock_code for line in lines))
    prices = {
        i.stock_code: i.price
        for i in customer_prices(client=client, customer=customer, stock_codes=codes).items
    }
    priced = [{**line, "price": str(prices[line["stock_code"]])} for line in request["lines"]]
    try:
        with transaction.atomic():
            PortalOrder.objects.create(
                client=client, reference=reference, customer=customer, request=request
            )
    except IntegrityError:
        pass  # another request holds this reference: lock it below and see what became of it
    failure: PortalError | None = None
    with transaction.atomic():
        order = PortalOrder.objects.select_for_update().get(client=client, reference=reference)
        if order.status == OrderStatus.PLACED:
            return _already_placed(order, request)
        order.customer, order.request, order.lines = customer, request, priced
        order.attempts += 1
        try:
            order.sales_order = _post(portal_connector(client.connection), order)
            order.status, order.error_code, order.message = OrderStatus.PLACED, "", ""
        except PortalError as exc:
            failure = exc
            rejected = exc.status < 500
            order.status = OrderStatus.REJECTED if rejected else OrderStatus.PENDING
            order.error_code, order.message = exc.code, exc.message
        order.save()
    if failure is not None:
        raise failure
    logger.info("portal order %s placed as SYSPRO order %s", order.pk, order.sales_order)
    return PlacedOrder(order, created=True)


def _post(connector: SysproConnector, order: PortalOrder) -> str:
    """The SYSPRO sales order number, or PortalError with SYSPRO's reason in plain words."""
    record = {
        "OrderHeader": {"Customer": order.customer, "CustomerPoNumber": order.reference},
        "OrderDetails": {
            "StockLine": [
                {
                    "StockCode": line["stock_code"],
                    "Warehouse": line["warehouse"] or None,
                    "OrderQty": line["quantity"],
                    "Price": line["price"],
                }
                for line in order.lines
            ]
        },
    }
    try:
        (outcome,) = connector.write_batch("SorMaster", [record])
    except ConnectorError as exc:
        raise from_connector(exc) from exc
    if outcome.ok and outcome.target_id:
        return outcome.target_id
    code, message = outcome.code or "rejected", outcome.message or "SYSPRO refused the order."
    if outcome.kind is ErrorKind.TRANSIENT:
        raise PortalError(503, code, message, retry_after=RETRY_AFTER_SECONDS)
    raise PortalError(422, code, message)
