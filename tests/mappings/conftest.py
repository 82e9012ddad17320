"""Fixtures of the mapping tests."""

from __future__ import annotations

import pytest

from tests.mappings.helpers import pay_mapping


@pytest.fixture
def pay(db):
    return pay_mapping()
