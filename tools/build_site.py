"""Build and check the course site (Jupyter Book 2, MyST).

    python tools/build_site.py build [--out DIR] [--base-url /REPO]   # stage, build, check: DIR/_build/html
    python tools/build_site.py check HTML_DIR                         # check a built site's links only

The site's pages are those of ``site/myst.yml``: the README, every solved notebook with its stored
outputs (nothing is executed), a page of the notebooks' references (gathered from their last
cells), the sample images' credits (``data/README.md``) and the instructors' documents.

``build`` copies them into a staging folder (default ``_site``) with ``site/myst.yml`` at its root,
rewrites the links that point at repository files the site does not hold (the student notebooks,
``LICENSE``, code) to the repository on GitHub, serves the Colab badge from the site itself, sends
DOI links through the Handle resolver (``hdl.handle.net``; MyST would otherwise fetch each DOI's
citation from doi.org while it builds), and
runs ``jupyter book build --html`` with the course's own theme (``site/theme``: static HTML with
Node.js alone, nothing downloaded). Then it checks the result and exits 1 if a notebook is missing
from the site or a link inside it is broken (a file or a ``#fragment`` that is not there).
``BASE_URL`` (``--base-url``) is the path the site is served under, such as ``/nst-course`` for a
GitHub Pages project site; see ``docs/publishing.md``.

Before anything is staged, ``build`` checks what it needs: Jupyter Book 2 (the ``[site]`` extra,
``pip install "nst-helpers[site]"``) and Node.js 18 or newer; a missing one ends in one line and
exit status 2. The staging folder is replaced only if this tool made it (it leaves a
``.nst-site-staging`` file in it) or it is empty: ``--out`` never deletes a folder of yours.
"""

from __future__ import annotations

import argparse
import html.parser
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "site" / "myst.yml"
GENERATED = {"site/references.md"}
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}
#: The file that marks a staging folder as this tool's, so that a later build may replace it.
MARKER = ".nst-site-staging"
#: The oldest Node.js that Jupyter Book 2 (MyST) runs on.
NODE_MAJOR = 18
INSTALL = 'pip install "nst-helpers[site]"'
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
DOI = re.compile(r"^https?://(dx\.|www\.)?doi\.org/", re.I)
LINK = re.compile(r"(\]\(|\bhref=\"|\bsrc=\")([^)\"\s]+)")

_spec = importlib.util.spec_from_file_location("course_notebooks", ROOT / "tools" / "notebooks.py")
nbtool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbtool)


def pages(config: pathlib.Path = CONFIG) -> list[str]:
    """The files of the site's table of contents, in order (paths inside the repository)."""
    return re.findall(r"^\s*-\s*file:\s*(\S+)\s*$", config.read_text(), re.M)


def solved_notebooks() -> list[str]:
    return [str(p.relative_to(ROOT)) for p in nbtool.solved_notebooks()]


def _rewrite_links(text: str, where: str, site_files: set[str]) -> str:
    """Links of the file at ``where`` (repository path) to repository files outside the site point
    at GitHub; the Colab badge comes from the site."""
    folder = pathlib.PurePosixPath(where).parent
    blob = f"https://github.com/{nbtool.REPO}/blob/{nbtool.BRANCH}/"

    def fix(m):
        lead, target = m.group(1), m.group(2)
        if target == BADGE:
            return lead + os.path.relpath("site/colab-badge.svg", str(folder))
        if DOI.match(target):  # the Handle resolver: MyST would fetch citations from doi.org
            return lead + DOI.sub("https://hdl.handle.net/", target)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target, re.I):
            return m.group(0)
        path, _, frag = target.partition("#")
        repo_path = os.path.normpath(str(folder / urllib.parse.unquote(path)))
        if (
            repo_path in site_files
            or pathlib.PurePosixPath(repo_path).suffix.lower() in ASSET_SUFFIXES
        ):
            return m.group(0)
        if (ROOT / repo_path).exists():
            return lead + blob + repo_path + (f"#{frag}" if frag else "")
        return m.group(0)  # left as it is: the check reports it

    return LINK.sub(fix, text)


