"""Sweeps: folders written as runs finish, resumed sweeps, executors, a real Dask cluster; and
``nst sweep``'s bad input, unusable folders and scheduler addresses, and damaged runs resumed."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from child_scripts import DRIVER, MAIN_FOR_EACH, SIGTERM_DURING_THE_RUN

from nst_helpers import sweep
from nst_helpers.errors import NSTError
from nst_helpers.samples import load_sample

SMALL = dict(steps=8, max_side=64, backbone="vgg19")


@pytest.fixture(scope="module")
def images():
    return load_sample("chelsea", 64), load_sample("starry_night", 64)


def test_grid_and_names():
    g = sweep.grid(style_weight=(1e-1, 1e-2), learning_rate=(2, 4))
    assert g == [
        {"style_weight": 0.1, "learning_rate": 2},
        {"style_weight": 0.1, "learning_rate": 4},
        {"style_weight": 0.01, "learning_rate": 2},
        {"style_weight": 0.01, "learning_rate": 4},
    ]
    assert (
        sweep.run_name({"style_weight": 1e-2, "learning_rate": 4.0})
        == "learning_rate=4,style_weight=0.01"
    )
    assert sweep.run_name({}) == "base"
    assert "/" not in sweep.run_name({"backbone": "a/b.h5"})
    with pytest.raises(NSTError, match="list of values"):
        sweep.grid(style_weight=1e-2)


def test_bad_sweeps_fail_before_running(images, tmp_path):
    c, s = images
    with pytest.raises(NSTError, match="style_wieght"):
        sweep.run_sweep(c, s, [{"style_wieght": 1}], tmp_path / "a", "seed", **SMALL)
    with pytest.raises(NSTError, match="listed twice"):
        sweep.run_sweep(c, s, [{"steps": 2}, {"steps": 2}], tmp_path / "b", "seed", **SMALL)
    with pytest.raises(NSTError, match="snapshots"):
        sweep.run_sweep(c, s, [{}], tmp_path / "c", "seed", snapshots=(0,), **SMALL)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine.txt").write_text("the user's")
    with pytest.raises(NSTError, match="not empty"):
        sweep.run_sweep(c, s, [{}], tmp_path / "d", "seed", **SMALL)
    assert (tmp_path / "d" / "mine.txt").read_text() == "the user's"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_in_process_sweep_writes_folders_and_resumes(images, tmp_path):
    c, s = images
    runs = sweep.grid(style_weight=(1e-2, 1e-1))
    seen = []
    res = sweep.run_sweep(
        c, s, runs, tmp_path, "seed", snapshots=(4,), on_result=seen.append, verbose=False, **SMALL
    )
    assert [r.name for r in seen] == ["style_weight=0.01", "style_weight=0.1"]
    assert all(r.done and not r.skipped for r in res.runs) and not res.failed
    for rec in res.runs:
        report = json.loads((rec.folder / "report.json").read_text())
        assert report["settings"] == rec.settings and report["steps"] == 8
        assert report["backbone"].startswith("vgg19") and len(report["loss_history"]) == 8
        assert report["snapshots"] == [4]
        # each term's history too, adding up to the total at every step
        terms = report["term_history"]
        assert len(terms["content"]) == len(terms["style"]) == 8
        total = np.add(terms["content"], terms["style"]) + np.asarray(terms.get("tv", 0.0))
        np.testing.assert_allclose(total, report["loss_history"], rtol=1e-4)
        assert rec.image().shape == c.shape and rec.image(4).shape == c.shape
    # A stronger style weight gives a larger weighted loss: the settings reached the runs.
    assert res.runs[1].report["best_loss"] > res.runs[0].report["best_loss"]
    # Resuming runs nothing; adding a run runs only that one.
    again = sweep.run_sweep(
        c,
        s,
        runs + [{"style_weight": 1e-3}],
        tmp_path,
        "seed",
        snapshots=(4,),
        verbose=False,
        **SMALL,
    )
    assert [r.skipped for r in again.runs] == [True, True, False] and not again.failed
    assert again.runs[0].report == res.runs[0].report
    assert [r.name for r in sweep.load_sweep(tmp_path)] == [
        "style_weight=0.001",
        "style_weight=0.01",
        "style_weight=0.1",
    ]
    # A different image or preset in the same folder is refused, not mixed in.
    with pytest.raises(NSTError, match="different content"):
        sweep.run_sweep(s[:, :60], s, runs, tmp_path, "seed", verbose=False, **SMALL)
    with pytest.raises(NSTError, match="different config"):
        sweep.run_sweep(c, s, runs, tmp_path, "seed", verbose=False, **{**SMALL, "steps": 9})


def test_a_failing_run_does_not_stop_the_others(images, tmp_path):
    c, s = images
    missing = str(tmp_path / "elsewhere" / "weights.h5")  # looked for by the worker that runs
    res = sweep.run_sweep(
        c, s, [{"backbone": missing}, {}], tmp_path / "sw", "seed", verbose=False, **SMALL
    )
    bad, good = res.runs
    assert not bad.done and "no such weights file" in bad.error and bad.folder is None
    assert good.done and res.failed == [bad]
    assert not (tmp_path / "sw" / bad.name).exists()


def test_ctrl_c_keeps_finished_runs_and_resume_reruns_the_interrupted_one(images, tmp_path):
    c, s = images

    def interrupt(name, progress):
        if name == "style_weight=0.1" and progress.step == 4:
            raise KeyboardInterrupt

    runs = sweep.grid(style_weight=(1e-2, 1e-1, 1e-3))
    res = sweep.run_sweep(
        c, s, runs, tmp_path, "seed", snapshots=(4,), callback=interrupt, verbose=False, **SMALL
    )
    assert res.interrupted
    first, second, third = res.runs
    assert first.done and not second.done and third.report is None
    # The interrupted run's best image is kept, marked as such.
    assert second.report["stop_reason"] == "interrupted" and second.image().shape == c.shape
    resumed = sweep.run_sweep(c, s, runs, tmp_path, "seed", snapshots=(4,), verbose=False, **SMALL)
    assert [r.skipped for r in resumed.runs] == [True, False, False]
    assert all(r.done for r in resumed.runs)


def test_figures_from_a_folder(images, tmp_path):
    c, s = images
    sweep.run_sweep(
        c, s, sweep.grid(learning_rate=(2, 4)), tmp_path, "seed", verbose=False, **SMALL
    )
    fig = sweep.contact_sheet(tmp_path)
    assert len([a for a in fig.axes if a.images]) == 2 and "vgg19" in fig._suptitle.get_text()
    fig = sweep.loss_figure(tmp_path)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(NSTError, match="no sweep"):
        sweep.load_sweep(tmp_path / "learning_rate=2")


def _killer(victim):
    """A callback that kills its own worker process in the middle of the ``victim`` run."""

    def callback(name, progress):
        if name == victim and progress.step == 4:
            os.kill(os.getpid(), signal.SIGKILL)

    return callback


def test_dask_cluster_same_results_lost_worker_and_resume(images, tmp_path):
    """A real distributed.LocalCluster with two worker processes."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    c, s = images
    runs = sweep.grid(style_weight=(1e-2, 1e-1, 1e-3))
    here = sweep.run_sweep(
        c, s, runs[:2], tmp_path / "here", "seed", snapshots=(4,), verbose=False, **SMALL
    )
    # One run per worker at a time, and a task whose worker dies is not retried: so the killed
    # worker's own run, and only it, is lost.
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        there = sweep.run_sweep(
            c,
            s,
            runs,
            tmp_path / "there",
            "seed",
            snapshots=(4,),
            executor=executor,
            callback=_killer("style_weight=0.001"),
            verbose=False,
            **SMALL,
        )
        done = {r.name: r for r in there.runs if r.done}
        assert sorted(done) == ["style_weight=0.01", "style_weight=0.1"]
        lost = [r for r in there.runs if not r.done]
        assert len(lost) == 1 and "KilledWorker" in lost[0].error
        # The same numbers as in this process: only arrays and dicts travelled.
        for a, b in zip(here.runs, (done["style_weight=0.01"], done["style_weight=0.1"])):
            np.testing.assert_allclose(
                b.report["loss_history"], a.report["loss_history"], rtol=1e-5
            )
            assert np.abs(a.image().astype(int) - b.image().astype(int)).max() <= 1
        # Resumed: only the lost run runs again, and each worker loaded its backbone once.
        client.wait_for_workers(2)
        resumed = sweep.run_sweep(
            c,
            s,
            runs,
            tmp_path / "there",
            "seed",
            snapshots=(4,),
            executor=executor,
            verbose=False,
            **SMALL,
        )
        assert [r.skipped for r in resumed.runs] == [True, True, False]
        assert all(r.done for r in resumed.runs)

        def loads():
            from nst_helpers import backbone

            return backbone._load.cache_info().misses

        assert set(client.run(loads).values()) <= {0, 1}


