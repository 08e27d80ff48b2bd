"""Make the README's figure: content | style | result, by the demo's settings.

    python tools/figures.py [--out docs/images/result.jpg] [--size 256]

The result is ``nst demo``'s: Chelsea the cat with The Starry Night, the ``fast`` preset with the
demo's changes (``nst_helpers.cli.run.DEMO_CHANGES``).
"""

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from nst_helpers.cli.run import DEMO_CHANGES  # noqa: E402
from nst_helpers.images import load_image  # noqa: E402
from nst_helpers.optimize import stylize  # noqa: E402
from nst_helpers.samples import describe, load_sample  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images/result.jpg")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    content, style = load_sample("chelsea"), load_sample("starry_night")
    result = stylize(content, style, "fast", max_side=args.size, progress=False, **DEMO_CHANGES)
    shown = [
        load_image(content, max_side=args.size),
        load_image(style, max_side=args.size),
        result.image,
    ]
    titles = [
        "content: Chelsea the cat",
        "style: " + describe("starry_night").split(" (")[0],
        f"result: {result.steps} L-BFGS steps from the recoloured cat",
    ]
    widths = [im.shape[1] / im.shape[0] for im in shown]
    fig, axes = plt.subplots(
        1, 3, figsize=(3.2 * sum(widths), 3.6), dpi=110, gridspec_kw={"width_ratios": widths}
    )
    for ax, im, title in zip(axes, shown, titles):
        ax.imshow(im)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, pil_kwargs={"quality": 88})
    print(f"wrote {out} ({result})")


if __name__ == "__main__":
    main()
