"""``nst train-style`` and ``nst stylize-fast`` against bad input, damaged files and signals.

- Bad input is refused in one line with exit status 2 before TensorFlow is imported: a Python
  process runs every case through ``nst_helpers.cli.main`` and reports whether ``tensorflow`` was
  in ``sys.modules`` after the refusals.
- Damaged checkpoints never make ``--resume --force`` start over or lose a file: resuming takes the
  newest checkpoint that reads back whole, the damaged files are moved into ``damaged-N/`` (said
  on stderr), and where nothing can be resumed from the command refuses and changes nothing.
- The real command stopped by a real SIGTERM or SIGINT exits 143 or 130 and keeps its last
  checkpoint; ``--resume`` carries on. The child's signals are reset to their defaults, so the
  tests pass however pytest was started (``nohup … &`` ignores SIGINT in its children).
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from child_scripts import MAIN_FOR_EACH

from nst_helpers import feedforward as ff
from nst_helpers.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "NST_BACKBONE": "vgg19",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
EXE = os.path.join(os.path.dirname(sys.executable), "nst")
NST = [EXE] if os.path.exists(EXE) else [sys.executable, "-m", "nst_helpers"]
#: A tiny network on tiny crops, so that a step takes a fraction of a second.
TINY = [
    "--size",
    "32",
    "--batch-size",
    "2",
    "--style-size",
    "64",
    "--filters",
    "4,8,8",
    "--blocks",
    "1",
    "--precision",
    "float32",
    "--content-layers",
    "block2_conv1",
    "--style-layers",
    "block1_conv1,block2_conv1",
    "-q",
]


def _default_signals():
    """In the child before it starts: SIGINT and SIGTERM as a terminal gives them, whatever the
    parent ignores (``nohup … &`` and some CI runners start pytest with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def files(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    folder = pathlib.Path(folder)
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def error_lines(text):
    return [line for line in text.splitlines() if line.strip()]


# --- refused before TensorFlow is imported ------------------------------------------------------


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _make_inputs(folder):
    """The files the refusals are about: existing outputs, folders, bad network files, bad images."""
    (folder / "exists.png").write_bytes(b"mine")
    (folder / "exists.keras").write_bytes(b"mine")
    (folder / "folder.png").mkdir()
    (folder / "folder.keras").mkdir()
    (folder / "FILE").write_text("mine")
    (folder / "garbage.keras").write_bytes(b"not a zip at all")
    (folder / "model.h5").write_bytes(b"an HDF5 file")
    # a .keras file passes the checks made without TensorFlow: a zip holding config.json
    members = {
        "metadata.json": "{}",
        "config.json": json.dumps({"class_name": "Functional"}),
        "model.weights.h5": bytes(range(256)) * 64,
    }
    _zip(folder / "fake.keras", members)
    _zip(folder / "noconfig.keras", {"notes.txt": "hello"})
    whole = (folder / "fake.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    at = whole.index(bytes(range(256)))  # a byte of the weights flipped: its CRC no longer fits
    (folder / "flipped.keras").write_bytes(
        whole[: at + 5] + bytes([whole[at + 5] ^ 0xFF]) + whole[at + 6 :]
    )
    (folder / "text.jpg").write_text("not an image")
    (folder / "no_photos").mkdir()
    (folder / "no_photos" / "readme.txt").write_text("no photographs here")


#: ``(argv, what the one line must say)``; names are files made by :func:`_make_inputs`.
REFUSED = {
    # stylize-fast: the output
    "fast-output-exists": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "exists.png"],
        "exists.png: already exists; choose another name or add --force",
    ),
    "fast-output-folder": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "folder.png"],
        "folder.png: is a folder",
    ),
    "fast-output-under-file": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "FILE/o.png"],
        "since FILE is a file",
    ),
    "fast-output-suffix": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "o.gif"],
        "must end in .png or .jpg",
    ),
    # stylize-fast: the network file
    "fast-model-missing": (
        ["stylize-fast", "missing.keras", "chelsea", "-o", "o.png"],
        "missing.keras: no such network file",
    ),
    "fast-model-folder": (
        ["stylize-fast", "folder.keras", "chelsea", "-o", "o.png"],
        "folder.keras: is a folder, not a network file",
    ),
    "fast-model-garbage": (
        ["stylize-fast", "garbage.keras", "chelsea", "-o", "o.png"],
        "garbage.keras: not a .keras network file",
    ),
    "fast-model-truncated": (
        ["stylize-fast", "truncated.keras", "chelsea", "-o", "o.png"],
        "truncated.keras: not a .keras network file, or a truncated one",
    ),
    "fast-model-flipped": (
        ["stylize-fast", "flipped.keras", "chelsea", "-o", "o.png"],
        "flipped.keras: damaged (model.weights.h5 in it fails its checksum)",
    ),
    "fast-model-no-config": (
        ["stylize-fast", "noconfig.keras", "chelsea", "-o", "o.png"],
        "a zip file, but not a .keras network file",
    ),
    "fast-model-suffix": (
        ["stylize-fast", "model.h5", "chelsea", "-o", "o.png"],
        "model.h5: not a .keras network file",
    ),
    # stylize-fast: the photo and the options
    "fast-photo-missing": (
        ["stylize-fast", "fake.keras", "holiday.jpg", "-o", "o.png"],
        "holiday.jpg",
    ),
    "fast-photo-not-a-sample": (
        ["stylize-fast", "fake.keras", "kitten", "-o", "o.png"],
        "'kitten': no such file, and not a sample name (photographs:",
    ),
    "fast-photo-not-an-image": (
        ["stylize-fast", "fake.keras", "text.jpg", "-o", "o.png"],
        "text.jpg",
    ),
    "fast-size-zero": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "o.png", "--size", "0"],
        "argument --size: '0' must be at least 1",
    ),
    "fast-size-word": (
        ["stylize-fast", "fake.keras", "chelsea", "-o", "o.png", "--size", "big"],
        "'big' is not a whole number",
    ),
    # train-style: the output and the checkpoint folder
    "train-output-exists": (
        ["train-style", "starry_night", "-o", "exists.keras"],
        "exists.keras: already exists; choose another name or add --force",
    ),
    "train-output-folder": (
        ["train-style", "starry_night", "-o", "folder.keras"],
        "folder.keras: is a folder",
    ),
    "train-output-suffix": (
        ["train-style", "starry_night", "-o", "model.h5"],
        "end the name in .keras",
    ),
    "train-output-under-file": (
        ["train-style", "starry_night", "-o", "FILE/m.keras"],
        "since FILE is a file",
    ),
    "train-checkpoints-a-file": (
        ["train-style", "starry_night", "-o", "m.keras", "--checkpoints", "FILE"],
        "FILE: is a file, not a folder",
    ),
    "train-checkpoints-the-output": (
        ["train-style", "starry_night", "-o", "m.keras", "--checkpoints", "m.keras"],
        "the network's own file",
    ),
    # train-style: the painting and the photographs
    "train-painting-not-a-sample": (
        ["train-style", "picasso", "-o", "m.keras"],
        "'picasso': no such file, and not a sample name",
    ),
    "train-painting-missing": (["train-style", "guernica.jpg", "-o", "m.keras"], "guernica.jpg"),
    "train-painting-not-an-image": (["train-style", "text.jpg", "-o", "m.keras"], "text.jpg"),
    "train-photos-missing": (
        ["train-style", "starry_night", "-o", "m.keras", "--photos", "coco"],
        "--photos coco: no such folder",
    ),
    "train-photos-none-there": (
        ["train-style", "starry_night", "-o", "m.keras", "--photos", "no_photos"],
        "holds no .jpg or .png photographs",
    ),
    # train-style: option values
    "train-steps-zero": (
        ["train-style", "starry_night", "-o", "m.keras", "--steps", "0"],
        "argument --steps: '0' must be a whole number >= 1",
    ),
    "train-size-small": (
        ["train-style", "starry_night", "-o", "m.keras", "--size", "8"],
        "argument --size: '8' must be a whole number >= 32",
    ),
    "train-style-size-small": (
        ["train-style", "starry_night", "-o", "m.keras", "--style-size", "16"],
        "argument --style-size: '16' must be a whole number >= 32",
    ),
    "train-batch-zero": (
        ["train-style", "starry_night", "-o", "m.keras", "--batch-size", "0"],
        "argument --batch-size",
    ),
    "train-filters-two": (
        ["train-style", "starry_night", "-o", "m.keras", "--filters", "4,8"],
        "must be three whole widths >= 1",
    ),
    "train-filters-words": (
        ["train-style", "starry_night", "-o", "m.keras", "--filters", "a,b,c"],
        "is not three whole widths >= 1",
    ),
    "train-blocks-negative": (
        ["train-style", "starry_night", "-o", "m.keras", "--blocks", "-1"],
        "argument --blocks: '-1' must be a whole number >= 0",
    ),
    "train-seed-negative": (
        ["train-style", "starry_night", "-o", "m.keras", "--seed", "-1"],
        "argument --seed: '-1' must be a whole number >= 0",
    ),
    "train-lr-zero": (
        ["train-style", "starry_night", "-o", "m.keras", "--lr", "0"],
        "argument --lr: '0' must be positive",
    ),
    "train-minutes-zero": (
        ["train-style", "starry_night", "-o", "m.keras", "--minutes", "0"],
        "argument --minutes: '0' must be a positive number",
    ),
    "train-minutes-nan": (
        ["train-style", "starry_night", "-o", "m.keras", "--minutes", "nan"],
        "argument --minutes: 'nan' is not a number",
    ),
    "train-lr-word": (
        ["train-style", "starry_night", "-o", "m.keras", "--lr", "fast"],
        "argument --lr: 'fast' is not a number",
    ),
    "train-weight-negative": (
        ["train-style", "starry_night", "-o", "m.keras", "--tv-weight", "-1"],
        "argument --tv-weight",
    ),
    "train-checkpoint-every-zero": (
        ["train-style", "starry_night", "-o", "m.keras", "--checkpoint-every", "0"],
        "argument --checkpoint-every",
    ),
    "train-layer-unknown": (
        ["train-style", "starry_night", "-o", "m.keras", "--content-layers", "conv5"],
        "'conv5' must be one or more of VGG's convolution layers",
    ),
    "train-layers-empty": (
        ["train-style", "starry_night", "-o", "m.keras", "--style-layers", ","],
        "',' must be one or more of VGG's convolution layers",
    ),
    "train-backbone-unknown": (
        ["train-style", "starry_night", "-o", "m.keras", "--backbone", "vgg17"],
        "'vgg17' is neither auto, vgg19",
    ),
    "train-precision-unknown": (
        ["train-style", "starry_night", "-o", "m.keras", "--precision", "float16"],
        "argument --precision",
    ),
}


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Every case of :data:`REFUSED`, run by ``main`` in one fresh Python process."""
    folder = tmp_path_factory.mktemp("refusals")
    _make_inputs(folder)
    before = files(folder)
    cases = tmp_path_factory.mktemp("cases") / "cases.json"
    cases.write_text(json.dumps([argv for argv, _ in REFUSED.values()]))
    proc = subprocess.run(
        [sys.executable, "-c", MAIN_FOR_EACH, str(cases)],
        capture_output=True,
        text=True,
        cwd=folder,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    return dict(zip(REFUSED, report["results"])), report, before, files(folder)


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_input_is_refused_in_one_line_before_tensorflow(refusals, case):
    results, report, before, after = refusals
    result, (_, message) = results[case], REFUSED[case]
    lines = error_lines(result["err"])
    assert result["code"] == 2 and len(lines) == 1 and message in lines[0], result["err"]
    assert "Traceback" not in result["err"]


def test_the_refusals_imported_no_tensorflow_and_wrote_nothing(refusals):
    results, report, before, after = refusals
    assert all(r["code"] == 2 for r in results.values())
    assert not report["tensorflow"] and not report["keras"]
    assert after == before  # nothing made, nothing replaced


# --- damaged checkpoints: resumed from the newest whole one, or refused with nothing changed ----


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A network trained for 4 steps with checkpoints at steps 2 and 4, by the real command."""
    folder = tmp_path_factory.mktemp("trained")
    code = main(
        [
            "train-style",
            "starry_night",
            "-o",
            str(folder / "m.keras"),
            "--steps",
            "4",
            "--checkpoint-every",
            "2",
        ]
        + TINY
    )
    assert code == 0
    assert ff.latest_step(folder / "m.checkpoints") == 4
    return folder


