"""Draw the whole Gatys et al. pipeline as one diagram, ``docs/images/pipeline.png``.

    python tools/pipeline_diagram.py            # matplotlib only (Agg); about 1000x420 px

Three images go through the same VGG19, whose weights stay frozen: the content image gives the
features of one layer, the style image the Gram matrices of five, the generated image both. The
content and style losses add up, with their weights, to the total loss, whose gradient flows back
to the generated image's pixels; an optimiser (Adam or L-BFGS) updates them.
:func:`attachment_cell` returns a notebook markdown cell that carries the picture as an attachment.
"""

import base64
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG = ROOT / "docs" / "images" / "pipeline.png"
COLOURS = {
    "content": "#d6e6f5",
    "generated": "#dcefd8",
    "style": "#f8e0cc",
    "vgg": "#e6e6e6",
    "loss": "#fbf1c4",
    "total": "#f6d5d5",
}
GRADIENT = "#c0392b"


def draw(path=PNG):
    """Draw the diagram into ``path`` (a PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import FancyBboxPatch
    from PIL import Image  # Pillow, which matplotlib itself needs

    fig = plt.figure(figsize=(10, 4.2), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 42)
    ax.axis("off")

    def box(x, y, w, h, text, colour, size=10, edge="#555555", lw=1.0):
        ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0,rounding_size=1.2", fc=colour, ec=edge, lw=lw
            )
        )
        ax.text(
            x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, linespacing=1.35
        )

    def arrow(start, end, colour="#333333"):
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops=dict(
                arrowstyle="-|>", color=colour, lw=1.4, shrinkA=0, shrinkB=0, mutation_scale=14
            ),
        )

    rows = {"content": 31.3, "generated": 18.5, "style": 5.7}  # the bottom of each row's boxes
    h = 7.6
    images = {
        "content": "content image",
        "generated": "generated image\n(its pixels are\nthe variables)",
        "style": "style image",
    }
    for name, y in rows.items():
        strong = name == "generated"  # the one image that changes: a thicker, darker frame
        box(
            4,
            y,
            14,
            h,
            images[name],
            COLOURS[name],
            edge="#2e7d32" if strong else "#555555",
            lw=2.2 if strong else 1.0,
        )
        box(23, y, 12, h, "VGG19\n(weights frozen)", COLOURS["vgg"])
        arrow((18, y + h / 2), (23, y + h / 2))
        arrow((35, y + h / 2), (40, y + h / 2))
    layers = "block1_conv1 … block5_conv1"
    box(
        40,
        rows["content"],
        22.5,
        h,
        "content features at one layer:\nblock4_conv2 in the paper,\nblock5_conv2 in the seed",
        COLOURS["content"],
        9.5,
    )
    box(
        40,
        rows["generated"],
        22.5,
        h,
        "its features at that layer\nand its Gram matrices at\n" + layers,
        COLOURS["generated"],
        9.5,
    )
    box(
        40,
        rows["style"],
        22.5,
        h,
        "Gram matrices\nat five layers:\n" + layers,
        COLOURS["style"],
        9.5,
    )

    yc, ys = 26.8, 14.0  # centres of the two losses, between the rows they compare
    box(67, yc - 3.5, 14, 7, "content loss\nfeatures vs features", COLOURS["loss"], 9.5)
    box(67, ys - 3.5, 14, 7, "style loss\nGram vs Gram", COLOURS["loss"], 9.5)
    for y_from, y_to in (
        (rows["content"] + h / 2, yc + 1.5),
        (rows["generated"] + h / 2 + 1.5, yc - 1.5),
        (rows["generated"] + h / 2 - 1.5, ys + 1.5),
        (rows["style"] + h / 2, ys - 1.5),
    ):
        arrow((62.5, y_from), (67, y_to))
    box(
        85,
        16.8,
        13.5,
        11,
        "total loss\n"
        r"$\alpha\,L_\mathrm{content}$"
        "\n"
        r"$+\ \beta\,L_\mathrm{style}$",
        COLOURS["total"],
        10.5,
    )
    arrow((81, yc), (85, 25.0))
    arrow((81, ys), (85, 19.6))

    # The gradient goes back around the bottom and in at the generated image's left side.
    corners = [(91.75, 16.8), (91.75, 2.2), (1.5, 2.2), (1.5, rows["generated"] + h / 2)]
    ax.plot(*zip(*corners), color=GRADIENT, lw=1.8, ls=(0, (5, 3)))
    arrow(corners[-1], (4, rows["generated"] + h / 2), GRADIENT)
    ax.text(
        46,
        2.2,
        "gradient of the total loss with respect to the pixels: an optimiser (Adam or "
        "L-BFGS) updates the generated image; VGG19 stays as it is",
        ha="center",
        va="center",
        fontsize=9.5,
        color=GRADIENT,
        bbox=dict(fc="white", ec="none", pad=1.5),
    )
    ax.text(
        50,
        40.6,
        "Neural style transfer (Gatys et al. 2016): the image is optimised, not the network",
        ha="center",
        va="center",
        fontsize=11,
        weight="bold",
    )

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.canvas.draw()  # then stored as 256 colours: the same picture, a third of the bytes
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    Image.fromarray(rgb).quantize(256).save(path, optimize=True)
    return path


def attachment_cell(cell_id, text, path=PNG):
    """A notebook markdown cell: ``text``, then the diagram, carried as the attachment ``pipeline.png``.

    The picture is read from ``path`` (drawn first if it is missing), so every notebook that embeds
    it holds the same bytes. In a script that edits a notebook's JSON::

        sys.path.insert(0, "tools")
        from pipeline_diagram import attachment_cell
        nb["cells"].insert(3, attachment_cell("pipeline", "Where this notebook sits in the pipeline: ..."))
    """
    path = pathlib.Path(path)
    if not path.exists():
        draw(path)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    source = text.rstrip() + "\n\n![The whole pipeline](attachment:pipeline.png)"
    return {
        "attachments": {"pipeline.png": {"image/png": data}},
        "cell_type": "markdown",
        "id": cell_id,
        "metadata": {},
        "source": source,
    }


if __name__ == "__main__":
    out = draw()
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KB)")
