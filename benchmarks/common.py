"""What every benchmark shares: the machine's description, the images, the problem, FLOP counts,
the matmul rate and resident memory.

Nothing here imports TensorFlow at import time, so the report can be written without it.
"""

import os
import platform
import resource
import statistics
import time

#: The images every benchmark uses (offline samples shipped with the library).
CONTENT, STYLE = "chelsea", "swirls"
#: The course's backbone (VGG19, offline after ``nst weights``); ``NST_BACKBONE`` picks another,
#: as ``python -m benchmarks.run_all --backbone vgg16-hed`` does for its comparison row.
BACKBONE = os.environ.get("NST_BACKBONE", "").strip() or "vgg19"


def tf():
    from nst_helpers._tf import tf as _tf

    return _tf()


def has_gpu():
    return bool(tf().config.list_physical_devices("GPU"))


def images():
    """The content and style images (uint8 RGB), full size; the library resizes them."""
    from nst_helpers.samples import load_sample

    return load_sample(CONTENT), load_sample(STYLE)


def seed_config(size, **changes):
    """The seed's preset at ``size`` px on the offline backbone."""
    from nst_helpers.config import preset

    return preset("seed", backbone=BACKBONE, max_side=int(size), **changes)


def make_problem(size, precision="float32", **changes):
    from nst_helpers.optimize import Problem

    content, style = images()
    return Problem(content, style, seed_config(size, precision=precision, **changes), verbose=False)


def stylize(size, precision="float32", **kwargs):
    """:func:`nst_helpers.optimize.stylize` on the benchmark images with the seed's preset."""
    from nst_helpers.optimize import stylize as _stylize

    content, style = images()
    kwargs.setdefault("progress", False)
    kwargs.setdefault("verbose", False)
    return _stylize(
        content, style, "seed", backbone=BACKBONE, max_side=int(size), precision=precision, **kwargs
    )


class Timeline:
    """Records ``(step, seconds since start, peak RSS MB)`` from a stylize callback."""

    def __init__(self):
        self.start = None
        self.marks = []

    def begin(self):
        self.start = time.perf_counter()

    def __call__(self, info):
        if self.start is None:  # started by the first callback when begin() was not called
            self.start = time.perf_counter() - info.elapsed
        self.marks.append((info.step, time.perf_counter() - self.start, peak_rss_mb()))

    def steady_ms_per_step(self, skip=1):
        """Median ms per step over the chunks between callbacks, skipping the first ``skip``
        chunks (they hold the first call's one-time work)."""
        rates = []
        marks = self.marks
        for (s0, t0, _), (s1, t1, _) in zip(marks[skip:], marks[skip + 1 :]):
            if s1 > s0:
                rates.append((t1 - t0) / (s1 - s0) * 1000)
        if not rates:  # too few chunks: use all of them
            rates = [
                (t1 - t0) / (s1 - s0) * 1000
                for (s0, t0, _), (s1, t1, _) in zip(marks, marks[1:])
                if s1 > s0
            ]
        return statistics.median(rates) if rates else float("nan")


def time_at_step(marks, step):
    """Seconds at which ``step`` steps were done, interpolated linearly between ``marks``
    (``[(step, seconds, ...)]``, starting implicitly at ``(0, 0)``)."""
    prev_s, prev_t = 0, 0.0
    for mark in marks:
        s, t = mark[0], mark[1]
        if s >= step:
            if s == prev_s:
                return t
            return prev_t + (t - prev_t) * (step - prev_s) / (s - prev_s)
        prev_s, prev_t = s, t
    return float("nan")


def first_below(values, target):
    """1-based number of steps after which the loss first was at or below ``target`` (the
    loss of step ``i`` belongs to the image before its update, so it is known after ``i + 1``
    evaluations); None if never."""
    for i, v in enumerate(values):
        if v <= target:
            return i + 1
    return None


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
                    return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def machine_info():
    """CPU model, cores, memory, library versions and the accelerator, for the report."""
    import numpy as np

    t = tf()
    import keras

    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = float("nan")
    gpus = t.config.list_physical_devices("GPU")
    gpu_names = []
    for g in gpus:
        try:
            gpu_names.append(t.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # details are optional
            gpu_names.append(g.name)
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "tensorflow": t.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "intra_op_threads": t.config.threading.get_intra_op_parallelism_threads() or "default",
        "inter_op_threads": t.config.threading.get_inter_op_parallelism_threads() or "default",
        "gpu": gpu_names,
        "platform": platform.platform(),
    }


