import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nst_helpers.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def pictures(tmp_path, photo, texture):
    c, s = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(photo).save(c)
    Image.fromarray(texture).save(s)
    return c, s


def test_stylize_end_to_end(tmp_path, pictures, capsys, vgg19_name):
    c, s = pictures
    out, report = tmp_path / "out.png", tmp_path / "r" / "report.json"
    code, stdout, _ = run(
        [
            "stylize",
            str(c),
            str(s),
            "-o",
            str(out),
            "--steps",
            "6",
            "--size",
            "64",
            "--optimizer",
            "adam",
            "--lr",
            "3",
            "--style-weight",
            "0.1",
            "--report",
            str(report),
            "--save-every",
            "3",
            "--frames",
            str(tmp_path / "frames"),
            "-q",
        ],
        capsys,
    )
    assert code == 0 and str(out.resolve()) in stdout and vgg19_name in stdout
    img = Image.open(out)
    assert img.size == (64, 43) and img.text["backbone"] == vgg19_name
    rep = json.loads(report.read_text())
    assert rep["backbone"] == vgg19_name and rep["steps"] == 6 and rep["size"] == [64, 43]
    assert len(rep["loss_history"]) == 6 and rep["best_loss"] == min(rep["loss_history"])
    assert rep["config"]["learning_rate"] == 3 and rep["config"]["style_weight"] == 0.1
    assert sorted(os.listdir(tmp_path / "frames")) == ["frame_00003.png", "frame_00006.png"]


def test_never_overwrites_without_force(tmp_path, pictures, capsys):
    c, s = pictures
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    code, _, err = run(
        ["stylize", str(c), str(s), "-o", str(out), "--steps", "1", "--size", "64", "-q"], capsys
    )
    assert code == 2 and "already exists" in err and "--force" in err
    assert out.read_bytes() == b"precious"
    code, _, _ = run(
        [
            "stylize",
            str(c),
            str(s),
            "-o",
            str(out),
            "--steps",
            "1",
            "--size",
            "64",
            "-q",
            "--force",
        ],
        capsys,
    )
    assert code == 0 and out.read_bytes() != b"precious"


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jpg", "STYLE", "-o", "o.png"], "missing.jpg"),
        (["EMPTY", "STYLE", "-o", "o.png"], "empty"),
        (["CONTENT", "STYLE", "-o", "o.png", "--steps", "0"], "at least 1"),
        (["CONTENT", "STYLE", "-o", "o.png", "--style-weight", "-1"], ">= 0"),
        (["CONTENT", "STYLE", "-o", "o.png", "--optimizer", "sgd"], "invalid choice"),
        (["CONTENT", "STYLE", "-o", "o.png", "--backbone", "resnet"], "unknown backbone"),
        (["CONTENT", "STYLE", "-o", "o.gif"], "must end in .png or .jpg"),
        (["CONTENT", "STYLE", "-o", "o.png", "--frames", "F"], "--save-every"),
        (["picasso", "STYLE", "-o", "o.png"], "not a sample name"),
        (["CONTENT", "STYLE", "-o", "o.png", "--precision", "float16"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, pictures, capsys, args, message):
    c, s = pictures
    (tmp_path / "empty.png").write_bytes(b"")
    subst = {
        "CONTENT": str(c),
        "STYLE": str(s),
        "EMPTY": str(tmp_path / "empty.png"),
        "o.png": str(tmp_path / "o.png"),
        "o.gif": str(tmp_path / "o.gif"),
    }
    argv = ["stylize"] + [subst.get(a, a) for a in args]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse rejects bad options before main's body runs
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_sample_names_and_demo(tmp_path, capsys, vgg19_name):
    out = tmp_path / "demo.png"
    code, stdout, _ = run(["demo", "-o", str(out), "--steps", "2", "-q"], capsys)
    assert code == 0 and out.exists() and str(out.resolve()) in stdout
    assert Image.open(out).text["backbone"] == vgg19_name
    assert "Starry Night" in stdout
    code, _, _ = run(
        [
            "stylize",
            "coffee",
            "stripes",
            "-o",
            str(tmp_path / "s.png"),
            "--steps",
            "1",
            "--size",
            "64",
            "-q",
        ],
        capsys,
    )
    assert code == 0 and max(Image.open(tmp_path / "s.png").size) == 64


def test_interrupt_saves_best_image(tmp_path, pictures, capsys, monkeypatch):
    """Ctrl-C during the run: the best image so far is written and the exit status says so."""
    import nst_helpers.optimize as opt

    real = opt.Loop.record

    def record(self, rows):
        real(self, rows)
        if self.step >= 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(opt.Loop, "record", record)
    c, s = pictures
    out = tmp_path / "o.png"
    code, stdout, err = run(
        [
            "stylize",
            str(c),
            str(s),
            "-o",
            str(out),
            "--steps",
            "50",
            "--size",
            "64",
            "--optimizer",
            "adam",
            "-q",
        ],
        capsys,
    )
    assert code == 130 and out.exists() and "best one found" in err
    assert np.asarray(Image.open(out)).shape == (43, 64, 3)


def test_entry_point_help():
    exe = os.path.join(os.path.dirname(sys.executable), "nst")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "nst_helpers"]
    out = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "stylize" in out.stdout and "demo" in out.stdout


def test_train_style_options_and_defaults_come_from_the_training_table(capsys):
    """Every row of the training settings table with an option is an option of nst train-style,
    its help the row's help and its default the table's; a value the table refuses is refused
    by the command line in the table's words."""
    import re

    from nst_helpers.feedforward.settings import TRAIN_SETTINGS

    with pytest.raises(SystemExit):
        main(["train-style", "--help"])
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    rows = [s for s in TRAIN_SETTINGS.values() if s.option]
    assert len(rows) >= 15
    for s in rows:
        assert s.option in text, s.option
        default = s.default
        shown = (
            "no limit"
            if default is None
            else ",".join(map(str, default))
            if isinstance(default, tuple)
            else f"{default:g}"
            if isinstance(default, float)
            else str(default)
        )
        assert f"{s.help} (default: {shown})" in text, s.name
    for s in rows:
        if s.check is not None and s.kinds & {int, float} and s.name != "max_minutes":
            with pytest.raises(SystemExit):
                main(["train-style", "starry_night", "-o", "m.keras", s.option, "-1"])
            err = capsys.readouterr().err
            assert f"argument {s.option}: '-1' must be {s.check.words}" in err, err
