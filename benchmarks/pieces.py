"""The benchmarks, one function each. Every function returns a JSON-ready dict of figures.

``run_all`` runs each in its own process, one after the other, so peak memory is the run's own and
no two heavy TensorFlow processes compete for the cores. The tests call them in-process on tiny
images to check that they produce numbers.
"""

import math
import statistics
import time

import numpy as np

from . import common
from .bf16 import bf16_roofline as bf16_roofline  # a piece of its own module, run from here


def _losses(values):
    return [float(v) for v in values]


# --- 1. the seed's loop against the library's compiled step ----------------------------------


def step_time(
    size,
    chunks=6,
    chunk_steps=10,
    warmup=2,
    with_roofline=True,
    layer_seconds=0.25,
    ablation_rounds=6,
):
    """ms per step of the seed's eager loop and of the library's compiled Adam, interleaved.

    One process, same images, size and backbone. The library runs ``chunks * chunk_steps``
    steps with a callback every ``chunk_steps`` steps; the callback runs ``chunk_steps`` steps of
    the seed's loop, then (for the roofline) a short batch of fp32 matmuls. So the loops and the
    matmul alternate and see the same load on the machine. The first chunk of each loop (one-time
    work of the first call) is left out; the figures are medians over the chunks.
    """
    from .seed_loop import SeedLoop

    seed = SeedLoop(common.make_problem(size))
    seed_losses = []
    record = lambda loss: seed_losses.append(float(loss))  # noqa: E731
    seed.run(warmup, on_step=record)  # eager warm-up: Keras builds, TensorFlow caches kernels
    probe = common.MatmulProbe("float32") if with_roofline else None
    seed_ms, lib_ms, matmul = [], [], []
    state = {"last": None}

    def interleave(info):
        now = time.perf_counter()
        if state["last"] is not None:
            lib_ms.append((now - state["last"]) / chunk_steps * 1000)
        t0 = time.perf_counter()
        seed.run(chunk_steps, on_step=record)
        seed_ms.append((time.perf_counter() - t0) / chunk_steps * 1000)
        if probe is not None:
            matmul.append(probe.measure(0.3))
        state["last"] = time.perf_counter()

    result = common.stylize(
        size, steps=chunks * chunk_steps, callback=interleave, callback_every=chunk_steps
    )
    # lib_ms[0] is the library's second chunk: the first (before any callback) is not timed.
    seed_steady = seed_ms[1:] or seed_ms
    lib_steady = lib_ms or [result.seconds_per_step * 1000]
    lib_losses = result.history["total"]
    n = min(len(lib_losses), len(seed_losses))
    out = {
        "size": list(result.image.shape[1::-1]),
        "chunks": chunks,
        "chunk_steps": chunk_steps,
        "seed_ms": statistics.median(seed_steady),
        "library_ms": statistics.median(lib_steady),
        "seed_ms_chunks": seed_ms,
        "library_ms_chunks": lib_ms,
        "library_compile_s": result.compile_seconds,
        # Same start, same settings: the two loops must give the same losses step by step.
        "max_relative_loss_difference": max(
            (abs(a - b) / max(abs(b), 1e-12) for a, b in zip(seed_losses[:n], lib_losses[:n])),
            default=float("nan"),
        ),
        "compared_steps": n,
    }
    out["ratio"] = out["seed_ms"] / out["library_ms"]
    if with_roofline:
        # Library chunk i ran right after matmul batch i: pair them.
        pairs = list(zip(lib_ms, matmul)) or [(out["library_ms"], matmul[-1])]
        out.update(
            roofline(
                size, out["library_ms"], out["seed_ms"], pairs=pairs, layer_seconds=layer_seconds
            )
        )
    if ablation_rounds:
        out["ablation"] = conv_ablation(size, rounds=ablation_rounds)
    return out


