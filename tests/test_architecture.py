"""The shape of the code: small modules, no reaching into another module's private names,
every default written once, a thin widget."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "napari_plugin")
SCRIPTS = ("bench", "tools", "docs")
#: "No module over ~600 lines" (issue 10).
MAX_MODULE_LINES = 620


def _sources(folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_imports(path: Path) -> list[str]:
    """Imports of another module's private names in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(ROOT).parts[0]
    problems = []
    module_aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            for alias in node.names:
                if node.level and node.module is None:
                    continue  # "from . import _layers": a module of the same package
                if _private(alias.name):
                    problems.append(f"{path.name}:{node.lineno} imports {alias.name} from {source}")
                else:
                    module_aliases[alias.asname or alias.name] = source
            parts = (node.module or "").split(".")
            # a private module of another package (pipeline._validate from the plugin, bench, tools)
            if node.level == 0 and parts[0] in PACKAGES and parts[0] != package \
                    and any(_private(p) for p in parts[1:]):
                problems.append(f"{path.name}:{node.lineno} imports the private module {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in PACKAGES and parts[0] != package and any(_private(p) for p in parts[1:]):
                    problems.append(f"{path.name}:{node.lineno} imports the private module {alias.name}")
                module_aliases[alias.asname or parts[0]] = alias.name
    for node in ast.walk(tree):
        # module._name: a private name reached through an imported module
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in module_aliases:
            problems.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return problems


@pytest.mark.parametrize("path", list(_sources(PACKAGES + SCRIPTS)), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_name(path):
    assert _private_imports(path) == []


def test_modules_are_small():
    big = {str(p.relative_to(ROOT)): n for p in _sources(PACKAGES)
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert big == {}


def test_stage_modules_import_only_validation_and_defaults():
    """The stage modules are functions on arrays and tables: they import no other layer."""
    allowed = {"._validate", ".defaults", ".celltable", ".contact", ".spatial", ".he_cells"}
    for name in ("tissue", "stains", "nuclei", "tumor", "measure", "pattern", "staging"):
        tree = ast.parse((ROOT / "pipeline" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                source = "." * node.level + (node.module or "")
                assert source in allowed, f"pipeline/{name}.py imports {source}"


def test_the_widget_class_is_thin():
    tree = ast.parse((ROOT / "napari_plugin" / "_widget.py").read_text(encoding="utf-8"))
    widget = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AnalyzeWidget")
    assert widget.end_lineno - widget.lineno + 1 < 635 // 2


def test_defaults_are_written_once():
    """No function default or call in the package writes an analysis option's value as a
    number: it comes from pipeline.defaults (through AnalysisOptions)."""
    from pipeline.options import option_fields

    names = set(option_fields())
    for path in _sources(PACKAGES):
        if path.name == "defaults.py" or "synthetic" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            pairs = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                pairs += zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults)
                pairs += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            elif isinstance(node, ast.Call):
                pairs += [(k.arg, k.value) for k in node.keywords if k.arg]
            for name, value in pairs:
                if name in names and isinstance(value, ast.Constant) and isinstance(value.value, (int, float)) \
                        and not isinstance(value.value, bool):
                    pytest.fail(f"{path.relative_to(ROOT)}:{value.lineno} writes {name}={value.value!r}: "
                                "take it from pipeline.defaults")