@pytest.fixture()
def run(tmp_path, trained, capsys):
    """A copy of the trained run; ``run(damage, *options)`` damages its checkpoint folder, runs
    ``nst train-style … --resume --force`` (unless other options are given) and returns
    ``(exit status, stderr, the checkpoint folder, its files before the run, stdout)``."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    folder = tmp_path / "m.checkpoints"

    def go(damage, *options, steps=6, painting="starry_night"):
        damage(folder)
        before = files(folder)
        capsys.readouterr()
        code = main(
            [
                "train-style",
                painting,
                "-o",
                str(tmp_path / "m.keras"),
                "--steps",
                str(steps),
                "--checkpoint-every",
                "2",
            ]
            + TINY
            + list(options or ["--resume", "--force"])
        )
        out, err = capsys.readouterr()
        return code, err, folder, before, out

    return go


def _truncate(name, keep=0.5):
    def damage(folder):
        path = folder / name
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return damage


def _flip_a_byte(name):
    def damage(folder):
        path = folder / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    return damage


def _write(name, text):
    return lambda folder: (folder / name).write_text(text)


def _delete(*names):
    def damage(folder):
        for name in names:
            (folder / name).unlink()

    return damage


def _record_says_filters(*filters):
    """The run's record rewritten to say other widths than its checkpoints have."""

    def damage(folder):
        record = json.loads((folder / "training.json").read_text())
        record["architecture"]["filters"] = record["config"]["filters"] = list(filters)
        (folder / "training.json").write_text(json.dumps(record, indent=1))

    return damage


