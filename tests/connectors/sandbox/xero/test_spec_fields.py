"""The sandbox's table of Xero's Accounting schemas is what Xero's OpenAPI file says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.xero.spec_fields import SCHEMAS

SPEC = (
    Path(__file__).resolve().parents[5]
    / "shared"
    / "systems"
    / "xero-openapi"
    / "xero_accounting.yaml"
)
ROOTS = ("Invoice", "Contact", "Payment", "ManualJournal", "Item", "Account")
# Properties Xero sets on an answer and ignores in a request (the spec does not mark them).
RESPONSE_ONLY = {
    "ValidationErrors",
    "Warnings",
    "StatusAttributeString",
    "HasErrors",
    "HasValidationErrors",
}


def derive(schemas: dict[str, Any]) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Each property's kind, for every schema reachable from the writable records."""

    def kind(prop: dict[str, Any]) -> tuple[Any, ...]:
        if prop.get("readOnly"):
            return ("readonly",)
        ref = prop.get("$ref") or next(
            (x["$ref"] for x in prop.get("allOf", []) if "$ref" in x), None
        )
        if ref:
            name = ref.rsplit("/", 1)[-1]
            return (
                ("enum", tuple(schemas[name]["enum"]))
                if "enum" in schemas[name]
                else ("object", name)
            )
        if "enum" in prop:
            return ("enum", tuple(prop["enum"]))
        if prop.get("type") == "array":
            items = prop["items"]
            return (
                "list",
                items["$ref"].rsplit("/", 1)[-1]
                if "$ref" in items
                else items.get("type", "string"),
            )
        if prop.get("x-is-msdate") or prop.get("format") in ("date", "date-time"):
            return ("date",)
        if prop.get("type") == "string":
            return ("uuid",) if prop.get("format") == "uuid" else ("string", prop.get("maxLength"))
        if prop.get("type") in ("number", "integer", "boolean"):
            return (prop["type"],)
        return ("object", None)

    table: dict[str, dict[str, tuple[Any, ...]]] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in table:
            continue
        props = schemas[name].get("properties", {})
        table[name] = {
            k: ("readonly",) if k in RESPONSE_ONLY else kind(v) for k, v in props.items()
        }
        for found in table[name].values():
            if found[0] in ("object", "list") and "properties" in schemas.get(found[1] or "", {}):
                todo.append(found[1])
    return table


def test_the_schema_table_matches_xeros_openapi_file() -> None:
    yaml = pytest.importorskip("yaml")
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not available")
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    assert derive(schemas) == SCHEMAS
