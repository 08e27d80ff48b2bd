"""Turn the benchmarks' figures into ``performance.md``, a loss-against-time plot, and a
printed summary. Needs matplotlib, not TensorFlow."""

import json
import math
import pathlib

PLOT = "performance_loss_time.png"

#: (key, what, goal text, test on the measured value)
TARGETS = (
    ("step_ratio", "Compiled step against the seed's eager step", ">= 1.7x faster",
     lambda v: v >= 1.7),
    ("roofline", "Share of this machine's fp32 matmul rate", ">= 80 %", lambda v: v >= 0.8),
    ("lbfgs_ratio", "L-BFGS to the seed's {q}-step loss, against the seed's loop",
     ">= 10x sooner", lambda v: v >= 10),
    ("memory_growth", "Library's peak memory growth, {m0} to {m1} steps", "< 5 %",
     lambda v: v < 0.05),
    ("bf16", "bfloat16 step against float32 (images visibly equal)",
     ">= 1.4x faster", lambda v: v >= 1.4),
    ("notebooks", "Whole CI-mode notebook run", "< 10 min", lambda v: v < 600),
)

#: When the bfloat16 image counts as visibly equal to the float32 one (fixed before measuring):
#: PSNR at least 35 dB and SSIM at least 0.97.
PSNR_EQUAL_DB, SSIM_EQUAL = 35.0, 0.97


def _what(what, results):
    """A target's description with this run's step counts."""
    p = results.get("params", {})
    m = p.get("memory_at", (50, 500))
    return what.format(q=p.get("quality_step", 400), m0=m[0], m1=m[1])


def _ok(r):
    return isinstance(r, dict) and not r.get("failed")


def _f(x, fmt="{:.3g}"):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return fmt.format(x)


def growth(run, memory_at):
    """Relative growth of peak RSS between the two ``memory_at`` steps, and the MB."""
    mem = run.get("peak_rss_mb", {})
    a, b = mem.get(str(memory_at[0])), mem.get(str(memory_at[1]))
    if a is None or b is None:
        return None, None
    return (b - a) / a, b - a


def visibly_equal(prec):
    return prec["psnr_db"] >= PSNR_EQUAL_DB and prec["ssim"] >= SSIM_EQUAL


def evaluate(results):
    """``{key: {"value", "measured", "pass"}}`` for every target that was measured."""
    out = {}
    st = results.get("step_time", {})
    if _ok(st) and "ratio" in st:
        out["step_ratio"] = dict(value=st["ratio"], measured=(
            f"{st['ratio']:.2f}x (seed {st['seed_ms']:.0f} ms, library {st['library_ms']:.0f} ms "
            "per step)"))
        if "fraction_of_matmul" in st:
            out["roofline"] = dict(value=st["fraction_of_matmul"], measured=(
                f"{st['fraction_of_matmul'] * 100:.0f} % ({st['library_gflops']:.0f} of "
                f"{st['matmul_gflops_fp32']:.0f} GFLOP/s)"))
    seed, lbfgs = results.get("seed_run", {}), results.get("lbfgs_run", {})
    if _ok(seed) and _ok(lbfgs) and seed.get("time_to_target"):
        t = lbfgs.get("time_to_target")
        if t:
            ratio = seed["time_to_target"] / t
            out["lbfgs_ratio"] = dict(value=ratio, measured=(
                f"{ratio:.1f}x ({t:.1f} s against {seed['time_to_target']:.0f} s)"))
        else:
            out["lbfgs_ratio"] = dict(value=0.0, measured=(
                f"not reached in {len(lbfgs['loss'])} evaluations"))
    lib = results.get("library_run", {})
    memory_at = results.get("params", {}).get("memory_at", (50, 500))
    if _ok(lib):
        g, mb = growth(lib, memory_at)
        if g is not None:
            sg, smb = growth(seed, memory_at) if _ok(seed) else (None, None)
            seed_txt = f"; seed's loop {sg * 100:+.1f} % ({smb:+.0f} MB)" if sg is not None else ""
            out["memory_growth"] = dict(value=g, measured=f"{g * 100:+.1f} % ({mb:+.0f} MB){seed_txt}")
    prec = results.get("precision", {})
    if _ok(prec) and "speedup" in prec:
        eq = visibly_equal(prec)
        text = (f"Adam {prec['speedup']:.2f}x ({prec['float32_ms']:.0f} to {prec['bfloat16_ms']:.0f} "
                f"ms), images {'visibly equal' if eq else 'visibly different'} (PSNR "
                f"{prec['psnr_db']:.1f} dB, SSIM {prec['ssim']:.3f})")
        lb = prec.get("lbfgs") or {}
        if _ok(lb) and "speedup" in lb:
            text += (f"; L-BFGS {lb['speedup']:.2f}x per evaluation, images "
                     f"{'visibly equal' if visibly_equal(lb) else 'not pixel-equal'} (PSNR "
                     f"{lb['psnr_db']:.1f} dB; float32 against itself perturbed: "
                     f"{lb.get('float32_vs_perturbed_float32', {}).get('psnr_db', float('nan')):.1f} dB)")
        out["bf16"] = dict(value=prec["speedup"], extra_pass=eq, measured=text)
    nbs = results.get("notebooks", {})
    if _ok(nbs) and nbs.get("available"):
        errors = [n for n in nbs["notebooks"] if n["error"]]
        out["notebooks"] = dict(value=nbs["seconds"], extra_pass=not errors, measured=(
            f"{nbs['seconds'] / 60:.1f} min for {len(nbs['notebooks'])} notebook(s)"
            + (f", {len(errors)} failed" if errors else "")))
    for key, _, _, test in TARGETS:
        if key in out:
            out[key]["pass"] = bool(test(out[key]["value"])) and out[key].get("extra_pass", True)
    return out