def conv_ablation(size, rounds=6, evaluations=5):
    """ms per loss-and-gradient evaluation with the library's convolutions and with Keras' plain
    ones (``fast_conv=False``), alternating ``rounds`` times; medians. Same problem, same targets:
    only the extractor differs, so the two must give the same loss."""
    import copy

    t = common.tf()
    problem = common.make_problem(size)
    plain = copy.copy(problem)
    plain.extractor = problem.backbone.extractor(
        problem.extractor.layers, pooling=problem.config.pooling, fast_conv=False
    )
    x = t.constant(problem.initial_image())
    fns = {}
    for name, p in (("library", problem), ("plain", plain)):

        @t.function
        def evaluate(x, p=p):
            with t.GradientTape() as tape:
                tape.watch(x)
                total = p.losses(x)[0]
            return total, tape.gradient(total, x)

        fns[name] = evaluate
    first = {name: fn(x) for name, fn in fns.items()}  # trace and warm up
    ms = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(evaluations):
                value = fn(x)[0]
            value.numpy()
            ms[name].append((time.perf_counter() - t0) / evaluations * 1000)
    g_lib, g_plain = first["library"][1].numpy(), first["plain"][1].numpy()
    out = {
        "library_fast_conv": bool(problem.extractor.fast_conv),
        "library_ms": statistics.median(ms["library"]),
        "plain_ms": statistics.median(ms["plain"]),
        "library_ms_rounds": ms["library"],
        "plain_ms_rounds": ms["plain"],
        "loss_relative_difference": abs(float(first["library"][0]) - float(first["plain"][0]))
        / max(abs(float(first["plain"][0])), 1e-12),
        "gradient_relative_difference": float(
            np.abs(g_lib - g_plain).max() / max(np.abs(g_plain).max(), 1e-30)
        ),
    }
    out["speedup"] = out["plain_ms"] / out["library_ms"]
    return out


# --- 2. roofline -----------------------------------------------------------------------------


def roofline(size, library_ms, seed_ms=None, pairs=None, layer_seconds=0.25):
    """FLOPs per step from the layer shapes, this machine's fp32 matmul rate, the fraction.

    ``pairs``: ``[(library ms per step, matmul GFLOP/s)]`` measured side by side; the fraction is
    the median over them, so that load from elsewhere affects both sides alike. Without them the
    matmul rate is the best of five batches. With ``layer_seconds`` each convolution is also
    timed alone at its shape (:func:`common.conv_layer_ms`), to tell how much of the step the
    convolutions themselves take.
    """
    problem = common.make_problem(size)
    flops = common.conv_flops(problem)
    gflop = flops["total"] / 1e9
    fractions = None
    if pairs:
        fractions = [gflop / (ms / 1000) / mm for ms, mm in pairs]
        limit = statistics.median(mm for _, mm in pairs)
        fraction = statistics.median(fractions)
    else:
        limit = common.matmul_gflops("float32")
        fraction = gflop / (library_ms / 1000) / limit
    out = {
        "gflop_per_step": gflop,
        "gflop_forward": flops["forward"] / 1e9,
        "gflop_backward": flops["backward"] / 1e9,
        "layers": flops["layers"],
        "matmul_gflops_fp32": limit,
        "matmul_gflops_fp32_chunks": [mm for _, mm in pairs] if pairs else None,
        "matmul_gflops_fp32_best": common.matmul_gflops("float32"),
        "library_gflops": gflop / (library_ms / 1000),
        "fraction_of_matmul": fraction,
        "fraction_of_matmul_chunks": fractions if pairs else None,
        # the step's time as if the machine ran at the reference matmul rate ``limit``
        "library_ms_at_limit": gflop / (fraction * limit) * 1000,
    }
    if seed_ms:
        out["seed_gflops"] = gflop / (seed_ms / 1000)
    if layer_seconds:
        layers = common.conv_layer_ms(
            flops["layers"], min_seconds=layer_seconds, probe=common.MatmulProbe("float32")
        )
        for entry, times in zip(out["layers"], layers):
            entry.update(times)
        # Each layer's time counted as if the machine ran at the reference matmul rate ``limit``:
        # time * (matmul rate measured around that layer) / limit, so load affects neither side.
        conv_gflop = sum(2 * e["gflop_forward"] for e in flops["layers"])
        conv_ms = sum(
            (t["forward_ms"] + t["backward_ms"]) * t["matmul_gflops"] / limit for t in layers
        )
        out["conv_alone_ms"] = conv_ms
        out["conv_alone_gflops"] = conv_gflop / (conv_ms / 1000)
        grams = common.gram_layer_ms(
            flops["layers"],
            problem.config.style_layers,
            min_seconds=layer_seconds,
            probe=common.MatmulProbe("float32"),
        )
        out["grams"] = grams
        gram_ms = sum(
            (g["forward_ms"] + g["backward_ms"]) * g["matmul_gflops"] / limit for g in grams
        )
        out["gram_alone_ms"] = gram_ms
        out["gram_alone_gflops"] = sum(2 * g["gflop"] for g in grams) / (gram_ms / 1000)
    try:
        out["matmul_gflops_bf16"] = common.matmul_gflops("bfloat16")
    except Exception as err:  # not every build has a bfloat16 matmul kernel
        out["matmul_gflops_bf16"] = None
        out["matmul_bf16_error"] = f"{type(err).__name__}: {err}"[:200]
    return out


