"""The course site: Jupyter Book builds it from the stored notebooks, and its links hold."""

import importlib.util
import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_site", ROOT / "tools" / "build_site.py")
site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site)


def _needs_jupyter_book():
    have = importlib.util.find_spec("jupyter_book") is not None and shutil.which("node")
    if not have:
        if os.environ.get("NST_REQUIRE_SITE"):
            pytest.fail("the site must build here (NST_REQUIRE_SITE): pip install -e '.[site]' and Node.js")
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
    assert "github.com/nst-course/nst-course/blob/main/notebooks/student/01_convolutions.ipynb" in conv
    refs = (html_dir / "references" / "index.html").read_text()
    assert "Gatys" in refs and "hdl.handle.net/10.1007/BF01589116" in refs
    credits = (html_dir / "readme" / "index.html").read_text()
    assert "Starry Night" in credits
    assert (stage / "myst.yml").read_text() == (ROOT / "site" / "myst.yml").read_text()


def test_the_check_finds_broken_links_missing_fragments_and_missing_notebooks(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="/a/">ok</a> <a href="/a/#here">ok</a> <a href="/a/#gone">x</a> <a href="/nope/">x</a>'
        '<a href="https://example.org/">external</a> <a href="/notes.md">x</a> <img src="/b.png">'
        "(01_convolutions.ipynb)")
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">Here</h2>')
    (tmp_path / "notes.md").write_text("# notes")
    monkeypatch.setattr(site, "pages", lambda: ["README.md", "notebooks/01_convolutions.ipynb"])
    monkeypatch.setattr(site, "solved_notebooks",
                        lambda: ["notebooks/01_convolutions.ipynb", "notebooks/09_new.ipynb"])
    problems = site.check(tmp_path)
    assert problems == [
        "notebooks/09_new.ipynb is not in the site: add it to site/myst.yml.",
        "index.html: /a/#gone points at #gone, which that page does not have.",
        "index.html: broken link /nope/",
        "index.html: /notes.md is a page the site does not include; add it to site/myst.yml.",
        "index.html: broken link /b.png",
    ]


def test_links_to_repository_files_outside_the_site_go_to_github():
    text = ("[s](student/01_convolutions.ipynb) [n](02_vgg_features.ipynb) [x](../LICENSE) "
            '<img src="https://colab.research.google.com/assets/colab-badge.svg"> '
            "[d](https://doi.org/10.1/x) [w](https://example.org) [img](../docs/images/result.jpg)")
    out = site._rewrite_links(text, "notebooks/01_convolutions.ipynb",
                              {"notebooks/01_convolutions.ipynb", "notebooks/02_vgg_features.ipynb"})
    blob = "https://github.com/nst-course/nst-course/blob/main/"
    assert f"[s]({blob}notebooks/student/01_convolutions.ipynb)" in out
    assert "[n](02_vgg_features.ipynb)" in out and f"[x]({blob}LICENSE)" in out
    assert 'src="../site/colab-badge.svg"' in out and "[d](https://hdl.handle.net/10.1/x)" in out
    assert "[w](https://example.org)" in out and "[img](../docs/images/result.jpg)" in out
