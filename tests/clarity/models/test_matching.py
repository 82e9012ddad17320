"""A matching rule's keys as a consultant writes them, and what it refuses (#16)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clarity.models import MatchBy, MatchingRule


@pytest.mark.parametrize(
    ("keys", "pairs", "described"),
    [
        ("Name", [("Name", "Name")], "Name"),
        (" Name ,Email = EmailAddress,, ", [("Name", "Name"), ("Email", "EmailAddress")],
         "Name and EmailAddress"),
        ("", [], "reference"),
    ],
)  # fmt: skip
def test_keys_read_as_pairs_of_sent_and_target_fields(keys, pairs, described):
    rule = MatchingRule(keys=keys)
    assert rule.pairs() == pairs
    assert rule.describe() == described


def test_a_keys_rule_needs_a_key_and_a_reference_rule_one_at_most():
    with pytest.raises(ValidationError, match="Name at least one field"):
        MatchingRule(match_by=MatchBy.KEYS, keys=" , ").clean()
    with pytest.raises(ValidationError, match="compares one field"):
        MatchingRule(match_by=MatchBy.REFERENCE, keys="Name, Email").clean()
    MatchingRule(match_by=MatchBy.REFERENCE, keys="").clean()  # the target's reference field
