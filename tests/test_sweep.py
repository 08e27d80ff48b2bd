"""Sweeps: folders written as runs finish, resumed sweeps, executors, a real Dask cluster."""

import json
import logging
import os
import signal

import numpy as np
import pytest

from nst_helpers import sweep
from nst_helpers.errors import NSTError
from nst_helpers.samples import load_sample

SMALL = dict(steps=8, max_side=64, backbone="vgg19")


@pytest.fixture(scope="module")
def images():
    return load_sample("chelsea", 64), load_sample("starry_night", 64)


def test_grid_and_names():
    g = sweep.grid(style_weight=(1e-1, 1e-2), learning_rate=(2, 4))
    assert g == [{"style_weight": 0.1, "learning_rate": 2}, {"style_weight": 0.1, "learning_rate": 4},
                 {"style_weight": 0.01, "learning_rate": 2}, {"style_weight": 0.01, "learning_rate": 4}]
    assert sweep.run_name({"style_weight": 1e-2, "learning_rate": 4.0}) == "learning_rate=4,style_weight=0.01"
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
    res = sweep.run_sweep(c, s, runs, tmp_path, "seed", snapshots=(4,), on_result=seen.append,
                          verbose=False, **SMALL)
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
    again = sweep.run_sweep(c, s, runs + [{"style_weight": 1e-3}], tmp_path, "seed",
                            snapshots=(4,), verbose=False, **SMALL)
    assert [r.skipped for r in again.runs] == [True, True, False] and not again.failed
    assert again.runs[0].report == res.runs[0].report
    assert [r.name for r in sweep.load_sweep(tmp_path)] == [
        "style_weight=0.001", "style_weight=0.01", "style_weight=0.1"]
    # A different image or preset in the same folder is refused, not mixed in.
    with pytest.raises(NSTError, match="different content"):
        sweep.run_sweep(s[:, :60], s, runs, tmp_path, "seed", verbose=False, **SMALL)
    with pytest.raises(NSTError, match="different config"):
        sweep.run_sweep(c, s, runs, tmp_path, "seed", verbose=False, **{**SMALL, "steps": 9})


def test_a_failing_run_does_not_stop_the_others(images, tmp_path):
    c, s = images
    res = sweep.run_sweep(c, s, [{"backbone": "no-such-network"}, {}], tmp_path, "seed",
                          verbose=False, **SMALL)
    bad, good = res.runs
    assert not bad.done and "unknown backbone" in bad.error and bad.folder is None
    assert good.done and res.failed == [bad]
    assert not (tmp_path / bad.name).exists()


def test_ctrl_c_keeps_finished_runs_and_resume_reruns_the_interrupted_one(images, tmp_path):
    c, s = images

    def interrupt(name, progress):
        if name == "style_weight=0.1" and progress.step == 4:
            raise KeyboardInterrupt

    runs = sweep.grid(style_weight=(1e-2, 1e-1, 1e-3))
    res = sweep.run_sweep(c, s, runs, tmp_path, "seed", snapshots=(4,), callback=interrupt,
                          verbose=False, **SMALL)
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
    sweep.run_sweep(c, s, sweep.grid(learning_rate=(2, 4)), tmp_path, "seed", verbose=False, **SMALL)
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
    here = sweep.run_sweep(c, s, runs[:2], tmp_path / "here", "seed", snapshots=(4,),
                           verbose=False, **SMALL)
    # One run per worker at a time, and a task whose worker dies is not retried: so the killed
    # worker's own run, and only it, is lost.
    settings = {"distributed.scheduler.allowed-failures": 0,
                "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        executor = client.get_executor()
        there = sweep.run_sweep(c, s, runs, tmp_path / "there", "seed", snapshots=(4,),
                                executor=executor, callback=_killer("style_weight=0.001"),
                                verbose=False, **SMALL)
        done = {r.name: r for r in there.runs if r.done}
        assert sorted(done) == ["style_weight=0.01", "style_weight=0.1"]
        lost = [r for r in there.runs if not r.done]
        assert len(lost) == 1 and "KilledWorker" in lost[0].error
        # The same numbers as in this process: only arrays and dicts travelled.
        for a, b in zip(here.runs, (done["style_weight=0.01"], done["style_weight=0.1"])):
            np.testing.assert_allclose(b.report["loss_history"], a.report["loss_history"], rtol=1e-5)
            assert np.abs(a.image().astype(int) - b.image().astype(int)).max() <= 1
        # Resumed: only the lost run runs again, and each worker loaded its backbone once.
        client.wait_for_workers(2)
        resumed = sweep.run_sweep(c, s, runs, tmp_path / "there", "seed", snapshots=(4,),
                                  executor=executor, verbose=False, **SMALL)
        assert [r.skipped for r in resumed.runs] == [True, True, False]
        assert all(r.done for r in resumed.runs)

        def loads():
            from nst_helpers import backbone

            return backbone._load.cache_info().misses

        assert set(client.run(loads).values()) <= {0, 1}


def test_nst_sweep_command(tmp_path, capsys):
    from nst_helpers.cli import main

    out = tmp_path / "study"
    args = ["sweep", "chelsea", "starry_night", str(out), "--preset", "seed", "--steps", "6",
            "--size", "64", "--backbone", "vgg19", "--grid", "style_weight=1e-2,1e-1",
            "--snapshots", "3", "-q"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "2/2 runs done" in text
    assert (out / "contact_sheet.png").stat().st_size > 0 and (out / "losses.png").exists()
    assert (out / "style_weight=0.1" / "step_00003.png").exists()
    assert main(args) == 0 and "2 of them found done before" in capsys.readouterr().out
    assert sweep.parse_grid(["learning-rate=2,4", "init=noise"]) == [
        {"learning_rate": 2, "init": "noise"}, {"learning_rate": 4, "init": "noise"}]
    for bad, words in ((["--grid", "style_weight"], "SETTING=V1,V2"),
                       (["--grid", "colour=1,2"], "unknown setting colour")):
        assert main(["sweep", "chelsea", "starry_night", str(tmp_path / "x"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nst: error:") and words in err and "\n" not in err
    assert not (tmp_path / "x").exists()
