"""Lower layers never import higher ones, by the order of the README's library table.

Each row of the table (``| `images` | … |``) is one layer, lowest first; a row naming several
modules makes them one layer. Every import of every module of the package counts, also those
inside functions, and a subpackage (``explorer``) is one module. ``errors``, ``choices`` and
``_tf`` lie below every layer and import nothing of the package; ``__main__`` runs ``cli``.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nst_helpers"
#: Below every layer: each may be imported by any module and imports nothing of the package.
FOUNDATIONS = ("errors", "choices", "_tf")
#: Above every layer: ``python -m nst_helpers`` runs the command line.
TOP = ("__main__",)


def readme_layers(text):
    """``{module: layer number}`` from the README's table of modules (lowest layer 0)."""
    table = re.search(r"^\| Module \| What it holds \|\n\|[-| ]+\|\n((?:\|.*\|\n)+)", text, re.M)
    assert table, "README.md has no '| Module | What it holds |' table"
    layers = {}
    for number, row in enumerate(table.group(1).splitlines()):
        first = row.split("|")[1]
        for name in re.findall(r"`([a-z_]+)`", first):
            layers[name] = number
    return layers


def package_modules(package=PACKAGE):
    """``{module: file}`` of the package: top-level files and subpackages, ``__init__`` aside."""
    modules = {p.stem: p for p in package.glob("*.py") if p.stem != "__init__"}
    modules.update({p.parent.name: p.parent for p in package.glob("*/__init__.py")})
    return modules


def imported(module, path, package=PACKAGE):
    """The package's modules that ``module`` (a file, or a subpackage's folder) imports."""
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    found = set()
    for file in files:
        inside = file.relative_to(package).parent.parts  # () or ("explorer",)
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x, from ..config import y
                    base = ["nst_helpers", *inside][: len(inside) + 2 - node.level]
                else:
                    base = []
                start = ".".join(base + ([node.module] if node.module else []))
                names = [start] + [f"{start}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "nst_helpers" and len(parts) > 1 and parts[1] != module:
                    found.add(parts[1])
    return found


def test_the_readme_table_names_every_module():
    layers = readme_layers((ROOT / "README.md").read_text())
    missing = sorted(set(package_modules()) - set(layers) - set(FOUNDATIONS) - set(TOP))
    assert not missing, f"add a row for {', '.join(missing)} to the README's library table"


def violations(layers, package=PACKAGE):
    """Every import of ``package`` that goes against ``layers``, one line each."""
    modules = package_modules(package)
    bad = []
    for module, path in modules.items():
        for other in sorted(imported(module, path, package)):
            if other not in modules:
                bad.append(f"{module} imports nst_helpers.{other}, which does not exist")
            elif module in FOUNDATIONS:
                bad.append(f"{module} lies below every layer but imports {other}")
            elif module in TOP or other in FOUNDATIONS:
                continue
            elif other in TOP or layers.get(other, -1) > layers.get(module, -1):
                bad.append(
                    f"{module} (layer {layers.get(module)}) imports {other} "
                    f"(layer {layers.get(other)}), a higher one"
                )
    return bad


def test_lower_layers_never_import_higher_ones():
    bad = violations(readme_layers((ROOT / "README.md").read_text()))
    assert not bad, "\n".join(bad)


def test_the_package_itself_imports_nothing():
    """``import nst_helpers`` stays instant: its ``__init__`` imports no module of its own."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from . import samples\nfrom .config import preset", {"samples", "config"}),
        ("def f():\n    from .optimize import stylize", {"optimize"}),
        (
            "import nst_helpers.backbone as b\nfrom nst_helpers import losses",
            {"backbone", "losses"},
        ),
        ("from .errors import NSTError\nimport numpy", {"errors"}),
    ],
)
def test_imports_are_found_wherever_they_stand(tmp_path, source, expected):
    (tmp_path / "mine.py").write_text(source)
    assert imported("mine", tmp_path / "mine.py", tmp_path) == expected


def test_imports_of_a_subpackage_count_as_its_own(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "__init__.py").write_text("from .parts import x\n")
    (tmp_path / "lab" / "parts.py").write_text(
        "from ..config import preset\nfrom . import more\nfrom .. import cli\n"
    )
    assert imported("lab", tmp_path / "lab", tmp_path) == {"config", "cli"}


def test_a_higher_import_is_caught(tmp_path):
    layers = readme_layers(
        "| Module | What it holds |\n|---|---|\n| `images` | a |\n"
        "| `color`, `film` | b |\n| `cli` | c |\n"
    )
    assert layers == {"images": 0, "color": 1, "film": 1, "cli": 2}
    for name, source in (
        ("images", "def f():\n    from .color import x\n"),
        ("color", "from .film import y\nfrom .errors import E\n"),
        ("film", "from . import images\n"),
        ("cli", "from . import color\n"),
        ("errors", "from .images import z\n"),
    ):
        (tmp_path / f"{name}.py").write_text(source)
    assert violations(layers, tmp_path) == [
        "errors lies below every layer but imports images",
        "images (layer 0) imports color (layer 1), a higher one",
    ]


def test_every_subpackage_is_installed():
    """A subpackage missing from pyproject.toml's list is left out of a wheel (``pip install .``,
    Colab's setup cell) while an editable install still finds it."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"nst_helpers"} | {
        f"nst_helpers.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")
    }
    assert found <= listed, f"add {', '.join(sorted(found - listed))} to pyproject.toml's packages"
