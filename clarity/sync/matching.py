"""Matching what already exists: which target record each record sent would be, before a first
sync creates a second one.

The entry point, for the pipeline and for validate runs (clarity.sync.validation)::

    twins_find(*, flow: Flow, target: Connector, payloads: Sequence[Mapping[str, Any]],
               rules: Sequence[MatchingRule] | None = None) -> list[TwinMatch]

``payloads`` are records as they would be sent (mapped, target field names); the answer
has one ``TwinMatch`` per payload, in order: ``outcome`` (``MatchOutcome``: unique,
ambiguous, partial, none), ``candidates`` (``Candidate``: target id, label, the compared
fields as the target holds them, which agree and which differ, and the native record),
the ``rule`` that found them and a ``message`` in plain words. ``rules`` defaults to the
flow's enabled rules in order; with none, every payload is ``none``.

It is READ-ONLY and BATCHED: it calls only the target's lookups — ``find_by_references``
for a reference rule, ``find_by_fields`` for a key — with every value of the batch at once
(the connectors chunk them: one request per 50 or 200 values where the system filters
by a list), never one call per record.

How rules decide: tried in order, the first rule that matches a record in full (every
key agrees) wins it — one candidate is a unique match, several are ambiguous. A rule that
matches only in part (some keys agree, not all) does not stop the next rules; when no rule
matches in full, the first partial match is the answer. Values are compared by
``connectors.base.match_text`` (case folded, spaces collapsed), on our side, whatever the
target's own filter ignores.

``twin_link`` records a link in the cross-reference (the ledger row's target id, an audit
row): the pipeline's matches and a person's link (clarity.services.ledger) both go through
it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from clarity.models import (
    AuditEvent,
    Decision,
    Flow,
    MatchBy,
    MatchDecision,
    MatchingRule,
    MatchOutcome,
    RecordStatus,
    SyncRecord,
)
from clarity.sync.keys import field_text
from connectors.base import Connector, EntitySchema, FoundRecord, field_value, match_text


@dataclass(frozen=True)
class Candidate:
    """A target record a payload may be: what a person sees to choose it."""

    target_id: str
    label: str
    fields: dict[str, str]  # the compared target fields, as the target holds them
    agreed: tuple[str, ...]
    differing: tuple[str, ...]
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def stored(self) -> dict[str, Any]:
        """What the ledger keeps of it (not the whole record)."""
        return {
            "target_id": self.target_id,
            "label": self.label,
            "fields": self.fields,
            "agreed": list(self.agreed),
            "differing": list(self.differing),
        }


@dataclass(frozen=True)
class TwinMatch:
    outcome: MatchOutcome
    candidates: tuple[Candidate, ...] = ()
    rule: MatchingRule | None = None
    message: str = ""

    @property
    def target_id(self) -> str | None:
        """The one record matched, for a unique match; else None."""
        return self.candidates[0].target_id if self.outcome == MatchOutcome.UNIQUE else None


NO_MATCH = TwinMatch(MatchOutcome.NONE)


def flow_rules(flow: Flow) -> list[MatchingRule]:
    """The flow's enabled matching rules, in the order they are tried."""
    return list(flow.matching_rules.filter(enabled=True).order_by("position", "pk"))


def twins_find(
    *,
    flow: Flow,
    target: Connector,
    payloads: Sequence[Mapping[str, Any]],
    rules: Sequence[MatchingRule] | None = None,
) -> list[TwinMatch]:
    """Each payload's twin in the target by the flow's matching rules (see the module)."""
    rules = flow_rules(flow) if rules is None else list(rules)
    results: list[TwinMatch | None] = [None] * len(payloads)
    partial: dict[int, TwinMatch] = {}
    if not rules or not payloads:
        return [NO_MATCH] * len(payloads)
    schema = target.describe(flow.target_entity)
    words = _Words(flow, schema)
    for rule in rules:
        open_ = [i for i, r in enumerate(results) if r is None]
        if not open_:
            break
        found = _rule_apply(rule, flow, target, schema, [payloads[i] for i in open_], words)
        for i, match in zip(open_, found, strict=True):
            if match.outcome in (MatchOutcome.UNIQUE, MatchOutcome.AMBIGUOUS):
                results[i] = match
            elif match.outcome == MatchOutcome.PARTIAL:
                partial.setdefault(i, match)
    return [r or partial.get(i) or NO_MATCH for i, r in enumerate(results)]