# --- 3 and 4. long runs: loss against time, and memory ---------------------------------------


def seed_run(size, steps=500, memory_at=(50, 500)):
    """The seed's loop for ``steps`` steps: loss and time of every step, peak memory at
    ``memory_at`` steps, and the number of frames it kept."""
    from .seed_loop import SeedLoop

    seed = SeedLoop(common.make_problem(size))
    losses, times, memory = [], [], {}
    memory["before"] = common.peak_rss_mb()
    start = time.perf_counter()

    def on_step(loss):
        losses.append(float(loss))
        times.append(time.perf_counter() - start)
        if len(losses) in memory_at:
            memory[str(len(losses))] = common.peak_rss_mb()

    seed.run(steps, on_step=on_step)
    return {
        "loop": "seed",
        "size": list(seed.imgs[0].shape[1::-1]) if seed.imgs else None,
        "steps": steps,
        "loss": losses,
        "seconds": times,
        "peak_rss_mb": memory,
        "frames_kept": len(seed.imgs),
        "frame_bytes": int(seed.imgs[0].nbytes) if seed.imgs else 0,
    }


def library_run(
    size, steps=500, memory_at=(50, 500), optimizer="adam", callback_every=10, precision="float32"
):
    """The library's run for ``steps`` steps (Adam by default), with the same records."""
    timeline = common.Timeline()
    memory = {"before": common.peak_rss_mb()}
    callback_every = math.gcd(callback_every, *memory_at)  # a callback at every memory_at step

    def callback(info):
        timeline(info)
        if info.step in memory_at:
            memory[str(info.step)] = common.peak_rss_mb()

    result = common.stylize(
        size,
        steps=steps,
        optimizer=optimizer,
        callback=callback,
        callback_every=callback_every,
        precision=precision,
    )
    return {
        "loop": f"library-{optimizer}",
        "size": list(result.image.shape[1::-1]),
        "steps": result.steps,
        "loss": _losses(result.history["total"]),
        "marks": [[s, t] for s, t, _ in timeline.marks],
        "compile_seconds": result.compile_seconds,
        "seconds": result.seconds,
        "steady_ms": timeline.steady_ms_per_step(),
        "peak_rss_mb": memory,
        "stop_reason": result.stop_reason,
    }


def time_to_target(run, target):
    """Seconds until a run's loss first reached ``target`` (None if never), from its records:
    per-step times for the seed's loop; callback marks plus compilation for the library."""
    n = common.first_below(run["loss"], target)
    if n is None:
        return None
    if "marks" not in run:
        return run["seconds"][n - 1]
    return run.get("compile_seconds", 0.0) + common.time_at_step(run["marks"], n)


