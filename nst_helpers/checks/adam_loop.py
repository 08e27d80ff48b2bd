"""Notebook 05, second exercise: ``run_adam(problem, steps)``, compared step by step with the
library's compiled loop (``stylize`` with the ``seed`` preset) on small stored images.

Unlike the other checks this one runs the network, so the library's run, and each classic mistake's
run when needed, is computed on the spot and cached per backbone (:mod:`.adam_reference`).
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import numpy as np

from .adam_reference import adam_setup, adam_variant
from .answers import GRADIENT_HINT, as_array, call_student
from .common import fail, function_name, off_by

__all__ = ["HINTS", "generate", "check_adam_loop"]

HINTS = {
    "no_clip": "the pixels are never clipped. After each step, put the image back into the range of "
    "real pixels, in VGG space: image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX)).",
    "rgb_clip": "you clipped to [0, 255], the range of RGB pixels, but the image is in VGG space (BGR, "
    "means removed), where each channel runs from -mean to 255 - mean: clip to "
    "[VGG_MIN, VGG_MAX] (tf.clip_by_value(image, VGG_MIN, VGG_MAX)).",
    "fresh_optimizer": "the optimiser is made anew at every step, so Adam forgets its running averages "
    "(its momentum) and every step is a first step: make it once, before the loop, "
    "and use that one optimiser for every step.",
    "adam_defaults": "Adam's settings are Keras' defaults, not the seed's: keras.optimizers.Adam("
    "learning_rate=2.0, beta_1=0.99, epsilon=0.1).",
    "beta_1": "beta_1 is left at Keras' default, 0.9: the seed's momentum is beta_1=0.99, "
    "keras.optimizers.Adam(learning_rate=2.0, beta_1=0.99, epsilon=0.1). (The first "
    "update does not depend on beta_1, the later ones do.)",
    "beta_2": "beta_2 is 0.99: the seed sets beta_1=0.99 and leaves beta_2 at Keras' default, "
    "0.999: keras.optimizers.Adam(learning_rate=2.0, beta_1=0.99, epsilon=0.1). Over a "
    "few steps it changes the losses only slightly, but it changes them.",
    "epsilon": "epsilon is left at Keras' default, 1e-7: the seed's is epsilon=0.1, "
    "keras.optimizers.Adam(learning_rate=2.0, beta_1=0.99, epsilon=0.1). Over a few steps "
    "it changes the losses only slightly, but it decides how far the pixels whose "
    "gradient is small move.",
    "clip_before": "the image is clipped before the update instead of after it: clip after "
    "apply_gradients, image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX)), so that "
    "the image of every step holds real pixels.",
    "loss_after": "each loss you recorded is that of the image after the step's update (your first "
    "loss is the library's second): record the loss computed in the step, under the "
    "tape, before apply_gradients; the first loss is that of the starting image.",
    "swapped": "the weights are swapped: give total_loss problem.content_weight for the content loss "
    "and problem.style_weight for the style loss, in that order.",
    "no_gradient": "the optimiser got no gradient: take the gradient of the loss with respect to the "
    "image variable that Adam updates, tape.gradient(loss, image), and compute the loss "
    "from that same variable inside the `with tf.GradientTape()` block. A gradient with "
    "respect to problem.x0 (a constant), or a loss computed with NumPy or .numpy(), is "
    "None.",
    "new_variable": "Adam was handed another variable than the one it started with: make the image "
    "a tf.Variable once, before the loop, and update that same variable at every step "
    "(Keras' optimisers keep their running averages per variable).",
    "frozen": "the loss never changes, so the image is never updated: take the gradient with respect "
    "to the image variable (tape.gradient(loss, image)) and hand Adam that same variable "
    "(optimizer.apply_gradients([(grad, image)])).",
    "last_image": "that is the image after the last update, not the best one: keep a copy of the "
    "image whose loss is the lowest, taken before the update (best_image = "
    "tf.identity(image) when loss < best_loss, before apply_gradients). The loss "
    "computed in a step belongs to the image before that step's update; a tf.Variable "
    "kept as it is goes on changing.",
    "after_update": "you kept the image after the update of the best step: the loss computed in a "
    "step belongs to the image before that step's update, so copy the image "
    "(tf.identity(image)) before apply_gradients.",
    "start_image": "that is the starting image: keep the image whose loss is the lowest, updating it "
    "whenever a step's loss is lower than the best so far.",
}


def generate(rng: np.random.Generator) -> dict:
    """Only the inputs: the images, steps and weights; the answers depend on the backbone."""
    from ..samples import load_sample  # lazy: only the generator needs it

    content = load_sample("chelsea", size=48).copy()  # 48 x 32 px
    h, w = content.shape[:2]
    content[: h // 3, :] = 255  # saturated regions, where the clip to real pixels acts at once
    content[-h // 4 :, : w // 2] = 0
    style = load_sample("swirls", size=32)
    inputs = {
        "content": content,
        "style": style,
        "steps": np.int64(5),
        "content_weight": np.float64(1e3),
        "style_weight": np.float64(1e-2),
    }
    return {0: (inputs, np.float64(np.nan), {})}


def _loss_list(fn: Callable, text: str, losses: Any, steps: int) -> np.ndarray:
    """The losses ``fn`` returned, one finite number per step, or a failure saying what is wrong."""
    try:
        values = np.asarray(
            [float(np.asarray(v.numpy() if hasattr(v, "numpy") else v)) for v in losses], np.float64
        )
    except (TypeError, ValueError):
        fail(
            fn,
            text,
            "the second thing returned should be the list of the losses, one number per "
            f"step; got a {type(losses).__name__}.",
        )
    if values.shape != (steps,):
        fail(
            fn,
            text,
            f"it returned {values.size} losses for {steps} steps: record one loss per step "
            "(the loss computed in that step, before its update).",
        )
    if not np.all(np.isfinite(values)):
        fail(
            fn,
            text,
            "the loss became NaN or infinite: is the learning rate 2.0, and do you clip "
            "the image after each step?",
        )
    return values


def check_adam_loop(run_adam: Callable, backbone: str | None = None) -> None:
    """Check ``run_adam(problem, steps)``: the seed's Adam loop, against the library's.

    ``problem`` has ``x0`` (the starting image, ``(1, H, W, 3)`` in VGG space), ``extractor`` (layer
    name → features), ``content_targets``, ``style_targets``, ``content_weight`` and
    ``style_weight``. ``run_adam`` makes the image a ``tf.Variable``, makes Adam with the seed's
    settings once, takes ``steps`` steps (loss and gradient under a ``tf.GradientTape``, Adam's
    update, the clip to real pixels in VGG space), and returns ``(best_image, losses)``: the image
    with the lowest loss and the loss of every step. The check runs it for a few steps on small
    stored images and compares its losses, step by step, with those of the library's compiled loop
    (``stylize`` with the ``seed`` preset, the same images and weights), and its image with the
    library's best image; if they differ it runs the classic mistakes to name yours.

    Args:
        run_adam: the function written in notebook 05.
        backbone: the backbone to run on (default ``"auto"``, as the notebooks).
    """
    state = adam_setup(backbone)
    steps, (h, w) = state["steps"], state["size"]
    text = f"{steps} Adam steps at {w}x{h} px, {state['backbone']}"
    best_image, values = _run(run_adam, state, text)
    suspects = _compare_losses(run_adam, state, text, values)
    _compare_best_image(run_adam, state, text, best_image, suspects)
    print(
        f"✔ {function_name(run_adam)} is right ({steps} steps at {w}x{h} px: the same losses as the "
        "library's seed preset, step by step, and its best image)."
    )


def _run(run_adam: Callable, state: dict, text: str) -> tuple[Any, np.ndarray]:
    """``run_adam``'s best image and losses on the check's problem, or a failure naming what broke."""
    steps = state["steps"]
    try:
        out = call_student(run_adam, state["problem"](), steps)
    except ValueError as err:
        if "Unknown variable" in str(err):
            fail(run_adam, text, HINTS["new_variable"])
        if "gradient" not in str(err).lower():
            raise
        fail(run_adam, text, HINTS["no_gradient"])
    except AttributeError as err:
        if "_id" not in str(err):
            raise
        fail(
            run_adam, text, "tape.gradient got a NumPy number instead of a tensor: " + GRADIENT_HINT
        )
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(
            run_adam,
            text,
            "return two things, the best image and the list of losses: "
            "`return best_image, losses`.",
        )
    best_image, values = out
    return best_image, _loss_list(run_adam, text, values, steps)


def _right(a: Any, b: Any) -> bool:
    """Whether losses ``a`` are ``b`` within the rounding of the library's compiled loop."""
    return bool(np.allclose(a, b, rtol=1e-3, atol=0))


