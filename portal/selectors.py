"""Reads for the portal: a customer's SYSPRO prices and free stock, through a short cache.

A web shop asks for the same handful of items again and again while a buyer
browses; SYSPRO answers in tens of milliseconds at best. So each answer is
kept in Redis (shared by every web process) for ``CACHE_SECONDS``, keyed by
connection, customer and stock code, and only the stock codes not cached are
asked of SYSPRO. Prices and stock may be that many seconds old; each item
says when SYSPRO was asked (``priced_at``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

import django_rq
from django.utils import timezone
from redis import Redis

from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.http import RetryPolicy
from connectors.models import Connection
from connectors.syspro import SysproConnector, syspro_customer_prices
from portal.errors import PortalError, from_connector
from portal.models import PortalClient, PortalOrder

CACHE_SECONDS = 30
MAX_STOCK_CODES = 100
# A buyer is waiting: one quick retry, then a 503 with Retry-After, rather than
# the sync engine's patient backoff.
PORTAL_RETRY = RetryPolicy(attempts=2, backoff_base=0.2, max_retry_after=1.0)
PORTAL_TIMEOUT = (3.0, 20.0)


@dataclass(frozen=True)
class PricedItem:
    stock_code: str
    description: str
    uom: str
    price: Decimal
    price_code: str
    free_stock: dict[str, Decimal]
    priced_at: datetime

    def dumps(self) -> str:
        return json.dumps(
            {
                "stock_code": self.stock_code,
                "description": self.description,
                "uom": self.uom,
                "price": str(self.price),
                "price_code": self.price_code,
                "free_stock": {w: str(q) for w, q in self.free_stock.items()},
                "priced_at": self.priced_at.isoformat(),
            }
        )

    @classmethod
    def loads(cls, text: bytes) -> PricedItem:
        data = json.loads(text)
        return cls(
            stock_code=data["stock_code"],
            description=data["description"],
            uom=data["uom"],
            price=Decimal(data["price"]),
            price_code=data["price_code"],
            free_stock={w: Decimal(q) for w, q in data["free_stock"].items()},
            priced_at=datetime.fromisoformat(data["priced_at"]),
        )


@dataclass(frozen=True)
class CustomerInfo:
    customer: str
    name: str
    price_code: str
    on_hold: bool


@dataclass(frozen=True)
class PriceAnswer:
    customer: CustomerInfo
    items: list[PricedItem]  # in the order asked
    from_cache: bool  # every item came from the cache; SYSPRO was not asked


def portal_connector(connection: Connection) -> SysproConnector:
    """The connection's SYSPRO connector, tuned to fail fast while a buyer waits."""
    connector = connector_for(connection)
    if not isinstance(connector, SysproConnector):
        raise PortalError(
            502, "not_syspro", f"The portal's connection '{connection}' is not a SYSPRO one."
        )
    connector.http.retry = PORTAL_RETRY
    connector.http.timeout = PORTAL_TIMEOUT
    return connector


def _redis() -> Redis:
    return django_rq.get_connection("default")


def _customer_key(connection_id: int, customer: str) -> str:
    return f"portal:price:{connection_id}:{customer}"


def _item_key(connection_id: int, customer: str, stock_code: str) -> str:
    return f"portal:price:{connection_id}:{customer}:{stock_code}"


def authorise_customer(client: PortalClient, customer: str) -> None:
    if not client.may_act_for(customer):
        raise PortalError(
            403,
            "customer_not_allowed",
            f"This portal client may not act for customer '{customer}'.",
        )


def customer_prices(*, client: PortalClient, customer: str, stock_codes: list[str]) -> PriceAnswer:
    """The customer's price and free stock per warehouse for each stock code.

    Raises PortalError: 403 for a customer the client may not act for, 400
    naming an unknown customer or the unknown stock codes, 503 when SYSPRO
    fails for now.
    """
    authorise_customer(client, customer)
    connection_id = client.connection_id
    redis = _redis()
    keys = [_customer_key(connection_id, customer)]
    keys += [_item_key(connection_id, customer, code) for code in stock_codes]
    cached = redis.mget(keys)
    items = {
        code: PricedItem.loads(raw)
        for code, raw in zip(stock_codes, cached[1:], strict=True)
        if raw is not None
    }
    missing = [code for code in stock_codes if code not in items]
    if cached[0] is not None and not missing:
        info = CustomerInfo(**json.loads(cached[0]))
        return PriceAnswer(info, [items[code] for code in stock_codes], from_cache=True)
    try:
        prices = syspro_customer_prices(portal_connector(client.connection), customer, missing)
    except ConnectorError as exc:
        raise from_connector(exc) from exc
    if prices.unknown:
        names = ", ".join(f"'{code}'" for code in prices.unknown)
        raise PortalError(
            400,
            "stock_code_not_found",
            f"SYSPRO has no stock code {names}. Check the stock codes and ask again.",
            details={"stock_codes": prices.unknown},
        )
    now = timezone.now()
    info = CustomerInfo(prices.customer, prices.name, prices.price_code, prices.on_hold)
    fresh = {
        code: PricedItem(
            item.stock_code,
            item.description,
            item.uom,
            item.price,
            item.price_code,
            item.free_stock,
            now,
        )
        for code, item in prices.items.items()
    }
    pipeline = redis.pipeline(transaction=False)
    pipeline.set(keys[0], json.dumps(asdict(info)), ex=CACHE_SECONDS)
    for code, item in fresh.items():
        pipeline.set(_item_key(connection_id, customer, code), item.dumps(), ex=CACHE_SECONDS)
    pipeline.execute()
    items.update(fresh)
    return PriceAnswer(info, [items[code] for code in stock_codes], from_cache=False)


def portal_order(*, client: PortalClient, reference: str) -> PortalOrder | None:
    return PortalOrder.objects.filter(client=client, reference=reference).first()