def summary_lines(results):
    ev = evaluate(results)
    lines = []
    for key, what, goal, _ in TARGETS:
        what = _what(what, results)
        if key in ev:
            e = ev[key]
            lines.append(f"{'PASS' if e['pass'] else 'MISS'}  {what}: {e['measured']} (target {goal})")
        else:
            lines.append(f"----  {what}: not measured (target {goal})")
    return lines


# --- the plot --------------------------------------------------------------------------------

def plot(results, path):
    """Loss against seconds for the seed's loop, Adam, L-BFGS and coarse-to-fine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .pieces import curve

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    series = (("seed_run", "seed's loop (eager Adam)", "tab:red"),
              ("library_run", "library Adam (compiled)", "tab:blue"),
              ("lbfgs_run", "library L-BFGS", "tab:green"),
              ("coarse_to_fine_run", "coarse-to-fine L-BFGS (final size)", "tab:purple"))
    for key, label, color in series:
        run = results.get(key, {})
        if not _ok(run) or not run.get("loss"):
            continue
        pts = curve(run)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, color=color, lw=1.5)
    target = results.get("target", {}).get("loss")
    if target:
        ax.axhline(target, color="gray", ls="--", lw=1,
                   label=f"seed preset after {results['target']['quality_step']} Adam steps")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("seconds (optimisation and compilation, no set-up)")
    ax.set_ylabel("loss (content + style)")
    size = results.get("params", {}).get("size")
    ax.set_title(f"Loss against time, {size} px, {results.get('machine', {}).get('cores', '?')} CPU cores"
                 if not results.get("machine", {}).get("gpu") else f"Loss against time, {size} px, GPU")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- the markdown ----------------------------------------------------------------------------

def _machine(m):
    lines = [
        f"- CPU: {m.get('cpu')}, {m.get('cores')} logical cores"
        + (f" ({m.get('usable_cores')} usable)" if m.get("usable_cores") else "")
        + (f"; flags: {', '.join(m.get('cpu_flags', []))}" if m.get("cpu_flags") else ""),
        f"- Memory: {m.get('memory_gb')} GB",
        f"- GPU: {', '.join(m['gpu']) if m.get('gpu') else 'none (CPU only)'}",
        f"- Python {m.get('python')}, TensorFlow {m.get('tensorflow')}, Keras {m.get('keras')}, "
        f"NumPy {m.get('numpy')}; oneDNN: {m.get('onednn')}; threads intra-op "
        f"{m.get('intra_op_threads')}, inter-op {m.get('inter_op_threads')}",
        f"- {m.get('platform')}",
    ]
    return lines


def _loads(results):
    keys = ("seed_run", "library_run", "step_time", "lbfgs_run", "coarse_to_fine_run", "precision")
    out = []
    for k in keys:
        r = results.get(k, {})
        if _ok(r) and r.get("load_average_before"):
            out.append(f"{k} {r['load_average_before'][0]}")
    return out


def markdown(results, gpu=None):
    p = results.get("params", {})
    size = p.get("size")
    m = results.get("machine", {})
    ev = evaluate(results)
    L = ["# Performance", ""]
    L += [f"How fast the course's optimisation runs, against the seed's own loop (the 2021 course "
          f"paper's eager `GradientTape` loop with `tf.compat.v1.train.AdamOptimizer`, converting and "
          f"keeping a frame every step, re-created in `benchmarks/seed_loop.py`) and against this "
          f"machine's limit. Every figure below was measured in one run of the benchmarks on "
          f"{results.get('started', '?')}, at {size} px (content `chelsea`, style `swirls`, "
          f"longest side {size} px), with the seed's preset and the offline backbone `vgg16-hed`.", ""]
    if p.get("long_steps", 500) < 500 or size != 256:
        L += ["**A shortened run** (smaller image or fewer steps): the targets below are set for "
              "the full run at 256 px and are only indicative here.", ""]
    L += ["Regenerate it (writes this file, the plot and `performance.json` beside it):", "",
          "```bash", results.get("command", "python -m benchmarks.run_all"), "```", ""]
    L += ["## Targets", "", "| Target | Goal | Measured | Result |", "|---|---|---|---|"]
    for key, what, goal, _ in TARGETS:
        what = _what(what, results)
        if key in ev:
            e = ev[key]
            L.append(f"| {what} | {goal} | {e['measured']} | {'pass' if e['pass'] else '**missed**'} |")
        else:
            L.append(f"| {what} | {goal} | not measured in this run | — |")
    L += [""]
    L += ["## Machine", ""] + _machine(m)
    loads = _loads(results)
    if loads:
        L += [f"- 1-minute load average before each benchmark: {', '.join(loads)} "
              "(other work on the machine slows every figure; ratios measured in one process "
              "are the least affected)"]
    if results.get("total_seconds"):
        L += [f"- The whole benchmark run took {results['total_seconds'] / 60:.1f} min."]
    L += [""]

    st = results.get("step_time", {})
    L += ["## 1. Step time", ""]
    if _ok(st) and "ratio" in st:
        L += [f"One process, the same images ({st['size'][0]}x{st['size'][1]} px), backbone and "
              f"settings. The two loops alternate, {st['chunk_steps']} steps each, "
              f"{st['chunks']} times, so both see the same load; the figure is the median over the "
              "chunks after the first.", "",
              "| Loop | ms per step |", "|---|---|",
              f"| seed's loop (eager, `tf.compat.v1` Adam, a frame every step) | {st['seed_ms']:.0f} |",
              f"| library (`tf.function`, many steps per call) | {st['library_ms']:.0f} |",
              f"| ratio | **{st['ratio']:.2f}x** |", "",
              f"The library compiles its step once in {st['library_compile_s']:.1f} s. Both loops "
              f"give the same losses step by step (largest relative difference over "
              f"{st['compared_steps']} steps: {st['max_relative_loss_difference']:.1e}), so only "
              "the loop differs.", ""]
    else:
        L += ["Not measured.", ""]

    L += ["## 2. Roofline", ""]
    if _ok(st) and "gflop_per_step" in st:
        L += [f"FLOPs of one step, counted from the layer shapes: {st['gflop_forward']:.1f} GFLOP "
              f"forward (convolutions up to `block5_conv2` and the Gram matrices) and "
              f"{st['gflop_backward']:.1f} GFLOP backward (gradients with respect to the activations "
              f"only: the weights are fixed), {st['gflop_per_step']:.1f} GFLOP in all.", "",
              "The matmul rate is measured in the same process, between the chunks of section 1 "
              "(2048x2048 fp32 matmuls, about 0.3 s each), and each library chunk is compared "
              "with the matmul batch just before it; the share is the median over the chunks.", "",
              "| | GFLOP/s | share of the fp32 matmul rate |", "|---|---|---|",
              f"| fp32 matmul, between the chunks (median) | {st['matmul_gflops_fp32']:.0f} | 100 % |",
              f"| library step ({st['library_ms']:.0f} ms) | {st['library_gflops']:.0f} | "
              f"**{st['fraction_of_matmul'] * 100:.0f} %** |"]
        if st.get("seed_gflops"):
            L.append(f"| seed's loop | {st['seed_gflops']:.0f} | "
                     f"{st['seed_gflops'] / st['matmul_gflops_fp32'] * 100:.0f} % |")
        if st.get("conv_alone_ms"):
            L.append(f"| the step's convolutions, each timed alone at its shape and scaled to "
                     f"that matmul rate ({st['conv_alone_ms']:.0f} ms in all) | "
                     f"{st['conv_alone_gflops']:.0f} | "
                     f"{st['conv_alone_gflops'] / st['matmul_gflops_fp32'] * 100:.0f} % |")
        if st.get("gram_alone_ms"):
            L.append(f"| the Gram matrices and their gradients, each timed alone and scaled alike "
                     f"({st['gram_alone_ms']:.0f} ms in all) | {st['gram_alone_gflops']:.0f} | "
                     f"{st['gram_alone_gflops'] / st['matmul_gflops_fp32'] * 100:.0f} % |")
        if st.get("matmul_gflops_fp32_best"):
            L.append(f"| fp32 matmul, best of five batches on its own | "
                     f"{st['matmul_gflops_fp32_best']:.0f} | "
                     f"{st['matmul_gflops_fp32_best'] / st['matmul_gflops_fp32'] * 100:.0f} % |")
        if st.get("matmul_gflops_bf16"):
            L.append(f"| bf16 matmul, for reference | {st['matmul_gflops_bf16']:.0f} | "
                     f"{st['matmul_gflops_bf16'] / st['matmul_gflops_fp32'] * 100:.0f} % |")
        L += [""]
        L += _convolution_lines(st)
    else:
        L += ["Not measured.", ""]

    L += ["## 3. Time to quality", ""]
    target = results.get("target", {})
    if target.get("loss"):
        L += [f"The quality to reach: the loss the seed's preset (Adam, learning rate 2, "
              f"beta1 0.99) reaches after {target['quality_step']} steps, **{target['loss']:.5g}**. "
              "Seconds of optimisation, compilation included, set-up (loading the network, the "
              "targets) left out for all.", "",
              "| Optimiser | seconds to reach it | steps or evaluations | sooner than the seed's loop |",
              "|---|---|---|---|"]
        from .common import first_below

        seed_t = results.get("seed_run", {}).get("time_to_target")
        for key, label in (("seed_run", "seed's loop"), ("library_run", "library Adam"),
                           ("lbfgs_run", "library L-BFGS"),
                           ("coarse_to_fine_run", "coarse-to-fine L-BFGS")):
            r = results.get(key, {})
            if not _ok(r) or r.get("available") is False:
                L.append(f"| {label} | not available | | |")
                continue
            t = r.get("time_to_target")
            n = first_below(r.get("loss", []), target["loss"])
            extra = ""
            if key == "coarse_to_fine_run":
                extra = (f" at {r['sizes'][-1]} px, after all {r['steps'][0]} at "
                         f"{r['sizes'][0]} px" if n else "")
            ratio = f"{seed_t / t:.1f}x" if t and seed_t else ""
            L.append(f"| {label} | {_f(t, '{:.1f}')} | {n if n else 'not reached'}{extra} | {ratio} |")
        L += ["", f"![Loss against time]({PLOT})", ""]
    else:
        L += ["Not measured.", ""]

    L += ["## 4. Memory", ""]
    seed, lib = results.get("seed_run", {}), results.get("library_run", {})
    ma = p.get("memory_at", [50, 500])
    if _ok(seed) and _ok(lib):
        L += [f"Peak resident memory of the process (each loop in its own process), after "
              f"{ma[0]} and after {ma[1]} steps.", "",
              f"| Loop | after {ma[0]} steps (MB) | after {ma[1]} steps (MB) | growth |",
              "|---|---|---|---|"]
        for r, label in ((seed, "seed's loop"), (lib, "library Adam")):
            g, mb = growth(r, ma)
            mem = r.get("peak_rss_mb", {})
            L.append(f"| {label} | {_f(mem.get(str(ma[0])), '{:.0f}')} | "
                     f"{_f(mem.get(str(ma[1])), '{:.0f}')} | "
                     f"{_f(None if g is None else g * 100, '{:+.1f} %')} ({_f(mb, '{:+.0f} MB')}) |")
        if seed.get("frame_bytes"):
            fb = seed["frame_bytes"]
            L += ["", f"The seed's loop keeps one {fb / 1024:.0f} kB frame per step: its 7500 steps "
                  f"keep {fb * 7500 / 2**30:.2f} GB of frames at this size, and four times as much "
                  "at twice the side. The library keeps frames only when asked "
                  "(`frames_every=`), never every step."]
        L += [""]
    else:
        L += ["Not measured.", ""]

    prec = results.get("precision", {})
    L += ["## 5. Precision", ""]
    if _ok(prec) and "speedup" in prec:
        L += ["The same run in float32 and in bfloat16 (Keras' `mixed_bfloat16` policy: the network "
              "computes in bfloat16; the image, the optimiser and the losses stay in float32; "
              f"switched on by {prec.get('switch', 'a Keras dtype policy around the run')}), with "
              "the seed's Adam and with L-BFGS. A third run, in float32 with the content weight "
              "changed by one part in a million, shows how far float32 drifts from itself: style "
              "transfer turns tiny differences into other brush strokes. The \"float32 loss\" "
              "judges both final images with the same float32 network.", "",
              "| | Adam float32 | Adam bfloat16 | L-BFGS float32 | L-BFGS bfloat16 |",
              "|---|---|---|---|---|"]
        lb = prec.get("lbfgs") if _ok(prec.get("lbfgs") or {}) and prec.get("lbfgs") else None

        def cells(fn):
            row = fn(prec)
            row += fn(lb) if lb else ["", ""]
            return " | ".join(row)

        L += [f"| steps | {cells(lambda r: [str(r['steps'])] * 2)} |",
              "| ms per step | " + cells(lambda r: [f"{r['float32_ms']:.0f}",
                                                     f"{r['bfloat16_ms']:.0f} (**{r['speedup']:.2f}x**)"]) + " |",
              "| float32 loss of the final image | " + cells(
                  lambda r: [f"{r['float32_image_loss']:.5g}", f"{r['bfloat16_image_loss_in_float32']:.5g}"]) + " |",
              "| difference to float32: mean / largest (grey levels) | " + cells(
                  lambda r: ["", f"{r['mean_abs_diff']:.2f} / {r['max_abs_diff']:.0f}"]) + " |",
              "| difference to float32: PSNR, SSIM | " + cells(
                  lambda r: ["", f"{r['psnr_db']:.1f} dB, {r['ssim']:.3f}"]) + " |"]
        if prec.get("float32_vs_perturbed_float32"):
            L.append("| float32 against float32 perturbed by 1e-6: PSNR, SSIM | " + cells(
                lambda r: [f"{r['float32_vs_perturbed_float32']['psnr_db']:.1f} dB, "
                           f"{r['float32_vs_perturbed_float32']['ssim']:.3f}", ""]) + " |")
        L.append("| float32 image against the content photograph: PSNR | " + cells(
            lambda r: [f"{r['float32_change_from_content']['psnr_db']:.1f} dB", ""]) + " |")
        L += ["", f"Counted as visibly equal at PSNR >= {PSNR_EQUAL_DB:.0f} dB and SSIM >= {SSIM_EQUAL} "
              f"(fixed before measuring). Adam's images: **{'equal' if visibly_equal(prec) else 'not equal'}**"
              + (f"; L-BFGS's: **{'equal' if visibly_equal(lb) else 'not equal'}**" if lb else "")
              + ".", ""]
        for r, label in ((prec, "Adam"), (lb, "L-BFGS")):
            if r and r.get("comparison_image"):
                L += [f"![{label}: float32, bfloat16, difference x10]({r['comparison_image']})", "",
                      f"{label}, {r['steps']} steps: float32 | bfloat16 | difference x10", ""]
    else:
        L += ["Not measured.", ""]

    nbs = results.get("notebooks") or {}
    L += ["## 6. The notebooks in CI mode", ""]
    if _ok(nbs) and nbs.get("available"):
        L += ["Every solved notebook executed with `CI=true` (tiny images, few steps), one kernel "
              "each, outputs not compared.", "", "| Notebook | seconds | |", "|---|---|---|"]
        for n in nbs["notebooks"]:
            L.append(f"| {n['notebook']} | {n['seconds']:.0f} | {n['error'] or 'ok'} |")
        L += [f"| all | {nbs['seconds']:.0f} ({nbs['seconds'] / 60:.1f} min) | |", ""]
    else:
        L += ["Not measured in this run (`--no-notebooks`, `--quick`, or no notebooks yet).", ""]

    notes = _notes(results, ev)
    if notes:
        L += ["## Notes on the figures", ""] + notes + [""]
    if gpu:
        L += _gpu_section(gpu)
    return "\n".join(L).rstrip() + "\n"


def _convolution_lines(st):
    """Section 2's second half: the library's convolutions against Keras' plain ones."""
    L = []
    ab = st.get("ablation") or {}
    layers = [l for l in st.get("layers", []) if "forward_ms" in l]
    if not (_ok(ab) and "speedup" in ab) and not layers:
        return L
    L += ["### The library's convolutions", "",
          "Only the image is optimised, so a step needs each convolution forward and its gradient "
          "with respect to its input, never with respect to the weights. On this CPU oneDNN's "
          "kernel for that input gradient (a transposed convolution) is much faster on the deep "
          "layers than its forward kernel, which TensorFlow hands the weights in a layout it reads "
          "slowly. A stride-1 convolution equals the transposed convolution of its kernel flipped "
          "in space with input and output channels swapped, so the library's feature extractor "
          "runs both passes on the fast kernel, with the flipped kernel computed once "
          "(`nst_helpers.backbone._frozen_conv`; on by default on CPUs, `fast_conv=False` or "
          "`NST_FAST_CONV=0` turns it off). It does so for the layers with at least 256 input "
          "channels (`block3_conv2` onward): with fewer, Keras' forward kernel is as fast and "
          "adds the bias and the ReLU inside the convolution, where the transposed convolution "
          "needs two more passes over a large activation. The numbers are the same. The Gram matrix's gradient "
          "also takes one matmul instead of the two that automatic differentiation spends: "
          "`G = FᵀF` is symmetric, so the gradient is `F (dG + dGᵀ)`.", ""]
    if _ok(ab) and "speedup" in ab:
        L += [f"One evaluation (loss and gradient) of the same problem, the two extractors "
              f"alternating {len(ab.get('library_ms_rounds', []))} times: "
              f"**{ab['library_ms']:.0f} ms** with the library's convolutions against "
              f"{ab['plain_ms']:.0f} ms with Keras' plain ones (**{ab['speedup']:.2f}x**); "
              f"the loss differs by {ab['loss_relative_difference']:.1e} and the gradient by "
              f"{ab['gradient_relative_difference']:.1e} (relative).", ""]
    if layers:
        L += ["Each convolution alone at its shape (best of two batches; ms):", "",
              "| layer | pixels | channels in, out | forward, as the library runs it | forward, "
              "Keras' plain `conv2d` | input gradient |", "|---|---|---|---|---|---|"]
        for l in layers:
            w, h = l.get("size", ["?", "?"])
            plain = f"{l['forward_plain_ms']:.1f}" if "forward_plain_ms" in l else "same"
            L.append(f"| `{l['layer']}` | {w}x{h} | {l.get('in', '?')}, {l.get('out', '?')} | "
                     f"{l['forward_ms']:.1f} | {plain} | {l['backward_ms']:.1f} |")
        L += [""]
    return L


