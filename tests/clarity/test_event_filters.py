"""A flow's event filter: validated when saved, judged on neutral changes, never guessing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from clarity.event_filters import event_filter_errors, event_filter_verdict
from tests.factories import FlowFactory

CLOSED_WON = [{"entity": "Opportunity", "change_types": ["CREATE", "UPDATE"],
               "field": "StageName", "equals": "Closed Won"}]  # fmt: skip


def change(change_type="UPDATE", fields=("StageName",), values=None, entity="Opportunity"):
    return {"entity": entity, "change_type": change_type, "record_ids": ["006A"],
            "changed_fields": None if fields is None else list(fields),
            "values": {"StageName": "Closed Won"} if values is None else values}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "verdict"),
    [
        (change(), True),
        (change(values={"StageName": "Negotiation"}), False),  # changed, not to Closed Won
        (change(fields=("Amount",), values={"Amount": 5}), False),  # StageName untouched
        (change("CREATE", fields=(), values={"StageName": "Closed Won"}), True),
        (change("CREATE", fields=(), values={"StageName": "Prospecting"}), False),
        (change("DELETE", fields=(), values={}), False),
        (change(entity="Account"), False),
        (change("GAP_UPDATE", fields=None, values={}), None),  # no values: cannot tell
        (change("GAP_OVERFLOW", fields=None, values={}), None),
        (change(fields=None), None),  # values but not which changed
        (change("UPDATE", fields=("stagename",), values={"stagename": "Closed Won"}), True),
    ],
)
def test_the_closed_won_rule(event, verdict):
    assert event_filter_verdict(CLOSED_WON, event) is verdict


def test_no_rules_let_every_change_through_and_any_matching_rule_is_enough():
    assert event_filter_verdict([], change(values={"StageName": "x"})) is True
    rules = [*CLOSED_WON, {"change_types": ["DELETE"]}]
    assert event_filter_verdict(rules, change("DELETE", fields=(), values={})) is True


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ({"field": "StageName"}, "list of rules"),
        (["StageName"], "Rule 1: is not a rule"),
        ([{}], "Rule 1: is not a rule"),
        ([{"feild": "StageName"}], "unknown key feild"),
        ([{"change_types": ["MODIFY"]}], "change_types must be a list of some of"),
        ([{"change_types": []}], "change_types must be"),
        ([{"equals": "Closed Won"}], "equals needs the field"),
        ([{"field": "Stage Name; DROP"}], "field must be a field name"),
        ([{"field": "StageName", "equals": ["a"]}], "equals must be one value"),
        ([{"entity": 7}], "entity must be an entity name"),
        ([{"field": "A"}] * 21, "at most 20"),
    ],
)
def test_a_bad_filter_is_refused_when_the_flow_is_saved_saying_why(db, rules, says):
    assert any(says in e for e in event_filter_errors(rules))
    flow = FlowFactory.build(pair=FlowFactory().pair, trigger_webhook=True, event_filter=rules)
    flow.source_connection, flow.target_connection = flow.pair.connection_a, flow.pair.connection_b
    with pytest.raises(ValidationError) as refused:
        flow.full_clean()
    assert says in " ".join(refused.value.message_dict["event_filter"])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(rules=JSON, event=JSON)
def test_any_rules_and_any_event_get_an_answer_not_an_exception(rules, event):
    errors = event_filter_errors(rules)
    assert isinstance(errors, list)
    if not errors and isinstance(event, dict):
        assert event_filter_verdict(rules, event) in (True, False, None)
