"""The package's code stays in rooms of a readable size, typed in one style, with public seams.

Limits (CONTRIBUTING-style rules the README states): no module of ``nst_helpers`` over 500
lines, no function over 60 lines counting its decorators and docstring, no module importing
another module's private (``_name``) names, ``__all__`` in every public module, annotations in one
style (``from __future__ import annotations`` and ``X | None``, never ``Optional``), and an import
inside a function only with a comment that says why (start-up cost, an optional dependency, a
cycle). Complexity is ruff's C901 (pyproject.toml), types are mypy's (both run in CI).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nst_helpers"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
FILES = sorted(PACKAGE.rglob("*.py"))


def _tree(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _name(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT))


def long_functions(tree: ast.Module, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """``(name, lines)`` of each function of ``tree`` longer than ``limit`` lines."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = node.end_lineno - start + 1
            if length > limit:
                found.append((node.name, length))
    return found


def private_imports(tree: ast.Module) -> list[str]:
    """Private names that ``tree`` imports from another module (``from .x import _y``)."""
    return [
        f"from {'.' * node.level}{node.module or ''} import {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def unexplained_lazy_imports(source: str) -> list[int]:
    """Lines of imports inside functions with no comment on them or on the line above their group."""
    lines = source.splitlines()
    bad = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            first = node.lineno - 1
            # A group of imports shares the comment above its first line.
            while first > 0 and lines[first - 1].strip().startswith(("import ", "from ")):
                first -= 1
            span = lines[node.lineno - 1 : node.end_lineno]
            explained = any("#" in line for line in span) or (first > 0 and "#" in lines[first - 1])
            if not explained:
                bad.append(node.lineno)
    return bad


def test_the_rules_catch_what_they_name():
    source = (
        "from .common import _fail\n"
        "def f():\n" + "    x = 1\n" * 61 + "def g():\n    import json\n    return json\n"
        "def h():\n    # an optional dependency\n    import yaml\n    import json\n    return yaml\n"
    )
    tree = ast.parse(source)
    assert long_functions(tree) == [("f", 62)]
    assert private_imports(tree) == ["from .common import _fail"]
    assert unexplained_lazy_imports(source) == [65]


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_module_size(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, (
        f"{_name(path)} has {lines} lines: split it (at most {MAX_MODULE_LINES})"
    )


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_function_size(path):
    long = long_functions(_tree(path))
    assert not long, f"{_name(path)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_no_private_names_cross_modules(path):
    found = private_imports(_tree(path))
    assert not found, f"{_name(path)} imports private names: {found}; make them public"


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_lazy_imports_say_why(path):
    lines = unexplained_lazy_imports(path.read_text())
    assert not lines, (
        f"{_name(path)}: imports inside functions at lines {lines} with no comment saying why "
        "(start-up cost, optional dependency, cycle): move them to the top or say why"
    )


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_one_annotation_style(path):
    source = path.read_text()
    tree = ast.parse(source)
    if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body):
        assert "from __future__ import annotations" in source, (
            f"{_name(path)}: add `from __future__ import annotations`"
        )
    old = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "typing"
        for alias in node.names
        if alias.name in ("Optional", "Union")
    ]
    assert not old, f"{_name(path)} imports {old} from typing: write `X | None`, `A | B`"


PUBLIC = [p for p in FILES if not p.name.startswith("_") or p.name == "__init__.py"]


@pytest.mark.parametrize("path", PUBLIC, ids=_name)
def test_public_modules_declare_all(path):
    tree = _tree(path)
    names = {
        t.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    has_code = any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body)
    if has_code or path.name != "__init__.py":
        assert "__all__" in names, f"{_name(path)}: declare its public names in `__all__`"
