"""The library's Adam loop that :func:`.adam_loop.check_adam_loop` compares the student's with,
on the check's stored images: the library's own run (``stylize`` with the ``seed`` preset), and
the same loop written out step by step, as the notebook's exercise writes it, with one classic
mistake at a time (:data:`.adam_loop.HINTS` names them).

The runs go through the network, so they are computed when the check runs and cached per backbone
and images.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from .answers import tensorflow
from .common import read_cases

__all__ = ["adam_setup", "adam_variant"]

_ADAM_STATE: dict = {}


def adam_setup(backbone: str | None = None) -> dict:
    """The loop check's images, extractor and targets, and the library's run on them (cached).

    Args:
        backbone: the backbone to run on (default ``"auto"``).

    Returns:
        ``{"problem": a function making the problem run_adam gets, "config", "steps", "result": the
        library's run, "losses": its losses, "variants": adam_variant's runs, "size", "backbone"}``.
    """
    from ..backbone import resolve_name  # lazy: importing the checks loads no network code

    spec = resolve_name(backbone)
    inp = read_cases("adam_loop")[0]["inputs"]
    key = (
        spec,
        *(
            hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for _, v in sorted(inp.items())
        ),
    )  # the grader draws other images
    if key not in _ADAM_STATE:
        _ADAM_STATE[key] = _new_state(spec, inp)
    return _ADAM_STATE[key]


def _new_state(spec: str, inp: dict[str, np.ndarray]) -> dict:
    """:func:`adam_setup`'s state for backbone ``spec`` and the case's inputs ``inp``."""
    # lazy: TensorFlow; the library's loop, which the student's must reproduce
    from ..config import preset
    from ..optimize import stylize

    steps = int(inp["steps"])
    cfg = preset(
        "seed",
        steps=steps,
        max_side=None,
        backbone=spec,
        content_weight=float(inp["content_weight"]),
        style_weight=float(inp["style_weight"]),
    )
    problem = _problem_maker(spec, cfg, inp)
    result = stylize(inp["content"], inp["style"], cfg, progress=False)
    return {
        "problem": problem,
        "config": cfg,
        "steps": steps,
        "result": result,
        "losses": np.asarray(result.history["total"], np.float64),
        "variants": {},
        "size": tuple(inp["content"].shape[:2]),
        "backbone": result.backbone,
    }


def _problem_maker(spec: str, cfg: Any, inp: dict[str, np.ndarray]) -> Callable[[], Any]:
    """A function making a fresh problem for ``run_adam``: the starting image, the extractor, the
    targets and the weights (the parts of :class:`~nst_helpers.optimize.Problem` the loop uses)."""
    # lazy: the network's modules and TensorFlow load when the check runs
    from .. import losses
    from ..backbone import load_backbone
    from ..images import to_vgg

    extractor = load_backbone(spec).extractor(list(cfg.content_layers) + list(cfg.style_layers))
    content_feats = extractor(to_vgg(inp["content"]))
    style_feats = extractor(to_vgg(inp["style"]))
    tf = tensorflow()
    targets = {
        "content": {l: tf.constant(content_feats[l]) for l in cfg.content_layers},
        "style": {l: tf.constant(losses.gram_matrix(style_feats[l])) for l in cfg.style_layers},
    }

    def problem() -> SimpleNamespace:
        return SimpleNamespace(
            x0=to_vgg(inp["content"]),
            extractor=extractor,
            content_targets=dict(targets["content"]),
            style_targets=dict(targets["style"]),
            content_weight=cfg.content_weight,
            style_weight=cfg.style_weight,
        )

    return problem


def adam_variant(state: dict, name: str) -> tuple[np.ndarray, list, np.ndarray]:
    """``(losses, images before each step, final image)`` of the reference loop with one mistake.

    Args:
        state: what :func:`adam_setup` returned; the run is cached in it.
        name: ``"right"`` or a key of :data:`HINTS` that changes the losses.
    """
    if name in state["variants"]:
        return state["variants"][name]
    tf = tensorflow()
    p = state["problem"]()
    image = tf.Variable(p.x0)
    optimizer = _optimizer(state["config"], name)
    values, images = [], []
    for _ in range(state["steps"]):
        if name == "fresh_optimizer":
            optimizer = _optimizer(state["config"], name)
        with tf.GradientTape() as tape:
            loss = _total_loss(p, image)
        grad = tape.gradient(loss, image)
        images.append(image.numpy().copy())
        _clip(image, name, before_update=True)
        optimizer.apply_gradients([(grad, image)])
        _clip(image, name, before_update=False)
        values.append(float(loss))
    out = (np.asarray(values), images, image.numpy().copy())
    state["variants"][name] = out
    return out


def _optimizer(cfg: Any, name: str) -> Any:
    """Adam with the seed's settings (``cfg``'s), or with those that mistake ``name`` gets wrong."""
    import keras  # lazy: TensorFlow, imported when the check runs

    settings = dict(beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon)
    if name == "adam_defaults":
        settings = {}
    elif name in ("beta_1", "epsilon"):  # that one left at Keras' default
        del settings[name]
    elif name == "beta_2":  # the seed's 0.99 given to beta_2 as well
        settings["beta_2"] = 0.99
    return keras.optimizers.Adam(learning_rate=cfg.learning_rate, **settings)


def _total_loss(p: Any, image: Any) -> Any:
    """The seed's total loss of ``image`` for problem ``p``: the weighted means over the layers."""
    from .. import losses  # lazy: TensorFlow, imported when the check runs

    tf = tensorflow()
    feats = p.extractor(image)
    content = tf.add_n([losses.content_loss(feats[l], t) for l, t in p.content_targets.items()])
    style = tf.add_n([losses.style_layer_loss(feats[l], t) for l, t in p.style_targets.items()])
    content, style = content / len(p.content_targets), style / len(p.style_targets)
    return p.content_weight * content + p.style_weight * style


def _clip(image: Any, name: str, before_update: bool) -> None:
    """Clip ``image`` as the loop with mistake ``name`` does before or after Adam's update: the
    right loop clips to real pixels in VGG space after it."""
    from ..images import VGG_MAX, VGG_MIN  # lazy: importing the checks stays light

    tf = tensorflow()
    if before_update:
        if name == "clip_before":
            image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX))
    elif name == "rgb_clip":
        image.assign(tf.clip_by_value(image, 0.0, 255.0))
    elif name not in ("no_clip", "clip_before"):
        image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX))