def curve(run, points=200):
    """``[(seconds, loss)]`` of a run for the plot, thinned to about ``points`` points."""
    loss = run["loss"]
    if "marks" in run:
        offset = run.get("offset_seconds", 0.0) + run.get("compile_seconds", 0.0)
        times = [offset + common.time_at_step(run["marks"], i + 1) for i in range(len(loss))]
    else:
        times = list(run["seconds"])
    stride = max(1, len(loss) // points)
    return [[t, v] for t, v in list(zip(times, loss))[::stride] if np.isfinite(t)]


# --- 3. L-BFGS and coarse-to-fine, until the seed's quality ----------------------------------


def lbfgs_run(size, steps=60, target=None):
    """L-BFGS (scipy's L-BFGS-B) on the seed's losses, every evaluation timed."""
    run = library_run(size, steps=steps, memory_at=(), optimizer="lbfgs", callback_every=1)
    if target is not None:
        run["time_to_target"] = time_to_target(run, target)
    return run


def coarse_to_fine_run(size, steps=(40, 40), optimizer="lbfgs", target=None):
    """Coarse-to-fine (half size, then full size) with the seed's losses.

    Time counts compilation and optimisation of every stage (not the set-up, as for the others).
    Only the final stage's losses are comparable with the target (same size); the plot shows them
    from the moment the final stage starts.
    """
    try:
        from nst_helpers.multiscale import stylize_coarse_to_fine
    except ImportError:
        print("coarse-to-fine: not available yet")
        return {"available": False}
    from nst_helpers.images import MIN_SIDE

    content, style = common.images()
    h, w = content.shape[:2]
    # half the final size, but never so small that the short side falls under MIN_SIDE
    coarse = max(int(size) // 2, math.ceil(MIN_SIDE * max(h, w) / min(h, w)))
    sizes = (min(coarse, int(size) - 1), int(size))
    stage_marks = []

    def callback(info):
        if not stage_marks or info.step <= stage_marks[-1][-1][0]:
            stage_marks.append([])
        stage_marks[-1].append((info.step, info.elapsed))

    cfg = common.seed_config(size, optimizer=optimizer)
    t0 = time.perf_counter()
    result = stylize_coarse_to_fine(
        content,
        style,
        sizes=sizes,
        config=cfg,
        steps=list(steps),
        callback=callback,
        callback_every=1,
        progress=False,
        verbose=False,
    )
    wall = time.perf_counter() - t0
    stages = result.stages
    final_steps = stages[-1]["steps"] if stages else len(result.history["total"])
    loss = _losses(result.history["total"][-final_steps:]) if final_steps else []
    earlier = sum(s["seconds"] for s in stages[:-1])
    run = {
        "loop": f"coarse-to-fine-{optimizer}",
        "available": True,
        "sizes": list(sizes),
        "size": list(result.image.shape[1::-1]),
        "steps": [s["steps"] for s in stages],
        "stages": stages,
        "loss": loss,
        "marks": [list(m) for m in stage_marks[-1]] if stage_marks else [],
        "compile_seconds": result.compile_seconds,  # all stages' compilation
        "offset_seconds": earlier,  # optimisation time of the earlier stages
        "seconds": result.seconds,
        "wall_seconds": wall,
        "setup_seconds": result.setup_seconds,
    }
    if target is not None:
        n = common.first_below(loss, target)
        run["time_to_target"] = (
            None
            if n is None
            else (earlier + result.compile_seconds + common.time_at_step(run["marks"], n))
        )
    return run


# --- 5. precision ----------------------------------------------------------------------------


def precision(size, steps=200, lbfgs_steps=80, image_dir=None, noise_floor=True):
    """:func:`precision_run` for the seed's Adam (``steps``) and for L-BFGS (``lbfgs_steps``;
    0 skips it). The Adam run's figures are at the top level, L-BFGS's under ``"lbfgs"``."""
    out = precision_run(size, steps, "adam", image_dir=image_dir, noise_floor=noise_floor)
    if lbfgs_steps:
        out["lbfgs"] = precision_run(
            size,
            lbfgs_steps,
            "lbfgs",
            callback_every=5,
            image_dir=image_dir,
            noise_floor=noise_floor,
        )
    return out


def precision_run(
    size, steps=200, optimizer="adam", callback_every=10, image_dir=None, noise_floor=True
):
    """float32 against bfloat16 (the library's ``precision="bfloat16"``, Keras' mixed_bfloat16: VGG
    in bfloat16; the image, optimiser and losses in float32): steady ms per step, how far the
    bfloat16 image is from float32's, and the float32 loss of both images.

    With ``noise_floor``, a third run in float32 with the content weight changed by one part in a
    million shows how far float32 drifts from itself: style transfer amplifies tiny differences
    into different brush strokes, so some pixel difference is no sign of a precision problem.
    """
    from nst_helpers.images import to_vgg

    callback_every = max(1, min(callback_every, steps // 3))  # at least three timed chunks
    runs = {}
    plan = [("float32", {}), ("bfloat16", {})]
    if noise_floor:
        cw = common.seed_config(size).content_weight
        plan.append(("float32_perturbed", {"content_weight": cw * (1 + 1e-6)}))
    for name, changes in plan:
        prec = "bfloat16" if name == "bfloat16" else "float32"
        timeline = common.Timeline()
        r = common.stylize(
            size,
            steps=steps,
            optimizer=optimizer,
            callback=timeline,
            callback_every=callback_every,
            precision=prec,
            **changes,
        )
        runs[name] = (r, timeline)
    (a, ta), (b, tb) = runs["float32"], runs["bfloat16"]
    problem = common.make_problem(size)  # float32: the judge of both images

    def fp32_loss(image):
        return float(problem.losses(to_vgg(image))[0].numpy())

    out = {
        "optimizer": optimizer,
        "steps": steps,
        "size": list(a.image.shape[1::-1]),
        "switch": 'the library\'s setting `precision="bfloat16"`',
        "float32_ms": ta.steady_ms_per_step(),
        "bfloat16_ms": tb.steady_ms_per_step(),
        "float32_final_loss": a.history["total"][-1],
        "bfloat16_final_loss": b.history["total"][-1],
        "float32_first_loss": a.history["total"][0],
        "bfloat16_first_loss": b.history["total"][0],
        "float32_image_loss": fp32_loss(a.image),
        "bfloat16_image_loss_in_float32": fp32_loss(b.image),
        "float32_compile_s": a.compile_seconds,
        "bfloat16_compile_s": b.compile_seconds,
    }
    out["speedup"] = out["float32_ms"] / out["bfloat16_ms"]
    out.update(image_difference(a.image, b.image))
    if noise_floor:
        out["float32_vs_perturbed_float32"] = image_difference(
            a.image, runs["float32_perturbed"][0].image
        )
    # For scale: how far the float32 run moved the image from the content photograph.
    out["float32_change_from_content"] = image_difference(problem.content, a.image)
    if image_dir is not None:
        out["comparison_image"] = save_comparison(
            a.image, b.image, image_dir, name=f"performance_precision_{optimizer}.jpg"
        )
    return out


def image_difference(a, b):
    """Mean and maximum absolute difference (grey levels), PSNR (dB) and SSIM of two uint8 images."""
    from skimage.metrics import structural_similarity

    x, y = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(x - y)
    mse = float(np.mean((x - y) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    ssim = float(structural_similarity(a, b, channel_axis=-1, data_range=255))
    return {
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "p99_abs_diff": float(np.percentile(diff, 99)),
        "psnr_db": psnr,
        "ssim": ssim,
    }


def save_comparison(a, b, folder, name="performance_precision.jpg"):
    """float32 | bfloat16 | 10x difference, side by side, as a small JPEG."""
    import pathlib

    from PIL import Image

    diff = np.clip(np.abs(a.astype(np.int16) - b.astype(np.int16)) * 10, 0, 255).astype(np.uint8)
    gap = np.full((a.shape[0], 4, 3), 255, np.uint8)
    row = np.concatenate([a, gap, b, gap, diff], axis=1)
    path = pathlib.Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(path, quality=85)
    return path.name


# --- 6. the notebooks in CI mode -------------------------------------------------------------


def notebooks(timeout=900, mode="ci", first=1, last=99):
    """Execute solved notebooks ``first``..``last``, timing each and each of its cells.

    ``mode="ci"`` runs them with ``CI=true`` (the CI's fast settings); ``mode="full"`` without it,
    as a student runs them. Outputs are not compared; a failure is reported, the rest still run.
    """
    import os
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    books = [
        p
        for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        if first <= int(p.name[:2]) <= last
    ]
    if not books:
        return {"available": False, "notebooks": []}
    import nbformat
    from nbclient import NotebookClient

    if mode == "ci":
        os.environ["CI"] = "true"
    else:
        os.environ.pop("CI", None)
    out = []
    total = time.perf_counter()
    for path in books:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        error = None
        try:
            NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                record_timing=True,
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
        except Exception as err:  # report, do not stop: the timing of the others still counts
            lines = str(err).strip().splitlines()
            error = f"{type(err).__name__}: {lines[-1] if lines else ''}"[:300]
        cells = cell_seconds(nb)
        longest = max(cells, key=lambda c: c["seconds"], default={"index": None, "seconds": 0.0})
        out.append(
            {
                "notebook": path.name,
                "seconds": time.perf_counter() - t0,
                "error": error,
                "longest_cell": longest,
                "cells_over_10s": [c for c in cells if c["seconds"] > 10],
            }
        )
    return {
        "available": True,
        "mode": mode,
        "notebooks": out,
        "seconds": time.perf_counter() - total,
    }


#: An output that shows a run's progress as it goes: a tqdm bar (a widget, or text on stderr).
_WIDGET = "application/vnd.jupyter.widget-view+json"


def shows_progress(cell):
    """Whether an executed cell showed progress while it ran: a tqdm bar (as a widget, or its
    text on stderr), or a display it updated in place (``display(..., display_id=True)``)."""
    for output in cell.get("outputs", []):
        if _WIDGET in output.get("data", {}):
            return True
        if (
            output.get("name") == "stderr"
            and "|" in output.get("text", "")
            and "/" in output.get("text", "")
        ):
            return True
    return "display_id=True" in cell.source


def cell_seconds(nb):
    """``[{index, seconds, first_line, progress}]`` of each executed code cell (nbclient's timing
    marks; ``progress``: :func:`shows_progress`)."""
    from datetime import datetime

    out = []
    for index, cell in enumerate(nb.cells):
        marks = cell.get("metadata", {}).get("execution", {})
        start, end = marks.get("iopub.execute_input"), marks.get("shell.execute_reply")
        if cell.cell_type != "code" or not (start and end):
            continue
        seconds = (
            datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))
        ).total_seconds()
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        words = [ln for ln in lines if not ln.startswith("# NBVAL")]  # nbval's markers say nothing
        first_line = (words or lines or [""])[0][:60]
        out.append(
            {
                "index": index,
                "seconds": seconds,
                "first_line": first_line,
                "progress": shows_progress(cell),
            }
        )
    return out


def lbfgs_per_evaluation(size, steps=60, adam_steps=30, loads=(0, 1), pair="chelsea:starry_night"):
    """ms per L-BFGS evaluation against ms per Adam step on the ``fast`` preset, quiet and with
    ``load`` busy processes beside it (:mod:`benchmarks.lbfgs_compare`'s runs, without scipy).
    Each is timed after its warm-up: Adam's first two steps, L-BFGS's first 20 evaluations."""
    import multiprocessing as mp

    from . import lbfgs_compare as lc

    content, style = pair.split(":")
    rows = []
    for load in loads:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no fork of TensorFlow's threads
        stop = ctx.Event()
        busy = [ctx.Process(target=lc.busy, args=(stop,), daemon=True) for _ in range(load)]
        for p in busy:
            p.start()
        try:
            problem = lc.fast_problem(content, style, size, "auto")
            time.sleep(1.0 if load else 0.0)  # let the busy processes start
            before = lc.adam(problem, adam_steps)
            best, lbfgs_ms = lc.library(problem, steps)
            adam_ms = (before + lc.adam(problem, adam_steps)) / 2  # Adam around L-BFGS
        finally:
            stop.set()
            for p in busy:
                p.join()
        rows.append(
            {
                "load": load,
                "adam_ms": adam_ms,
                "lbfgs_ms": lbfgs_ms,
                "ratio": lbfgs_ms / adam_ms,
                "best_loss": best,
                "load_average": common.load_average(),
            }
        )
    return {"pair": pair, "steps": steps, "precision": problem.config.precision, "rows": rows}
