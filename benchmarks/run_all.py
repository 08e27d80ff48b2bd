"""Run every benchmark and write the performance report.

    python -m benchmarks.run_all                 # full run at 256 px on VGG19 (2 CPU cores: about
                                                 # 20 min, and 25 more for notebooks 01-08 in full mode)
    python -m benchmarks.run_all --quick         # small sizes and few steps (about 2 min)
    python -m benchmarks.run_all --out DIR       # write the report and figures to DIR
    python -m benchmarks.run_all --report-only   # re-write the report from DIR/performance.json

The full run writes ``docs/performance.md``, ``docs/performance_loss_time.png``,
``docs/performance_precision_adam.jpg``, ``docs/performance_precision_lbfgs.jpg`` and
``docs/performance.json`` (all figures); ``--quick`` writes to ``outputs/benchmarks-quick/`` unless
``--out`` is given. On a machine with a GPU the same command
runs the same benchmarks there (bfloat16 as Keras mixed precision); give it its own ``--out``, for
example ``docs/gpu``, and re-write the CPU report with ``--report-only`` to add the GPU's figures.

Each benchmark runs in its own Python process, one after the other, so that each one's peak memory
is its own and no two heavy processes compete for the cores.
"""

import argparse
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: The network of the step time's comparison row (HED's VGG16, the fallback backbone).
COMPARISON_BACKBONE = "vgg16-hed"

#: Sizes and step counts. ``quality_step``: the seed preset's loss after this many Adam steps is
#: the quality every optimiser must reach.
FULL = dict(
    size=256,
    long_steps=500,
    memory_at=(50, 500),
    quality_step=400,
    step_chunks=10,
    chunk_steps=10,
    lbfgs_steps=60,
    c2f_steps=(40, 40),
    precision_steps=200,
    precision_lbfgs_steps=80,
    layer_seconds=0.25,
    ablation_rounds=6,
    bf16_chunks=6,
    lbfgs_eval_steps=100,
    notebooks=True,
)
QUICK = dict(
    size=128,
    long_steps=60,
    memory_at=(10, 60),
    quality_step=40,
    step_chunks=3,
    chunk_steps=3,
    lbfgs_steps=20,
    c2f_steps=(10, 10),
    precision_steps=30,
    precision_lbfgs_steps=10,
    layer_seconds=0.1,
    ablation_rounds=3,
    bf16_chunks=3,
    lbfgs_eval_steps=20,
    notebooks=False,
)
#: Even tinier, for the tests.
TINY = dict(
    size=64,
    long_steps=12,
    memory_at=(4, 12),
    quality_step=8,
    step_chunks=2,
    chunk_steps=2,
    lbfgs_steps=8,
    c2f_steps=(3, 4),
    precision_steps=6,
    precision_lbfgs_steps=4,
    layer_seconds=0.02,
    ablation_rounds=2,
    bf16_chunks=2,
    lbfgs_eval_steps=6,
    notebooks=False,
)


def _worker(piece, kwargs, json_path, intra, inter):
    """Run one benchmark in this process (the child side of :func:`_spawn`)."""
    from . import common, pieces

    common.set_threads(intra, inter)
    if piece == "machine":
        out = common.machine_info()
    else:
        out = getattr(pieces, piece)(**kwargs)
    out["load_average_after"] = common.load_average()
    out["peak_rss_mb_process"] = common.peak_rss_mb()
    pathlib.Path(json_path).write_text(json.dumps(out))
    for line in figures(piece, out):
        print("  " + line, flush=True)


def _machine_lines(out):
    return [
        f"{out['cpu']}, {out['cores']} cores, TensorFlow {out['tensorflow']}"
        + (f", GPU {', '.join(out['gpu'])}" if out["gpu"] else "")
    ]


def _step_time_lines(out):
    lines = [
        f"seed's loop {out['seed_ms']:.1f} ms/step, library {out['library_ms']:.1f} ms/step, "
        f"ratio {out['ratio']:.2f}x"
    ]
    if "fraction_of_matmul" in out:
        lines.append(
            f"{out['gflop_per_step']:.1f} GFLOP/step; library {out['library_gflops']:.0f} "
            f"GFLOP/s = {out['fraction_of_matmul'] * 100:.0f} % of fp32 matmul "
            f"{out['matmul_gflops_fp32']:.0f} GFLOP/s"
        )
    return lines


