"""Reproduce the seed paper's hyperparameter study at its own step counts, resumably.

The 2021 paper ran seven configurations of its algorithm (the ``seed`` preset) on one photograph
and one painting: 1000 and 7500 Adam steps, learning rates 2 and 4, style weights 1e-1, 1e-2 and
1e-3, and ``vgg.trainable`` on and off. Four runs of 7500 steps give all seven: a 1000-step run is
the 7500-step run's image at step 1000 (Adam's path does not depend on where it will stop), and
``trainable`` changes no number of the algorithm (measured here, on the image's gradient).

    python tools/seed_study.py                 # runs what is missing, then exports and draws
    python tools/seed_study.py --again         # runs all four again (replacing the export)
    python tools/seed_study.py --figure-only   # redraws from the exported data

The runs go to ``--work`` (default ``~/.cache/nst_helpers/seed_study``) through
:func:`nst_helpers.sweep.run_sweep`, so a stopped study resumes at the first unfinished run. The
compact results (JPEG images, loss histories, timings, the checks below) are exported to
``data/seed_study/``, shipped with the package as ``nst_helpers.study_data``, and drawn into
``docs/images/seed_study.jpg``. Before the study, the script checks on 500 steps whether
bfloat16 gives the same picture as float32 (the float32 loss of both final images) and uses it
only if so. About an hour on two CPU cores in bfloat16, two in float32; minutes on a GPU.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nst_helpers import sweep  # noqa: E402
from nst_helpers.images import load_image, save_image, to_vgg  # noqa: E402
from nst_helpers.samples import load_sample  # noqa: E402

CONTENT, STYLE, SIZE, STEPS = "chelsea", "starry_night", 256, 7500
#: The four 7500-step runs (settings on top of the seed preset).
RUNS = [
    {"style_weight": 1e-2, "learning_rate": 2.0},
    {"style_weight": 1e-2, "learning_rate": 4.0},
    {"style_weight": 1e-1, "learning_rate": 2.0},
    {"style_weight": 1e-3, "learning_rate": 2.0},
]
#: The paper's seven configurations, in its order: (label, run index, step, trainable).
SEVEN = [
    ("1000 steps, lr 2, sw 1e-2", 0, 1000, False),
    ("7500 steps, lr 2, sw 1e-2", 0, 7500, False),
    ("7500 steps, lr 2, sw 1e-2, trainable", 0, 7500, True),
    ("7500 steps, lr 4, sw 1e-2", 1, 7500, False),
    ("1000 steps, lr 4, sw 1e-2", 1, 1000, False),
    ("7500 steps, lr 2, sw 1e-1", 2, 7500, False),
    ("7500 steps, lr 2, sw 1e-3 (the paper's best)", 3, 7500, False),
]
SNAPSHOTS = (1000, 2500, 5000)
EXPORT = ROOT / "data" / "seed_study"
FIGURE = ROOT / "docs" / "images" / "seed_study.jpg"


def float32_loss(content, style, image, **settings):
    """The seed preset's total loss of ``image``, measured by the float32 network."""
    from nst_helpers.config import preset
    from nst_helpers.optimize import Problem

    problem = Problem(
        content,
        style,
        preset("seed", max_side=SIZE, backbone="vgg19", precision="float32", **settings),
        verbose=False,
    )
    return float(problem.losses(to_vgg(image))[0])


def precision_check(content, style, work, steps=500):
    """Run the base configuration in float32 and bfloat16; compare the pictures' float32 loss."""
    path = work / "precision_check.json"
    if path.exists():
        return json.loads(path.read_text())
    from nst_helpers.optimize import stylize

    out = {"steps": steps}
    images = {}
    for precision in ("float32", "bfloat16"):
        r = stylize(
            content,
            style,
            "seed",
            steps=steps,
            max_side=SIZE,
            backbone="vgg19",
            precision=precision,
            progress=False,
            verbose=False,
            **RUNS[0],
        )
        images[precision] = r.image
        out[precision] = {
            "seconds_per_step": round(r.seconds_per_step, 4),
            "own_loss": r.best_loss,
            "float32_loss": float32_loss(content, style, r.image, **RUNS[0]),
        }
        save_image(r.image, work / f"precision_{precision}.png", force=True)
    a, b = (images[p].astype(np.float64) for p in ("float32", "bfloat16"))
    out["mean_abs_pixel_difference"] = round(float(np.abs(a - b).mean()), 3)
    f32, bf16 = out["float32"]["float32_loss"], out["bfloat16"]["float32_loss"]
    out["float32_loss_ratio"] = round(bf16 / f32, 4)
    out["use"] = "bfloat16" if abs(bf16 / f32 - 1) <= 0.02 else "float32"
    out["rule"] = "bfloat16 if its picture's float32 loss is within 2 % of float32's"
    path.write_text(json.dumps(out, indent=1))
    return out