def test_nst_sweep_command(tmp_path, capsys):
    from nst_helpers.cli import main

    out = tmp_path / "study"
    args = [
        "sweep",
        "chelsea",
        "starry_night",
        str(out),
        "--preset",
        "seed",
        "--steps",
        "6",
        "--size",
        "64",
        "--backbone",
        "vgg19",
        "--grid",
        "style_weight=1e-2,1e-1",
        "--snapshots",
        "3",
        "-q",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "2/2 runs done" in text
    assert (out / "contact_sheet.png").stat().st_size > 0 and (out / "losses.png").exists()
    assert (out / "style_weight=0.1" / "step_00003.png").exists()
    assert main(args) == 0 and "2 of them found done before" in capsys.readouterr().out
    assert sweep.parse_grid(["learning-rate=2,4", "init=noise"]) == [
        {"learning_rate": 2, "init": "noise"},
        {"learning_rate": 4, "init": "noise"},
    ]
    for bad, words in (
        (["--grid", "style_weight"], "SETTING=V1,V2"),
        (["--grid", "colour=1,2"], "unknown setting colour"),
    ):
        assert main(["sweep", "chelsea", "starry_night", str(tmp_path / "x"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nst: error:") and words in err and "\n" not in err
    assert not (tmp_path / "x").exists()


# --- nst sweep: bad input ends in one line and exit status 2, before anything runs ------------

QUICK = ["--preset", "seed", "--steps", "2", "--size", "64", "--backbone", "vgg19", "-q"]


def nst_sweep(out, *args, content="chelsea", style="starry_night"):
    """``nst sweep CONTENT STYLE OUT ARGS`` in this process; its exit status."""
    from nst_helpers.cli import main

    try:
        return main(["sweep", content, style, str(out), *map(str, args)])
    except SystemExit as exit_:  # argparse's own refusals
        return exit_.code


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nst: error: ") and "Traceback" not in err, err
    return lines[0]


def offered_grids(line):
    """The grids a message offers as examples (not the user's own --grid it repeats)."""
    found = [g.rstrip(".?,;") for g in re.findall(r"--grid (\S+)", line)]
    return [g for g in found if "=" in g and not g.endswith(":") and not g.startswith("'")]


@pytest.mark.parametrize(
    "args, words, example",
    [
        (["--grid", "steps=0"], "--grid steps=0: steps must be at least 1, not 0", True),
        (["--grid", "steps=-3"], "steps must be at least 1", True),
        (["--grid", "steps=1.5"], "steps must be a whole number", True),
        (["--grid", "style_weight=,"], "no values after '='", True),
        (["--grid", "style_weight="], "no values after '='", True),
        (["--grid", "style_weight=1e-2,"], "an empty value between commas", True),
        (["--grid", "style_weight=1,,2"], "an empty value between commas", True),
        (["--grid", "style_weight"], "write SETTING=V1,V2,...", True),
        (["--grid", "=1,2"], "write SETTING=V1,V2,...", True),
        (["--grid", "colour=1,2"], "unknown setting colour", True),
        (
            ["--grid", "lr=2,4"],
            "(the option --lr sets learning_rate); write --grid learning_rate=2,4",
            True,
        ),
        (["--grid", "style_wieght=1e-2"], "did you mean --grid style_weight=1e-2?", True),
        (
            ["--grid", "style_weight=1e-2", "--grid", "style-weight=1e-1"],
            "gives style_weight twice",
            True,
        ),
        (["--grid", "style_weight=1,1.0"], "1.0 is listed twice", False),
        (["--grid", "style_weight=-1"], "zero or positive", True),
        (["--grid", "style_weight=nan"], "a finite number", True),
        (["--grid", "style_weight=abc"], "must be a number, not 'abc'", True),
        (["--grid", "optimizer=sgd"], "one of adam, lbfgs", True),
        (["--grid", "max_side=16"], "a whole number >= 32", True),
        (["--grid", "trainable=maybe"], "true or false", True),
        (["--grid", "backbone=nonesuch"], "unknown backbone 'nonesuch'", True),
        (["--grid", "content_layers=block9_conv1"], "unknown layer 'block9_conv1'", False),
        (["--grid", "style_layer_weights=1+2"], "give one weight per layer", False),
        (["--steps", "3", "--grid", "steps=1,2"], "steps is given by --steps and by --grid", True),
        (["--snapshots", "5"], "snapshot step 5 comes after the last step", False),
    ],
)
def test_bad_grids_are_refused_in_one_line_with_a_grid_that_works(
    tmp_path, capsys, args, words, example
):
    out = tmp_path / "sw"
    assert nst_sweep(out, *QUICK, *args) == 2
    line = one_error_line(capsys)
    assert words in line, line
    assert "--style-weight" not in line or "--grid" not in words  # a grid speaks settings' names
    grids = offered_grids(line)
    assert bool(grids) == example, line
    for offered in grids:  # every example offered is a grid that parses and can run
        sweep._plan(sweep.parse_grid([offered]), sweep.preset("seed", steps=2))
    assert not out.exists()


def test_every_settings_example_is_a_grid_that_runs():
    from nst_helpers.config import SETTINGS

    for name in SETTINGS:
        runs = sweep.parse_grid([sweep._example(name).removeprefix("--grid ")])
        for name_of_preset in ("fast", "seed", "gatys"):
            sweep._plan(runs, sweep.preset(name_of_preset))


def test_grid_values_are_read_as_each_settings_type():
    assert sweep.parse_grid(["max_side=none,auto,64", "preserve_color=none,luminance"])[:3] == [
        {"max_side": None, "preserve_color": None},
        {"max_side": None, "preserve_color": "luminance"},
        {"max_side": "auto", "preserve_color": None},
    ]
    assert sweep.parse_grid(
        ["style_layers=block1_conv1+block2_conv1,block3_conv1", "Trainable=yes"]
    ) == [
        {"style_layers": ("block1_conv1", "block2_conv1"), "trainable": True},
        {"style_layers": ("block3_conv1",), "trainable": True},
    ]
    assert sweep.parse_grid(["steps=1e2", "backbone=random:3"]) == [
        {"steps": 100, "backbone": "random:3"}
    ]
    assert sweep.parse_grid([]) == [{}]  # no grid: one run of the preset


def test_layer_table_matches_the_backbone():
    """The layer names checked before TensorFlow starts are those of the network Keras builds."""
    from nst_helpers.backbone import build_vgg
    from nst_helpers.choices import vgg_layer_names

    for depth in (16, 19):
        built = [layer.name for layer in build_vgg(depth).layers if "_conv" in layer.name]
        assert vgg_layer_names(depth) == built


def test_a_grid_of_sizes_loads_the_images_at_the_largest(tmp_path):
    plan = sweep.plan_sweep(
        load_sample("chelsea"),
        load_sample("starry_night"),
        sweep.grid(max_side=(32, 96)),
        tmp_path / "sw",
        "seed",
        steps=2,
        backbone="vgg19",
    )
    assert max(plan.content.shape[:2]) == 96 and max(plan.style.shape[:2]) == 96
    assert not (tmp_path / "sw").exists()  # a plan writes nothing


# --- the folder: one that cannot hold the sweep is refused, the user's files untouched ---------


def _sweep_header(tmp_path):
    """A sweep.json for this command's sweep, as its first run writes it."""
    return sweep.plan_sweep(
        load_sample("chelsea"),
        load_sample("starry_night"),
        [{}],
        tmp_path / "unused",
        "seed",
        steps=2,
        max_side=64,
        backbone="vgg19",
    ).header


@pytest.mark.parametrize(
    "kind",
    [
        "file",
        "under a file",
        "not empty",
        "bad sweep.json",
        "sweep.json not a record",
        "sweep.json a folder",
        "a run's folder is a file",
        "named like a run",
        "a broken link",
    ],
)
def test_an_out_that_cannot_hold_the_sweep_is_refused(tmp_path, capsys, kind):
    mine = tmp_path / "mine.txt"
    mine.write_text("the user's")
    out = {
        "file": mine,
        "under a file": mine / "sw",
        "named like a run": tmp_path / "style_weight=0.5",
    }.get(kind, tmp_path / "sw")
    if kind == "named like a run":
        out.write_text("the user's")
    if kind == "a broken link":
        out.symlink_to(tmp_path / "gone")
    if kind in (
        "not empty",
        "bad sweep.json",
        "sweep.json not a record",
        "sweep.json a folder",
        "a run's folder is a file",
    ):
        out.mkdir()
        (out / "notes.txt").write_text("the user's")
    if kind == "bad sweep.json":
        (out / "sweep.json").write_text('{"config": ')
    if kind == "sweep.json not a record":
        (out / "sweep.json").write_text("[]")
    if kind == "sweep.json a folder":
        (out / "sweep.json").mkdir()
    if kind == "a run's folder is a file":
        (out / "sweep.json").write_text(json.dumps(_sweep_header(tmp_path)))
        (out / "style_weight=0.1").write_text("the user's")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert nst_sweep(out, *QUICK, "--grid", "style_weight=1e-1,1e-2") == 2
    line = one_error_line(capsys)
    expected = {
        "file": f"{mine}: is a file, not a folder",
        "under a file": f"{mine / 'sw'}: cannot be a folder, since {mine} is a file",
        "not empty": f"{out}: is not empty (notes.txt) and holds no sweep.json",
        "bad sweep.json": f"{out / 'sweep.json'}: cannot be read (not valid JSON)",
        "sweep.json not a record": f"{out / 'sweep.json'}: is not a sweep's record",
        "sweep.json a folder": f"{out / 'sweep.json'}: cannot be read (Is a directory)",
        "a broken link": f"{out}: is a link to nothing",
        "a run's folder is a file": f"{out / 'style_weight=0.1'}: is a file where this sweep "
        "keeps the run style_weight=0.1",
        "named like a run": f"{out}: is a file, not a folder",  # the path as it is, not --style-weight
    }[kind]
    assert expected in line, line
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing of the user's changed, nothing written
    assert not (tmp_path / "gone").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_an_out_in_a_read_only_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert nst_sweep(folder / "sw", *QUICK) == 2
    finally:
        folder.chmod(0o755)
    assert "cannot write in this folder" in one_error_line(capsys)


# --- a Dask scheduler's address: malformed or unreachable, one line ----------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "address, words",
    [
        ("tcp://scheduler", "no port number"),
        ("scheduler", "no port number"),
        ("tcp://:8786", "no host"),
        ("tcp://scheduler:x", "the port 'x' is not a number from 1 to 65535"),
        ("tcp://scheduler:0", "is not a number from 1 to 65535"),
        ("udp://scheduler:8786", "unknown protocol udp://"),
        ("tcp://127.0.0.1:FREE", "no Dask scheduler answers there"),
    ],
)
def test_a_bad_scheduler_address_is_one_line(tmp_path, capsys, address, words):
    pytest.importorskip("distributed")
    address = address.replace("FREE", str(_free_port()))
    out = tmp_path / "sw"
    assert nst_sweep(out, *QUICK, "--scheduler", address) == 2
    line = one_error_line(capsys)
    assert f"--scheduler {address}: " in line and words in line, line
    assert "tcp://HOST:PORT" in line or "dask scheduler" in line
    assert not out.exists()


def test_refusals_come_before_tensorflow_is_imported(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "FILE").write_text("mine")
    base = ["sweep", "chelsea", "starry_night"]
    out = str(tmp_path / "sw")
    cases = [
        [*base, out, *QUICK, "--grid", grid]
        for grid in (
            "steps=0",
            "style_weight=,",
            "style_weight",
            "colour=1",
            "style_weight=-1",
            "backbone=nonesuch",
            "content_layers=block9_conv1",
        )
    ]
    cases += [
        [*base, str(tmp_path / "FILE"), *QUICK],
        [*base, str(tmp_path / "FILE" / "x"), *QUICK],
        [*base, out, *QUICK, "--scheduler", "tcp://host"],
        [*base, out, *QUICK, "--scheduler", f"tcp://127.0.0.1:{_free_port()}"],
        [*base, out, *QUICK, "--snapshots", "9"],
        [*base, out, *QUICK, "--steps", "3", "--grid", "steps=1,2"],
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, "-c", MAIN_FOR_EACH, str(tmp_path / "cases.json")],
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    for argv, result in zip(cases, report["results"]):
        code, err = result["code"], result["err"]
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("nst: error: "), (argv, err)
    assert report["tensorflow"] is False
    assert not (tmp_path / "sw").exists() and (tmp_path / "FILE").read_text() == "mine"


# --- resume: a run whose files were deleted or damaged runs again, and a line says so ----------


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_resume_runs_deleted_or_damaged_runs_again(tmp_path, capsys):
    out = tmp_path / "sw"
    args = [*QUICK, "--grid", "style_weight=1e-1,1e-2,1e-3,1e-4,1e-5", "--snapshots", "1"]
    assert nst_sweep(out, *args) == 0
    capsys.readouterr()
    runs = [out / f"style_weight={w}" for w in ("0.1", "0.01", "0.001", "0.0001", "1e-05")]
    assert all((run / "result.png").exists() for run in runs)
    (runs[0] / "result.png").unlink()
    _truncate(runs[1] / "result.png")
    (runs[2] / "report.json").write_text('{"stop_reason": "finished", ')
    (runs[3] / "report.json").unlink()
    _truncate(runs[4] / "step_00001.png")
    damaged = {1: (runs[1] / "result.png").read_bytes(), 2: (runs[2] / "report.json").read_bytes()}
    assert nst_sweep(out, *args) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err and len(lines) == 5, captured.err
    whys = [
        f"{runs[0] / 'result.png'} is missing",
        f"{runs[1] / 'result.png'} is damaged",
        f"{runs[2] / 'report.json'} is damaged (not valid JSON)",
        f"{runs[3] / 'report.json'} is missing",
        f"{runs[4] / 'step_00001.png'} is damaged",
    ]
    for run, why in zip(runs, whys):  # each run's own line, naming the real paths
        line = next(line for line in lines if line.startswith(f"{run.name}: "))
        assert why in line and "running it again" in line, line
        assert f"its files are kept in {out / '.damaged' / run.name})" in line, line
    assert "--style-weight" not in captured.err
    assert "5/5 runs done, 0 of them found done before" in captured.out
    # Every run complete again; the damaged files kept aside, not lost.
    for run in runs:
        report = json.loads((run / "report.json").read_text())
        assert report["stop_reason"] in ("finished", "converged") and report["steps"] == 2
        assert sweep._image_problem(run / "result.png") == ""
        assert sweep._image_problem(run / "step_00001.png") == ""
    assert (out / ".damaged" / runs[1].name / "result.png").read_bytes() == damaged[1]
    assert (out / ".damaged" / runs[2].name / "report.json").read_bytes() == damaged[2]
    assert [r.name for r in sweep.load_sweep(out)] == sorted(run.name for run in runs)
    # Resumed once more: nothing runs, nothing is said on stderr.
    assert nst_sweep(out, *args) == 0
    captured = capsys.readouterr()
    assert "5 of them found done before" in captured.out and not captured.err.strip()


def test_each_state_of_a_runs_folder(tmp_path):
    """What a resumed sweep makes of a run's folder: done, stopped before, or damaged."""
    from PIL import Image

    settings = {"style_weight": 0.1}
    report = {
        "stop_reason": "finished",
        "settings": settings,
        "best_loss": 1.0,
        "steps": 2,
        "backbone": "vgg19",
        "loss_history": [2.0, 1.0],
        "snapshots": [1],
    }

    def folder(name, report=report, images=("result.png", "step_00001.png")):
        path = tmp_path / name
        path.mkdir()
        (path / "report.json").write_text(json.dumps(report))
        for image in images:
            Image.new("RGB", (40, 32)).save(path / image)
        return path

    assert sweep._state(tmp_path / "new", settings) == ("new", "", None)
    assert sweep._state(folder("done"), settings) == ("done", "", report)
    state, why, _ = sweep._state(
        folder("stopped", {**report, "stop_reason": "interrupted"}), settings
    )
    assert state == "again" and "interrupted" in why
    lacking = folder("lacking", {k: v for k, v in report.items() if k != "loss_history"})
    assert sweep._state(lacking, settings) == (
        "damaged",
        f"{lacking / 'report.json'} lacks loss_history",
        None,
    )
    no_snap = folder("no_snap", images=("result.png",))
    assert sweep._state(no_snap, settings) == (
        "damaged",
        f"{no_snap / 'step_00001.png'} is missing",
        None,
    )
    not_image = folder("not_image")
    (not_image / "result.png").write_text("not a picture")
    state, why, _ = sweep._state(not_image, settings)
    assert state == "damaged" and why.startswith(f"{not_image / 'result.png'} is damaged (")
    with pytest.raises(NSTError, match="holds a run with other settings"):
        sweep._state(folder("other"), {"style_weight": 0.2})
    (tmp_path / "a_file").write_text("the user's")
    with pytest.raises(NSTError, match="is a file where this sweep keeps the run a_file"):
        sweep._state(tmp_path / "a_file", settings)


def test_cli_words_never_rewrite_a_path(tmp_path, capsys, monkeypatch):
    from nst_helpers.cli import main
    from nst_helpers.cli.run import cli_words as _cli_words

    assert (
        _cli_words("sw/style_weight=0.001/result.png is missing")
        == "sw/style_weight=0.001/result.png is missing"
    )
    assert (
        _cli_words("style_weight=0.001/result.png and style_weight=1.png: gone")
        == "style_weight=0.001/result.png and style_weight=1.png: gone"
    )
    assert (
        _cli_words(
            "the run learning_rate=2,style_weight=0.01; such as --grid style_weight=1e-1,1e-2."
        )
        == "the run learning_rate=2,style_weight=0.01; such as --grid style_weight=1e-1,1e-2."
    )
    assert (
        _cli_words("try steps=300; backbone='vgg16-hed'.")
        == "try --steps 300; --backbone vgg16-hed."
    )
    # Through the real commands, with paths relative to the current folder.
    monkeypatch.chdir(tmp_path)
    taken = tmp_path / "style_weight=0.5"
    taken.write_text("the user's")
    assert nst_sweep("style_weight=0.5", *QUICK) == 2
    assert one_error_line(capsys) == (
        "nst: error: style_weight=0.5: is a file, not a folder; "
        "give a new or empty folder, or an earlier sweep's."
    )
    code = main(["stylize", "chelsea", "swirls", "-o", "style_weight=0.5", *QUICK[:-1]])
    line = one_error_line(capsys)
    assert code == 2 and "style_weight=0.5" in line and "--style-weight" not in line, line
    assert taken.read_text() == "the user's"


def test_sigterm_stops_the_sweep_with_143_and_resume_finishes_it(tmp_path, capsys):
    out = tmp_path / "sw"
    args = [
        "--preset",
        "seed",
        "--steps",
        "4",
        "--size",
        "64",
        "--backbone",
        "vgg19",
        "-q",
        "--grid",
        "style_weight=1e-2",
    ]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER.format(patch=SIGTERM_DURING_THE_RUN),
            "sweep",
            "chelsea",
            "starry_night",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 143 and "Traceback" not in proc.stderr, proc.stderr
    assert "interrupted" in proc.stdout
    first = json.loads((out / "style_weight=0.01" / "report.json").read_text())
    assert first["stop_reason"] == "interrupted"  # its best image kept, not counted done
    assert nst_sweep(out, *args) == 0
    assert "1/1 runs done, 0 of them found done before" in capsys.readouterr().out