def references_page(notebooks: list[str]) -> str:
    """The notebooks' reference lists, one section per notebook."""
    parts = [
        "# References\n",
        "The references at the end of each notebook, in the course's order.\n",
    ]
    for rel in notebooks:
        nb = json.loads((ROOT / rel).read_text())
        cells = [nbtool._source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
        refs = next((c for c in reversed(cells) if c.startswith("## References")), None)
        if refs is None:
            continue
        title = nbtool._title(ROOT / rel)
        body = refs.split("\n", 1)[1].strip() if "\n" in refs else ""
        body = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", body, flags=re.M)
        parts.append(f"## {pathlib.Path(rel).stem[:2]} · [{title}](../{rel})\n\n{body}\n")
    return "\n".join(parts)


class SiteError(Exception):
    """A one-line reason why the site cannot be built or checked (exit status 2)."""


def check_tools() -> None:
    """Raise :class:`SiteError` unless Jupyter Book 2 and Node.js 18 or newer are here."""
    import importlib.metadata

    try:
        found = importlib.util.find_spec("jupyter_book") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SiteError(
            f"building the site needs Jupyter Book 2, which the [site] extra installs: "
            f"{INSTALL} (and Node.js {NODE_MAJOR} or newer)."
        )
    try:
        version = importlib.metadata.version("jupyter-book")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    if version and int(re.match(r"\d*", version)[0] or 0) < 2:
        raise SiteError(
            f"building the site needs Jupyter Book 2, not {version}: "
            f'pip install -U "nst-helpers[site]".'
        )
    node = shutil.which("node")
    if node is None:
        raise SiteError(
            f"building the site needs Node.js {NODE_MAJOR} or newer (Jupyter Book 2 runs "
            "on it), and there is no `node` on the PATH: install it from "
            "https://nodejs.org or with your package manager."
        )
    try:
        said = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SiteError(
            f"{node} --version failed ({type(err).__name__}); building the site needs "
            f"Node.js {NODE_MAJOR} or newer."
        ) from None
    major = re.match(r"v?(\d+)\.", said)
    if not major or int(major[1]) < NODE_MAJOR:
        raise SiteError(
            f"building the site needs Node.js {NODE_MAJOR} or newer, and {node} is "
            f"{said or 'of an unknown version'}: install a newer one from "
            "https://nodejs.org."
        )


def check_out(dest: pathlib.Path) -> None:
    """Raise :class:`SiteError` unless ``dest`` may be (re)made as the staging folder: absent,
    empty, or a staging folder this tool made; never the repository or a folder holding it."""
    dest = pathlib.Path(dest)
    real = pathlib.Path(os.path.realpath(dest))
    if dest.exists() and not dest.is_dir():
        raise SiteError(
            f"--out {dest}: is a file; give a folder for the staged site (default _site)."
        )
    if real == ROOT or ROOT.is_relative_to(real) or real in (ROOT / "site", ROOT / "docs"):
        raise SiteError(
            f"--out {dest}: holds the course itself; give a folder of its own, such as _site."
        )
    above = next(p for p in real.parents if p.exists())
    if not dest.exists() and not (above.is_dir() and os.access(above, os.W_OK | os.X_OK)):
        raise SiteError(
            f"--out {dest}: cannot be made there ({above} is "
            f"{'not a folder' if not above.is_dir() else 'not writable'}); give "
            "another folder."
        )
    staged = (dest / MARKER).is_file() or (  # or staged before the marker was left
        (dest / "myst.yml").is_file()
        and (dest / "site" / "theme").is_dir()
        and not (dest / "site" / "myst.yml").exists()
    )
    if dest.is_dir() and any(dest.iterdir()) and not staged:
        raise SiteError(
            f"--out {dest}: a folder that this tool did not stage, and not empty; "
            "everything in it would be replaced: give a new folder, or empty it first."
        )


def stage(dest: pathlib.Path) -> list[str]:
    """Lay the site's sources out in ``dest``; returns the pages. ``dest`` is replaced if it is a
    staging folder made earlier (see :func:`check_out`)."""
    check_out(dest)
    toc = pages()
    site_files = set(toc)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / MARKER).write_text(
        "Staged by tools/build_site.py; a later build replaces this folder.\n"
    )
    for rel in toc:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in GENERATED:
            text = references_page([p for p in toc if p.endswith(".ipynb")])
            target.write_text(_rewrite_links(text, rel, site_files))
        elif rel.endswith(".ipynb"):
            nb = json.loads((ROOT / rel).read_text())
            nb["nbformat_minor"] = 4  # cell ids (cell-13, ...) repeat between notebooks: no labels
            for cell in nb["cells"]:
                cell.pop("id", None)
                if cell["cell_type"] == "markdown":
                    cell["source"] = _rewrite_links(nbtool._source(cell), rel, site_files)
                else:  # nbval's markers matter only to the tests
                    cell["source"] = nbtool.NBVAL_MARKER.sub("", nbtool._source(cell))
            target.write_text(json.dumps(nb, ensure_ascii=False))
        else:
            target.write_text(_rewrite_links((ROOT / rel).read_text(), rel, site_files))
    for folder in ("docs", "data"):
        for f in (ROOT / folder).rglob("*"):
            if f.is_file() and f.suffix.lower() in ASSET_SUFFIXES:
                target = dest / f.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
    shutil.copytree(
        ROOT / "site",
        dest / "site",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("myst.yml", "node_modules"),
    )
    shutil.copy2(CONFIG, dest / "myst.yml")
    return toc


