"""A flow's matching rules in its admin page (#16): checked against the target's catalogue
when saved, with a message naming the field, and audited through the service a bundle
import uses; a post without them leaves them alone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import AuditEvent, MatchingRule
from tests.clarity.admin.test_flows_validation import flow_data
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


def rules_data(*rows: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {
        "matching_rules-TOTAL_FORMS": len(rows),
        "matching_rules-INITIAL_FORMS": 0,
        "matching_rules-MIN_NUM_FORMS": 0,
        "matching_rules-MAX_NUM_FORMS": 1000,
    }
    for n, row in enumerate(rows):
        data.update({f"matching_rules-{n}-{k}": v for k, v in row.items()})
    return data


def syspro_target():
    """A flow into SYSPRO customers: its catalogue is at hand without a live connection."""
    flow = FlowFactory(source_entity="Contacts", target_entity="customers")
    pair = flow.pair
    flow.source_connection, flow.target_connection = pair.connection_b, pair.connection_a
    flow.save()
    return flow


def posted(flow, **overrides) -> dict[str, object]:
    return flow_data(
        flow.pair,
        name=flow.name,
        source_connection=flow.source_connection_id,
        target_connection=flow.target_connection_id,
        source_entity=flow.source_entity,
        target_entity=flow.target_entity,
        **overrides,
    )


def change(client, flow, *rows):
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    return client.post(url, {**posted(flow), **rules_data(*rows)})


def test_a_consultant_adds_ordered_rules(consultant_client):
    flow = syspro_target()
    response = change(
        consultant_client,
        flow,
        {"position": "1", "match_by": "keys", "keys": "Name, Email", "enabled": "on"},
        {"position": "0", "match_by": "reference", "keys": "", "enabled": "on"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    rules = list(flow.matching_rules.order_by("position"))
    assert [(r.match_by, r.pairs()) for r in rules] == [
        ("reference", []),
        ("keys", [("Name", "Name"), ("Email", "Email")]),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"match_by": "keys", "keys": "Nmae"}, "SYSPRO customers has no field 'Nmae'"),
        ({"match_by": "keys", "keys": "EmailAddress=Emial"}, "Did you mean 'Email'?"),
        ({"match_by": "keys", "keys": "", "position": "1"}, "Name at least one field to compare"),
        ({"match_by": "reference", "keys": "Name, Email"}, "compares one field"),
    ],
)
def test_a_rule_naming_what_the_target_lacks_is_refused(consultant_client, row, message):
    flow = syspro_target()
    response = change(consultant_client, flow, {"position": "0", "enabled": "on", **row})
    assert response.status_code == 200
    errors = " ".join(
        message
        for inline in response.context["inline_admin_formsets"]
        for form_errors in inline.formset.errors
        for messages in form_errors.values()
        for message in messages
    )
    assert message in errors
    assert not MatchingRule.objects.exists()


def test_a_post_without_the_rules_leaves_them(consultant_client):
    flow = syspro_target()
    MatchingRule.objects.create(flow=flow, keys="Name")
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    response = consultant_client.post(url, posted(flow))
    assert response.status_code == 302
    assert [r.keys for r in flow.matching_rules.all()] == ["Name"]


def existing(rule: MatchingRule, n: int, **changes: str) -> dict[str, str]:
    """Form fields of a rule already saved, as the page posts them back."""
    row = {"id": str(rule.pk), "flow": str(rule.flow_id), "position": str(rule.position)}
    row.update(match_by=rule.match_by, keys=rule.keys, enabled="on" if rule.enabled else "")
    return {**row, **changes}


def change_saved(client, flow, rows: list[dict[str, str]]):
    data = rules_data(*rows)
    data["matching_rules-INITIAL_FORMS"] = sum(1 for row in rows if "id" in row)
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    return client.post(url, {**posted(flow), **data})


def test_every_change_to_the_rules_is_audited_with_before_and_after(consultant_client, consultant):
    flow = syspro_target()
    change(consultant_client, flow, {"position": "0", "match_by": "keys", "keys": "Name"})
    added = AuditEvent.objects.get(action="flow_matching_rules_set")
    assert added.user == consultant and added.flow == flow
    assert added.detail["before"] == []
    assert added.detail["after"] == [
        {"position": 0, "match_by": "keys", "keys": "Name", "enabled": False}
    ]

    rule = flow.matching_rules.get()
    response = change_saved(
        consultant_client,
        flow,
        [
            existing(rule, 0, keys="Name, Email", enabled="on"),
            {"position": "1", "match_by": "reference", "keys": "", "enabled": "on"},
        ],
    )
    assert response.status_code == 302
    edited = AuditEvent.objects.filter(action="flow_matching_rules_set").latest("pk")
    assert edited.detail["before"] == added.detail["after"]
    assert [(r["keys"], r["enabled"]) for r in edited.detail["after"]] == [
        ("Name, Email", True),
        ("", True),
    ]

    first, second = flow.matching_rules.order_by("position")
    response = change_saved(
        consultant_client, flow, [existing(first, 0), existing(second, 1, DELETE="on")]
    )
    assert response.status_code == 302
    assert [r.keys for r in flow.matching_rules.all()] == ["Name, Email"]
    deleted = AuditEvent.objects.filter(action="flow_matching_rules_set").latest("pk")
    assert deleted.detail["before"] == edited.detail["after"]
    assert deleted.detail["after"] == edited.detail["after"][:1]


def test_saving_the_page_with_the_rules_unchanged_writes_no_audit_row(consultant_client):
    flow = syspro_target()
    rule = MatchingRule.objects.create(flow=flow, keys="Name")
    response = change_saved(consultant_client, flow, [existing(rule, 0)])
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="flow_matching_rules_set").exists()
    assert list(flow.matching_rules.values_list("pk", "keys")) == [(rule.pk, "Name")]
