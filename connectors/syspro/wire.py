"""SYSPRO e.net's wire format: bodies, XML in and out, COMFND queries, keyset paging."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.base import Record
from connectors.errors import ConnectorError, ErrorCode, ErrorKind
from connectors.syspro.catalogue import SORQRY_LINE_TYPES, Child, Entity

# A logon answers a session GUID (hex, maybe braced or dashed); anything else is not e.net.
SESSION_ID = re.compile(r"\{?[0-9A-Fa-f-]{32,40}\}?")


def unwrap(body: str) -> str:
    """The payload of an e.net reply, whether bare, JSON-quoted or in ``<string>``."""
    text = body.strip().lstrip("\ufeff")
    if text.startswith('"'):
        text = str(json.loads(text)).strip()
    if re.match(r"<string[\s>]", text):
        text = (parse_xml(text).text or "").strip()
    return text


def parse_xml(text: str) -> ET.Element:
    """Parse SYSPRO output; element names are then matched ignoring case, which varies [P]."""
    try:
        # The configured SYSPRO server's answer; expat resolves no external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise ConnectorError(
            ErrorKind.TRANSIENT,
            ErrorCode.SERVER_ERROR,
            "SYSPRO sent a reply that is not XML. It will be tried again.",
            raw=text[:4000],
        ) from exc
    return root


def to_xml(parent: ET.Element, name: str, value: Any) -> None:
    """A native record into elements: dicts nest, lists repeat, None is left out."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        for item in value:
            to_xml(parent, name, item)
        return
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            to_xml(element, key, item)
    else:
        element.text = str(value)


def document(root: str, wrapper: str | None, items: Iterable[Mapping[str, Any]]) -> str:
    top = ET.Element(root)
    for item in items:
        if wrapper is None:
            for key, value in item.items():
                to_xml(top, key, value)
        else:
            to_xml(top, wrapper, dict(item))
    return ET.tostring(top, encoding="unicode")


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if child.tag.lower() == name.lower()]


def text_of(element: ET.Element, name: str) -> str:
    found = children(element, name)
    return (found[0].text or "").strip() if found else ""


def errors_of(element: ET.Element) -> list[str]:
    return [
        (e.text or "").strip()
        for e in element.iter()
        if e.tag.lower() in ("errordescription", "errormessage", "error") and (e.text or "").strip()
    ]


def flat(element: ET.Element, names: Mapping[str, str]) -> Record:
    return {names.get(c.tag.lower(), c.tag): (c.text or "").strip() for c in element if not len(c)}


def row_of(element: ET.Element, entity: Entity) -> Record:
    """A query object's output as a record with the catalogue's field names and its lines.

    Query objects answer more than the table's columns (descriptions of codes, the
    rowversion): the record keeps the fields a poll reads, so both give one shape.
    """
    found = flat(element, entity.names)
    record = {c: found[c] for c in entity.columns if c in found}
    child = entity.child
    if child is None:
        return record
    if entity.query_options:
        lines = query_lines(element, child)
    else:
        lines = [flat(line, child.names) for line in children(element, child.table)]
    for line in lines:
        line.setdefault(child.link, record.get(child.link, ""))
    record[child.table] = [child.record(line) for line in lines]
    return record


def query_lines(element: ET.Element, child: Child) -> list[Record]:
    """SORQRY's lines: inside ``SalesOrderLine``, one element per line type (Merchandise,
    Freight, MiscCharge, CommentLine), each with its ``Line`` number [O/A, see catalogue]."""
    names = {**child.names, "line": child.line}
    lines: list[Record] = []
    for wrapper in children(element, "SalesOrderLine"):
        for line in wrapper:
            line_type = SORQRY_LINE_TYPES.get(line.tag.lower())
            if line_type is None:
                continue  # an element SYSPRO adds that is no line (e.g. a custom form)
            row = flat(line, names)
            row.setdefault("LineType", line_type)
            lines.append(row)
    return lines


def comfnd(
    table: str,
    columns: Sequence[str],
    where: Sequence[Sequence[tuple[str, str, str]]],
    order: Sequence[str],
    rows: int,
) -> str:
    """COMFND input: ``where`` is an OR of AND-groups of (column, condition, value)."""
    query = ET.Element("Query")
    to_xml(query, "TableName", table)
    to_xml(query, "ReturnRows", rows)
    to_xml(query, "Columns", {"Column": list(columns)})
    clause = ET.SubElement(query, "Where")
    for group_index, group in enumerate(where):
        for term_index, (column, condition, value) in enumerate(group):
            expression = ET.SubElement(clause, "Expression")
            if group_index or term_index:
                to_xml(expression, "AndOr", "And" if term_index else "Or")
            if term_index == 0:
                to_xml(expression, "OpenBracket", "(")
            to_xml(expression, "Column", column)
            to_xml(expression, "Condition", condition)
            to_xml(expression, "Value", value)
            if term_index == len(group) - 1:
                to_xml(expression, "CloseBracket", ")")
    to_xml(query, "OrderBy", {"Column": list(order)})
    return ET.tostring(query, encoding="unicode")


def after(columns: Sequence[str], last: Sequence[str]) -> list[list[tuple[str, str, str]]]:
    """Keyset paging: rows ordered after ``last`` by ``columns``."""
    return [
        [(columns[j], "EQ", last[j]) for j in range(i)] + [(columns[i], "GT", last[i])]
        for i in range(len(columns))
    ]