def _notes(results, ev):
    """Plain explanations for the figures, and for every missed target."""
    out = []
    st = results.get("step_time", {})
    if "step_ratio" in ev:
        out.append(
            "- **Why the compiled step is faster.** The seed's eager loop dispatches about 440 "
            "operations one by one from Python every step, and its gradient tape computes the "
            "gradient of every convolution's weights too (12 `Conv2DBackpropFilter` per step, "
            "about half again the work of the forward and input-gradient passes), only to throw "
            "them away: only the image is optimised. It also copies the image to NumPy once or "
            "twice per step for its frames. The library's `tf.function` graph is pruned to what "
            "the image's gradient needs and runs many steps per call.")
    if "step_ratio" in ev and not ev["step_ratio"]["pass"]:
        out.append(
            f"- **Step ratio missed ({ev['step_ratio']['value']:.3f}x).** Both loops spend most of "
            "their time in the same convolutions, so the ratio cannot exceed about 1.5x from the "
            "weight gradients plus the eager loop's per-operation overhead; while other processes "
            "share the two cores, both loops wait for the same cores and the ratio moves towards 1.")
    if "roofline" in ev:
        value = ev["roofline"]["value"] * 100
        chunks = [f * 100 for f in st.get("fraction_of_matmul_chunks") or []]
        spread = (f" Chunk by chunk the share ranged from {min(chunks):.0f} to {max(chunks):.0f} %, "
                  "as other work on this shared machine slowed the step and the matmul unevenly."
                  if len(chunks) > 1 else "")
        conv = (f"The step's convolutions alone, each at its own shape, reach "
                f"{st['conv_alone_gflops'] / st['matmul_gflops_fp32'] * 100:.0f} % of the matmul "
                f"rate and take {st['conv_alone_ms']:.0f} of the step's "
                f"{st.get('library_ms_at_limit', st['library_ms']):.0f} ms (both scaled to that "
                "rate). " if st.get("conv_alone_ms") else "")
        if st.get("gram_alone_ms"):
            conv += (f"The Gram matrices are tall, thin matmuls (tens of thousands of positions "
                     f"by 64 to 512 channels) that reach only "
                     f"{st['gram_alone_gflops'] / st['matmul_gflops_fp32'] * 100:.0f} % of the "
                     f"rate: {st['gram_alone_ms']:.0f} ms for "
                     f"{100 * sum(2 * g['gflop'] for g in st['grams']) / st['gflop_per_step']:.0f}"
                     " % of the FLOPs. ")
        rest = ("The rest runs outside both: pooling, ReLU and their gradients, the element-wise "
                "losses and oneDNN's reordering of each kernel into its blocked layout (twice per "
                "layer and step, as TensorFlow keeps no reordered copy), all limited by memory, "
                "not arithmetic.")
        ab = st.get("ablation") or {}
        how = (f"Two changes made the step faster (section 2): the deep convolutions' forward pass "
               f"runs on oneDNN's faster transposed-convolution kernel ({ab['speedup']:.2f}x per "
               "evaluation against Keras' plain convolutions, same numbers), and the Gram "
               "matrix's gradient takes one matmul instead of two. " if _ok(ab) and "speedup" in ab
               else "")
        if ev["roofline"]["pass"]:
            out.append(f"- **How the step reaches {value:.0f} % of the matmul rate.** " + how + conv
                       + rest + spread)
        else:
            out.append(f"- **Roofline missed ({value:.0f} %).** A step is not one large matmul. "
                       + how + conv + rest + " XLA, other thread counts and TensorFlow without "
                       "oneDNN were all slower (see below). The bfloat16 path (section 5) is the "
                       "way past this limit on this CPU." + spread)
    if "lbfgs_ratio" in ev and not ev["lbfgs_ratio"]["pass"]:
        out.append("- **L-BFGS target missed.** See the table of section 3 for the evaluations "
                   "it needed.")
    if "memory_growth" in ev and not ev["memory_growth"]["pass"]:
        out.append("- **Memory target missed.** The library's run keeps no frames, so growth "
                   "comes from TensorFlow's allocator settling; see section 4.")
    prec = results.get("precision", {})
    if "bf16" in ev:
        if ev["bf16"]["value"] >= 1.4:
            out.append(
                "- **Why bfloat16 is so much faster here.** This CPU has AMX "
                f"({', '.join(results.get('machine', {}).get('cpu_flags', []))}): oneDNN runs "
                "bfloat16 convolutions on its matrix tiles, while float32 runs on AVX-512 FMA. "
                "Only the network gets faster: the rest of a step (for L-BFGS, also scipy's own "
                "work between evaluations, in float64) does not, and with other work on the "
                "machine the gain shrinks, as both precisions wait for the same cores.")
        else:
            out.append(
                f"- **bfloat16 missed its speed target ({ev['bf16']['value']:.2f}x).** The "
                "convolutions run in bfloat16, but casts and the float32 losses remain.")
        if not visibly_equal(prec):
            out.append(
                f"- **The bfloat16 Adam image is not visibly equal to float32's** (PSNR "
                f"{prec['psnr_db']:.1f} dB, SSIM {prec['ssim']:.3f}). bfloat16 keeps 8 bits of "
                "mantissa, so activations and gradients carry about 0.4 % relative error.")
        lb = prec.get("lbfgs") or {}
        if _ok(lb) and "psnr_db" in lb and not visibly_equal(lb):
            floor = lb.get("float32_vs_perturbed_float32", {})
            out.append(
                f"- **L-BFGS's bfloat16 image is not pixel-equal to float32's** (PSNR "
                f"{lb['psnr_db']:.1f} dB, SSIM {lb['ssim']:.3f}), and neither is float32's own "
                f"image when the content weight changes by one part in a million (PSNR "
                f"{floor.get('psnr_db', float('nan')):.1f} dB, SSIM {floor.get('ssim', float('nan')):.3f}). "
                "L-BFGS follows the curvature, so any tiny difference changes its line searches and "
                "then which brush strokes it paints: the picture, the style and the loss stay the "
                f"same (float32 loss of the final image {lb['float32_image_loss']:.5g} against "
                f"{lb['bfloat16_image_loss_in_float32']:.5g}), the exact strokes do not. bfloat16 "
                "moves them somewhat further than that float32 noise. Use float32 where a result "
                "must be reproduced pixel for pixel.")
    seed = results.get("seed_run", {})
    if _ok(seed):
        out.append(
            "- **Time to quality** counts, for the library, its one-off compilation "
            f"({results.get('library_run', {}).get('compile_seconds', float('nan')):.1f} s for Adam, "
            f"{results.get('lbfgs_run', {}).get('compile_seconds', float('nan')):.1f} s for "
            "L-BFGS). L-BFGS wins because it uses curvature: each evaluation costs about one Adam "
            "step, but it needs far fewer of them. The library's Adam follows exactly the seed's "
            "path (same losses step by step), only faster.")
    c2f, lb = results.get("coarse_to_fine_run", {}), results.get("lbfgs_run", {})
    if (_ok(c2f) and c2f.get("time_to_target") and _ok(lb) and lb.get("time_to_target")
            and c2f["time_to_target"] > lb["time_to_target"]):
        out.append(
            "- **Coarse-to-fine reaches the target later than plain L-BFGS at this size.** The "
            "enlarged half-size result is blurred, so its final stage starts from a higher loss "
            f"({c2f['loss'][0]:.5g}) than the photograph ({lb['loss'][0]:.5g}), and the coarse "
            "stage's time comes first, while plain L-BFGS needs only a few evaluations for this "
            "modest target. It goes further, though: after its "
            f"{len(c2f['loss'])} final-size evaluations its loss is {min(c2f['loss']):.5g}, against "
            f"{min(lb['loss']):.5g} for plain L-BFGS after {len(lb['loss'])} (see the plot).")
    out.append(
        "- **What else was tried** (measured once while tuning the library on this machine, "
        "not by this command): the share of the matmul rate moves from run to run on this "
        "shared machine, as the matmul rate itself does (195 to 267 GFLOP/s on one day): three "
        "runs of the step-time benchmark alone (six chunks), after the last change to the "
        "convolutions and on the day of a full run at 81 %, gave 71, 84 and 85 %; "
        "`jit_compile=True` (XLA) made the step about 5 times slower, as XLA's "
        "CPU convolutions do not use oneDNN; tracking the best image inside the graph and the "
        "Adam update cost under 1 % of a step; the forward pass is about 55 % of a step and the "
        "backward pass 45 %; other intra-/inter-op thread counts made no "
        "difference beyond the noise. One inter-op thread came out ahead twice but within the "
        "spread: 81 % of the matmul rate against 78 % with the default (means over five "
        "alternating processes each, single figures 77 to 86 % and 77 to 80 %), and on another "
        "day 83 % against 75 % (four each, 75 to 93 % and 70 to 77 %; 306 against 316 ms per "
        "step). A library cannot set it once TensorFlow has started, which in a notebook it "
        "usually has, so TensorFlow's defaults stay. TensorFlow "
        "without oneDNN (`TF_ENABLE_ONEDNN_OPTS=0`) was about 20 % slower. Giving the "
        "convolutions constant kernels did not make TensorFlow keep oneDNN's reordered copy "
        "(the forward kernel still read the plain layout), and computing the image's gradient "
        "through the first layer (64 to 3 channels) as a forward convolution was no faster "
        "(5.2 against 4.7 ms). Computing the Gram matrices as a 1x1 convolution's weight gradient "
        "(104 to 111 GFLOP/s) or as batched matmuls over chunks of positions (96 to 122) was "
        "slower than the plain matmul (129 to 156). oneDNN's verbose log of one evaluation "
        "(one inter-op thread, so that no two primitives overlap) showed where the time goes: "
        "every 3x3 convolution ran at 195 to 220 GFLOP/s, 241 ms in all; the Gram matmuls 18 ms; "
        "reordering kernels into oneDNN's blocked layout, twice per layer, 13 ms (5 %); pooling "
        "4 ms; the image's gradient through the first layer (64 to 3 channels) only 38 GFLOP/s, "
        "4 ms, and as one matmul plus shifted sums it was slower still (5.7 ms). TensorFlow's "
        "single-threaded function executor gave the same time per evaluation as its default "
        "(367 against 366 ms, medians of 8 alternating rounds in one process). "
        "For L-BFGS, scipy's "
        "L-BFGS-B does its vector algebra with multi-threaded BLAS between evaluations, whose "
        "spinning threads took the cores from TensorFlow: the library now limits BLAS to one "
        "thread during the run (with `threadpoolctl`), which made an evaluation about 30 % "
        "faster on this busy 2-core machine. Its history size (`maxcor`) of 10, 20 or 50 gave "
        "losses after 40 evaluations within 1 % of each other (5 was 4 % worse), so it stays 20. scipy converts the bounds "
        "of all pixels in Python once per run (about half a second at 256 px).")
    if "notebooks" not in ev:
        out.append("- **The CI-mode notebook run** was not timed in this run; `python -m "
                   "benchmarks.run_all` (without `--no-notebooks`) times it.")
    if "notebooks" in ev and not ev["notebooks"]["pass"]:
        out.append("- **CI-mode notebooks missed the 10-minute target** or failed; see section 6.")
    return out


