"""Every system's dependency table names codes its error table gives and entities it has.

The tables (``connectors/<system>/dependencies.py``) name error codes as strings; another
table renaming a code must not leave a hint that never fires, so the two are checked
against each other for every registered system.
"""

from __future__ import annotations

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore
from connectors.errors import ErrorKind
from connectors.registry import SYSTEMS, dependencies_of


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_declared_codes_are_data_errors_the_system_gives(system: str) -> None:
    kinds = SYSTEMS[system].error_kinds
    for code in dependencies_of(system):
        assert code in kinds, f"{system} gives no error code {code!r}"
        assert kinds[code] is ErrorKind.DATA, code  # a missing reference is the record's


@pytest.mark.parametrize("system", sorted(name for name in SYSTEMS if dependencies_of(name)))
def test_each_dependency_names_an_entity_of_the_system_and_where_to_look(system: str) -> None:
    config = ConnectionConfig(system=system, connection_id="deps", base_url="http://127.0.0.1:9")
    entities = set(SYSTEMS[system].connector(config, InMemoryTokenStore()).entities())
    for code, dependency in dependencies_of(system).items():
        assert entities & set(dependency.target_entities), code
        assert dependency.reference_paths and dependency.what, code