DATA_4, INDEX_4 = "ckpt-4.data-00000-of-00001", "ckpt-4.index"
DATA_2, INDEX_2 = "ckpt-2.data-00000-of-00001", "ckpt-2.index"


@pytest.mark.parametrize(
    "damage, words",
    [
        (_truncate(DATA_4), "Read less bytes"),  # was IndexError: Read less bytes than requested
        (_truncate(DATA_4, keep=0), "ckpt-4: truncated or damaged"),
        (_flip_a_byte(DATA_4), "ckpt-4: truncated or damaged"),  # same length, its checksum fails
        (_truncate(INDEX_4), "ckpt-4: truncated or damaged"),
        (_write(INDEX_4, "garbage"), "ckpt-4: truncated or damaged"),
        (_delete(DATA_4), "ckpt-4: its data file is missing"),
        (_delete(INDEX_4), "ckpt-4: its .index file is missing"),
    ],
    ids=[
        "data-truncated",
        "data-empty",
        "data-byte-flipped",
        "index-truncated",
        "index-garbage",
        "data-missing",
        "index-missing",
    ],
)
def test_a_damaged_newest_checkpoint_is_moved_aside_and_the_one_before_resumed(run, damage, words):
    code, err, folder, before, out = run(damage)
    assert code == 0 and "Traceback" not in err, err
    note = [line for line in error_lines(err) if line.startswith("Note:")]
    assert len(note) == 1 and "resuming from step 2" in note[0] and words in note[0], err
    assert "damaged-1" in note[0] and "resumed at step 2," in out
    # the damaged files are kept as they were, the checkpoint resumed from is still there
    aside = {name: data for name, data in before.items() if name.startswith("ckpt-4")}
    assert aside and all((folder / "damaged-1" / n).read_bytes() == d for n, d in aside.items())
    assert (folder / INDEX_2).read_bytes() == before[INDEX_2]
    assert ff.latest_step(folder) == 6
    assert ff.network_info(ff.load_network(folder.parent / "m.keras"))["steps"] == 6


