"""Configuration bundles: a pair's whole configuration as one file, never its credentials.

A bundle holds the pair's flows (with their schedules, matching rules and
reconciliation settings), the mappings they use and the lookup tables those
use, keyed by name, and how long the pair keeps its ledger. Alert rules stay
behind: who is told, and where, differs between a sandbox and production.
Importing it into another installation or environment binds its two
connection roles ("a", "b") to connections chosen there — which is also how a
configuration tried against sandbox connections is promoted to production ones.
``bundle_preview`` says what an import would create or change; ``bundle_import``
applies it in one transaction, validating everything, or changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import models, transaction

from clarity.models import Flow, IntegrationPair, MatchingRule, ReconciliationSetting
from clarity.services.flows import (
    flow_create,
    flow_matching_rules,
    flow_matching_rules_set,
    flow_update,
)
from clarity.services.reconciliation import SETTING_FIELDS, reconciliation_setting_save
from connectors.models import Connection
from mappings.bundles import (
    PART_MODELS,
    Change,
    lookup_table_apply,
    lookup_table_export,
    lookup_table_preview,
    mapping_apply,
    mapping_export,
    mapping_preview,
    tables_used,
)
from mappings.engine.jsonload import JSONInputError, loads_bounded
from mappings.models import LookupEntry, LookupTable, Mapping

FORMAT = "clarity-bundle/1"
# The ready templates shipped with Clarity Connect, one bundle per pair of systems.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "bundle_templates"
FLOW_FIELDS = (
    "source_entity",
    "target_entity",
    "trigger_schedule",
    "schedule_cron",
    "trigger_webhook",
    "trigger_manual",
    "batch_size",
    "source_of_truth",
    "business_key_field",
    "source_version_field",
    "target_reference_field",
    "enabled",
)
# Flow fields a bundle may leave out (one written before they existed): they take the
# field's default, so an older export still imports as it did.
FLOW_OPTIONAL_FIELDS = (
    "event_filter",
    "poll_adaptive",
    "poll_min_seconds",
    "poll_max_seconds",
    "read_mode",
    "change_field",
    "manual_only",
)
# What a bundle never carries: the pair, the connections and the mapping are named
# by role and name; the cursor and a pause are this installation's state, not config.
FLOW_NOT_CARRIED = frozenset(
    {"pair", "name", "source_connection", "target_connection", "mapping", "cursor", "paused_reason"}
)

# Every kind of row a bundle carries. Exporting one shows them all, so it needs
# view permission on each; importing one writes them all, so add and change.
BUNDLE_MODELS: tuple[type[models.Model], ...] = (
    IntegrationPair,
    Flow,
    Mapping,
    *PART_MODELS.values(),
    LookupTable,
    LookupEntry,
    MatchingRule,
    ReconciliationSetting,
)
# Applying a bundle replaces a mapping's parts and a lookup table's entries:
# the old rows are deleted, so that needs delete permission on them as well.
BUNDLE_REPLACED_MODELS: tuple[type[models.Model], ...] = (
    *PART_MODELS.values(),
    LookupEntry,
    MatchingRule,
)


def bundle_permissions_missing(
    *, user: AbstractBaseUser | AnonymousUser, actions: tuple[str, ...]
) -> list[str]:
    """What the person may not do to some part of a bundle, in words ("view lookup tables").

    Empty means allowed. A role that cannot open mappings or lookup tables in
    the admin must not get them, or write them, through a bundle either.
    """
    return [
        f"{action} {model._meta.verbose_name_plural}"
        for model in BUNDLE_MODELS
        for action in actions
        if not user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
    ]


def bundle_import_permissions_missing(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """What the person may not do that applying a bundle does: add and change every
    kind of row, and delete the mapping parts and lookup entries it replaces."""
    return bundle_permissions_missing(user=user, actions=("add", "change")) + [
        f"delete {model._meta.verbose_name_plural}"
        for model in BUNDLE_REPLACED_MODELS
        if not user.has_perm(f"{model._meta.app_label}.delete_{model._meta.model_name}")
    ]


def bundle_export(*, pair: IntegrationPair) -> dict[str, Any]:
    flows = list(pair.flows.select_related("mapping").order_by("name"))
    mappings = [f.mapping for f in flows if f.mapping is not None]
    mappings = list({m.pk: m for m in mappings}.values())
    roles = {pair.connection_a_id: "a", pair.connection_b_id: "b"}
    return {
        "format": FORMAT,
        "pair": {
            "name": pair.name,
            "description": pair.description,
            "retention_days": pair.retention_days,
            "systems": {"a": pair.connection_a.system, "b": pair.connection_b.system},
        },
        "lookup_tables": [lookup_table_export(t) for t in tables_used(mappings)],
        "mappings": [mapping_export(m) for m in mappings],
        "flows": [
            {
                "name": flow.name,
                "source": roles[flow.source_connection_id],
                "target": roles[flow.target_connection_id],
                "mapping": flow.mapping.name if flow.mapping else None,
                **{name: getattr(flow, name) for name in (*FLOW_FIELDS, *FLOW_OPTIONAL_FIELDS)},
                "matching_rules": flow_matching_rules(flow),
                "reconciliation": _reconciliation(flow),
            }
            for flow in flows
        ],
    }


def _reconciliation(flow: Flow) -> dict[str, Any] | None:
    setting = ReconciliationSetting.objects.filter(flow=flow).first()
    return {name: getattr(setting, name) for name in SETTING_FIELDS} if setting else None


def bundle_parse(text: str | bytes) -> dict[str, Any]:
    """Read a bundle file, refusing anything that is not one with a clear message."""
    try:
        # Deep nesting, NaN/Infinity, huge numbers, NUL and lone surrogates are refused here.
        bundle = loads_bounded(text)
    except JSONInputError as exc:
        raise ValidationError(
            f"This file is not JSON that can be imported: {exc.message}"
        ) from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValidationError(f"This file is not a Clarity Connect bundle ({FORMAT}).")
    for key in ("pair", "lookup_tables", "mappings", "flows"):
        if key not in bundle:
            raise ValidationError(f"The bundle has no '{key}' section.")
    _check_shape(bundle)
    return bundle


def _check_shape(bundle: dict[str, Any]) -> None:
    """The sections the import walks are the shapes it expects (a shipped bundle's are)."""
    pair = bundle["pair"]
    systems = pair.get("systems") if isinstance(pair, dict) else None
    if (
        not isinstance(systems, dict)
        or set(systems) != {"a", "b"}
        or not all(isinstance(system, str) for system in systems.values())
    ):
        raise ValidationError(
            "The bundle's 'pair' section must be an object whose 'systems' names the a and b "
            "systems."
        )
    for key in ("lookup_tables", "mappings", "flows"):
        section = bundle[key]
        if not isinstance(section, list) or not all(
            isinstance(item, dict) and isinstance(item.get("name"), str) for item in section
        ):
            raise ValidationError(
                f"The bundle's '{key}' section must be a list of objects, each with a name."
            )


def _flow_values(data: dict[str, Any]) -> dict[str, Any]:
    """A bundle flow's field values, the optional ones defaulted when left out."""
    optional = {
        name: data[name] if name in data else Flow.field_default(name)
        for name in FLOW_OPTIONAL_FIELDS
    }
    return {**{name: data[name] for name in FLOW_FIELDS}, **optional}


def _check_connections(bundle: dict[str, Any], connections: dict[str, Connection]) -> None:
    for role, system in bundle["pair"]["systems"].items():
        chosen = connections.get(role)
        if chosen is None:
            raise ValidationError(f"Choose the {system} connection for this pair.")
        if chosen.system != system:
            raise ValidationError(
                f"The bundle expects a {system} connection, but '{chosen.name}' is {chosen.system}."
            )


def bundle_preview(
    *, bundle: dict[str, Any], connections: dict[str, Connection], pair_name: str
) -> list[Change]:
    _check_connections(bundle, connections)
    changes = [lookup_table_preview(t) for t in bundle["lookup_tables"]]
    changes += [mapping_preview(m) for m in bundle["mappings"]]
    pair = IntegrationPair.objects.filter(name=pair_name).first()
    if pair is None:
        changes.append(Change("pair", pair_name, "create"))
    else:
        details = [
            f"{role} connection: {getattr(pair, f'connection_{role}')} → {connections[role]}"
            for role in ("a", "b")
            if getattr(pair, f"connection_{role}_id") != connections[role].pk
        ]
        retention = bundle["pair"].get("retention_days")
        if pair.retention_days != retention:
            details.append(f"retention_days: {pair.retention_days!r} → {retention!r}")
        changes.append(Change("pair", pair_name, "change" if details else "unchanged", details))
    for data in bundle["flows"]:
        flow = pair.flows.filter(name=data["name"]).first() if pair else None
        if flow is None:
            changes.append(Change("flow", data["name"], "create"))
            continue
        wanted = _flow_values(data)
        details = [
            f"{name}: {getattr(flow, name)!r} → {value!r}"
            for name, value in wanted.items()
            if getattr(flow, name) != value
        ]
        if (flow.mapping.name if flow.mapping else None) != data["mapping"]:
            details.append(f"mapping → {data['mapping']}")
        if "matching_rules" in data and flow_matching_rules(flow) != data["matching_rules"]:
            details.append(f"matching rules → {len(data['matching_rules'])}")
        if data.get("reconciliation") and _reconciliation(flow) != data["reconciliation"]:
            details.append("reconciliation settings")
        changes.append(Change("flow", data["name"], "change" if details else "unchanged", details))
    return changes


@transaction.atomic
def bundle_import(
    *,
    bundle: dict[str, Any],
    connections: dict[str, Connection],
    pair_name: str,
    user: AbstractBaseUser | None = None,
) -> IntegrationPair:
    """Apply a bundle: everything validated and saved, or nothing.

    ``user`` is who imports it, for the flows' audit rows (None: the demo loader).
    """
    _check_connections(bundle, connections)
    for table in bundle["lookup_tables"]:
        lookup_table_apply(table)
    mappings = {m["name"]: mapping_apply(m) for m in bundle["mappings"]}
    pair = IntegrationPair.objects.filter(name=pair_name).first() or IntegrationPair(name=pair_name)
    pair.description = bundle["pair"].get("description", "")
    pair.retention_days = bundle["pair"].get("retention_days")
    pair.connection_a, pair.connection_b = connections["a"], connections["b"]
    try:
        pair.full_clean()
    except ValidationError as exc:
        raise ValidationError(f"Pair '{pair_name}': {'; '.join(exc.messages)}") from exc
    pair.save()
    for data in bundle["flows"]:
        mapping_name = data.get("mapping")
        if mapping_name and mapping_name not in mappings:
            mappings[mapping_name] = Mapping.objects.filter(name=mapping_name).first()
        mapping = mappings.get(mapping_name) if mapping_name else None
        if mapping_name and mapping is None:
            raise ValidationError(
                f"Flow '{data['name']}' uses mapping '{mapping_name}', which is missing."
            )
        values = {
            **_flow_values(data),
            "source_connection": connections[data["source"]],
            "target_connection": connections[data["target"]],
            "mapping": mapping,
        }
        # Through the flow services, as in the admin: audited, a re-enabled flow un-paused,
        # and every flow's schedule registered once the whole import commits.
        flow = Flow.objects.filter(pair=pair, name=data["name"]).first()
        try:
            if flow is None:
                flow = flow_create(data={"pair": pair, "name": data["name"], **values}, user=user)
            else:
                flow = flow_update(flow=flow, data=values, user=user)
            # Left out (a bundle written before they were carried): left as they are.
            if "matching_rules" in data:
                flow_matching_rules_set(flow=flow, rules=data["matching_rules"], user=user)
            if data.get("reconciliation"):
                reconciliation_setting_save(flow=flow, data=data["reconciliation"], user=user)
        except ValidationError as exc:
            raise ValidationError(f"Flow '{data['name']}': {'; '.join(exc.messages)}") from exc
    return pair