#: The mistakes that change the losses (:func:`adam_variant` runs each when needed).
_LOSS_MISTAKES = (
    "no_clip",
    "rgb_clip",
    "clip_before",
    "fresh_optimizer",
    "adam_defaults",
    "beta_1",
    "epsilon",
    "beta_2",
)

#: Losses this close to the library's (largest relative difference) are its own, up to rounding: no
#: mistake is run to compare. The nearest mistakes differ by about 1e-4 after the check's steps.
_EXACT = 1e-6

#: Two runs whose distances to the answer are within this factor are not told apart.
_AMBIGUOUS = 3.0


def _distance(values: np.ndarray, losses: np.ndarray) -> float:
    """The largest relative difference of ``values`` from ``losses``, step by step."""
    return float(np.max(np.abs(values - losses) / np.abs(losses)))


def _nearest_run(values: np.ndarray, runs: dict[str, np.ndarray]) -> list[str]:
    """The run (``"right"`` or a mistake) whose losses ``values`` are nearest to, with those nearly
    as near (within a factor :data:`_AMBIGUOUS`), which the losses cannot tell apart from it.

    Only runs within :func:`_right`'s tolerance count; none is an empty list. The nearest run, not
    the first within tolerance, names the mistake: ``epsilon`` and ``beta_2``, say, each change the
    losses by about 1e-4 over the check's steps, well within that tolerance of the right run.
    """
    dist = {
        name: _distance(values, losses) for name, losses in runs.items() if _right(values, losses)
    }
    if not dist:
        return []
    ranked = sorted(dist, key=lambda name: dist[name])
    return [n for n in ranked if dist[n] <= _AMBIGUOUS * dist[ranked[0]]]