def trainable_check(content, style):
    """The image's gradient with ``trainable`` off and on (and without the fast convolutions)."""
    import tensorflow as tf

    from nst_helpers.config import preset
    from nst_helpers.optimize import Problem

    grads, counts = {}, {}
    for trainable in (False, True):
        p = Problem(
            content,
            style,
            preset("seed", max_side=SIZE, backbone="vgg19", trainable=trainable, **RUNS[0]),
            verbose=False,
        )
        x = tf.Variable(p.initial_image())
        with tf.GradientTape() as tape:
            loss = p.losses(x)[0]
        grads[trainable] = tape.gradient(loss, x).numpy()
        counts[trainable] = len(p.extractor.model.trainable_variables)
        fast = p.extractor.fast_conv
        counts[f"{trainable}_fast_conv"] = fast
    g0, g1 = grads[False], grads[True]
    scale = float(np.abs(g0).max())
    return {
        "trainable_variables": {"False": counts[False], "True": counts[True]},
        "fast_conv": {"False": counts["False_fast_conv"], "True": counts["True_fast_conv"]},
        "gradient_max_abs": scale,
        "gradient_max_abs_difference": float(np.abs(g0 - g1).max()),
        "gradient_relative_difference": float(np.abs(g0 - g1).max() / scale),
    }


def _summary():
    try:
        return json.loads((EXPORT / "study.json").read_text())
    except (OSError, ValueError):
        return {}


def _exported(with_terms=False):
    """The study exported so far (from an earlier session too): ``{run index: its summary}``;
    with ``with_terms``, only the runs whose content and style histories are stored."""
    return {
        i: r
        for i, r in enumerate(_summary().get("runs", []))
        if r and r.get("done") and (r.get("terms") or not with_terms)
    }


def run(work, executor=None, again=False):
    """Run the runs not yet exported; export each finished run (so a later session resumes).

    With ``again``, the runs exported without their content and style histories (before the
    sweep recorded them) are run again, and replace their export when they finish.
    """
    content = load_image(load_sample(CONTENT), max_side=SIZE)
    style = load_image(load_sample(STYLE), max_side=SIZE)
    work.mkdir(parents=True, exist_ok=True)
    stored = _summary().get("precision_check")
    if stored and not (work / "precision_check.json").exists():  # measured once is enough
        (work / "precision_check.json").write_text(json.dumps(stored, indent=1))
    check = precision_check(content, style, work)
    print(
        f"Precision: {check['use']} (float32 loss of bfloat16's picture / float32's: "
        f"{check['float32_loss_ratio']}; mean pixel difference {check['mean_abs_pixel_difference']})"
    )
    done = _exported(with_terms=again)
    todo = [r for i, r in enumerate(RUNS) if i not in done]
    print(f"{len(done)} of {len(RUNS)} runs exported before; running {len(todo)}.")
    t0 = time.perf_counter()
    result = sweep.run_sweep(
        content,
        style,
        todo,
        work / "runs",
        "seed",
        executor=executor,
        snapshots=SNAPSHOTS,
        steps=STEPS,
        max_side=SIZE,
        backbone="vgg19",
        precision=check["use"],
        on_result=lambda rec: export(work, check, again=again),
    )
    print(result, f"{time.perf_counter() - t0:.0f} s")
    export(work, check, trainable_check(content, style), again=again)
    if len(_exported(with_terms=again)) < len(RUNS):
        sys.exit("Not all runs are done; run the script again to resume.")


def _load_export():
    """The study exported so far: its summary, its runs' summaries and its loss histories."""
    try:
        summary = json.loads((EXPORT / "study.json").read_text())
    except (OSError, ValueError):
        summary = {}
    runs = summary.get("runs") or [{"settings": r, "done": False} for r in RUNS]
    try:
        with np.load(EXPORT / "histories.npz") as data:
            histories = {k: data[k] for k in data.files}
    except OSError:
        histories = {}
    return summary, runs, histories


