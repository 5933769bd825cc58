"""The package's layers only point down, and no modules import each other in a circle.

Read from the import statements of every module (function-level imports
included), so a lazy import cannot hide an upward dependency.
"""

import ast
from pathlib import Path

import skelkit

PKG = Path(skelkit.__file__).parent

# package part -> the other parts it may import (its own modules are always allowed)
BASE = {"errors", "_compat", "validate"}
ALLOWED = {
    "errors": set(),
    "_compat": {"errors"},
    "validate": {"errors"},
    "_methods": {"errors", "_compat"},
    "core": BASE,                                   # algorithms: nothing above them
    "io": BASE,
    "metrics": BASE | {"core"},                     # metrics call algorithms, not the dispatcher
    "models": BASE | {"core", "io"},                # never the dispatcher or the data generators
    "data": BASE | {"core", "io", "metrics"},       # never the models
    "viz": BASE | {"io"},
    "api": BASE | {"_methods", "core", "models"},   # the dispatcher (models only to look up weights files)
    "losses": BASE | {"_methods", "api", "core"},
    "chunked": BASE | {"_methods", "io"},
    "training": BASE | {"core", "io", "metrics", "models", "data", "losses"},
    "cli": BASE | {"_methods", "api", "core", "io", "metrics", "models", "data", "losses", "chunked", "training", "analysis",
                   "viz"},
    "analysis": BASE | {"core", "io"},
    "__init__": {"_methods", "api", "errors", "analysis"},
}


def _modules() -> dict:
    mods = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(["skelkit", *parts])] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set:
    """Modules of skelkit that module ``name`` imports anywhere in its code."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("skelkit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("skelkit"):
                continue
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
            out |= subs if subs and len(subs) == len(node.names) else subs | {mod}
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    assert {_part(m) for m in MODULES} <= set(ALLOWED)


def test_layers_point_down():
    bad = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
                 if _part(b) != _part(a) and _part(b) not in ALLOWED[_part(a)])
    assert not bad, "imports against the layer rules:\n" + "\n".join(bad)


def test_no_import_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"modules importing each other in a circle: {cycles}"


def test_the_rules_catch_an_upward_import(tmp_path):
    """The checker itself: a model importing the dispatcher is reported."""
    src = tmp_path / "fake.py"
    src.write_text("def f():\n    from ..api import skeletonize\n")
    edges = {b for b in _imports("skelkit.models.fake", src)}
    assert "skelkit.api" in edges and "api" not in ALLOWED["models"]
