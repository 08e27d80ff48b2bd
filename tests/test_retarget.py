"""The course pointed at a fork and a pinned version, and the setup cell's one-line failures.

``retarget`` runs only on copies of the course in tmp_path, through each copy's own
``tools/notebooks.py`` (its ROOT is the copy); the setup cell runs in a child Python that believes
it is in Colab, with a stand-in for pip that fails as pip does.
"""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_notebooks", ROOT / "tools" / "notebooks.py")
nbtool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbtool)

ORIGINAL = nbtool.REPO
FORK, TAG = "myschool/nst-course-2025", "v2025.1"
IMAGES = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.npz"
)


def copy_course(dest):
    """The files of the course that name its repository, copied into ``dest`` (images left out)."""
    for name in ("notebooks", "site", "tools", "docs", ".ci", ".github"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=IMAGES)
    for name in ("README.md", "pyproject.toml", "environment.yml", "data/README.md"):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def tool(root, *args):
    """``python tools/notebooks.py ARGS`` of the course at ``root``."""
    return subprocess.run(
        [sys.executable, str(root / "tools" / "notebooks.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def retargeted(tmp_path_factory):
    """A copy of the course retargeted at FORK@TAG, and what ``retarget`` said."""
    root = copy_course(tmp_path_factory.mktemp("course"))
    return root, tool(root, "retarget", f"{FORK}@{TAG}")


def test_the_course_names_one_repository_and_version():
    """The repository itself: every link, badge and address names REPO at BRANCH."""
    assert nbtool.link_problems() == []


def test_retarget_leaves_nothing_naming_the_original_and_check_passes(retargeted):
    root, said = retargeted
    assert said.returncode == 0, said.stderr
    assert said.stderr == ""
    assert f"{FORK}@{TAG}" in said.stdout
    stray = [
        rel
        for rel, data in files(root).items()
        if ORIGINAL.lower() in data.decode("utf-8", "replace").lower()
    ]
    assert stray == []
    check = tool(root, "check")
    assert check.returncode == 0, check.stdout
    assert "normalised, student versions up to date" in check.stdout

    text = (root / "tools" / "notebooks.py").read_text()
    assert f'\nREPO = "{FORK}"\n' in text and f'\nBRANCH = "{TAG}"\n' in text
    assert f"github: https://github.com/{FORK}\n" in (root / "site" / "myst.yml").read_text()
    assert f'Source = "https://github.com/{FORK}"' in (root / "pyproject.toml").read_text()
    readme = (root / "README.md").read_text()
    assert f"colab.research.google.com/github/{FORK}/blob/{TAG}/notebooks/student/" in readme
    assert f"mybinder.org/v2/gh/{FORK}/{TAG}?" in readme
    assert f'"nst-helpers @ git+https://github.com/{FORK}@{TAG}"' in readme
    setup = nbtool.setup_source(FORK, TAG)
    for path in sorted((root / "notebooks").glob("**/[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        nav = [nbtool._source(c) for c in cells if "nav" in nbtool._tags(c)]
        student = "student/" if path.parent.name == "student" else ""
        assert (
            f"colab.research.google.com/github/{FORK}/blob/{TAG}/notebooks/{student}{path.name}"
            in nav[0]
        ), path
        assert [nbtool._source(c) for c in cells if "setup" in nbtool._tags(c)] == [setup], path


def _first(text, old, new):
    assert old in text
    return text.replace(old, new, 1)


HAND_EDITS = {
    "solved badge": ("notebooks/03_content_loss.ipynb", FORK, "someone/else", "someone/else"),
    "student badge": (
        "notebooks/student/05_full_loop.ipynb",
        f"/blob/{TAG}/",
        "/blob/main/",
        f"{FORK}@main",
    ),
    "README Colab link": (
        "README.md",
        f"github/{FORK}/blob/",
        f"github/{ORIGINAL}/blob/",
        f"{ORIGINAL}@{TAG}",
    ),
    "README pip line": ("README.md", f"{FORK}@{TAG}", f"{FORK}@v2024.9", f"{FORK}@v2024.9"),
    "site config": (
        "site/myst.yml",
        f"github.com/{FORK}",
        "github.com/someone/else",
        "someone/else",
    ),
    "package metadata": (
        "pyproject.toml",
        f"github.com/{FORK}",
        f"github.com/{ORIGINAL}",
        ORIGINAL,
    ),
}


@pytest.mark.parametrize("edit", HAND_EDITS, ids=lambda e: e.replace(" ", "-"))
def test_check_fails_on_one_hand_edit_and_retarget_puts_it_right(retargeted, tmp_path, edit):
    source, said = retargeted
    assert said.returncode == 0
    root = tmp_path / "course"
    shutil.copytree(source, root)
    rel, old, new, named = HAND_EDITS[edit]
    (root / rel).write_text(_first((root / rel).read_text(), old, new))

    check = tool(root, "check")
    assert check.returncode == 1
    lines = [line for line in check.stdout.splitlines() if line.startswith(f"{rel}: ")]
    assert lines and named in lines[0] and f"not {FORK}@{TAG}" in lines[0], check.stdout
    assert f"retarget {FORK}@{TAG}" in lines[0]

    again = tool(root, "retarget", f"{FORK}@{TAG}")
    assert again.returncode == 0, again.stderr
    check = tool(root, "check")
    assert check.returncode == 0, check.stdout


def test_a_link_to_another_projects_file_is_left_alone(retargeted, tmp_path):
    source, _ = retargeted
    root = tmp_path / "course"
    shutil.copytree(source, root)
    other = "https://github.com/keras-team/keras/blob/master/keras/src/applications/vgg19.py"
    readme = root / "README.md"
    readme.write_text(readme.read_text() + f"\nKeras' [VGG19]({other}).\n")
    assert tool(root, "check").returncode == 0
    assert tool(root, "retarget", f"{FORK}@v2025.2").returncode == 0
    assert other in readme.read_text()
    assert f"github/{FORK}/blob/v2025.2/" in readme.read_text()


@pytest.mark.parametrize(
    "target",
    [
        "nst-course",
        "someone/nst-course",
        "someone/nst-course@",
        "someone/nst-course@feature/x",
        "some one/nst-course@v1",
        "-someone/nst-course@v1",
        "someone/nst-course@v..1",
        "https://github.com/someone/nst-course@v1",
        None,
    ],
)
def test_retarget_refuses_a_bad_target_in_one_line_and_changes_nothing(tmp_path, target):
    root = tmp_path / "course"
    for name in ("tools", "site"):
        shutil.copytree(ROOT / name, root / name, ignore=IMAGES)
    shutil.copy2(ROOT / "README.md", root / "README.md")
    before = files(root)
    said = tool(root, "retarget", *([target] if target is not None else []))
    assert said.returncode == 2
    assert said.stdout == ""
    assert len(said.stderr.splitlines()) == 1, said.stderr
    assert said.stderr.startswith("retarget: " if target is not None else "usage: ")
    assert "Traceback" not in said.stderr
    assert files(root) == before


# The setup cell. The child replaces sys.executable by a stand-in for pip that records its
# arguments and fails as pip does, then runs the cell as a notebook would.
PIP = """#!/bin/sh
printf '%s\\n' "$@" > "$PIP_ARGS"
printf '%s' "$PIP_SAYS" >&2
exit "$PIP_EXIT"
"""
CHILD = textwrap.dedent("""
    import os, sys, types
    if os.environ.get("FAKE_COLAB"):
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    sys.executable = os.environ["FAKE_PIP"]
    exec(compile(os.environ["SETUP_CELL"], "<setup cell>", "exec"))
    print("CI is", CI)
""")
IN_IPYTHON = textwrap.dedent("""
    import os, sys, types
    from IPython.core.interactiveshell import InteractiveShell
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    sys.executable = os.environ["FAKE_PIP"]
    shell = InteractiveShell.instance()
    result = shell.run_cell(os.environ["SETUP_CELL"])
    print("error:", type(result.error_in_exec).__name__, "CI" in shell.user_ns)
""")

NO_HOST = """\
  error: subprocess-exited-with-error

  × git clone --filter=blob:none --quiet https://github.com/{repo} /tmp/pip-req-build-x did not run successfully.
  │ exit code: 128
  ╰─> [1 lines of output]
      fatal: unable to access 'https://github.com/{repo}/': Could not resolve host: github.com
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: subprocess-exited-with-error
"""
NO_CONNECTION = """\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object \
at 0x7f>: Failed to establish a new connection: [Errno 101] Network is unreachable')': /simple/tqdm/
ERROR: Could not find a version that satisfies the requirement tqdm>=4.64 (from nst-helpers)
"""
NO_TAG = """\
  WARNING: Did not find branch or tag '{ref}', assuming revision or ref.
  error: subprocess-exited-with-error

  × git checkout -q {ref} did not run successfully.
  │ exit code: 1
  ╰─> [1 lines of output]
      error: pathspec '{ref}' did not match any file(s) known to git
      [end of output]
"""
NO_COMMIT = """\
  × git fetch -q https://github.com/{repo} {ref} did not run successfully.
  │ exit code: 128
  ╰─> [2 lines of output]
      fatal: remote error: upload-pack: not our ref {ref}
"""
NO_REPO = """\
  × git clone --filter=blob:none --quiet https://github.com/{repo} /tmp/pip-req-build-x did not run successfully.
  │ exit code: 128
  ╰─> [2 lines of output]
      remote: Repository not found.
      fatal: repository 'https://github.com/{repo}/' not found
"""
PRIVATE = """\
      fatal: could not read Username for 'https://github.com': No such device or address
"""
NO_SPACE = """\
ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device

"""

FAILURES = {
    "no network (git)": (
        NO_HOST,
        1,
        "No internet, so the course could not be installed: connect, then run this cell again.",
    ),
    "no network (pip's index)": (
        NO_CONNECTION,
        1,
        "No internet, so the course could not be installed",
    ),
    "wrong tag": (
        NO_TAG,
        1,
        "The course could not be installed: github.com/{repo} has no version "
        "'{ref}' (or is private). Open the notebook from your course's link",
    ),
    "wrong commit": (NO_COMMIT, 1, "github.com/{repo} has no version '{ref}'"),
    "wrong repository": (NO_REPO, 1, "github.com/{repo} has no version '{ref}'"),
    "private repository": (PRIVATE, 1, "github.com/{repo} has no version '{ref}' (or is private)"),
    "pip's error": (
        NO_SPACE,
        1,
        "pip could not install the course (ERROR: Could not install "
        "packages due to an OSError: [Errno 28] No space left on device). "
        "Run this cell again",
    ),
    "pip says nothing": ("", 2, "pip could not install the course (exit status 2)."),
}


def run_setup(tmp_path, says="", status=0, colab=True, code=CHILD, setup=None, ci=""):
    """Run the setup cell (of REPO@BRANCH, or ``setup``) with a pip that says ``says``."""
    pip = tmp_path / "pip"
    pip.write_text(PIP)
    pip.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "FAKE_COLAB")}
    env.update(
        FAKE_PIP=str(pip),
        PIP_ARGS=str(tmp_path / "args"),
        PIP_SAYS=says,
        PIP_EXIT=str(status),
        SETUP_CELL=setup or nbtool.SETUP,
        CI=ci,
        **({"FAKE_COLAB": "1"} if colab else {}),
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("kind", FAILURES, ids=lambda k: k.replace(" ", "-").replace("'", ""))
def test_setup_cell_says_in_one_line_why_colab_could_not_install(tmp_path, kind):
    says, status, expected = FAILURES[kind]
    said = run_setup(
        tmp_path, says.format(repo=FORK, ref=TAG), status, setup=nbtool.setup_source(FORK, TAG)
    )
    assert said.returncode == 1  # sys.exit with a message: the notebook stops there
    assert said.stdout == ""  # nothing after the install ran
    assert len(said.stderr.splitlines()) == 1, said.stderr
    assert "Traceback" not in said.stderr
    assert expected.format(repo=FORK, ref=TAG) in said.stderr
    assert (tmp_path / "args").read_text().splitlines() == [
        "-m",
        "pip",
        "install",
        "-q",
        f"nst-helpers @ git+https://github.com/{FORK}@{TAG}",
    ]


def test_setup_cell_in_colab_installs_and_sets_ci(tmp_path):
    # pip's resolver warns on standard error, with exit status 0, when Colab has other packages
    warning = (
        "ERROR: pip's dependency resolver does not currently take into account all the packages"
    )
    said = run_setup(tmp_path, warning, 0, ci="true")
    assert (said.returncode, said.stdout, said.stderr) == (0, "CI is True\n", "")
    assert (tmp_path / "args").read_text().splitlines()[
        -1
    ] == f"nst-helpers @ git+https://github.com/{nbtool.REPO}@{nbtool.BRANCH}"


@pytest.mark.parametrize("ci", ["", "true"])
def test_setup_cell_outside_colab_only_sets_ci(tmp_path, ci):
    said = run_setup(tmp_path, "ERROR: must not run", 1, colab=False, ci=ci)
    assert (said.returncode, said.stdout, said.stderr) == (0, f"CI is {bool(ci)}\n", "")
    assert not (tmp_path / "args").exists()  # pip was not called


def test_setup_cell_failure_in_ipython_is_one_line_and_stops_the_notebook(tmp_path):
    said = run_setup(
        tmp_path, NO_TAG.format(repo=nbtool.REPO, ref=nbtool.BRANCH), 1, code=IN_IPYTHON
    )
    assert said.returncode == 0, said.stderr
    assert "Traceback" not in said.stdout + said.stderr
    shown = re.sub(r"\x1b\[[0-9;]*m", "", said.stdout)  # IPython's colours
    message = [line for line in shown.splitlines() if line.startswith("SystemExit: ")]
    assert message == [
        f"SystemExit: The course could not be installed: github.com/{nbtool.REPO} "
        f"has no version '{nbtool.BRANCH}' (or is private). Open the notebook from "
        "your course's link, or ask your instructor."
    ]
    # an error, so "Run all" stops at this cell; CI was never set
    assert shown.splitlines()[-1] == "error: SystemExit False"