def set_threads(intra=0, inter=0):
    """Set TensorFlow's thread pools (0 leaves TensorFlow's default); call before any op runs."""
    t = tf()
    if intra:
        t.config.threading.set_intra_op_parallelism_threads(int(intra))
    if inter:
        t.config.threading.set_inter_op_parallelism_threads(int(inter))


# --- FLOPs and the matmul limit --------------------------------------------------------------


def conv_flops(problem):
    """FLOPs of one loss-and-gradient evaluation, counted from the extractor's layer shapes.

    Forward: ``2 * H * W * k * k * C_in * C_out`` per convolution (multiply and add), at the
    layer's resolution for this image. Backward: the gradient with respect to the layer's input
    costs as much again; gradients of the weights are not needed (only the image changes), and
    the first layer's input gradient is the image's gradient, so it is counted too. Gram matrices
    of the style layers: ``2 * M * C * C`` forward and as much again backward (``G = FᵀF`` is
    symmetric, so its gradient ``F (dG + dGᵀ)`` is one matmul; the library computes it so). Pooling, ReLU and the
    element-wise losses are memory-bound and left out (well under 1 %).

    Returns ``{"forward": ..., "backward": ..., "total": ..., "layers": [...]}``.
    """
    import keras

    cfg = problem.config
    h, w = problem.content.shape[:2]
    model = problem.extractor.model
    layers = []
    forward = backward = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k = layer.kernel_size
            cin = layer.kernel.shape[-2]
            cout = layer.filters
            f = 2.0 * h * w * k[0] * k[1] * cin * cout
            layers.append(
                {
                    "layer": layer.name,
                    "size": [w, h],
                    "in": int(cin),
                    "out": int(cout),
                    "gflop_forward": f / 1e9,
                }
            )
            forward += f
            backward += f
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            h, w = h // 2, w // 2
    for name in cfg.style_layers:
        entry = next(e for e in layers if e["layer"] == name)
        m = entry["size"][0] * entry["size"][1]
        c = entry["out"]
        g = 2.0 * m * c * c
        forward += g
        backward += g
    return {"forward": forward, "backward": backward, "total": forward + backward, "layers": layers}


class MatmulProbe:
    """Times TensorFlow's dense ``n x n`` matmul, in this process and with its threads."""

    def __init__(self, dtype="float32", n=None):
        t = tf()
        if n is None:
            n = 8192 if has_gpu() else 2048
        self.n = n
        dt = {"float32": t.float32, "bfloat16": t.bfloat16, "float16": t.float16}[dtype]
        a = t.cast(t.random.stateless_uniform((n, n), seed=(1, 2)), dt)
        b = t.cast(t.random.stateless_uniform((n, n), seed=(3, 4)), dt)

        @t.function
        def many(k):
            acc = t.zeros((), t.float32)
            for _ in t.range(k):
                acc += t.cast(t.matmul(a, b)[0, 0], t.float32)
            return acc

        self._many = many
        many(t.constant(1)).numpy()  # compile and warm up
        self.k = 1

    def measure(self, min_seconds=0.3):
        """GFLOP/s of one batch of matmuls lasting at least ``min_seconds``."""
        t = tf()
        while True:
            t0 = time.perf_counter()
            self._many(t.constant(self.k)).numpy()
            dt = time.perf_counter() - t0
            if dt >= min_seconds or self.k >= 4096:
                return 2.0 * self.n**3 * self.k / dt / 1e9
            self.k *= 2


def matmul_gflops(dtype="float32", n=None, repeats=5, min_seconds=0.5):
    """This machine's dense matmul rate in GFLOP/s: the best of ``repeats`` timed batches."""
    probe = MatmulProbe(dtype, n)
    return max(probe.measure(min_seconds) for _ in range(repeats))


class _RateAround:
    """The matmul rate measured before the first timed item and after each one: :meth:`around`
    gives an item ``matmul_gflops``, the mean of the two measurements around it (with no probe,
    nothing)."""

    def __init__(self, probe, seconds):
        self.probe, self.seconds = probe, seconds
        self.before = probe.measure(seconds) if probe else None

    def around(self, row):
        if self.probe is not None:
            after = self.probe.measure(self.seconds)
            row["matmul_gflops"] = (self.before + after) / 2
            self.before = after
        return row


def loop_ms(fn, min_seconds, repeats):
    """ms per iteration of ``fn(n)`` (a compiled loop of ``n`` iterations): ``n`` doubles until a
    call lasts ``min_seconds``; the best of ``repeats`` calls."""
    t = tf()
    fn(t.constant(1)).numpy()  # compile and first run
    n = 2
    while True:
        t0 = time.perf_counter()
        fn(t.constant(n)).numpy()
        dt = time.perf_counter() - t0
        if dt >= min_seconds or n >= 4096:
            break
        n *= 2
    best = dt / n
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        fn(t.constant(n)).numpy()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1000


