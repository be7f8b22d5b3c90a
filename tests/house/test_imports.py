"""The package's import graph, read from the source with ast: one way down, no cycles.

The layers, from the bottom: ``paper`` / ``utils`` / ``_version``; ``nn`` (the engine),
``data``; ``synthetic``; ``distributed``; ``train``; ``baselines``; ``analysis``; ``apply``;
``plots``; ``explore``; ``reproduce``; ``commands``; ``cli``. A module may import its own package and any package below it, never one
above. ``npvae.nn`` may import only itself, ``npvae.paper``, ``npvae.utils`` and
``npvae._version``. Every import of an npvae module sits at module level (none hidden in a function),
but for the package's entry points, imported on first use (``npvae.ENTRY_POINTS``): the graph
counts them as imports of ``npvae``, and a fresh ``import npvae`` is checked to import nothing else.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import npvae

PACKAGE = Path(npvae.__file__).parent
LAYERS = [{"paper", "utils", "_version", "runfolder", "forkserver"}, {"nn", "data"}, {"synthetic"}, {"distributed"}, {"train"},
          {"baselines"}, {"analysis"}, {"apply"}, {"plots"}, {"explore"}, {"reproduce"}, {"commands"}, {"cli", "workerboot"}]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
NN_MAY_IMPORT = {"nn", "paper", "utils", "_version"}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module, node, is_package):
    """Absolute names of the npvae modules an import node names (``from . import x`` gives a.x)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "npvae"]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "npvae":
        return []
    names = set()
    for alias in node.names:                          # from pkg import submodule, or a name of pkg
        candidate = PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            names.add(f"{target}.{alias.name}")
        else:
            names.add(target)
    return sorted(names)


def import_graph():
    """{module: set of imported npvae modules} and a list of (module, line) of nested imports."""
    graph, nested = {}, []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        top = set(map(id, tree.body))
        graph[module] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = _resolve(module, node, path.name == "__init__.py")
                graph[module].update(t for t in targets if t != module)
                if targets and id(node) not in top:
                    nested.append((module, node.lineno))
    graph["npvae"].update(f"npvae.{name}" for name in npvae.ENTRY_POINTS.values())   # imported on first use
    return graph, nested


def _package(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _graph_without_package_inits(graph):
    """The graph with edges into a package's __init__ replaced by nothing when the importer is
    inside that package (``from . import x`` in pkg/a.py names pkg only as a namespace)."""
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}


def test_no_import_cycles():
    graph, _ = import_graph()
    assert find_cycle(_graph_without_package_inits(graph)) is None


def test_cycle_finder_finds_a_planted_cycle():
    graph, _ = import_graph()
    graph = _graph_without_package_inits(graph)
    graph["npvae.nn.layers"] = graph["npvae.nn.layers"] | {"npvae.nn.model"}   # model imports layers
    assert find_cycle(graph) is not None


def test_engine_imports_only_itself_paper_and_utils():
    graph, _ = import_graph()
    bad = {(m, t) for m, targets in graph.items() if _package(m) == "nn"
           for t in targets if _package(t) not in NN_MAY_IMPORT}
    assert not bad


def test_dependencies_run_one_way():
    graph, _ = import_graph()
    upward = {(m, t) for m, targets in graph.items() if _package(m) in RANK
              for t in targets if _package(t) in RANK and RANK[_package(t)] > RANK[_package(m)]}
    assert not upward


def test_every_package_module_is_in_a_layer():
    graph, _ = import_graph()
    assert {_package(m) for m in graph} - set(RANK) == {"__init__"}


def test_no_npvae_import_inside_a_function():
    _, nested = import_graph()
    assert not nested


def test_the_graph_counts_the_entry_points_imported_on_first_use():
    graph, _ = import_graph()
    assert {"npvae.train.estimators", "npvae.apply", "npvae.nn.adam"} <= graph["npvae"]


LAZY_PROBE = """
import json, sys
import npvae
before = sorted(m for m in sys.modules if m.startswith("npvae") or m in ("numpy", "dask"))
from npvae import load
import npvae.train.estimators as estimators
print(json.dumps({"before": before, "same": [npvae.InfoVAE is estimators.InfoVAE, load is estimators.load],
                  "dir": sorted(set(npvae.__all__) - set(dir(npvae)))}))
"""


def test_import_npvae_imports_nothing_heavy_and_the_entry_points_resolve():
    """So that ``npvae CMD --scheduler local`` starts its fork server before the heavy imports."""
    done = subprocess.run([sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    seen = json.loads(done.stdout)
    assert seen == {"before": ["npvae", "npvae._version"], "same": [True, True], "dir": []}
    for name, module in npvae.ENTRY_POINTS.items():
        assert name in npvae.__all__ and hasattr(__import__(f"npvae.{module}", fromlist=[name]), name)
    try:
        npvae.no_such_thing
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")