def _finished_runs(work):
    """The finished runs of the sweep folder in ``work``, by name."""
    if not (work / "runs" / "sweep.json").exists():
        return {}
    return {rec.name: rec for rec in sweep.load_sweep(work / "runs") if rec.done}


def _export_run(i, rec, exported, histories):
    """Save run ``i``'s images and add its histories to ``histories``; returns its summary.

    Returns None, saving nothing, if the run comes from an older sweep (no content and style
    histories) and ``exported`` (its earlier summary) is already done: it would replace nothing.
    """
    r = rec.report
    if "term_history" not in r:  # a run of an older sweep: nothing to replace it with
        if exported.get("done"):
            return None
        r["term_history"] = {}
    for step in (1000, STEPS):
        img = rec.image(None if step == STEPS else step)
        Image.fromarray(img).save(EXPORT / f"run{i}_step{step}.jpg", quality=90)
    hist = r["loss_history"]
    histories[f"run{i}"] = np.asarray(hist, np.float32)
    for term in ("content", "style"):  # weighted, as recorded; study.py divides the weights
        if r["term_history"].get(term):
            histories[f"run{i}_{term}"] = np.asarray(
                [np.nan if v is None else v for v in r["term_history"][term]], np.float32
            )
    return {
        "settings": rec.settings,
        "done": True,
        "terms": bool(r["term_history"]),
        "best_loss": r["best_loss"],
        "best_step": r["best_step"],
        "loss_at_1000": hist[999],
        "best_loss_to_1000": float(np.min(hist[:1000])),
        "seconds_per_step": r["seconds_per_step"],
        "seconds": r["seconds"],
        "host": r["host"],
        "backbone": r["backbone"],
        "config": r["config"],
    }


def export(work, check=None, trainable=None, again=False):
    """Merge the finished runs of the sweep folder into data/seed_study (JPEGs, histories, JSON).

    Runs exported earlier (another session, another machine) are kept, unless ``again`` and they
    lack the content and style histories that a run in the sweep folder has; so are the checks.
    """
    EXPORT.mkdir(parents=True, exist_ok=True)
    summary, runs, histories = _load_export()
    by_name = _finished_runs(work)
    for i, settings in enumerate(RUNS):
        rec = by_name.get(sweep.run_name(settings))
        if rec is None or (runs[i].get("done") and (runs[i].get("terms") or not again)):
            continue
        exported = _export_run(i, rec, runs[i], histories)
        if exported is not None:
            runs[i] = exported
    np.savez_compressed(EXPORT / "histories.npz", **histories)
    summary.update(
        content=CONTENT,
        style=STYLE,
        size=SIZE,
        steps=STEPS,
        runs=runs,
        seven=[{"label": l, "run": i, "step": s, "trainable": t} for l, i, s, t in SEVEN],
    )
    if check is not None:
        summary["precision_check"] = check
    if trainable is not None:
        summary["trainable_check"] = trainable
    (EXPORT / "study.json").write_text(json.dumps(summary, indent=1))
    print(f"Exported {sum(bool(r.get('done')) for r in runs)} of {len(RUNS)} runs to {EXPORT}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--work",
        type=pathlib.Path,
        default=pathlib.Path.home() / ".cache" / "nst_helpers" / "seed_study",
    )
    ap.add_argument("--figure-only", action="store_true", help="only redraw the figure")
    ap.add_argument(
        "--export-only",
        action="store_true",
        help="only export the runs finished so far in --work, and redraw",
    )
    ap.add_argument(
        "--again",
        action="store_true",
        help="run again the runs exported without content and style histories",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the four runs in this many spawned processes (0: in this one)",
    )
    args = ap.parse_args(argv)
    if args.export_only:
        check_path = args.work / "precision_check.json"
        content = load_image(load_sample(CONTENT), max_side=SIZE)
        style = load_image(load_sample(STYLE), max_side=SIZE)
        export(
            args.work,
            json.loads(check_path.read_text()) if check_path.exists() else None,
            trainable_check(content, style),
        )
    elif not args.figure_only:
        executor = sweep.process_pool(args.workers) if args.workers else None
        run(args.work, executor, again=args.again)
    from nst_helpers.study import seed_study_figure

    fig = seed_study_figure()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=100, pil_kwargs={"quality": 88})
    print(f"Figure: {FIGURE}")


if __name__ == "__main__":
    main()