def _gpu_section(gpu):
    m = gpu.get("machine", {})
    L = ["## On a GPU machine", "",
         f"The same benchmarks, run once with `{gpu.get('command', 'python -m benchmarks.run_all')}` "
         f"on {', '.join(m.get('gpu', [])) or 'a GPU'} ({m.get('cpu')}, {m.get('cores')} cores, "
         f"TensorFlow {m.get('tensorflow')}), on {gpu.get('started', '?')}. The CPU targets "
         "above do not apply; nothing in the course needs a GPU.", "",
         "| Figure | GPU |", "|---|---|"]
    ev = evaluate(gpu)
    for key, what, _, _ in TARGETS:
        if key in ev:
            L.append(f"| {_what(what, gpu)} | {ev[key]['measured']} |")
    t = gpu.get("target", {}).get("loss")
    for key, label in (("seed_run", "seed's loop"), ("library_run", "library Adam"),
                       ("lbfgs_run", "L-BFGS"), ("coarse_to_fine_run", "coarse-to-fine")):
        r = gpu.get(key, {})
        if _ok(r) and t and r.get("time_to_target"):
            L.append(f"| time to the seed's {gpu['target']['quality_step']}-step loss, {label} | "
                     f"{r['time_to_target']:.1f} s |")
    L += [""]
    return L


def write(out_dir, results):
    """Write ``performance.md`` and the plot into ``out_dir``; print the summary."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        plot(results, out_dir / PLOT)
    except Exception as err:  # the report is still worth writing
        print(f"plot failed: {type(err).__name__}: {err}")
    gpu = None
    gpu_json = out_dir / "gpu" / "performance.json"
    if gpu_json.exists():
        gpu = json.loads(gpu_json.read_text())
    (out_dir / "performance.md").write_text(markdown(results, gpu=gpu))
    for line in summary_lines(results):
        print(line)
    return out_dir / "performance.md"
