"""The package layout keeps its arrows: no import cycle, no import up or sideways.

Every import in ``src/synthpipe`` counts, lazy ones inside functions and ``TYPE_CHECKING``
ones included: a lazy import still means the importer cannot work without the imported.
The allowed arrows are the ones drawn in docs/architecture.md; change both together.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

BASE = {"errors", "importing"}
STEP_DEPS = BASE | {"data", "text", "embeddings", "llm", "pipeline", "tools"}
STEP_PACKAGES = ("generate", "procedural", "verify", "curate", "audit")
#: package -> the packages it may import (its own package and the root `synthpipe` always may).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "importing": {"errors"},
    "data": BASE,
    "text": BASE,
    "embeddings": BASE | {"data"},
    "llm": BASE | {"data"},
    "tools": BASE | {"data"},
    "pipeline": BASE | {"data"},
    **{p: STEP_DEPS for p in STEP_PACKAGES},
    "executors": BASE | {"data", "llm", "pipeline"},
    "train": BASE | {"data", "text", "embeddings", "llm"},
    "evaluate": STEP_DEPS | {"train", "generate", "verify"},
    "report": BASE | {"data", "text", "audit", "evaluate"},
    "run": STEP_DEPS | set(STEP_PACKAGES) | {"executors", "train", "evaluate", "report"},
    "cli": STEP_DEPS | set(STEP_PACKAGES) | {"executors", "train", "evaluate", "report", "run"},
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "synthpipe").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the synthpipe modules it imports (a `from pkg import name` counts pkg.name
    when that is a module, else pkg)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("synthpipe") and target != name:
                    graph[name].add(target)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _against_arrows(graph: dict[str, set[str]]) -> list[str]:
    """``"importer -> imported"`` for every import that ALLOWED does not draw."""
    wrong = []
    for module, targets in sorted(graph.items()):
        source = _package(module)
        for target in sorted(targets):
            dest = _package(target)
            if source and dest not in ("", source) and dest not in ALLOWED.get(source, set()):
                wrong.append(f"{module} -> {target}")
    return wrong


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _modules()} - {""}
    assert packages - {"resources"} <= set(ALLOWED), (
        f"packages without a layer: {sorted(packages - set(ALLOWED))}; add them to ALLOWED "
        "and to docs/architecture.md"
    )


def test_no_import_cycle_between_modules():
    assert _cycles(_imports(_modules())) == []


def test_imports_only_point_down():
    wrong = _against_arrows(_imports(_modules()))
    assert wrong == [], "imports against the layer arrows:\n" + "\n".join(wrong)


def test_the_checker_sees_lazy_relative_and_cyclic_imports(tmp_path):
    """The walk itself: a lazy import inside a function and a relative import both count."""
    pkg = tmp_path / "synthpipe" / "pipeline"
    pkg.mkdir(parents=True)
    (tmp_path / "synthpipe" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from synthpipe.cli import main\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("from .b import x\n")
    (tmp_path / "synthpipe" / "cli.py").write_text("")
    modules = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in tmp_path.rglob("*.py")
    }
    graph = _imports(modules)
    assert "synthpipe.cli" in graph["synthpipe.pipeline.a"]
    assert _cycles(graph) == [["synthpipe.pipeline.b", "synthpipe.pipeline.c"]]


if __name__ == "__main__":  # python tests/test_layers.py [SRC_DIR]: counts, e.g. of an older tree
    import sys

    if len(sys.argv) > 1:
        SRC = Path(sys.argv[1]).resolve()
    graph = _imports(_modules())
    against = _against_arrows(graph)
    cycles = _cycles(graph)
    print(f"modules {len(_modules())}, import cycles {len(cycles)}, imports against the arrows {len(against)}")
    for cycle in cycles:
        print("  cycle:", ", ".join(cycle))
    for line in against:
        print("  against:", line)