def build(dest: pathlib.Path, base_url: str = "") -> pathlib.Path:
    """Check the tools and ``dest``, stage and build the site; returns the folder of its HTML."""
    check_out(dest)
    check_tools()
    stage(dest)
    env = dict(os.environ, BASE_URL=base_url.rstrip("/"))
    env.pop("CI", None)  # MyST's CI mode only changes its logging
    try:
        run = subprocess.run(
            [sys.executable, "-m", "jupyter_book", "build", "--html"],
            cwd=dest,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(
            f"site build failed: jupyter book build did not finish in 900 s (in {dest})."
        )
    log = run.stdout + run.stderr
    errors = [line for line in log.splitlines() if "⛔" in line]
    html_dir = dest / "_build" / "html"
    if run.returncode != 0 or errors or not (html_dir / "index.html").exists():
        raise SystemExit("site build failed:\n" + "\n".join(errors or log.splitlines()[-30:]))
    return html_dir


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.text = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) is not None and not (tag == "a" and key == "src"):
                self.links.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)


def _parse_site(html_dir: pathlib.Path) -> dict[pathlib.Path, _Links]:
    """Every HTML page of the built site, parsed: ``{file: its links, ids and text}``."""
    parsed = {}
    for f in sorted(html_dir.rglob("*.html")):
        p = _Links()
        p.feed(f.read_text(encoding="utf-8"))
        parsed[f] = p
    return parsed


def _notebook_problems(parsed: dict[pathlib.Path, _Links]) -> list[str]:
    """The solved notebooks missing from the table of contents, and those no page shows."""
    problems = []
    toc = pages()
    for rel in solved_notebooks():
        if rel not in toc:
            problems.append(f"{rel} is not in the site: add it to site/myst.yml.")
    texts = {f: " ".join(p.text) for f, p in parsed.items()}
    for rel in toc:
        if rel.endswith(".ipynb"):
            name = pathlib.Path(rel).name
            if not any(f"({name})" in t for t in texts.values()):
                problems.append(f"{rel}: no page of the site shows it.")
    return problems


def _link_target(f: pathlib.Path, path: str, html_dir: pathlib.Path, base: str) -> pathlib.Path:
    """The file that ``path`` (a link's part before ``#``) on page ``f`` leads to."""
    if not path:
        target = f
    elif path.startswith("/"):
        target = html_dir / urllib.parse.unquote(path[len(base) :]).lstrip("/")
    else:
        target = f.parent / urllib.parse.unquote(path)
    if target.is_dir() or path.endswith("/"):
        target = target / "index.html"
    return target


def _link_problem(
    f: pathlib.Path,
    link: str,
    html_dir: pathlib.Path,
    base: str,
    parsed: dict[pathlib.Path, _Links],
) -> str | None:
    """What is wrong with ``link`` on page ``f``, or None (external links are not checked)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith("//"):
        return None
    page = f.relative_to(html_dir)
    path, _, frag = link.partition("#")
    if path.startswith("/") and base and not (path == base or path.startswith(base + "/")):
        return f"{page}: {link} is outside the site's base URL {base}."
    target = _link_target(f, path, html_dir, base)
    if not target.exists():
        return f"{page}: broken link {link}"
    if target.suffix == ".md":
        return f"{page}: {link} is a page the site does not include; add it to site/myst.yml."
    if frag and target in parsed and frag not in parsed[target].ids:
        return f"{page}: {link} points at #{frag}, which that page does not have."
    return None


def check(html_dir: pathlib.Path, base_url: str = "") -> list[str]:
    """What is wrong with a built site: broken internal links, notebooks it does not include."""
    html_dir = pathlib.Path(html_dir)
    base = base_url.rstrip("/")
    parsed = _parse_site(html_dir)
    problems = _notebook_problems(parsed)
    for f, p in parsed.items():
        for link in p.links:
            problem = _link_problem(f, link, html_dir, base, parsed)
            if problem is not None:
                problems.append(problem)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/build_site.py", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="stage, build and check the site")
    b.add_argument("--out", default=str(ROOT / "_site"), help="staging folder (default: _site)")
    b.add_argument(
        "--base-url",
        default=os.environ.get("BASE_URL", ""),
        help="the path the site is served under, e.g. /nst-course (default: none)",
    )
    c = sub.add_parser("check", help="check a built site")
    c.add_argument("html_dir")
    c.add_argument("--base-url", default=os.environ.get("BASE_URL", ""))
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            html_dir = build(pathlib.Path(args.out).expanduser(), args.base_url)
        else:
            html_dir = pathlib.Path(args.html_dir).expanduser()
            if not html_dir.is_dir() or not any(html_dir.rglob("*.html")):
                raise SiteError(
                    f"{html_dir}: no built site there (no .html files); build one with: "
                    "python tools/build_site.py build"
                )
    except SiteError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    problems = check(html_dir, args.base_url)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"site ok: {len(list(html_dir.rglob('*.html')))} pages in {html_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
