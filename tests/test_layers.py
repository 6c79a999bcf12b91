"""The import graph flows one way: web and cli -> services -> models and db; the simulator is never a dependency
of the poll's own code; no module imports its way back to itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "poll"
# The simulation service, the demo, the live simulation and the commands run the simulator; nothing else may import it.
MAY_IMPORT_THE_SIMULATOR = {"poll.cli", "poll.commands", "poll.live_simulation", "poll.services.simulation", "poll.services.demo"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (at any depth of its code)."""
    graph = {}
    modules = {module_name(path) for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("poll"):
                # `from poll import iraq` imports the module poll.iraq; `from poll.db import get_session` the package.
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("poll"))
        graph[module_name(path)] = {name for name in found if name in modules and name != module_name(path)}
    return graph


GRAPH = imports()


@pytest.mark.parametrize("module", sorted(name for name in GRAPH if name not in MAY_IMPORT_THE_SIMULATOR
                                          and not name.startswith("poll.simulate")))
def test_the_poll_does_not_lean_on_the_simulator(module):
    assert not {name for name in GRAPH[module] if name.startswith("poll.simulate")}


@pytest.mark.parametrize(("lower", "upper"), [("poll.services", "poll.web"), ("poll.services", "poll.cli"),
                                              ("poll.db", "poll.services"), ("poll.models", "poll.services"),
                                              ("poll.stats", "poll.services"), ("poll.stats", "poll.db"),
                                              ("poll.simulate", "poll.services"), ("poll.simulate", "poll.db")])
def test_lower_layers_do_not_import_upper_ones(lower, upper):
    offenders = {module: sorted(name for name in names if name.startswith(upper))
                 for module, names in GRAPH.items() if module.startswith(lower)}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_there_is_no_import_cycle():
    visiting, done, cycles = set(), set(), []

    def visit(module: str, path: list[str]) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append(path[path.index(module):] + [module])
            return
        visiting.add(module)
        for name in sorted(GRAPH.get(module, ())):
            visit(name, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert cycles == []
