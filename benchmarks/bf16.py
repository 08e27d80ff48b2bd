"""The bfloat16 step against this machine's best bfloat16 kernels, and where its time goes.

With ``precision="bfloat16"`` (Keras' ``mixed_bfloat16``) VGG19's convolutions run in bfloat16,
while the image, the optimiser and the losses stay float32: each layer the losses read is cast to
float32, its Gram matrix is a float32 matmul, and the gradient flows back through the same casts.
This piece measures, in one process:

- the bfloat16 Adam step (the seed's preset), in chunks, with a bfloat16 matmul batch between the
  chunks, so that the step and the kernel see the same load;
- each part of the step alone at its own shape: every convolution layer of the extractor as the
  step runs it (the Keras layer with its bias and ReLU, forward and input gradient, in bfloat16),
  the float32 Gram matrix of every style layer with its loss and gradient, and the casts between
  the two (forward and backward);
- the best bfloat16 rates this machine reaches: a 2048² matmul (best of five batches) and the
  fastest convolution layer of the extractor.

The step's share of the best kernel rate is its FLOPs (:func:`common.conv_flops`) per second over
the best of those rates; the parts say what the rest of the step is spent on.
"""

from __future__ import annotations

import statistics
import time

from . import common

__all__ = ["bf16_roofline"]


def _body_ms(body, min_seconds: float, repeats: int = 2) -> float:
    """ms per call of ``body(acc)`` (a float32 scalar threaded through, so nothing is hoisted out
    of the loop), run in a compiled loop: the best of ``repeats`` batches of at least
    ``min_seconds``."""
    t = common.tf()

    @t.function
    def many(n):
        acc = t.zeros((), t.float32)
        for _ in t.range(n):
            acc += body(acc)
        return acc

    return common.loop_ms(many, min_seconds, repeats)


def _small(acc, dtype):
    """A zero that depends on ``acc`` (so each iteration depends on the last one)."""
    t = common.tf()
    return t.cast(acc * 0.0, dtype)


def conv_parts(problem, min_seconds: float) -> list[dict]:
    """Each convolution layer of ``problem``'s extractor, forward and input gradient, alone."""
    import keras

    t = common.tf()
    model = problem.extractor.model
    h, w = problem.content.shape[:2]
    rows = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            h, w = h // 2, w // 2
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        dtype = t.as_dtype(layer.compute_dtype)
        cin = layer.kernel.shape[-2]
        x = t.cast(t.random.stateless_normal((1, h, w, cin), seed=(1, 2)), dtype)
        dy = t.cast(t.random.stateless_normal((1, h, w, layer.filters), seed=(3, 4)), dtype)

        def body(acc, layer=layer, x=x, dy=dy, dtype=dtype):
            xi = x + _small(acc, dtype)
            with t.GradientTape() as tape:
                tape.watch(xi)
                y = layer(xi)
            g = tape.gradient(y, xi, output_gradients=dy)
            return t.cast(g[0, 0, 0, 0], t.float32)

        gflop = 2 * 2.0 * h * w * 9 * cin * layer.filters / 1e9  # forward + input gradient
        ms = _body_ms(body, min_seconds)
        rows.append({"layer": layer.name, "dtype": dtype.name, "gflop": gflop, "ms": ms})
        rows[-1]["gflops"] = gflop / (ms / 1000)
    return rows


def loss_parts(problem, min_seconds: float) -> dict:
    """The style layers' Gram matrices with their loss and gradient, and the casts alone."""
    from nst_helpers.losses import gram_matrix

    t = common.tf()
    grams, casts = [], []
    feats = problem.extractor(problem.initial_image())
    for name in problem.config.style_layers:
        f = feats[name]
        target = t.random.stateless_normal((f.shape[-1], f.shape[-1]), seed=(5, 6))
        dy = t.random.stateless_normal(f.shape, seed=(7, 8))

        def gram_body(acc, f=f, target=target):
            fi = f + _small(acc, f.dtype)
            with t.GradientTape() as tape:
                tape.watch(fi)
                loss = t.reduce_sum(t.square(gram_matrix(fi) - target))
            return t.cast(tape.gradient(loss, fi)[0, 0, 0, 0], t.float32)

        def cast_body(acc, f=f, dy=dy):
            fi = f + _small(acc, f.dtype)
            with t.GradientTape() as tape:
                tape.watch(fi)
                y = t.cast(fi, t.float32)
            return t.cast(tape.gradient(y, fi, output_gradients=dy)[0, 0, 0, 0], t.float32)

        grams.append({"layer": name, "ms": _body_ms(gram_body, min_seconds)})
        casts.append({"layer": name, "ms": _body_ms(cast_body, min_seconds)})
    return {"grams": grams, "casts": casts, "feature_dtype": feats[name].dtype.name}


def bf16_roofline(size, chunks=6, chunk_steps=10, layer_seconds=0.25):
    """The bfloat16 Adam step against the best bfloat16 kernel rates, and its parts alone."""
    probe = common.MatmulProbe("bfloat16")
    step_ms, matmul = [], []
    state = {"last": None}

    def interleave(info):
        now = time.perf_counter()
        if state["last"] is not None:
            step_ms.append((now - state["last"]) / chunk_steps * 1000)
        matmul.append(probe.measure(0.3))
        state["last"] = time.perf_counter()

    result = common.stylize(
        size,
        precision="bfloat16",
        steps=chunks * chunk_steps,
        callback=interleave,
        callback_every=chunk_steps,
    )
    problem = common.make_problem(size, precision="bfloat16")
    gflop = common.conv_flops(problem)["total"] / 1e9
    ms = statistics.median(step_ms) if step_ms else result.seconds_per_step * 1000
    convs = conv_parts(problem, layer_seconds)
    parts = loss_parts(problem, layer_seconds)
    best_matmul = max(probe.measure(0.5) for _ in range(5))
    best_conv = max(r["gflops"] for r in convs)
    best = max(best_matmul, best_conv)
    out = {
        "size": list(result.image.shape[1::-1]),
        "step_ms": ms,
        "step_ms_chunks": step_ms,
        "matmul_gflops_bf16_chunks": matmul,
        "gflop_per_step": gflop,
        "step_gflops": gflop / (ms / 1000),
        "best_matmul_gflops_bf16": best_matmul,
        "best_conv_gflops_bf16": best_conv,
        "best_conv_layer": max(convs, key=lambda r: r["gflops"])["layer"],
        "best_kernel_gflops_bf16": best,
        "fraction_of_best": gflop / (ms / 1000) / best,
        # each chunk against the matmul batch measured just before it (the same load)
        "fraction_of_matmul_chunks": [
            gflop / (s / 1000) / m for s, m in zip(step_ms, matmul[: len(step_ms)])
        ],
        "convs": convs,
        **parts,
    }
    out["conv_ms"] = sum(r["ms"] for r in convs)
    out["gram_ms"] = sum(r["ms"] for r in parts["grams"])
    out["cast_ms"] = sum(r["ms"] for r in parts["casts"])
    out["rest_ms"] = ms - out["conv_ms"] - out["gram_ms"]
    out["step_ms_at_best"] = gflop / best * 1000
    return out
