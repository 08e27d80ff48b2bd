"""Notebook 05, first exercise: ``total_loss``, the weighted mean of the layers' losses.

The hints name swapped or missing weights, sums where the seed averages over layers, a mean over
all the layers pooled or over the two terms, a missing term, and a Gram matrix taken of the targets,
which already are Gram matrices.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .answers import as_scalar, as_tensor, call_student, check_gradient
from .common import fail, first_mistake, is_close, made_up_features, off_by, read_cases, succeed

__all__ = ["HINTS", "UNEXPLAINED", "generate", "check_total_loss"]

HINTS = {
    "swapped": "the weights are swapped: content_weight multiplies the content loss and style_weight "
    "the style loss.",
    "no_weights": "multiply by the weights: content_weight * (content loss) + style_weight * "
    "(style loss).",
    "style_sum": "average the style losses over the style layers (the seed's w_l = 1/5 for five "
    "layers): divide their sum by len(style_targets).",
    "content_sum": "average the content losses over the content layers: divide their sum by "
    "len(content_targets) (the seed has one content layer, but there may be several).",
    "both_sum": "average over the layers: the sum of the content losses divided by "
    "len(content_targets), the sum of the style losses by len(style_targets).",
    "content_only": "the style loss is missing: add style_weight times the mean of the style losses "
    "over style_targets' layers.",
    "style_only": "the content loss is missing: add content_weight times the mean of the content "
    "losses over content_targets' layers.",
    "gram_of_target": "style_targets already hold the style image's Gram matrices: compare them with "
    "the Gram matrices of features[layer] (your style_loss does), without taking "
    "their Gram matrix again.",
    "pooled": "you averaged over all the layers pooled, content and style together (divided by "
    "len(content_targets) + len(style_targets)): average each kind over its own layers, "
    "the content losses over len(content_targets), the style losses over "
    "len(style_targets), then weight the two means and add them.",
    "halved": "you averaged the two weighted terms (divided their sum by 2): add them, "
    "content_weight * (mean content loss) + style_weight * (mean style loss).",
}

UNEXPLAINED = (
    " If content_loss and style_loss pass their checks, look at how they are combined: "
    "content_weight times the mean of the content losses over content_targets' layers, "
    "plus style_weight times the mean of the style losses over style_targets' layers."
)


def _derived(case: dict, n_content: int, n_style: int) -> dict[str, np.float64]:
    """The mistakes that follow from the stored answers, without storing more reference values.

    The stored ``content_only`` and ``style_only`` are the two weighted means, ``content_weight *
    mean(content losses)`` and ``style_weight * mean(style losses)``; times their numbers of layers
    they are the weighted sums, whose mean over all the layers pooled is ``pooled``.
    """
    c, s = (np.float64(case["mistakes"][k]) for k in ("content_only", "style_only"))
    return {"pooled": (n_content * c + n_style * s) / (n_content + n_style), "halved": (c + s) / 2}


def _split_dicts(inputs: dict[str, Any]) -> dict[str, Any]:
    """``{"features.block1_conv1": x, "style_weight": w}`` → ``{"features": {"block1_conv1": x}, ...}``."""
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        head, dot, tail = key.partition(".")
        if dot:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


#: The test cases: (content layers, style layers, {layer: shape}, content weight, style weight).
#: Two content layers, then one.
_SPECS: list[tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[int, ...]], float, float]] = [
    (
        ("block4_conv2", "block5_conv2"),
        ("block1_conv1", "block2_conv1", "block3_conv1"),
        {
            "block1_conv1": (1, 6, 6, 3),
            "block2_conv1": (1, 3, 3, 5),
            "block3_conv1": (1, 2, 2, 6),
            "block4_conv2": (1, 2, 2, 7),
            "block5_conv2": (1, 1, 2, 7),
        },
        2.0,
        5.0,
    ),
    (
        ("block5_conv2",),
        ("block1_conv1", "block2_conv1"),
        {
            "block1_conv1": (1, 6, 5, 4),
            "block2_conv1": (1, 3, 3, 6),
            "block5_conv2": (1, 2, 3, 8),
        },
        10.0,
        0.5,
    ),
]


def generate(rng: np.random.Generator) -> dict:
    """Two sets of layers and weights (two content layers, then one); answers and mistakes."""
    return {i: _generate_case(rng, *spec) for i, spec in enumerate(_SPECS)}


def _generate_case(
    rng: np.random.Generator,
    content_layers: tuple[str, ...],
    style_layers: tuple[str, ...],
    shapes: dict[str, tuple[int, ...]],
    cw: float,
    sw: float,
) -> tuple[dict[str, Any], np.float64, dict[str, np.float64]]:
    """One case: made-up features and targets of ``shapes``, the answer and the mistakes' values."""
    from .. import losses  # lazy: TensorFlow, only when regenerating

    feats = {l: made_up_features(rng, s) for l, s in shapes.items()}
    content_t = {l: made_up_features(rng, shapes[l]) for l in content_layers}
    style_t = {
        l: losses.gram_matrix(made_up_features(rng, shapes[l], 1.3)).numpy() for l in style_layers
    }
    c_each = [float(losses.content_loss(feats[l], content_t[l])) for l in content_layers]
    s_each = [float(losses.style_layer_loss(feats[l], style_t[l])) for l in style_layers]
    regram = [
        float(losses.style_layer_loss(feats[l], losses.gram_matrix(style_t[l])))
        for l in style_layers
    ]
    c, s = np.mean(c_each), np.mean(s_each)
    mistakes = {
        "swapped": sw * c + cw * s,
        "no_weights": c + s,
        "style_sum": cw * c + sw * np.sum(s_each),
        "content_only": cw * c,
        "style_only": sw * s,
        "gram_of_target": cw * c + sw * np.mean(regram),
    }
    if len(content_layers) > 1:  # with one content layer, its sum is its mean
        mistakes.update(
            content_sum=cw * np.sum(c_each) + sw * s,
            both_sum=cw * np.sum(c_each) + sw * np.sum(s_each),
        )
    inputs: dict[str, Any] = {f"features.{l}": v for l, v in feats.items()}
    inputs.update({f"content_targets.{l}": v for l, v in content_t.items()})
    inputs.update({f"style_targets.{l}": v for l, v in style_t.items()})
    inputs.update(content_weight=np.float64(cw), style_weight=np.float64(sw))
    return inputs, np.float64(cw * c + sw * s), {k: np.float64(v) for k, v in mistakes.items()}


