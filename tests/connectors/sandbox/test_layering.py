"""The sandboxes stand alone: no module of ``connectors.sandbox`` imports ``clarity``,
directly or through another module of the project (imports inside functions too)."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil

import connectors.sandbox

PROJECT = ("clarity", "connectors", "mappings", "portal", "agent")
SYSTEMS = ("xero", "syspro", "salesforce", "kashflow")


def sandbox_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(connectors.sandbox.__path__, "connectors.sandbox.")
    )


def imported_by(module: str) -> set[str]:
    """The modules ``module`` names in any import statement, relative ones resolved."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), spec.origin)
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            names.add(base)
            # ``from connectors.sandbox.xero import seed`` imports a module too.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent is a module, not a package
        return False


def project_imports(start: str) -> dict[str, str]:
    """Every project module reachable from ``start``, each with the module importing it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        for name in imported_by(module):
            if not name.startswith(PROJECT) or name in seen:
                continue
            if not is_module(name):  # an attribute: ``from a.b import SomeClass``
                continue
            seen[name] = module
            todo.append(name)
    return seen


def test_every_system_has_its_sandbox_package() -> None:
    packages = {name.split(".")[2] for name in sandbox_modules() if name.count(".") >= 3}
    assert packages == set(SYSTEMS)
    for system in SYSTEMS:
        assert f"connectors.sandbox.{system}.app" in sandbox_modules()


def test_the_sandboxes_import_nothing_of_clarity() -> None:
    offending = {
        f"{module} -> {name} (imported by {by})"
        for module in sandbox_modules()
        for name, by in project_imports(module).items()
        if name == "clarity" or name.startswith("clarity.")
    }
    assert offending == set()


def test_the_walk_sees_imports() -> None:
    """A guard for the guard: the walk finds what a sandbox module does import."""
    reached = project_imports("connectors.sandbox.syspro.app")
    assert "connectors.sandbox.core" in reached
    assert "connectors.sandbox.syspro.seed" in reached
