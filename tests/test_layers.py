"""The import graph flows one way: web and cli -> runners -> services -> models and db; the simulator is never a dependency
of the poll's own code; no module imports its way back to itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "poll"
# The simulation service, the demo, the live simulation, the jobs and `poll simulate` run the simulator; nothing else may import it.
MAY_IMPORT_THE_SIMULATOR = {"poll.cli", "poll.commands.simulate", "poll.runners.live_simulation", "poll.runners.jobs",
                            "poll.services.simulations.simulation", "poll.services.simulations.demo"}


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
                                              ("poll.services", "poll.runners"), ("poll.sms", "poll.services"),
                                              ("poll.sms", "poll.runners"), ("poll.services", "poll.commands"),
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


# The modules that read a poll's answers to make figures or rows of them. What shows anything to anyone (pages,
# the API, the commands, reports, SMS replies) reaches them only through the release gate, services.releases.release,
# which keeps each audience's rule and writes the ledger: a new output cannot skip it.
ANSWER_READERS = {"poll.services.releases.results", "poll.services.releases.question_results", "poll.services.releases.answer_table",
                  "poll.services.releases.exports", "poll.services.releases.publication", "poll.services.releases.noisy_figures",
                  "poll.services.releases.stat_files", "poll.services.releases.suppression", "poll.services.answering.tallies",
                  "poll.services.releases.methodology", "poll.services.releases.ledger", "poll.services.releases.codebook"}
ANSWER_READERS |= {"poll.services.releases.governorate_estimates"}  # figures of answers, handed to it by results
OUTPUTS = ("poll.web", "poll.commands", "poll.cli", "poll.reports", "poll.sms", "poll.runners.live_simulation")


@pytest.mark.parametrize("module", sorted(name for name in GRAPH if name.startswith(OUTPUTS)))
def test_every_output_goes_through_the_release_gate(module):
    assert GRAPH[module] & ANSWER_READERS == set()
    # Nor around it, through an attribute of the gate's own imports.
    source = (PACKAGE.parent / Path(*module.split("."))).with_suffix(".py")
    source = source if source.exists() else source.with_suffix("") / "__init__.py"
    names = "|".join(name.rsplit(".", 1)[1] for name in ANSWER_READERS)
    assert not re.search(rf"\brelease\.({names})\b", source.read_text())


def test_the_gate_is_the_only_way_out_for_answer_readers():
    # Outside the services, only the gate's own callers' lower layers may import an answer reader.
    importers = {module for module, names in GRAPH.items() if names & ANSWER_READERS}
    outside = {module for module in importers if not module.startswith("poll.services")}
    assert outside == set()
