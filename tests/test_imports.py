"""The package's imports form no cycle, and its building blocks load none of the loop, CLI or image code.

The import graph is read from the source (``ast``), module-level imports only: an import inside a
function runs when it is called, after every module involved has finished loading, and one under
``if TYPE_CHECKING:`` never runs. ``from a.b import c`` depends on ``a.b.c`` when that is a module,
else on ``a.b``; importing a module also runs its packages' ``__init__``, so ``a.b`` depends on
``a`` unless the importer lives in ``a`` itself (then ``a`` is running already).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# What the building blocks must not pull in: the loop, the CLI, the image code.
HEAVY = ("lbt.train", "lbt.cli", "lbt.images", "lbt.models.images", "lbt.metrics.images",
         "lbt.datasets.images", "lbt.plots", "lbt.compare")  # fmt: skip


def modules(src: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Every module of ``package`` under ``src``: dotted name -> (file, is a package)."""
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run when the module is imported (class bodies do; function bodies don't)."""
    out: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, ast.If):
            out += _module_level(node.orelse if _is_type_checking(node.test) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            out += _module_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                out += _module_level(handler.body)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            out += _module_level(node.body)
    return out


def import_graph(src: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` that importing it runs directly."""
    mods = modules(src, package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in mods.items():
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join(here + ([node.module] if node.module else []))
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base)
        deps = set()
        for target in targets:
            if target not in mods:
                continue  # another distribution, or a name that is no module of ours
            deps.add(target)
            parts = target.split(".")
            for i in range(1, len(parts)):  # the target's packages run too, unless they hold us
                parent = ".".join(parts[:i])
                if not (name + ".").startswith(parent + "."):
                    deps.add(parent)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first walk closes, each as a path that ends where it starts."""
    found: list[list[str]] = []
    seen: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        seen.add(node)
        path.append(node)
        for dep in sorted(graph[node]):
            if dep in path:
                found.append(path[path.index(dep) :] + [dep])
            elif dep not in seen:
                visit(dep, path)
        path.pop()

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])
    return found


def test_the_package_imports_form_no_cycle():
    graph = import_graph(SRC, "lbt")
    assert graph["lbt.train"] >= {"lbt.config", "lbt.extensions", "lbt.methods"}  # the walker sees edges
    loops = cycles(graph)
    assert not loops, "import cycles:\n" + "\n".join(" -> ".join(loop) for loop in loops)


def test_the_walker_sees_a_cycle_and_skips_what_does_not_run_at_import(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg.a import A\n",
        "pkg/a.py": "from pkg.sub.b import B\nA = B\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "import typing\nB = 1\nif typing.TYPE_CHECKING:\n    from pkg.c import C\n",
        "pkg/c.py": "from . import a\nC = 1\n\ndef f():\n    from pkg.sub import b\n",
        "pkg/d.py": "from .sub.b import B\n",
        "pkg/sub/e.py": "from ..d import B\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub.b"] == set() and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"} and graph["pkg.d"] == {"pkg.sub", "pkg.sub.b"}
    assert cycles(graph) == []
    (tmp_path / "pkg/sub/b.py").write_text("from pkg.c import C\nB = C\n")
    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_the_registry_is_a_leaf():
    """Every builder imports it: it imports nothing of the package, not even inside a function."""
    tree = ast.parse((SRC / "lbt" / "registry.py").read_text())
    names = ["." if n.level else n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [n for n in names if n.split(".")[0] in ("lbt", "")], names


@pytest.mark.parametrize("module", ["lbt.optim", "lbt.unroll", "lbt.registry"])
def test_the_building_blocks_load_no_loop_cli_or_image_code(module):
    probe = textwrap.dedent(f"""
        import sys
        import {module}
        print(" ".join(sorted(m for m in sys.modules if m == "lbt" or m.startswith("lbt."))))
    """)
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    loaded = set(res.stdout.split())
    assert module in loaded and not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "lbt.config" not in loaded  # nor the config and its registries: the package root is lazy


def test_the_package_root_names_its_api_lazily():
    probe = "import lbt, lbt.train; assert lbt.Trainer is lbt.train.Trainer; print(lbt.unroll.__name__)"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "unroll", res.stderr  # the function, as before
