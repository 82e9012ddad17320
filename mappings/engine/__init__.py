"""The transformation engine: compile a mapping once, apply it to many records.

Plain Python - no Django, HTTP or Redis - so the sync core, the admin's "try it"
page and tests all run the same code on plain dicts.

Public API::

    plan = compile_mapping(spec)        # raises CompileError(problems=[Problem, ...])
    result = plan.apply(record)         # never raises
    result = plan.apply(record, trace=True)   # also fills result.provenance
    validate_expression(text, known_fields=None) -> list[str]   # for rule forms
    condition_fields(text) -> list[str]   # the field paths a condition reads
    to_json_safe(value)                 # Decimal -> str, date -> ISO, recursively
    jsonload.loads_bounded(text)        # JSON people type, nesting bounded (JSONInputError)

The spec (``mappings.engine.spec``, frozen dataclasses; every object has an
``id`` that problems point back to):

- ``FieldRow(id, sources, targets, transforms=(), template=None,
  combine=Combine.JOIN, separator=" ")`` - 1:1, many:1 (``template`` such as
  ``"{FirstName} {LastName}"`` or ``combine`` join/first/sum/multiply/list),
  1:many (a list value such as the ``address`` transform's is spread over the
  targets in order), nested paths (``Contact.Name``) and line items
  (``Lines[].StockCode`` -> ``LineItems[].ItemCode``; a source without ``[]``
  in a line row reads the header).
- ``Transform(name, args)`` - chained in order:
  ``trim``, ``upper``, ``lower``, ``text``;
  ``date {from: "DD/MM/YYYY" | [formats], to: "YYYY-MM-DD"}`` (``from: "XERO"``
  reads Xero's ``/Date(1573603200000+0000)/``, see ``dates``);
  ``decimal {places?, rounding: half_up|half_even|half_down|up|down|ceiling|floor}``;
  ``integer {rounding?}`` (without rounding a fraction is a data error);
  ``boolean`` (yes/no, true/false, y/n, 1/0, on/off); these four typed
  transforms take ``blank: empty|fail|<value>`` for None, "" and whitespace
  (default ``empty``: no value, so defaults apply);
  ``split {separator, index?}`` (no index: the list of parts);
  ``concat {separator?, before?, after?}`` (joins a list; before/after wrap);
  ``address {lines: 2, country: any|uk|us}`` -> [line1, ..., postcode];
  ``default {value}`` (when empty), ``constant {value}``, ``lookup {table}``.
- ``LookupTable(name, entries, on_missing=fail|pass|default, default=None,
  case_sensitive=True)``.
- ``Rule(id, condition, effect=set|skip|fail, target=None, value=None,
  message="")`` - conditions read the source record (see ``rules.FUNCTIONS``).
  A skip rule whose target names a source line array (``SorDetail[]``) is a
  line rule: its condition reads each line's fields and the lines it matches
  are left out of every target line array built from them. What a condition
  may cost is bounded (``limits``): refused on compile where the text shows it
  (huge ``round`` digits, ``%`` widths, repetitions, too long or deep), and per
  operation at run time, a record over a bound failing with ``rule_too_costly``.
- ``Enrichment(id, target, key, lookup)`` - fills an empty target from a lookup
  keyed on a source field.
- ``MappingSpec.defaults`` - ``{target path: value}`` for targets left empty.
- ``Aggregation(id, lines, key, sum)`` and ``Split(id, lines, key, header_field,
  max_lines)`` - reshape the target lines.

Order of work on one record: rules (a skip returns at once; a fail is a
problem; sets are remembered) -> header rows -> rule sets -> header enrichments
and defaults -> each line array (line rules, then rows, then enrichments and
defaults, per line)
-> aggregations -> split. Problems are collected rather than stopping at the
first, so a finance user sees everything wrong with a record at once.

Values: a ``None`` result is never written, so an empty source leaves the
target field out (defaults can then fill it). Numbers from ``decimal``,
``combine=sum|multiply`` and aggregation sums are exact ``Decimal``; dates are
ISO text. Connectors serialise; ``to_json_safe`` is there for anything else.

Result (``plan.Result``): ``outcome`` (``Outcome.MAPPED | SKIPPED | FAILED``),
``records`` (tuple of target dicts; several after a split), ``record`` (the
first), ``problems`` (tuple of ``Problem``), ``skip_reason``, ``provenance``.

Problem: ``code`` (``ErrorCode``), ``kind`` (``ProblemKind.DATA | CONFIG``,
derived from the code), ``message`` (plain words naming field, value and the
lookup or rule), ``field`` (target path at run time, spec attribute such as
``transforms[1].args.places`` at compile time), ``value``, ``row_id``,
``rule_id``, ``lookup``, ``position`` (1-based column in a rule condition).

Speed: ``compile_mapping`` turns the rows, enrichments, defaults and line loops
into one generated Python function per plan (``mappings.engine.codegen``; spec
text is passed to it as data, never written into its source), with the common
case of ``decimal``, ``trim``/``upper``/``lower``, ``concat``, ``constant``,
``lookup`` and ``multiply`` written inline, so applying a plan costs at most a
call per transform rather than several per field. Conditions of the form
``Field == 'literal'`` (or ``!=``) are checked without the expression evaluator.

A Plan holds one expression evaluator, so give each thread its own Plan.
"""

from mappings.engine.error_codes import ErrorCode, ProblemKind
from mappings.engine.plan import Outcome, Plan, Result, compile_mapping
from mappings.engine.problems import CompileError, Problem
from mappings.engine.rules import condition_fields, validate_expression
from mappings.engine.spec import (
    Aggregation,
    Combine,
    Effect,
    Enrichment,
    FieldRow,
    LookupTable,
    MappingSpec,
    OnMissing,
    Rule,
    Split,
    Transform,
)
from mappings.engine.values import to_json_safe

__all__ = [
    "Aggregation",
    "Combine",
    "CompileError",
    "Effect",
    "Enrichment",
    "ErrorCode",
    "FieldRow",
    "LookupTable",
    "MappingSpec",
    "OnMissing",
    "Outcome",
    "Plan",
    "Problem",
    "ProblemKind",
    "Result",
    "Rule",
    "Split",
    "Transform",
    "compile_mapping",
    "condition_fields",
    "to_json_safe",
    "validate_expression",
]
