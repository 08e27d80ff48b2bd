"""The course site: Jupyter Book builds it from the stored notebooks, and its links hold."""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_site", ROOT / "tools" / "build_site.py")
site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site)


def _needs_jupyter_book():
    have = importlib.util.find_spec("jupyter_book") is not None and shutil.which("node")
    if not have:
        if os.environ.get("NST_REQUIRE_SITE"):
            pytest.fail(
                "the site must build here (NST_REQUIRE_SITE): pip install -e '.[site]' and Node.js"
            )
        pytest.skip("jupyter-book 2 and Node.js are needed (pip install -e '.[site]')")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _needs_jupyter_book()
    stage = tmp_path_factory.mktemp("site")
    return site.build(stage / "stage", base_url="/nst-course"), stage / "stage"


def test_every_solved_notebook_is_in_the_sites_table_of_contents():
    toc = site.pages()
    assert site.solved_notebooks() and all(nb in toc for nb in site.solved_notebooks())
    assert {"README.md", "data/README.md", "site/references.md", "docs/publishing.md"} <= set(toc)
    for rel in toc:
        assert rel in site.GENERATED or (ROOT / rel).is_file(), rel


def test_the_site_builds_from_stored_outputs_with_no_broken_link(built):
    html_dir, stage = built
    assert site.check(html_dir, "/nst-course") == []
    pages = {p.parent.name for p in html_dir.rglob("index.html")}
    assert {"convolutions", "references", "readme", "grading", "publishing"} <= pages
    conv = (html_dir / "convolutions" / "index.html").read_text()
    assert "Open in Colab" in conv and "colab.research.google.com/github/" in conv  # the badge
    assert "conv2d is right" in conv  # a stored output, shown as it is stored
    assert 'src="/nst-course/' in conv and "NBVAL_" not in conv
    # the student version is not a page: its link goes to the repository
    assert (
        "github.com/nst-course/nst-course/blob/main/notebooks/student/01_convolutions.ipynb" in conv
    )
    refs = (html_dir / "references" / "index.html").read_text()
    assert "Gatys" in refs and "hdl.handle.net/10.1007/BF01589116" in refs
    credits = (html_dir / "readme" / "index.html").read_text()
    assert "Starry Night" in credits
    assert (stage / "myst.yml").read_text() == (ROOT / "site" / "myst.yml").read_text()


def test_the_check_finds_broken_links_missing_fragments_and_missing_notebooks(
    tmp_path, monkeypatch
):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="/a/">ok</a> <a href="/a/#here">ok</a> <a href="/a/#gone">x</a> <a href="/nope/">x</a>'
        '<a href="https://example.org/">external</a> <a href="/notes.md">x</a> <img src="/b.png">'
        "(01_convolutions.ipynb)"
    )
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">Here</h2>')
    (tmp_path / "notes.md").write_text("# notes")
    monkeypatch.setattr(site, "pages", lambda: ["README.md", "notebooks/01_convolutions.ipynb"])
    monkeypatch.setattr(
        site,
        "solved_notebooks",
        lambda: ["notebooks/01_convolutions.ipynb", "notebooks/09_new.ipynb"],
    )
    problems = site.check(tmp_path)
    assert problems == [
        "notebooks/09_new.ipynb is not in the site: add it to site/myst.yml.",
        "index.html: /a/#gone points at #gone, which that page does not have.",
        "index.html: broken link /nope/",
        "index.html: /notes.md is a page the site does not include; add it to site/myst.yml.",
        "index.html: broken link /b.png",
    ]


def test_links_to_repository_files_outside_the_site_go_to_github():
    text = (
        "[s](student/01_convolutions.ipynb) [n](02_vgg_features.ipynb) [x](../LICENSE) "
        '<img src="https://colab.research.google.com/assets/colab-badge.svg"> '
        "[d](https://doi.org/10.1/x) [w](https://example.org) [img](../docs/images/result.jpg)"
    )
    out = site._rewrite_links(
        text,
        "notebooks/01_convolutions.ipynb",
        {"notebooks/01_convolutions.ipynb", "notebooks/02_vgg_features.ipynb"},
    )
    blob = "https://github.com/nst-course/nst-course/blob/main/"
    assert f"[s]({blob}notebooks/student/01_convolutions.ipynb)" in out
    assert "[n](02_vgg_features.ipynb)" in out and f"[x]({blob}LICENSE)" in out
    assert 'src="../site/colab-badge.svg"' in out and "[d](https://hdl.handle.net/10.1/x)" in out
    assert "[w](https://example.org)" in out and "[img](../docs/images/result.jpg)" in out


# --- what building needs, checked before anything is staged; --out never deletes a folder of yours


def _tool(*args, shim="", env=None):
    """``python tools/build_site.py ARGS`` in a real process, after the Python lines of ``shim``."""
    code = (
        f"import runpy, sys\n{shim}\nsys.argv = ['tools/build_site.py'] + sys.argv[1:]\n"
        "runpy.run_path('tools/build_site.py', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_jupyter_book_it_says_which_extra_to_install(tmp_path):
    proc = _tool("build", "--out", tmp_path / "stage", shim="sys.modules['jupyter_book'] = None")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "python tools/build_site.py: error: building the site needs Jupyter Book 2, which the "
        '[site] extra installs: pip install "nst-helpers[site]" (and Node.js 18 or newer).'
    ]
    assert not (tmp_path / "stage").exists()  # checked before anything was staged


@pytest.fixture()
def with_jupyter_book(tmp_path, monkeypatch):
    """Jupyter Book importable (a stand-in where it is not installed), for the checks after it."""
    if importlib.util.find_spec("jupyter_book") is None:
        (tmp_path / "fake" / "jupyter_book").mkdir(parents=True)
        (tmp_path / "fake" / "jupyter_book" / "__init__.py").write_text("")
        monkeypatch.syspath_prepend(str(tmp_path / "fake"))


@pytest.mark.parametrize("node", [None, "v16.20.2", "not a version"])
def test_without_node_18_it_says_so(tmp_path, monkeypatch, capsys, with_jupyter_book, node):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if node is not None:  # a `node` that answers --version with this
        (bin_dir / "node").write_text(f"#!/bin/sh\necho '{node}'\n")
        (bin_dir / "node").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert site.main(["build", "--out", str(tmp_path / "stage")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "needs Node.js 18 or newer" in line and "https://nodejs.org" in line
    assert ("no `node` on the PATH" in line) if node is None else (node in line)
    assert not (tmp_path / "stage").exists()


def test_out_replaces_only_a_folder_it_staged(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.md").write_text("a year of work")
    assert site.main(["build", "--out", str(mine)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert f"--out {mine}: a folder that this tool did not stage, and not empty" in line
    assert (mine / "thesis.md").read_text() == "a year of work"
    (tmp_path / "file").write_text("x")
    assert site.main(["build", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err and (tmp_path / "file").read_text() == "x"
    assert site.main(["build", "--out", str(tmp_path / "file" / "stage")]) == 2
    assert "is not a folder" in capsys.readouterr().err

    staged = tmp_path / "stage"
    site.stage(staged)  # a folder it staged, replaced by the next staging
    assert (staged / site.MARKER).is_file() and (staged / "myst.yml").is_file()
    (staged / "left-over.html").write_text("old")
    site.stage(staged)
    assert not (staged / "left-over.html").exists() and (staged / site.MARKER).is_file()


def test_check_of_a_folder_without_a_site_is_one_line(tmp_path, capsys):
    assert site.main(["check", str(tmp_path / "nowhere")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "no built site there" in line and "build_site.py build" in line