def check_total_loss(total_loss: Callable) -> None:
    """Check ``total_loss(features, content_targets, style_targets, content_weight, style_weight)``.

    The seed's total loss: ``content_weight`` times the mean over ``content_targets``' layers of the
    content loss, plus ``style_weight`` times the mean over ``style_targets``' layers of the style
    loss (the seed's layer weights ``w_l = 1/L``). ``features`` maps every layer name to the
    image's features, ``content_targets`` content layers to the content image's features,
    ``style_targets`` style layers to the style image's Gram matrices. A gradient must flow back to
    the features.

    Args:
        total_loss: the function written in notebook 05.
    """
    cases = read_cases("total_loss")
    for case in cases:
        inp = _split_dicts(case["inputs"])
        text = (
            f"{len(inp['content_targets'])} content and {len(inp['style_targets'])} style layers, "
            f"weights {float(inp['content_weight']):g} and {float(inp['style_weight']):g}"
        )
        args: list[Any] = [
            {l: as_tensor(v) for l, v in inp[k].items()}
            for k in ("features", "content_targets", "style_targets")
        ]
        args += [float(inp["content_weight"]), float(inp["style_weight"])]
        got = as_scalar(total_loss, call_student(total_loss, *args), text)
        want = case["expected"]
        if is_close(got, want, 1e-4, 0):
            continue
        mistakes = {
            **case["mistakes"],
            **_derived(case, len(inp["content_targets"]), len(inp["style_targets"])),
        }
        hint = first_mistake(got, mistakes, HINTS, 1e-4)
        if hint:
            fail(total_loss, text, hint)
        fail(total_loss, text, off_by(got, want) + UNEXPLAINED)
    inp = _split_dicts(cases[0]["inputs"])
    args = [
        {l: as_tensor(v) for l, v in inp[k].items()}
        for k in ("features", "content_targets", "style_targets")
    ]
    check_gradient(
        total_loss,
        "gradient with respect to the features",
        args + [float(inp["content_weight"]), float(inp["style_weight"])],
    )
    succeed(total_loss, len(cases), ": two content layers and one")