def _run_lines(out):
    if out.get("available") is False:
        return ["not available"]
    mem = out.get("peak_rss_mb", {})
    lines = [
        f"{len(out['loss'])} steps, last loss {out['loss'][-1]:.6g}"
        + (f", peak RSS {', '.join(f'{k}: {v:.0f} MB' for k, v in mem.items())}" if mem else "")
    ]
    if out.get("time_to_target") is not None:
        lines.append(f"reached the target loss after {out['time_to_target']:.1f} s")
    return lines


def _precision_lines(out):
    return [
        f"{r['optimizer']}: float32 {r['float32_ms']:.1f} ms/step, bfloat16 "
        f"{r['bfloat16_ms']:.1f} ms/step ({r['speedup']:.2f}x); image PSNR {r['psnr_db']:.1f} dB, "
        f"SSIM {r['ssim']:.3f}, mean |diff| {r['mean_abs_diff']:.2f}"
        for r in (out, out.get("lbfgs"))
        if r
    ]


def _bf16_lines(out):
    return [
        f"bfloat16 step {out['step_ms']:.1f} ms = {out['step_gflops']:.0f} GFLOP/s, "
        f"{out['fraction_of_best'] * 100:.0f} % of the best bfloat16 kernel "
        f"({out['best_kernel_gflops_bf16']:.0f} GFLOP/s); convolutions {out['conv_ms']:.0f} ms, "
        f"Gram matrices {out['gram_ms']:.0f} ms, the rest {out['rest_ms']:.0f} ms"
    ]


def _lbfgs_eval_lines(out):
    return [
        f"load {r['load']}: L-BFGS {r['lbfgs_ms']:.0f} ms per evaluation, Adam "
        f"{r['adam_ms']:.0f} ms per step ({r['ratio']:.2f}x)"
        for r in out["rows"]
    ]


def _notebook_lines(out):
    if not out.get("available"):
        return []
    return [
        f"{n['notebook']}: {n['seconds']:.0f} s, longest cell {n['longest_cell']['seconds']:.0f} s"
        f" (cell {n['longest_cell']['index']}) {n['error'] or ''}"
        for n in out["notebooks"]
    ]


#: What :func:`figures` prints for each piece.
_LINES = {
    "machine": _machine_lines,
    "step_time": _step_time_lines,
    "seed_run": _run_lines,
    "library_run": _run_lines,
    "lbfgs_run": _run_lines,
    "coarse_to_fine_run": _run_lines,
    "precision": _precision_lines,
    "bf16_roofline": _bf16_lines,
    "lbfgs_per_evaluation": _lbfgs_eval_lines,
    "notebooks": _notebook_lines,
}


def figures(piece, out):
    """One or two printed lines with a benchmark's main figures."""
    lines = _LINES.get(piece)
    return lines(out) if lines else []


