"""Running the student's code: calling it, reading its answer, taking a gradient through it.

:func:`_call` turns an unwritten exercise into one line; :func:`_as_array`, :func:`_scalar` and
:func:`_shaped` read an answer or say what came back instead; :func:`_check_gradient` fails a loss
that gives the right number but stops the optimisation; :func:`_check_loss` runs a whole loss
exercise under one normalisation. TensorFlow is imported inside the helpers that use it.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NoReturn

import numpy as np

from .common import (
    _SOURCE,
    CheckFailed,
    _cases,
    _close,
    _fail,
    _features_text,
    _first_mistake,
    _fname,
    _normalization,
    _off_by,
    _success,
    _variant,
)

__all__ = ["GRADIENT_HINT"]


def _call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an unwritten exercise (``NotImplementedError``) fails in one line.

    When the ``NotImplementedError`` comes from another function that ``fn`` calls (a style loss
    calling an unwritten Gram matrix), the line names that one. While grading, :mod:`.record`
    stands between: in the kernel it records what ``fn`` did, in the grader it answers with that.
    """
    source = _SOURCE.get()
    if source is not None:
        return source.call(fn, args, kwargs)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        _not_written(fn, _innermost(err))


def _innermost(err: BaseException) -> str | None:
    """The name of the function in which ``err`` was raised."""
    tb, inner = err.__traceback__, None
    while tb is not None:
        inner = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return inner


def _not_written(fn: Any, inner: str | None) -> NoReturn:
    """The failure of an exercise that raised ``NotImplementedError`` in function ``inner``."""
    name = _fname(fn)
    if inner and inner not in (name, "_call") and inner.isidentifier():
        what = f"{inner}, which {name} calls, is not written yet"
    else:
        what = f"{name} is not written yet"
    raise CheckFailed(
        f"{what}: replace `raise NotImplementedError(...)` in its cell with your "
        "code, run that cell, then this check again."
    ) from None


def _as_array(fn: Any, got: Any, case_text: str, what: str = "an array") -> np.ndarray:
    """The student's answer as a NumPy array, or a failure saying what came back instead."""
    if got is None:
        _fail(fn, case_text, "it returned None: did you forget the `return` statement?")
    if isinstance(got, (tuple, list)) and len(got) != 1:
        _fail(
            fn, case_text, f"it returned a {type(got).__name__} of {len(got)} items; return {what}."
        )
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        _fail(fn, case_text, f"it returned a {type(got).__name__}; return {what}.")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        _fail(
            fn, case_text, f"it returned a {type(got).__name__} that is not numeric; return {what}."
        )
    if not np.all(np.isfinite(arr)):
        _fail(
            fn,
            case_text,
            "it returned NaN or infinite values (a division by zero, or a log or "
            f"square root of a negative number?); return {what}.",
        )
    return arr


def _shaped(
    fn: Callable,
    args: tuple,
    case_text: str,
    shape: tuple[int, ...],
    shapes_hint: Callable[[tuple[int, ...] | None], str] | None = None,
) -> np.ndarray:
    """Call ``fn(*args)``; its answer as a float64 array of ``shape``, NaN allowed (the caller names
    what NaN means there), or a failure saying what came back instead.

    Args:
        fn: the student's function, which should return a tensor of ``shape``.
        args: its arguments.
        case_text: the test case, for the message.
        shape: the shape the answer must have.
        shapes_hint: the exercise's own words for a wrong shape: ``shapes_hint(got_shape)`` says what
            an answer of ``got_shape`` (or an error about shapes that do not broadcast, ``None``)
            means there, as a sentence that starts with a space, or returns ``""``.
    """
    shapes_hint = shapes_hint or (lambda got_shape: "")
    try:
        got = _call(fn, *args)
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the student's code raises
        first = str(err).splitlines()[0] if str(err) else ""
        msg = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*", "", first)[:200]  # TensorFlow's op details
        hint = f"it raised {type(err).__name__}: {msg}"
        if "ncompatible shapes" in msg or "broadcast" in msg.lower():
            hint += "." + shapes_hint(None)
        _fail(fn, case_text, hint)
    if got is None:
        _fail(fn, case_text, "it returned None: did you forget the `return` statement?")
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(fn, case_text, f"it returned a {type(got).__name__}; return a tensor of x's shape.")
    if arr.shape != tuple(shape):
        _fail(
            fn,
            case_text,
            f"it returned shape {arr.shape}; the answer has x's shape "
            f"{tuple(shape)}.{shapes_hint(arr.shape)}",
        )
    return arr


def _scalar(fn: Any, got: Any, case_text: str) -> np.ndarray:
    """The student's loss as a 0-d array, or a failure saying it is not one number."""
    arr = _as_array(fn, got, case_text, "a single number (a scalar tensor)")
    if arr.size != 1:
        _fail(
            fn,
            case_text,
            f"it returned shape {arr.shape}; the loss is one number: reduce over all "
            "axes at once (tf.reduce_mean(x) without an axis argument).",
        )
    return arr.reshape(())


# --------------------------------------------------------------------------------------------------
# TensorFlow: the loss exercises' inputs, and the gradient through them
# --------------------------------------------------------------------------------------------------


def _tf() -> Any:
    from .._tf import tf

    return tf()