def _compare_losses(run_adam: Callable, state: dict, text: str, values: np.ndarray) -> list[str]:
    """Fail unless ``values`` are the library's losses, step by step, naming the mistake if known.

    Adam's ``epsilon`` and ``beta_2`` change the losses of a few steps far less than the tolerance
    of rounding that :func:`_right` allows, so losses within that tolerance are compared with those
    of the mistakes too, and the nearest run decides.

    Returns:
        The mistakes whose losses are as near to ``values`` as the library's (empty when the
        losses are clearly the library's), for the hint of an image that is not its best.
    """
    want = state["losses"]
    _compare_first_loss(run_adam, state, text, values)
    if np.all(values == values[0]):
        fail(run_adam, text, HINTS["frozen"])
    if _distance(values, want) <= _EXACT:
        return []
    runs = {"right": want, **{name: adam_variant(state, name)[0] for name in _LOSS_MISTAKES}}
    nearest = _nearest_run(values, runs)
    if "right" in nearest:  # the library's run, or too near it to tell: the image decides
        return [n for n in nearest if n != "right"]
    if len(nearest) == 1:
        fail(run_adam, text, HINTS[nearest[0]])
    if nearest:
        fail(
            run_adam,
            text,
            "your losses are those of one of these mistakes, which give nearly the "
            "same losses here:\n" + "\n".join(f"- {HINTS[n]}" for n in nearest),
        )
    _fail_where_they_part(run_adam, text, values, want)


