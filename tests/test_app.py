"""nst lab: the explorer's app notebook, Voilà's command, and what it refuses."""

import importlib.metadata
import json

import pytest

from nst_helpers import app
from nst_helpers.cli import main


def test_the_app_notebook_shows_the_explorer_and_nothing_else():
    nb = app.app_notebook("tubingen", "udnie", quick=True)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) == 1 and code[0]["source"].rstrip().endswith("explorer")
    assert "Explorer(content='tubingen', style='udnie', quick=True)" in code[0]["source"]
    compile(code[0]["source"], "app", "exec")
    assert nb["cells"][0]["source"].startswith("# Neural style transfer")
    json.dumps(nb)  # a notebook nbformat can write


def test_voila_serves_it_without_sources_or_tracebacks():
    cmd = app.voila_command("/x/explorer.ipynb", port=9000, ip="0.0.0.0", open_browser=False)
    assert cmd[1:4] == ["-m", "voila", "/x/explorer.ipynb"]
    assert {"--port=9000", "--Voila.ip=0.0.0.0", "--strip_sources=True", "--show_tracebacks=False",
            "--no-browser"} <= set(cmd)


def test_voila_does_not_bring_ipywidgets_of_its_own():
    """Installing the [app] extra in Colab keeps its ipywidgets 7."""
    try:
        requires = importlib.metadata.requires("voila") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("voila is not installed")
    hard = [r for r in requires if "extra ==" not in r]
    assert not [r for r in hard if r.lower().startswith(("ipywidgets", "jupyterlab-widgets", "widgetsnbextension"))]
    ours = importlib.metadata.requires("nst-helpers") or []
    assert any(r.startswith("voila") and 'extra == "app"' in r for r in ours)


def test_bad_options_end_in_one_line(tmp_path, capsys):
    assert main(["lab", "--dir", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert "no such folder for --dir" in capsys.readouterr().err
    assert main(["lab", "--port", "70000", "--no-browser", "--dir", str(tmp_path)]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