@pytest.mark.parametrize(
    "damage, words",
    [
        (_write("checkpoint", "garbage {{{"), "its list of checkpoints, checkpoint, is damaged"),
        (_write("checkpoint", "\x00\x01\x02" * 30), "is damaged"),
        (
            _write("checkpoint", 'model_checkpoint_path: "ckpt-8"\n'),
            "ckpt-8, named in its list, is missing",
        ),
        (_delete("checkpoint"), None),  # the list is made again from the files there
    ],
    ids=["list-garbage", "list-binary", "list-names-a-missing-one", "list-deleted"],
)
def test_a_damaged_checkpoint_list_never_starts_over(run, damage, words):
    """The damaged index of --resume --force once made training start again from step 0 and
    replace the earlier checkpoints."""
    code, err, folder, before, out = run(damage)
    assert code == 0 and "Traceback" not in err, err
    notes = [line for line in error_lines(err) if line.startswith("Note:")]
    if words:
        assert len(notes) == 1 and "resuming from step 4" in notes[0] and words in notes[0], err
    else:
        assert not notes, err
    assert "resumed at step 4," in out  # not started again from step 0
    if "checkpoint" in before and "damaged" in (words or ""):
        assert (folder / "damaged-1" / "checkpoint").read_bytes() == before["checkpoint"]
    for name in (DATA_4, INDEX_4, DATA_2, INDEX_2):  # nothing replaced, nothing deleted
        assert (folder / name).read_bytes() == before[name]
    assert ff.latest_step(folder) == 6
    model = ff.load_network(folder.parent / "m.keras")
    assert ff.network_info(model)["steps"] == 6


