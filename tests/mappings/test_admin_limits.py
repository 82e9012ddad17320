"""The mapping admin and try it with rules that would cost too much and with deeply nested
input: form errors and problems a consultant can read, never a hang or a 500."""

from __future__ import annotations

import time
from html import unescape

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.engine.jsonload import MAX_JSON_DEPTH, JSONInputError, json_depth, loads_bounded
from mappings.models import ConditionalRule, Mapping
from tests.mappings.factories import (
    ConditionalRuleFactory,
    FieldMappingRowFactory,
    MappingFactory,
)
from tests.mappings.test_admin import _add, _row

pytestmark = pytest.mark.django_db

NESTED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rule(condition: str) -> dict[str, str]:
    return {
        "order": "1",
        "condition": condition,
        "effect": "skip",
        "target": "",
        "value": "",
        "message": "x",
    }


def _rule_errors(response) -> list[str]:
    rules = next(
        f
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "conditionalrules"
    )
    return rules.formset.forms[0].errors.get("condition", [])


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("'%0999999999d' % Qty == ''", "a format width of 999,999,999 (at most 100)"),
        ("round(Amount, 1000000000) > 0", "round() to 1,000,000,000 digits"),
        ("'x' * 1000000000 == Customer", "repeats a value 1,000,000,000 times"),
    ],
)
def test_a_rule_that_could_cost_too_much_is_refused_when_saved(consultant_client, condition, words):
    response = _add(consultant_client, rows=[_row()], rules=[_rule(condition)])
    assert response.status_code == 200
    (error,) = _rule_errors(response)
    assert error.startswith("rule 1: this rule could cost too much for one record")
    assert words in error
    assert not Mapping.objects.exists() and not ConditionalRule.objects.exists()


def test_try_it_shows_a_rule_stopped_for_its_cost_instead_of_hanging(consultant_client):
    mapping = MappingFactory()
    FieldMappingRowFactory(mapping=mapping, sources=["Customer"], targets=["Contact.Name"])
    ConditionalRuleFactory(mapping=mapping, condition="Customer * Qty == ''", effect="skip")
    url = reverse("admin:mappings_mapping_try", args=[mapping.pk])
    started = time.perf_counter()
    response = consultant_client.post(url, {"record": '{"Customer": "Acme", "Qty": 1000000000}'})
    assert time.perf_counter() - started < 5
    body = unescape(response.content.decode())
    assert response.status_code == 200
    assert 'rule "1"' in body and "was stopped for this record" in body
    assert "it repeats a value 1,000,000,000 times" in body
    fine = consultant_client.post(url, {"record": '{"Customer": "Acme", "Qty": 2}'})
    assert '"Name": "Acme"' in unescape(fine.content.decode())


def _nested_json(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a": ' * depth + "1" + "}" * depth
    return '[{"name": "trim", "args": ' + '{"a": ' * depth + "1" + "}" * depth + "}]"


depths = (
    st.integers(1, 5)
    | st.integers(MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 2)
    | st.integers(MAX_JSON_DEPTH, 100_000)
)
kinds = st.sampled_from(["list", "object", "args"])


@NESTED
@given(depth=depths, kind=kinds)
def test_nested_transforms_json_is_a_form_error_never_a_500(consultant_client, depth, kind):
    response = _add(consultant_client, rows=[_row(transforms=_nested_json(depth, kind))])
    assert response.status_code in (200, 302)
    if depth > MAX_JSON_DEPTH + 1:
        assert response.status_code == 200
        formset = response.context["inline_admin_formsets"][0].formset
        (error,) = formset.forms[0].errors["transforms"]
        assert f"more than {MAX_JSON_DEPTH} levels deep" in error


@NESTED
@given(
    depth=st.integers(1, 20_000),
    shape=st.sampled_from(["not {}", "-{}", "({})", "[{}]", "f({})", "Qty + {}", "a.{}"]),
)
def test_nested_rule_conditions_are_a_form_error_never_a_500(consultant_client, depth, shape):
    condition = "Qty"
    for _ in range(min(depth, 3_000)):
        condition = shape.format(condition) if shape != "a.{}" else condition + ".a"
    response = _add(consultant_client, rows=[_row()], rules=[_rule(condition)])
    assert response.status_code in (200, 302)


@NESTED
@given(depth=depths, kind=kinds)
def test_nested_try_it_json_is_a_form_error_never_a_500(consultant_client, depth, kind):
    mapping = MappingFactory()
    FieldMappingRowFactory(mapping=mapping, sources=["a"], targets=["Out"])
    url = reverse("admin:mappings_mapping_try", args=[mapping.pk])
    response = consultant_client.post(url, {"record": _nested_json(depth, kind)})
    assert response.status_code == 200
    if depth > MAX_JSON_DEPTH + 1:
        assert "levels deep" in unescape(response.content.decode())


def test_loads_bounded_refuses_bad_and_deep_json_in_plain_words():
    assert loads_bounded('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert json_depth([[[]]]) == 3 and json_depth(5) == 0
    with pytest.raises(JSONInputError, match="not valid JSON: Expecting property name"):
        loads_bounded("{not json")
    for depth in (MAX_JSON_DEPTH + 1, 10_000, 1_000_000):
        with pytest.raises(JSONInputError, match=f"more than {MAX_JSON_DEPTH} levels deep"):
            loads_bounded("[" * depth + "]" * depth)
    assert loads_bounded("[" * 3 + "]" * 3, max_depth=3) == [[[]]]
