"""A flow's event filter: which reported changes are worth a run of the flow.

Plain Python (no Django): the flow model validates rules with it when a flow is
saved, and event processing evaluates them on the neutral change every system's
events become (``clarity.webhooks.services.neutral_change``)::

    {"entity": "Opportunity", "change_type": "UPDATE", "record_ids": ["006…"],
     "changed_fields": ["StageName"], "values": {"StageName": "Closed Won"}, "origin": ""}

A filter is a list of rules; the flow runs when any rule matches (an empty list:
every event of its entity). A rule names what it needs, every key optional:

* ``entity``: the event's entity (e.g. ``Opportunity``);
* ``change_types``: some of CREATE, UPDATE, DELETE, UNDELETE;
* ``field``: a field that changed (on a CREATE or UNDELETE: that it has a value);
* ``equals``: the value ``field`` holds after the change.

An event that does not carry what a rule asks — a gap or overflow event has no
values, a webhook no changed fields — cannot be judged: the verdict is "cannot
tell" and the caller reads the records (never a guess), letting the flow's
mapping decide on the record itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")
RULE_KEYS = ("entity", "change_types", "field", "equals")
MAX_RULES = 20
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")


def event_filter_errors(rules: Any) -> list[str]:
    """What is wrong with a filter, in words a consultant can act on; empty when valid."""
    if rules in (None, ""):
        return []
    if not isinstance(rules, list):
        return ['The event filter is a list of rules, e.g. [{"field": "StageName", ...}].']
    if len(rules) > MAX_RULES:
        return [f"The event filter has {len(rules)} rules; at most {MAX_RULES} are allowed."]
    errors: list[str] = []
    for number, rule in enumerate(rules, start=1):
        errors += [f"Rule {number}: {problem}" for problem in _rule_errors(rule)]
    return errors


def _rule_errors(rule: Any) -> list[str]:
    if not isinstance(rule, dict) or not rule:
        return ['is not a rule: write an object such as {"field": "StageName"}.']
    errors = []
    if unknown := sorted(set(rule) - set(RULE_KEYS)):
        errors.append(f"unknown key {', '.join(unknown)}; a rule uses {', '.join(RULE_KEYS)}.")
    entity = rule.get("entity")
    if "entity" in rule and not (isinstance(entity, str) and _FIELD.match(entity)):
        errors.append("entity must be an entity name such as Opportunity.")
    types = rule.get("change_types")
    if "change_types" in rule and (
        not isinstance(types, list) or not types or not all(t in CHANGE_TYPES for t in types)
    ):
        errors.append(f"change_types must be a list of some of {', '.join(CHANGE_TYPES)}.")
    field = rule.get("field")
    if "field" in rule and not (isinstance(field, str) and _FIELD.match(field)):
        errors.append("field must be a field name such as StageName.")
    if "equals" in rule:
        if "field" not in rule:
            errors.append("equals needs the field whose value it tests.")
        if not isinstance(rule["equals"], str | int | float | bool | None):
            errors.append("equals must be one value: text, a number, true, false or null.")
    return errors


def event_filter_verdict(rules: Any, change: Mapping[str, Any]) -> bool | None:
    """True when a rule matches the change, False when none can, None when it cannot tell.

    A filter that is empty (or not a list: refused when saved) lets every change through.
    """
    if not rules or not isinstance(rules, list):
        return True
    verdicts = [_rule_verdict(rule, change) for rule in rules if isinstance(rule, dict)]
    if True in verdicts:
        return True
    return None if None in verdicts else False


def _rule_verdict(rule: Mapping[str, Any], change: Mapping[str, Any]) -> bool | None:
    if "entity" in rule and str(rule["entity"]).lower() != str(change.get("entity", "")).lower():
        return False
    change_type = base_change_type(change.get("change_type"))
    if "change_types" in rule:
        if change_type is None:
            return None  # an overflow or a doorbell: no type to test
        if change_type not in rule["change_types"]:
            return False
    if "field" not in rule:
        return True
    values, changed = change.get("values"), change.get("changed_fields")
    if is_gap(change) or not isinstance(values, Mapping):
        return None
    values = {str(k).lower(): v for k, v in values.items()}
    field = str(rule["field"]).lower()
    if change_type in ("CREATE", "UNDELETE"):
        touched = values.get(field) is not None
    elif isinstance(changed, list | tuple):
        touched = field in {str(name).lower() for name in changed}
    else:
        return None  # values without the list of changed fields: not enough to judge
    if not touched:
        return False
    return "equals" not in rule or values.get(field) == rule["equals"]


def base_change_type(value: Any) -> str | None:
    """CREATE, UPDATE, DELETE or UNDELETE, a gap event's too (GAP_UPDATE is an UPDATE whose
    values were not kept); None for an overflow or an event without a type."""
    text = str(value or "").upper()
    text = text.removeprefix("GAP_")
    return text if text in CHANGE_TYPES else None


def is_gap(change: Mapping[str, Any]) -> bool:
    """A gap or overflow event: Salesforce dropped its values, only the ids (or the entity)
    remain [P] Change Data Capture Developer Guide, "Gap Events" and "Overflow Events"
    (developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/
    change_data_capture/cdc_other_events_gap.htm)."""
    return str(change.get("change_type") or "").upper().startswith("GAP_")