@pytest.mark.parametrize(
    "damage, options, message",
    [
        (
            lambda f: (_truncate(DATA_4)(f), _truncate(DATA_2)(f)),
            (),
            "no checkpoint there can be resumed from (ckpt-4: truncated or damaged",
        ),
        (
            _delete(DATA_4, INDEX_4, DATA_2, INDEX_2),
            (),
            "holds no checkpoint to resume from (its list names ckpt-4, ckpt-2, which are missing); "
            "drop --resume",
        ),
        (_write("training.json", "{"), (), "training.json: missing or unreadable"),
        (_delete("training.json"), (), "training.json: missing or unreadable"),
        (
            lambda f: None,
            ("--filters", "4,8,16"),
            "its checkpoints have filters [4, 8, 8], not "
            "[4, 8, 16]; resume with the same filters (--filters)",
        ),
        (lambda f: None, ("--blocks", "2"), "residual_blocks 1, not 2"),
        (lambda f: None, ("--size", "48"), "size 32, not 48"),
        (lambda f: None, ("--batch-size", "3"), "batch_size 2, not 3"),
        (lambda f: None, ("--no-skip",), "skip True, not False"),
        # a record that says the new shape, over checkpoints of the old one
        (_record_says_filters(4, 8, 16), ("--filters", "4,8,16"), "does not fit this network"),
    ],
    ids=[
        "all-damaged",
        "all-missing",
        "record-damaged",
        "record-missing",
        "other-filters",
        "other-blocks",
        "other-size",
        "other-batch",
        "other-skip",
        "other-shape-behind-the-record",
    ],
)
def test_resume_refuses_what_it_cannot_resume_and_changes_nothing(
    run, damage, options, message, trained
):
    code, err, folder, before, out = run(damage, *options, "--resume", "--force")
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and "drop --resume" in lines[0]
    if "does not fit" in message:  # found on restoring: the checkpoints are as they were
        assert {n: d for n, d in files(folder).items() if n.startswith("ckpt-")} == {
            n: d for n, d in before.items() if n.startswith("ckpt-")
        }
    else:  # refused before anything was touched
        assert files(folder) == before
    assert (folder.parent / "m.keras").read_bytes() == (trained / "m.keras").read_bytes()


def test_resume_on_another_painting_is_refused(run, trained):
    code, err, folder, before, out = run(
        lambda f: None, "--resume", "--force", painting="the_scream"
    )
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "trained on another painting (The Starry" in err, err
    assert "resume with that one, or start again: add --force and drop --resume" in lines[0]
    assert files(folder) == before
    assert (folder.parent / "m.keras").read_bytes() == (trained / "m.keras").read_bytes()


def test_force_without_resume_moves_the_earlier_run_aside(run):
    code, err, folder, before, out = run(lambda f: None, "--force", steps=2)
    assert code == 0, err
    notes = [line for line in error_lines(err) if line.startswith("Note:")]
    assert len(notes) == 1 and "earlier-1" in notes[0] and "up to step 4" in notes[0], err
    assert files(folder / "earlier-1") == before  # every file of the earlier run, unchanged
    assert ff.latest_step(folder) == 2 and "resumed" not in out  # a new run, from step 0
    assert ff.latest_step(folder / "earlier-1") == 4  # and the old one can still be resumed


