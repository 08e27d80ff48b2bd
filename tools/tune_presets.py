"""Re-tune the presets' style weights on the course's network, and write down the numbers.

    python tools/tune_presets.py [--size 256] [--steps 150] [--out docs/tuning]

For the ``fast`` preset (the seed's losses, L-BFGS) and the ``gatys`` preset (the paper's
normalisation and content layer, L-BFGS) it stylises one photograph with one painting at three
style weights, a decade apart, and prints each run's final content and style losses (unweighted,
so the runs compare) and a contact sheet. A maintainer's tool: its results are in
``docs/tuning.md``; nothing in the tests depends on it.
"""

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from nst_helpers.optimize import stylize  # noqa: E402
from nst_helpers.samples import load_sample  # noqa: E402

GRID = {"fast": (1e-3, 1e-2, 1e-1), "gatys": (10.0, 100.0, 1000.0)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--content", default="chelsea")
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--out", default="docs/tuning")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content, style = load_sample(args.content), load_sample(args.style)
    rows, results = [], {}
    for name, weights in GRID.items():
        for w in weights:
            r = stylize(
                content,
                style,
                name,
                style_weight=w,
                steps=args.steps,
                max_side=args.size,
                progress=False,
            )
            # The histories hold weighted terms; divided by their weights they compare across runs.
            c = r.history["content"][-1] / r.config.content_weight
            s = r.history["style"][-1] / r.config.style_weight
            results[name, w] = r
            rows.append(f"| {name} | {w:g} | {c:.4g} | {s:.4g} | {r.seconds:.0f} |")
            print(rows[-1], r.backbone, flush=True)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), dpi=100)
    for ax, ((name, w), r) in zip(axes.flat, results.items()):
        ax.imshow(r.image)
        ax.set_title(f"{name}, style weight {w:g}", fontsize=12)
        ax.axis("off")
    fig.suptitle(
        f"{args.content} × {args.style}, {args.steps} L-BFGS steps, {args.size} px ({r.backbone})",
        fontsize=13,
    )
    fig.tight_layout()
    fig.savefig(out / "presets.jpg", pil_kwargs={"quality": 85})
    print(
        "| preset | style weight | content loss (unweighted) | style loss (unweighted) | seconds |"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