def _tensor(x: Any) -> Any:
    """A float32 TensorFlow constant (the loss exercises are written with TensorFlow ops)."""
    return _tf().constant(np.asarray(x, dtype=np.float32))


GRADIENT_HINT = (
    "use TensorFlow ops so that gradients can flow (tf.reduce_mean, tf.square, "
    "tf.reshape, tf.matmul, +, -, *, /): NumPy functions, .numpy() and float() give the "
    "right number but no gradient, and the optimisation needs the gradient of the loss "
    "with respect to the image."
)


def _check_gradient(
    fn: Callable, case_text: str, args: list, watch: list[int] | None = None
) -> None:
    """Fail unless a gradient flows from ``fn(*args)`` back to every tensor among ``args``.

    Args:
        fn: the student's function.
        case_text: the test case, for the message.
        args: the arguments, TensorFlow tensors or dicts of them.
        watch: which of ``args`` (indices) to differentiate with respect to; default the first.
    """
    source = _SOURCE.get()
    outcome = (
        _gradient_outcome(fn, args, watch) if source is None else source.gradient(fn, args, watch)
    )
    _gradient_verdict(fn, case_text, outcome)


def _gradient_outcome(fn: Callable, args: list, watch: list[int] | None = None) -> list[str]:
    """What taking the gradient through ``fn(*args)`` gave, as plain words (what the grader's
    kernel sends back): ``["ok"]``, ``["none"]``, ``["not_tensor", type]``, ``["not_written",
    function]`` or ``["error", type, message]``."""
    tf = _tf()
    watch = [0] if watch is None else list(watch)
    sources: list[Any] = []  # the tensors the gradient is taken with respect to
    for i in watch:
        arg = args[i]
        sources.extend(arg.values() if isinstance(arg, dict) else [arg])
    try:
        with tf.GradientTape() as tape:
            for s in sources:
                tape.watch(s)
            out = fn(*args)
            if not tf.is_tensor(out):
                return ["not_tensor", type(out).__name__]
            total = tf.reduce_sum(tf.cast(out, tf.float32))
        grads = tape.gradient(total, sources)
    except NotImplementedError as err:
        return ["not_written", _innermost(err) or ""]
    except Exception as err:  # noqa: BLE001 - whatever the student's code does under a tape
        return ["error", type(err).__name__, str(err).splitlines()[0] if str(err) else ""]
    return ["none"] if any(g is None for g in grads) else ["ok"]


def _gradient_verdict(fn: Any, case_text: str, outcome: list[str]) -> None:
    """Fail as :func:`_check_gradient` does for ``outcome`` (from :func:`_gradient_outcome`)."""
    kind, rest = (outcome[0], list(outcome[1:])) if outcome else ("missing", [])
    if kind == "ok":
        return
    if kind == "not_written":
        _not_written(fn, rest[0] if rest else None)
    if kind == "not_tensor":
        _fail(
            fn,
            case_text,
            f"it returns a {rest[0] if rest else 'value'}, not a TensorFlow tensor, "
            "so no gradient can flow through it: " + GRADIENT_HINT,
        )
    if kind == "error":
        name, msg = (rest + ["", ""])[:2]
        _fail(
            fn,
            case_text,
            f"computing a gradient through it failed ({name}: {msg}): " + GRADIENT_HINT,
        )
    if kind == "none":
        _fail(
            fn,
            case_text,
            "it gives the right number but no gradient (the gradient with respect "
            "to its input is None): " + GRADIENT_HINT,
        )
    _fail(fn, case_text, "the gradient through it was not taken (the run stopped first).")


def _check_loss(
    fn: Callable,
    name: str,
    normalization: str,
    arguments: tuple[str, ...],
    hints: dict[str, str],
    unexplained: str = "",
) -> None:
    """Check a loss exercise whose answers :func:`normalised` stored, under ``normalization``.

    Calls ``fn`` on each case's ``arguments`` (its inputs, as float32 tensors), compares the scalar
    it returns with that normalisation's answer, names the first stored mistake it reproduces, and
    finally takes a gradient through it.

    Args:
        fn: the student's loss.
        name: the check's reference file (one of :data:`CHECKS`).
        normalization: one of :data:`NORMALIZATIONS`.
        arguments: the names of the inputs to pass, in order; the first is described in messages.
        hints: each mistake's hint, by the mistake's name.
        unexplained: what to add to the message of a wrong answer that matches no stored mistake.
    """
    _normalization(normalization)
    cases = _cases(name)
    first = arguments[0]
    for case in cases:
        inp = case["inputs"]
        text = _features_text(inp, first) + f", {normalization} normalisation"
        got = _scalar(fn, _call(fn, *(_tensor(inp[k]) for k in arguments)), text)
        want, mistakes = _variant(case, normalization)
        if _close(got, want, 1e-4, 0):
            continue
        hint = _first_mistake(got, mistakes, hints, 1e-4)
        if hint:
            _fail(fn, text, hint)
        _fail(fn, text, _off_by(got, want) + unexplained)
    inp = cases[0]["inputs"]
    _check_gradient(
        fn, _features_text(inp, first) + ", gradient", [_tensor(inp[k]) for k in arguments]
    )
    _success(fn, len(cases), f", {normalization} normalisation")