def test_resume_with_force_never_starts_a_run_from_nothing(tmp_path, capsys):
    """--resume --force with no checkpoint (a mistyped -o names another folder) is refused."""
    (tmp_path / "m.checkpoints").mkdir()
    code = main(
        [
            "train-style",
            "starry_night",
            "-o",
            str(tmp_path / "m.keras"),
            "--steps",
            "2",
            "--resume",
            "--force",
        ]
        + TINY
    )
    err = capsys.readouterr().err
    assert code == 2 and "holds no checkpoint to resume from" in err and "drop --resume" in err
    assert len(error_lines(err)) == 1 and not (tmp_path / "m.keras").exists()


def test_resume_past_the_steps_asked_writes_the_checkpoints_network_and_says_so(run):
    code, err, folder, before, out = run(lambda f: None, steps=2)
    assert code == 0 and not error_lines(err), err
    assert "no step to do: the checkpoint was at step 4 of 2" in out and "nan" not in out
    assert ff.network_info(ff.load_network(folder.parent / "m.keras"))["steps"] == 4
    assert ff.latest_step(folder) == 4 and all(
        (folder / name).read_bytes() == data
        for name, data in before.items()
        if name.startswith("ckpt-")
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_network_and_painting_are_one_line(tmp_path, trained, capsys):
    model, painting = tmp_path / "m.keras", tmp_path / "painting.png"
    shutil.copy(trained / "m.keras", model)
    from PIL import Image

    Image.new("RGB", (64, 64), "blue").save(painting)
    model.chmod(0)
    painting.chmod(0)
    for argv, words in (
        (
            ["stylize-fast", str(model), "chelsea", "-o", str(tmp_path / "o.png")],
            "m.keras: no permission to read",
        ),
        (["train-style", str(painting), "-o", str(tmp_path / "n.keras")], "no permission to read"),
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and len(error_lines(err)) == 1 and words in err, err


def test_another_runs_checkpoints_are_refused_without_resume_or_force(run, tmp_path):
    """A new -o whose --checkpoints folder holds another run's checkpoints."""
    code, err, folder, before, out = run(
        lambda f: None,
        "--checkpoints",
        str(tmp_path / "m.checkpoints"),
        "-o",
        str(tmp_path / "new.keras"),
        steps=2,
    )
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err
    assert (
        "already holds checkpoints of a training run (up to step 4); add --resume to continue "
        "it, or add --force to start again"
    ) in lines[0], err
    assert files(folder) == before and not (tmp_path / "new.keras").exists()


# --- stopped from outside: a real SIGTERM or Ctrl-C ---------------------------------------------


@pytest.mark.parametrize(
    "sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_keeps_the_last_checkpoint_and_resume_continues(tmp_path, sig, status):
    model = tmp_path / "model.keras"
    checkpoints = tmp_path / "model.checkpoints"
    proc = subprocess.Popen(
        NST
        + [
            "train-style",
            "starry_night",
            "-o",
            str(model),
            "--steps",
            "100000",
            "--checkpoint-every",
            "2",
        ]
        + TINY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=_default_signals,
    )
    end = time.monotonic() + 300
    while time.monotonic() < end and not ff.latest_step(checkpoints):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err and "--resume" in err
    assert ("SIGTERM" if sig == signal.SIGTERM else "Ctrl-C") in err
    stopped_at = ff.latest_step(checkpoints)
    assert stopped_at and stopped_at < 100000
    assert model.is_file() and ff.network_info(ff.load_network(model))["steps"] >= stopped_at
    if sig == signal.SIGINT:
        return  # resuming is the same after either signal

    steps = stopped_at + 2
    resumed = subprocess.run(
        NST
        + [
            "train-style",
            "starry_night",
            "-o",
            str(model),
            "--steps",
            str(steps),
            "--checkpoint-every",
            "2",
            "--resume",
            "--force",
        ]
        + TINY,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert ff.latest_step(checkpoints) == steps
    assert ff.network_info(ff.load_network(model))["steps"] == steps
