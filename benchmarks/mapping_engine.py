"""Benchmark: SYSPRO sales orders -> Xero ACCREC invoices, three ways.

1. the mapping engine (compiled once, applied per order),
2. a hand-written Python function doing the same work (the practical ceiling),
3. the same mapping as a glom spec.

All three are checked to give the same output on a sample before timing, value
for value as JSON text (so ``Decimal("1.5")`` and ``Decimal("1.50")`` differ,
which ``==`` would let through). Orders are generated deterministically (seeded)
in batches so 100,000 of them never sit in memory at once; generation is not
timed. The process is pinned to one CPU and each batch is timed in CPU time
(``process_time``: time spent waiting for the CPU while other processes run is
not counted) in three rounds of engine, hand-written, glom - interleaved so a
burst of load on a shared machine hits all three alike - keeping each one's best
round. glom maps every tenth order because it is slow; its rate is still orders
per second.

    .venv/bin/python benchmarks/mapping_engine.py            # 100,000 orders
    .venv/bin/python benchmarks/mapping_engine.py 5000       # quick check
    BENCH_ORDERS=5000 .venv/bin/python benchmarks/mapping_engine.py

The last stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glom import glom

from mappings.engine import (
    Combine,
    Effect,
    Enrichment,
    FieldRow,
    LookupTable,
    MappingSpec,
    Outcome,
    Rule,
    Transform,
    compile_mapping,
    to_json_safe,
)

SEED = 20240601
BATCH = 10_000
GLOM_SHARE = 10  # glom maps one order in GLOM_SHARE
SAMPLE = 2_000
REPEAT = 3

REGIONS = ["north", "south", "EAST", "West", "Scotland", "Wales", "NI", "export"]
TAX_BY_REGION = {
    "north": "OUTPUT2",
    "south": "OUTPUT2",
    "east": "OUTPUT2",
    "west": "OUTPUT2",
    "scotland": "OUTPUT2",
    "wales": "OUTPUT2",
    "ni": "ECOUTPUT",
    "export": "EXEMPTEXPORT",
}
PAYMENT_METHODS = {"EFT": "090", "CHQ": "091", "CC": "092", "CASH": "093", "DD": "094"}
STOCK_CODES = [f"{prefix}{n:04d}" for prefix in ("A", "B", "C", "FG", "RM") for n in range(60)]
ACCOUNT_BY_STOCK = {
    code: {"A": "200", "B": "210", "C": "220", "FG": "260", "RM": "270"}[code.rstrip("0123456789")]
    for code in STOCK_CODES
}
STATUSES = ["1", "2", "3", "4", "8", "9", "9", "9", "\\"]
LINE_WEIGHTS = [1 / n for n in range(1, 21)]


def _line(rng: random.Random, number: int) -> dict[str, Any]:
    stock = rng.choice(STOCK_CODES)
    return {
        "SalesOrderLine": number,
        "LineType": "1",
        "StockCode": stock,
        "StockDescription": f"  Item {stock} grade {rng.randint(1, 9)} ",
        "Warehouse": rng.choice(["FG", "RM", "E1"]),
        "OrderQty": f"{rng.randint(1, 500)}.{rng.randint(0, 999):03d}",
        "OrderUom": "EA",
        "Price": f"{rng.randint(0, 2000)}.{rng.randint(0, 9999):04d}",
        "PriceUom": "EA",
        "DiscountPercent": f"{rng.choice([0, 0, 0, 2.5, 5, 10])}",
        "ProductClass": stock[:1],
    }


def _order(rng: random.Random, number: int) -> dict[str, Any]:
    ordered = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 700))
    ship = ordered + dt.timedelta(days=rng.randint(1, 60))
    lines = rng.choices(range(1, 21), weights=LINE_WEIGHTS)[0]
    return {
        "SalesOrder": f"{number:015d}",
        "OrderType": "O",
        "OrderStatus": rng.choice(STATUSES),
        "Customer": f"C{rng.randint(1, 5000):06d}",
        "CustomerName": f"Customer {rng.randint(1, 5000)} Ltd ",
        "CustomerPoNumber": f" PO-{rng.randint(1000, 999999)}",
        "OrderDate": ordered.strftime("%d/%m/%Y"),
        "ReqShipDate": ship.strftime("%m/%d/%Y"),
        "Branch": rng.choice(["01", "02", "03"]),
        "Warehouse": rng.choice(["FG", "RM"]),
        "Salesperson": rng.choice(["AB", "CD", "EF"]),
        "Area": rng.choice(REGIONS),
        "TaxStatus": "N",
        "Currency": rng.choice(["gbp", "GBP", "eur", "usd"]),
        "PaymentMethod": rng.choice(list(PAYMENT_METHODS)),
        "TermsCode": rng.choice(["30", "60", "CD"]),
        "ShipAddress1": f"{rng.randint(1, 200)} High Street",
        "ShipAddress2": "Suite 4",
        "ShipAddress3": rng.choice(["Leeds", "York", "Bath"]),
        "ShipAddress4": "",
        "ShipPostalCode": "LS1 4AP",
        "Email": f"buyer{number}@example.com",
        "Telephone": "0113 496 0000",
        "DocumentFormat": "1",
        "Comment": "",
        "Lines": [_line(rng, n + 1) for n in range(lines)],
    }


def orders(count: int) -> Iterator[list[dict[str, Any]]]:
    """Deterministic batches of orders; the same count always gives the same orders."""
    rng = random.Random(SEED)
    made = 0
    while made < count:
        size = min(BATCH, count - made)
        yield [_order(rng, made + i + 1) for i in range(size)]
        made += size


# -- 1. the engine -------------------------------------------------------------------------------


def engine_spec() -> MappingSpec:
    def row(rid: str, source: str | tuple[str, ...], target: str, *t: Transform, **kw: Any):
        sources = (source,) if isinstance(source, str) else source
        return FieldRow(rid, sources, (target,), tuple(t), **kw)

    two_places = Transform("decimal", {"places": 2, "rounding": "half_up"})
    return MappingSpec(
        rows=(
            row("type", (), "Type", Transform("constant", {"value": "ACCREC"})),
            row("number", "SalesOrder", "InvoiceNumber", Transform("concat", {"before": "SO-"})),
            row("reference", "CustomerPoNumber", "Reference", Transform("trim")),
            row("contact", "Customer", "Contact.ContactNumber"),
            row("contact-name", "CustomerName", "Contact.Name", Transform("trim")),
            row("date", "OrderDate", "Date", Transform("date", {"from": "DD/MM/YYYY"})),
            row("due", "ReqShipDate", "DueDate", Transform("date", {"from": "MM/DD/YYYY"})),
            row("currency", "Currency", "CurrencyCode", Transform("upper")),
            row("amounts", (), "LineAmountTypes", Transform("constant", {"value": "Exclusive"})),
            row(
                "bank",
                "PaymentMethod",
                "BankAccountCode",
                Transform("lookup", {"table": "payment method"}),
            ),
            row("item", "Lines[].StockCode", "LineItems[].ItemCode"),
            row("desc", "Lines[].StockDescription", "LineItems[].Description", Transform("trim")),
            row(
                "qty",
                "Lines[].OrderQty",
                "LineItems[].Quantity",
                Transform("decimal", {"places": 4}),
            ),
            row("price", "Lines[].Price", "LineItems[].UnitAmount", Transform("decimal")),
            row(
                "amount",
                ("Lines[].OrderQty", "Lines[].Price"),
                "LineItems[].LineAmount",
                two_places,
                combine=Combine.MULTIPLY,
            ),
            row("discount", "Lines[].DiscountPercent", "LineItems[].DiscountRate", two_places),
            row(
                "tax",
                "Area",
                "LineItems[].TaxType",
                Transform("lookup", {"table": "tax by region"}),
            ),
        ),
        lookups=(
            LookupTable("stock code to account", ACCOUNT_BY_STOCK),
            LookupTable("tax by region", TAX_BY_REGION, case_sensitive=False),
            LookupTable("payment method", PAYMENT_METHODS),
        ),
        rules=(
            Rule("cancelled", "OrderStatus == '\\\\'", Effect.SKIP, message="order cancelled"),
            Rule("complete", "OrderStatus == '9'", Effect.SET, target="Status", value="AUTHORISED"),
        ),
        enrichments=(
            Enrichment(
                "account", "LineItems[].AccountCode", "Lines[].StockCode", "stock code to account"
            ),
        ),
        defaults={"Status": "DRAFT"},
    )


def engine_mapper() -> Callable[[dict[str, Any]], Any]:
    plan = compile_mapping(engine_spec())

    def run(order: dict[str, Any]) -> Any:
        result = plan.apply(order)
        return result.record if result.outcome is Outcome.MAPPED else result.outcome.value

    return run


# -- 2. by hand ----------------------------------------------------------------------------------

TWO = Decimal("0.01")
FOUR = Decimal("0.0001")
TAX_FOLDED = {k.casefold(): v for k, v in TAX_BY_REGION.items()}


def handwritten(order: dict[str, Any]) -> Any:
    status = order["OrderStatus"]
    if status == "\\":
        return "skipped"
    tax = TAX_FOLDED[order["Area"].casefold()]
    items = []
    for line in order["Lines"]:
        qty, price = Decimal(line["OrderQty"]), Decimal(line["Price"])
        items.append(
            {
                "ItemCode": line["StockCode"],
                "Description": line["StockDescription"].strip(),
                "Quantity": qty.quantize(FOUR, ROUND_HALF_UP),
                "UnitAmount": price,
                "LineAmount": (qty * price).quantize(TWO, ROUND_HALF_UP),
                "DiscountRate": Decimal(line["DiscountPercent"]).quantize(TWO, ROUND_HALF_UP),
                "TaxType": tax,
                "AccountCode": ACCOUNT_BY_STOCK[line["StockCode"]],
            }
        )
    return {
        "Type": "ACCREC",
        "InvoiceNumber": "SO-" + order["SalesOrder"],
        "Reference": order["CustomerPoNumber"].strip(),
        "Contact": {"ContactNumber": order["Customer"], "Name": order["CustomerName"].strip()},
        "Date": dt.datetime.strptime(order["OrderDate"], "%d/%m/%Y").strftime("%Y-%m-%d"),
        "DueDate": dt.datetime.strptime(order["ReqShipDate"], "%m/%d/%Y").strftime("%Y-%m-%d"),
        "CurrencyCode": order["Currency"].upper(),
        "LineAmountTypes": "Exclusive",
        "BankAccountCode": PAYMENT_METHODS[order["PaymentMethod"]],
        "Status": "AUTHORISED" if status == "9" else "DRAFT",
        "LineItems": items,
    }


# -- 3. glom -------------------------------------------------------------------------------------


def _glom_spec() -> dict[str, Any]:
    from glom import T, Val

    def dmy(text: str) -> str:
        return dt.datetime.strptime(text, "%d/%m/%Y").strftime("%Y-%m-%d")

    def mdy(text: str) -> str:
        return dt.datetime.strptime(text, "%m/%d/%Y").strftime("%Y-%m-%d")

    def money(text: str) -> Decimal:
        return Decimal(text).quantize(TWO, ROUND_HALF_UP)

    line = {
        "ItemCode": "StockCode",
        "Description": ("StockDescription", str.strip),
        "Quantity": ("OrderQty", lambda q: Decimal(q).quantize(FOUR, ROUND_HALF_UP)),
        "UnitAmount": ("Price", Decimal),
        "LineAmount": (
            T,
            lambda ln: (Decimal(ln["OrderQty"]) * Decimal(ln["Price"])).quantize(
                TWO, ROUND_HALF_UP
            ),
        ),
        "DiscountRate": ("DiscountPercent", money),
        "AccountCode": ("StockCode", ACCOUNT_BY_STOCK.__getitem__),
    }
    return {
        "Type": Val("ACCREC"),
        "InvoiceNumber": ("SalesOrder", lambda s: "SO-" + s),
        "Reference": ("CustomerPoNumber", str.strip),
        "Contact": {"ContactNumber": "Customer", "Name": ("CustomerName", str.strip)},
        "Date": ("OrderDate", dmy),
        "DueDate": ("ReqShipDate", mdy),
        "CurrencyCode": ("Currency", str.upper),
        "LineAmountTypes": Val("Exclusive"),
        "BankAccountCode": ("PaymentMethod", PAYMENT_METHODS.__getitem__),
        "Status": ("OrderStatus", lambda s: "AUTHORISED" if s == "9" else "DRAFT"),
        "LineItems": ("Lines", [line]),
        "TaxType": ("Area", lambda a: TAX_FOLDED[a.casefold()]),
    }


def glom_mapper() -> Callable[[dict[str, Any]], Any]:
    spec = _glom_spec()

    def run(order: dict[str, Any]) -> Any:
        if order["OrderStatus"] == "\\":
            return "skipped"
        invoice = glom(order, spec)
        tax = invoice.pop("TaxType")
        for item in invoice["LineItems"]:
            item["TaxType"] = tax
        return invoice

    return run


# -- measuring -----------------------------------------------------------------------------------


def _time(mapper: Callable[[dict[str, Any]], Any], batch: list[dict[str, Any]]) -> float:
    """CPU seconds to map ``batch`` once, after a collection so no earlier garbage is billed."""
    gc.collect()
    start = time.process_time()
    for order in batch:
        mapper(order)
    return time.process_time() - start


def _exact(output: Any) -> str:
    return json.dumps(to_json_safe(output), sort_keys=True)


def _pin_to_one_cpu() -> str:
    """Run on a single CPU so the figures are one core's, whatever the machine has."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"cpu {cpu}"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_ORDERS", 100_000))
    engine, by_hand, with_glom = engine_mapper(), handwritten, glom_mapper()
    print(f"pinned to {_pin_to_one_cpu()}")

    sample = next(orders(min(SAMPLE, count)))
    for order in sample:
        expected = _exact(by_hand(order))
        if _exact(engine(order)) != expected or _exact(with_glom(order)) != expected:
            raise SystemExit(f"outputs differ for order {order['SalesOrder']}")
    print(f"outputs identical on {len(sample)} sample orders")

    seconds = {"engine": 0.0, "handwritten": 0.0, "glom": 0.0}
    glom_orders = lines = 0
    for batch in orders(count):
        lines += sum(len(o["Lines"]) for o in batch)
        glom_batch = batch[::GLOM_SHARE]
        glom_orders += len(glom_batch)
        best = {name: float("inf") for name in seconds}
        for _ in range(REPEAT):
            best["engine"] = min(best["engine"], _time(engine, batch))
            best["handwritten"] = min(best["handwritten"], _time(by_hand, batch))
            best["glom"] = min(best["glom"], _time(with_glom, glom_batch))
        for name, value in best.items():
            seconds[name] += value

    engine_rate = count / seconds["engine"]
    hand_rate = count / seconds["handwritten"]
    glom_rate = glom_orders / seconds["glom"]
    print(f"{count} orders, {lines} lines ({lines / count:.1f} per order)")
    print(f"engine       {engine_rate:>10,.0f} orders/s")
    print(f"handwritten  {hand_rate:>10,.0f} orders/s")
    print(f"glom         {glom_rate:>10,.0f} orders/s ({glom_orders} orders)")
    print(
        json.dumps(
            {
                "orders": count,
                "lines": lines,
                "orders_per_s": round(engine_rate),
                "handwritten_orders_per_s": round(hand_rate),
                "vs_handwritten": round(engine_rate / hand_rate, 3),
                "glom_orders": glom_orders,
                "glom_orders_per_s": round(glom_rate),
                "speedup_vs_glom": round(engine_rate / glom_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