def rule_pairs(rule: MatchingRule, flow: Flow, schema: EntitySchema) -> list[tuple[str, str]]:
    """``[(path in the payload, target field)]``: a blank reference rule compares the flow's
    target reference field (else the system's) with itself."""
    pairs = rule.pairs()
    if rule.match_by == MatchBy.REFERENCE and not pairs:
        reference = flow.target_reference_field or schema.reference_field or ""
        pairs = [(reference, reference)] if reference else []
    return pairs


def _rule_apply(
    rule: MatchingRule,
    flow: Flow,
    target: Connector,
    schema: EntitySchema,
    payloads: Sequence[Mapping[str, Any]],
    words: _Words,
) -> list[TwinMatch]:
    pairs = rule_pairs(rule, flow, schema)
    if not pairs:
        return [NO_MATCH] * len(payloads)
    entity = flow.target_entity
    wanted = [
        {name: match_text(field_text(dict(p), sent)) for sent, name in pairs} for p in payloads
    ]
    pool: dict[str, FoundRecord] = {}
    for _, name in pairs:
        values = sorted({w[name] for w in wanted if w[name]})
        if not values:
            continue
        if rule.match_by == MatchBy.REFERENCE and name == schema.reference_field:
            # As sent (trimmed): a reference is the system's own, compared as it compares.
            raw = sorted({field_text(dict(p), pairs[0][0]).strip() for p in payloads} - {""})
            found = list(target.find_by_references(entity, raw).values())
        else:
            found = target.find_by_fields(entity, name, values)
        for record in found:
            pool.setdefault(record.target_id, record)
    index: dict[tuple[str, str], set[str]] = defaultdict(set)
    for target_id, found_record in pool.items():
        for _, name in pairs:
            index[(name, match_text(field_value(found_record.record, name)))].add(target_id)
    return [_decide(rule, pairs, w, pool, index, words) for w in wanted]


def _decide(
    rule: MatchingRule,
    pairs: list[tuple[str, str]],
    wanted: dict[str, str],
    pool: dict[str, FoundRecord],
    index: dict[tuple[str, str], set[str]],
    words: _Words,
) -> TwinMatch:
    names = [name for _, name in pairs]
    ids: set[str] = set()
    for name in names:
        if wanted[name]:
            ids |= index.get((name, wanted[name]), set())
    if not ids:
        return NO_MATCH
    agree = {
        i: tuple(n for n in names if wanted[n] and i in index.get((n, wanted[n]), ())) for i in ids
    }
    full = sorted(i for i in ids if len(agree[i]) == len(names))
    chosen = full or sorted(ids, key=lambda i: (-len(agree[i]), i))
    candidates = tuple(_candidate(pool[i], names, agree[i]) for i in chosen)
    shown = " / ".join(wanted[n] for n in names if wanted[n])
    if len(full) == 1:
        return TwinMatch(MatchOutcome.UNIQUE, candidates, rule)
    if full:
        message = (
            f"{words.count(len(full))} match '{shown}' by {rule.describe()}: choose one, "
            "create new, or skip."
        )
        return TwinMatch(MatchOutcome.AMBIGUOUS, candidates, rule, message)
    best = candidates[0]
    message = (
        f"{words.count(len(candidates))} match '{shown}' only in part (by "
        f"{' and '.join(best.agreed)}, not by {' and '.join(best.differing)}): link to one, "
        "create new, or skip."
    )
    return TwinMatch(MatchOutcome.PARTIAL, candidates, rule, message)


def _candidate(found: FoundRecord, names: list[str], agreed: tuple[str, ...]) -> Candidate:
    fields = {n: "" if (v := field_value(found.record, n)) is None else str(v) for n in names}
    shown = next((v for v in fields.values() if v.strip()), "")
    label = f"{shown} ({found.target_id})" if shown else found.target_id
    differing = tuple(n for n in names if n not in agreed)
    return Candidate(found.target_id, label, fields, agreed, differing, dict(found.record))


@dataclass(frozen=True)
class _Words:
    """How the target's records are called in a sentence: "2 Xero contacts"."""

    flow: Flow
    schema: EntitySchema

    def count(self, n: int) -> str:
        system = self.flow.target_connection.get_system_display()
        entity = self.schema.name.lower()
        if n == 1:
            entity = entity[:-1] if entity.endswith("s") else entity
        elif not entity.endswith("s"):
            entity += "s"
        return f"{n} {system} {entity}"