def gram_layer_ms(layers, style_layers, min_seconds=0.25, repeats=2, probe=None):
    """Each style layer's Gram matrix alone, at its shape: ms of ``FᵀF`` and of its gradient
    ``F (dG + dGᵀ)``, as the library computes them (:func:`nst_helpers.losses.gram_matrix`), the
    best of ``repeats`` batches; with a :class:`MatmulProbe`, the matmul rate around each."""
    t = tf()
    out = []
    rate = _RateAround(probe, min(min_seconds, 0.15))
    for entry in layers:
        if entry["layer"] not in style_layers:
            continue
        (w, h), c = entry["size"], entry["out"]
        f = t.random.stateless_normal((h * w, c), seed=(1, 2))
        dg = t.random.stateless_normal((c, c), seed=(3, 4))

        @t.function
        def forward(n):
            acc = t.zeros(())
            for _ in t.range(n):
                acc += t.matmul(f + acc, f, transpose_a=True)[0, 0]
            return acc

        @t.function
        def backward(n):
            acc = t.zeros(())
            for _ in t.range(n):
                d = dg + acc
                acc += t.matmul(f, d + t.transpose(d))[0, 0]
            return acc

        row = {
            "layer": entry["layer"],
            "positions": h * w,
            "channels": c,
            "gflop": 2.0 * h * w * c * c / 1e9,
            "forward_ms": loop_ms(forward, min_seconds, repeats),
            "backward_ms": loop_ms(backward, min_seconds, repeats),
        }
        out.append(rate.around(row))
    return out


def conv_layer_ms(layers, min_seconds=0.25, repeats=2, probe=None, fast_conv=None):
    """Each convolution of ``layers`` (from :func:`conv_flops`) alone, at its shape: ms of its
    forward pass (with ReLU) and of its input gradient, the best of ``repeats`` batches.

    The forward pass runs as the library runs it (``fast_conv``, default: the library's default,
    see :func:`nst_helpers.backbone.fast_conv_default`): where that is the transposed convolution
    of the flipped kernel, ``forward_plain_ms`` also gives TensorFlow's plain ``conv2d`` for
    comparison. Their sum is what the step would cost if nothing but convolutions ran, at the
    speed TensorFlow reaches for each shape in isolation. With a :class:`MatmulProbe`, the matmul
    rate is measured before each layer and after the last (``matmul_gflops``: the mean of the two
    around a layer), so that the convolutions can be compared with the matmul under the same load.
    """
    from nst_helpers.backbone import _frozen_conv, fast_conv_default, uses_fast_conv

    t = tf()
    if fast_conv is None:
        fast_conv = fast_conv_default()
    out = []
    rate = _RateAround(probe, min(min_seconds, 0.15))
    for entry in layers:
        (w, h), cin, cout = entry["size"], entry["in"], entry["out"]
        x = t.random.stateless_normal((1, h, w, cin), seed=(1, 2))
        k = t.random.stateless_normal((3, 3, cin, cout), seed=(3, 4)) * 0.01
        dy = t.random.stateless_normal((1, h, w, cout), seed=(5, 6))
        library_conv = _frozen_conv(k.numpy()) if fast_conv and uses_fast_conv(k.shape) else None

        def timed(conv):
            @t.function
            def forward(n):
                acc = t.zeros(())
                for _ in t.range(n):
                    acc += t.nn.relu(conv(x + acc, k))[0, 0, 0, 0]
                return acc

            return forward

        @t.function
        def backward(n):
            acc = t.zeros(())
            for _ in t.range(n):
                acc += t.raw_ops.Conv2DBackpropInput(
                    input_sizes=[1, h, w, cin],
                    filter=k,
                    out_backprop=dy + acc,
                    strides=[1, 1, 1, 1],
                    padding="SAME",
                )[0, 0, 0, 0]
            return acc

        plain = timed(lambda a, b: t.nn.conv2d(a, b, 1, "SAME"))
        fns = [
            ("forward_ms", timed(library_conv) if library_conv else plain),
            ("backward_ms", backward),
        ]
        if library_conv:
            fns.append(("forward_plain_ms", plain))
        row = {"layer": entry["layer"], "fast_conv": bool(library_conv)}
        for name, fn in fns:
            row[name] = loop_ms(fn, min_seconds, repeats)
        out.append(rate.around(row))
    return out