def _compare_first_loss(run_adam: Callable, state: dict, text: str, values: np.ndarray) -> None:
    """Fail unless the first loss, that of the starting image, is the library's, naming swapped
    weights or losses recorded after the update."""
    want, cfg = state["losses"], state["config"]
    if _right(values[0], want[0]):
        return
    res = state["result"]
    c = res.history["content"][0] / cfg.content_weight
    s = res.history["style"][0] / cfg.style_weight
    if _right(values[0], cfg.style_weight * c + cfg.content_weight * s):
        fail(run_adam, text, HINTS["swapped"])
    if _right(values[:-1], want[1:]):
        fail(run_adam, text, HINTS["loss_after"])
    fail(
        run_adam,
        text,
        f"the first loss, that of the starting image, is {values[0]:.6g}; the "
        f"library's is {want[0]:.6g} ({off_by(values[0], want[0])[:-1]}). Is "
        "total_loss right (check_total_loss), and do you give it "
        "problem.extractor(image), problem.content_targets, "
        "problem.style_targets, problem.content_weight and "
        "problem.style_weight?",
    )


def _fail_where_they_part(
    run_adam: Callable, text: str, values: np.ndarray, want: np.ndarray
) -> NoReturn:
    """Fail losses that match no known run, saying at which step they part from the library's."""
    k = int(np.argmax(~np.isclose(values, want, rtol=1e-3, atol=0)))
    where = (
        "the first update already differs: check the gradient, Adam's settings "
        "(learning_rate=2.0, beta_1=0.99, epsilon=0.1) and the clip to [VGG_MIN, VGG_MAX] "
        "after the update"
        if k == 1
        else "the first update is right and a later one is not. The first update does not depend "
        "on beta_1 and beta_2 (Adam corrects its averages for starting at zero), the later ones "
        "do: is Adam made once, before the loop, with beta_1=0.99 and beta_2 left at 0.999, and "
        "is the image clipped after every step?"
    )
    fail(
        run_adam,
        text,
        f"your losses part from the library's at step {k}:\n"
        f"  yours:     {np.array2string(values, precision=6)}\n"
        f"  library's: {np.array2string(want, precision=6)}\n{where}",
    )


def _compare_best_image(
    run_adam: Callable, state: dict, text: str, best_image: Any, suspects: list[str]
) -> None:
    """Fail unless ``best_image`` is the library's best image, naming which other image it is.

    ``suspects`` are the mistakes that the losses could not tell from the library's run (Adam's
    ``epsilon`` and ``beta_2`` both wrong, say): an image that is none of the library's run names
    them first, since they change the image too.
    """
    from ..images import from_vgg  # lazy: importing the checks stays light

    h, w = state["size"]
    got = as_array(run_adam, best_image, text, "the best image, (1, H, W, 3) in VGG space")
    if got.shape not in ((1, h, w, 3), (h, w, 3)):
        fail(
            run_adam,
            text,
            f"the best image has shape {got.shape}; return it as the image variable "
            f"has it, (1, {h}, {w}, 3), in VGG space.",
        )

    def same(a: np.ndarray, b: np.ndarray) -> bool:  # as 8-bit RGB images, within rounding
        a, b = (x if x.dtype == np.uint8 else from_vgg(x) for x in (a, b))
        return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1

    if same(got, state["result"].image):
        return
    _, images, final = adam_variant(state, "right")
    best = int(np.argmin(state["losses"]))
    if same(got, final):
        fail(run_adam, text, HINTS["last_image"])
    if best + 1 < len(images) and same(got, images[best + 1]):
        fail(run_adam, text, HINTS["after_update"])
    if best != 0 and same(got, images[0]):
        fail(run_adam, text, HINTS["start_image"])
    keep = (
        f"keep a copy of the image whose loss is the lowest (that of step {best}, loss "
        f"{state['losses'][best]:.6g}), taken before the update."
    )
    if suspects:
        fail(
            run_adam,
            text,
            "the image returned is not the library's best one, and your losses, "
            "though nearly the library's, are as near to those of these mistakes, "
            "which change the image too:\n"
            + "\n".join(f"- {HINTS[n]}" for n in suspects)
            + f"\nIf you made none of them, {keep}",
        )
    fail(run_adam, text, f"the losses are right but the image returned is not the best one: {keep}")