def twin_link(
    *,
    rows: Sequence[tuple[SyncRecord, str]],
    target_key: str,
    user: AbstractBaseUser | None,
    note: str,
    status: str | None = None,
) -> None:
    """Record links in the cross-reference: each row ``(row, target_id)`` names the target
    record its source record is, and the payload it sends carries that record's key, so it
    is sent as an update of it (and its next versions too, once delivered: the pipeline's
    known targets). One audit row each: who (None: a matching rule) linked what to what.

    ``status`` is what the rows become (a person's link of a failed row: linked); None
    leaves it (the pipeline sends the row now). The caller saves the rows: the pipeline
    with their outcomes, a person's action at once.
    """
    events = []
    for row, target_id in rows:
        before = {"status": row.status, "target_id": row.target_id}
        row.target_id = target_id[:200]
        if status is not None:
            row.status = status
        payload = row.payload_override or row.transformed_payload
        if target_key and isinstance(payload, dict):
            # Over a key the mapping made (a KashFlow code): the link says which record it is.
            payload[target_key] = target_id
        events.append(
            AuditEvent(
                user_id=user.pk if user is not None else None,
                action="link",
                flow_id=row.flow_id,
                record=row,
                detail={
                    "before": before,
                    "after": {"status": row.status, "target_id": row.target_id, "note": note},
                },
            )
        )
    AuditEvent.objects.bulk_create(events)


def rows_match(
    *, flow: Flow, target: Connector, target_key: str, rows: Sequence[SyncRecord]
) -> list[SyncRecord]:
    """The pipeline's step before it creates: match the rows the cross-reference does not know
    (``rows``: pipeline.known_targets' answer) by the flow's rules; returns the rows that
    now wait for a person (marked undecided, their candidates stored), which are not sent.

    A unique match is linked (``twin_link``), so the row is sent as an update of the record
    the target holds. A row that carries a target id of its own was linked already (a
    person's decision) and is sent as an update of it; a source record a person chose to
    "create new" for is never matched again.
    """
    rules = flow_rules(flow) if rows else []
    open_: list[SyncRecord] = []
    for row in rows:
        payload = row.transformed_payload
        if not isinstance(payload, dict):
            continue
        if row.target_id:
            if target_key:
                payload[target_key] = row.target_id
            continue
        open_.append(row)
    if not rules or not open_:
        return []
    created = set(
        MatchDecision.objects.filter(
            flow=flow, source_id__in={r.source_id for r in open_}, decision=Decision.CREATE
        ).values_list("source_id", flat=True)
    )
    open_ = [r for r in open_ if r.source_id not in created]
    matches = twins_find(
        flow=flow, target=target, payloads=[r.transformed_payload for r in open_], rules=rules
    )
    by_rule: dict[int, list[tuple[SyncRecord, str]]] = defaultdict(list)
    undecided: list[tuple[SyncRecord, TwinMatch]] = []
    for row, match in zip(open_, matches, strict=True):
        if match.target_id is not None and match.rule is not None:
            by_rule[match.rule.pk].append((row, match.target_id))
        elif match.outcome in (MatchOutcome.AMBIGUOUS, MatchOutcome.PARTIAL):
            undecided.append((row, match))
    rules_by_pk = {rule.pk: rule for rule in rules}
    for pk, links in by_rule.items():
        note = f"Matched by {rules_by_pk[pk].describe()}: the target held it before its first sync."
        twin_link(rows=links, target_key=target_key, user=None, note=note)
    for row, match in undecided:
        row.status = RecordStatus.UNDECIDED
        row.error_kind = ""
        row.error_code = f"match_{match.outcome}"
        row.message = match.message
        row.next_retry_at = None
    MatchDecision.objects.bulk_create(
        [
            MatchDecision(
                record=row,
                flow=flow,
                source_id=row.source_id,
                outcome=match.outcome,
                rule=match.rule,
                candidates=[c.stored() for c in match.candidates],
            )
            for row, match in undecided
        ],
        update_conflicts=True,
        unique_fields=["record"],
        update_fields=["outcome", "rule", "candidates"],
    )
    return [row for row, _ in undecided]