def _spawn(piece, kwargs, tmp, args, backbone=None, name=None):
    """Run ``piece`` in a fresh process (on ``backbone``, default ``args.backbone``) and return
    its figures."""
    path = pathlib.Path(tmp) / f"{name or piece}.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run_all",
        "--piece",
        piece,
        "--kwargs",
        json.dumps(kwargs),
        "--json",
        str(path),
        "--intra",
        str(args.intra),
        "--inter",
        str(args.inter),
    ]
    env = dict(os.environ)
    env["NST_BACKBONE"] = backbone or args.backbone
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = _load()
    print(f"[{time.strftime('%H:%M:%S')}] {piece} {kwargs} (load average {load})", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        print(f"  {piece} failed (exit {proc.returncode})", flush=True)
        return {"failed": True, "exit_code": proc.returncode}
    out = json.loads(path.read_text())
    out["process_seconds"] = time.perf_counter() - t0
    out["load_average_before"] = load
    print(f"  done in {out['process_seconds']:.0f} s", flush=True)
    return out


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _wait_idle(limit_s, threshold=0.7):
    """Wait (at most ``limit_s``) until the 1-minute load average is below ``threshold``."""
    t0 = time.time()
    while time.time() - t0 < limit_s:
        load = _load()
        if load is None or load[0] < threshold:
            return
        print(f"waiting for an idle machine (load average {load[0]})", flush=True)
        time.sleep(15)


def run(params, out_dir, args, command):
    """Run all benchmarks with ``params`` and write the report to ``out_dir``."""
    import tempfile

    from . import pieces, report

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = params["size"]
    results = {
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "backbone": args.backbone,
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:

        def spawn(piece, backbone=None, name=None, **kw):
            return _spawn(piece, kw, tmp, args, backbone=backbone, name=name)

        results["machine"] = spawn("machine")
        results["seed_run"] = spawn(
            "seed_run", size=size, steps=params["long_steps"], memory_at=list(params["memory_at"])
        )
        results["library_run"] = spawn(
            "library_run",
            size=size,
            steps=params["long_steps"],
            memory_at=list(params["memory_at"]),
        )
        seed = results["seed_run"]
        q = params["quality_step"]
        target = seed["loss"][q] if not seed.get("failed") and len(seed["loss"]) > q else None
        results["target"] = {"quality_step": q, "loss": target}
        results["step_time"] = spawn(
            "step_time",
            size=size,
            chunks=params["step_chunks"],
            chunk_steps=params["chunk_steps"],
            layer_seconds=params["layer_seconds"],
            ablation_rounds=params["ablation_rounds"],
        )
        if args.backbone != COMPARISON_BACKBONE:  # the same step on the comparison network
            results["step_time_comparison"] = spawn(
                "step_time",
                size=size,
                chunks=max(2, params["step_chunks"] // 2),
                chunk_steps=params["chunk_steps"],
                with_roofline=False,
                backbone=COMPARISON_BACKBONE,
                name="step_time_comparison",
            )
            results["step_time_comparison"]["backbone"] = COMPARISON_BACKBONE
        results["bf16_roofline"] = spawn(
            "bf16_roofline",
            size=size,
            chunks=params["bf16_chunks"],
            chunk_steps=params["chunk_steps"],
            layer_seconds=params["layer_seconds"],
        )
        results["lbfgs_per_evaluation"] = spawn(
            "lbfgs_per_evaluation",
            size=size,
            steps=params["lbfgs_eval_steps"],
            adam_steps=max(4, params["lbfgs_eval_steps"] // 3),
        )
        results["lbfgs_run"] = spawn(
            "lbfgs_run", size=size, steps=params["lbfgs_steps"], target=target
        )
        results["coarse_to_fine_run"] = spawn(
            "coarse_to_fine_run", size=size, steps=list(params["c2f_steps"]), target=target
        )
        results["precision"] = spawn(
            "precision",
            size=size,
            steps=params["precision_steps"],
            lbfgs_steps=params["precision_lbfgs_steps"],
            image_dir=str(out_dir.resolve()),
        )
        if params.get("notebooks") and not args.no_notebooks:
            results["notebooks"] = spawn("notebooks")
            # What a student waits for: notebooks 01-08 in full mode, each cell timed.
            results["notebooks_full"] = spawn(
                "notebooks", mode="full", last=8, name="notebooks_full"
            )
    for key in ("seed_run", "library_run"):
        run_ = results[key]
        if target is not None and not run_.get("failed"):
            run_["time_to_target"] = pieces.time_to_target(run_, target)
    results["total_seconds"] = time.perf_counter() - t0
    (out_dir / "performance.json").write_text(json.dumps(results, indent=1))
    report.write(out_dir, results)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps (~2 min)")
    parser.add_argument(
        "--out",
        help="folder for the report (default docs/, or outputs/benchmarks-quick/ with --quick)",
    )
    parser.add_argument(
        "--size", type=int, help="longest image side in px (default 256, quick 128)"
    )
    parser.add_argument(
        "--backbone",
        default="vgg19",
        help=f"the network measured (default vgg19, the course's; {COMPARISON_BACKBONE} adds no "
        "comparison row)",
    )
    parser.add_argument(
        "--no-notebooks",
        action="store_true",
        help="skip timing the notebooks (CI mode, and 01-08 in full mode)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="re-write the report from OUT/performance.json, run nothing",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="first wait up to this many seconds for the load average to drop",
    )
    parser.add_argument(
        "--intra", type=int, default=0, help="TensorFlow intra-op threads (0: default)"
    )
    parser.add_argument(
        "--inter", type=int, default=0, help="TensorFlow inter-op threads (0: default)"
    )
    parser.add_argument("--piece", help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.piece:
        _worker(args.piece, json.loads(args.kwargs), args.json, args.intra, args.inter)
        return 0
    out_dir = (
        pathlib.Path(args.out)
        if args.out
        else (ROOT / ("outputs/benchmarks-quick" if args.quick else "docs"))
    )
    if args.report_only:
        from . import report

        results = json.loads((out_dir / "performance.json").read_text())
        report.write(out_dir, results)
        print(f"wrote {out_dir / 'performance.md'}")
        return 0
    params = dict(QUICK if args.quick else FULL)
    if args.size:
        params["size"] = args.size
    command = "python -m benchmarks.run_all" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    command = " ".join(shlex.quote(p) for p in shlex.split(command))
    if args.wait_idle:
        _wait_idle(args.wait_idle)
    results = run(params, out_dir, args, command)
    print(f"wrote {out_dir / 'performance.md'} in {results['total_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
