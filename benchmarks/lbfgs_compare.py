"""The library's L-BFGS (inside TensorFlow) against scipy's L-BFGS-B, and both against Adam.

    python -m benchmarks.lbfgs_compare                    # the fast preset, 256 px, 150 evaluations
    python -m benchmarks.lbfgs_compare --load 1           # the same with one busy process beside it
    python -m benchmarks.lbfgs_compare --pairs chelsea:starry_night,astronaut:great_wave

One process, one problem per content/style pair, the three optimisers run alternately on it: the
library's :class:`nst_helpers.lbfgs.BoxLBFGS` (what ``optimizer="lbfgs"`` runs), scipy's L-BFGS-B
with bounds as the library ran it before (float64 copies of the image and gradient at every
evaluation, one BLAS thread), and Adam (the per-step baseline). Printed: each one's best loss after
the same number of evaluations, and milliseconds per evaluation after a warm-up (L-BFGS: 20 evaluations).
``--load N`` starts N processes that keep a core busy with NumPy, to measure under load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np


def busy(stop) -> None:
    a = np.random.default_rng(0).random((400, 400))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 400.0)


def fast_problem(content: str, style: str, size: int, precision: str):
    from nst_helpers.config import preset
    from nst_helpers.problem import Problem
    from nst_helpers.samples import load_sample

    cfg = preset("fast", max_side=size, precision=precision)
    return Problem(load_sample(content), load_sample(style), cfg, verbose=False)


def _value_and_grad(problem):
    from nst_helpers._tf import tf as _tf

    tf = _tf()

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total, content, style, tv = problem.losses(x)
        return tf.stack([total, content, style, tv]), tape.gradient(total, x)

    return tf, value_and_grad


def library(problem, steps: int, warmup: int = 20) -> tuple[float, float]:
    """Best loss after ``steps`` evaluations of :class:`BoxLBFGS`, as ``stylize`` runs it, and ms
    per evaluation after the first ``warmup`` (the trace, and the first run of each branch of
    the graph: the line search's, the history's, which TensorFlow prepares when first taken)."""
    from nst_helpers.images import VGG_MAX, VGG_MIN
    from nst_helpers.lbfgs import BoxLBFGS
    from nst_helpers.optimize import LBFGS_HISTORY

    tf, vg = _value_and_grad(problem)
    opt = BoxLBFGS(vg, problem.initial_image(), VGG_MIN, VGG_MAX, history=LBFGS_HISTORY)
    warmup = max(1, min(warmup, steps - 1))
    opt.run(tf.constant(warmup)).numpy()
    t0 = time.perf_counter()
    rows = opt.run(tf.constant(steps - warmup)).numpy()
    return float(opt.best_loss.numpy()), (time.perf_counter() - t0) / len(rows) * 1000


def scipy_lbfgsb(problem, steps: int) -> tuple[float, float]:
    """Best loss and ms per evaluation of scipy's L-BFGS-B, as the library ran it until 2026-12."""
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits

    from nst_helpers.images import VGG_MAX, VGG_MIN

    tf, vg = _value_and_grad(problem)
    vg = tf.function(vg)
    x0 = problem.initial_image()
    shape = tuple(x0.shape)
    best, marks = [np.inf], []

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        values, grad = vg(tf.constant(flat.reshape(shape), tf.float32))
        total = float(values.numpy()[0])
        best[0] = min(best[0], total)
        marks.append(time.perf_counter())
        return total, grad.numpy().astype(np.float64).ravel()

    lo = np.broadcast_to(VGG_MIN, shape).ravel().astype(np.float64)
    hi = np.broadcast_to(VGG_MAX, shape).ravel().astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        minimize(
            fun,
            np.asarray(x0, np.float64).ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=Bounds(lo, hi),
            options={"maxiter": steps, "maxfun": steps, "maxcor": 20},
        )
    return best[0], (marks[-1] - marks[0]) / (len(marks) - 1) * 1000


def adam(problem, steps: int) -> float:
    """ms per step of a compiled Adam on the same problem (the step of ``stylize``'s Adam)."""
    import keras

    tf, _ = _value_and_grad(problem)
    x = tf.Variable(problem.initial_image())
    opt = keras.optimizers.Adam(learning_rate=4.0)
    opt.build([x])

    @tf.function
    def run(n):
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                total = problem.losses(x)[0]
            opt.apply_gradients([(tape.gradient(total, x), x)])
        return total

    run(tf.constant(2)).numpy()
    t0 = time.perf_counter()
    run(tf.constant(steps)).numpy()
    return (time.perf_counter() - t0) / steps * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="chelsea:starry_night,astronaut:great_wave")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the run")
    args = parser.parse_args(argv)
    stop = mp.Event()
    workers = [mp.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in workers:
        p.start()
    try:
        for pair in args.pairs.split(","):
            content, style = pair.split(":")
            problem = fast_problem(content, style, args.size, args.precision)
            adam_ms = adam(problem, 30)
            ours, ours_ms = library(problem, args.steps)
            theirs, theirs_ms = scipy_lbfgsb(problem, args.steps)
            adam_ms = (adam_ms + adam(problem, 30)) / 2
            print(
                f"{content} x {style}, {args.size} px, {problem.config.precision}, "
                f"{args.steps} evaluations, load {args.load}: "
                f"library best {ours:.5g} ({ours / theirs - 1:+.1%} against scipy), "
                f"{ours_ms:.0f} ms/eval = {ours_ms / adam_ms:.2f}x Adam; "
                f"scipy L-BFGS-B best {theirs:.5g}, {theirs_ms:.0f} ms/eval = "
                f"{theirs_ms / adam_ms:.2f}x Adam; Adam {adam_ms:.0f} ms/step",
                flush=True,
            )
    finally:
        stop.set()
        for p in workers:
            p.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
