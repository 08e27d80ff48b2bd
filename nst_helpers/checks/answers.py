"""Running the student's code: calling it, reading its answer, taking a gradient through it.

:func:`call_student` turns an unwritten exercise into one line (:func:`fail_not_written`);
:func:`as_array`, :func:`as_scalar` and :func:`call_shaped` read an answer or say what came back
instead; :func:`check_gradient` fails a loss that gives the right number but stops the
optimisation; :func:`check_normalised_loss` runs a whole loss exercise under one normalisation.
TensorFlow is imported inside the helpers that use it (:func:`tensorflow`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, NoReturn

import numpy as np

from .common import (
    SOURCE,
    CheckFailed,
    checked_normalization,
    fail,
    features_text,
    first_mistake,
    function_name,
    is_close,
    off_by,
    read_cases,
    read_normalised,
    succeed,
)

__all__ = [
    "GRADIENT_HINT",
    "call_student",
    "innermost_function",
    "fail_not_written",
    "as_array",
    "call_shaped",
    "as_scalar",
    "tensorflow",
    "as_tensor",
    "check_gradient",
    "gradient_outcome",
    "check_normalised_loss",
]


def call_student(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an unwritten exercise (``NotImplementedError``) fails in one line.

    When the ``NotImplementedError`` comes from another function that ``fn`` calls (a style loss
    calling an unwritten Gram matrix), the line names that one. While grading, :mod:`.record`
    stands between: in the kernel it records what ``fn`` did, in the grader it answers with that.
    """
    source = SOURCE.get()
    if source is not None:
        return source.call(fn, args, kwargs)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        fail_not_written(fn, innermost_function(err))


def innermost_function(err: BaseException) -> str | None:
    """The name of the function in which ``err`` was raised (the last frame of its traceback)."""
    tb, inner = err.__traceback__, None
    while tb is not None:
        inner = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return inner


def fail_not_written(fn: Any, inner: str | None) -> NoReturn:
    """The failure of an exercise that raised ``NotImplementedError`` in function ``inner``.

    Args:
        fn: the student's function.
        inner: the function that raised it (:func:`innermost_function`), or None if unknown.
    """
    name = function_name(fn)
    if inner and inner not in (name, "call_student") and inner.isidentifier():
        what = f"{inner}, which {name} calls, is not written yet"
    else:
        what = f"{name} is not written yet"
    raise CheckFailed(
        f"{what}: replace `raise NotImplementedError(...)` in its cell with your "
        "code, run that cell, then this check again."
    ) from None


def as_array(fn: Any, got: Any, case_text: str, what: str = "an array") -> np.ndarray:
    """The student's answer as a NumPy array, or a failure saying what came back instead.

    Args:
        fn: the student's function, for the message.
        got: what it returned.
        case_text: the test case, for the message.
        what: what it should return, for the message.
    """
    if got is None:
        fail(fn, case_text, "it returned None: did you forget the `return` statement?")
    if isinstance(got, (tuple, list)) and len(got) != 1:
        fail(
            fn, case_text, f"it returned a {type(got).__name__} of {len(got)} items; return {what}."
        )
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        fail(fn, case_text, f"it returned a {type(got).__name__}; return {what}.")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        fail(
            fn, case_text, f"it returned a {type(got).__name__} that is not numeric; return {what}."
        )
    if not np.all(np.isfinite(arr)):
        fail(
            fn,
            case_text,
            "it returned NaN or infinite values (a division by zero, or a log or "
            f"square root of a negative number?); return {what}.",
        )
    return arr


def call_shaped(
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
        got = call_student(fn, *args)
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the student's code raises
        first = str(err).splitlines()[0] if str(err) else ""
        msg = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*", "", first)[:200]  # TensorFlow's op details
        hint = f"it raised {type(err).__name__}: {msg}"
        if "ncompatible shapes" in msg or "broadcast" in msg.lower():
            hint += "." + shapes_hint(None)
        fail(fn, case_text, hint)
    if got is None:
        fail(fn, case_text, "it returned None: did you forget the `return` statement?")
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(fn, case_text, f"it returned a {type(got).__name__}; return a tensor of x's shape.")
    if arr.shape != tuple(shape):
        fail(
            fn,
            case_text,
            f"it returned shape {arr.shape}; the answer has x's shape "
            f"{tuple(shape)}.{shapes_hint(arr.shape)}",
        )
    return arr


def as_scalar(fn: Any, got: Any, case_text: str) -> np.ndarray:
    """The student's loss as a 0-d array, or a failure saying it is not one number.

    Args:
        fn: the student's function, for the message.
        got: what it returned.
        case_text: the test case, for the message.
    """
    arr = as_array(fn, got, case_text, "a single number (a scalar tensor)")
    if arr.size != 1:
        fail(
            fn,
            case_text,
            f"it returned shape {arr.shape}; the loss is one number: reduce over all "
            "axes at once (tf.reduce_mean(x) without an axis argument).",
        )
    return arr.reshape(())


# --------------------------------------------------------------------------------------------------
# TensorFlow: the loss exercises' inputs, and the gradient through them
# --------------------------------------------------------------------------------------------------


def tensorflow() -> Any:
    """The ``tensorflow`` module, imported on first use (importing this package does not)."""
    from .._tf import tf  # start-up cost: only the checks that need TensorFlow import it

    return tf()


def as_tensor(x: Any) -> Any:
    """A float32 TensorFlow constant (the loss exercises are written with TensorFlow ops)."""
    return tensorflow().constant(np.asarray(x, dtype=np.float32))


GRADIENT_HINT = (
    "use TensorFlow ops so that gradients can flow (tf.reduce_mean, tf.square, "
    "tf.reshape, tf.matmul, +, -, *, /): NumPy functions, .numpy() and float() give the "
    "right number but no gradient, and the optimisation needs the gradient of the loss "
    "with respect to the image."
)


def check_gradient(
    fn: Callable, case_text: str, args: list, watch: list[int] | None = None
) -> None:
    """Fail unless a gradient flows from ``fn(*args)`` back to every tensor among ``args``.

    Args:
        fn: the student's function.
        case_text: the test case, for the message.
        args: the arguments, TensorFlow tensors or dicts of them.
        watch: which of ``args`` (indices) to differentiate with respect to; default the first.
    """
    source = SOURCE.get()
    outcome = (
        gradient_outcome(fn, args, watch) if source is None else source.gradient(fn, args, watch)
    )
    _gradient_verdict(fn, case_text, outcome)


def gradient_outcome(fn: Callable, args: list, watch: list[int] | None = None) -> list[str]:
    """What taking the gradient through ``fn(*args)`` gave, as plain words (what the grader's
    kernel sends back): ``["ok"]``, ``["none"]``, ``["not_tensor", type]``, ``["not_written",
    function]`` or ``["error", type, message]``.

    Args:
        fn: the student's function.
        args: its arguments, TensorFlow tensors or dicts of them.
        watch: which of ``args`` (indices) to differentiate with respect to; default the first.
    """
    tf = tensorflow()
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
        return ["not_written", innermost_function(err) or ""]
    except Exception as err:  # noqa: BLE001 - whatever the student's code does under a tape
        return ["error", type(err).__name__, str(err).splitlines()[0] if str(err) else ""]
    return ["none"] if any(g is None for g in grads) else ["ok"]


def _gradient_verdict(fn: Any, case_text: str, outcome: list[str]) -> None:
    """Fail as :func:`check_gradient` does for ``outcome`` (from :func:`gradient_outcome`)."""
    kind, rest = (outcome[0], list(outcome[1:])) if outcome else ("missing", [])
    if kind == "ok":
        return
    if kind == "not_written":
        fail_not_written(fn, rest[0] if rest else None)
    if kind == "not_tensor":
        fail(
            fn,
            case_text,
            f"it returns a {rest[0] if rest else 'value'}, not a TensorFlow tensor, "
            "so no gradient can flow through it: " + GRADIENT_HINT,
        )
    if kind == "error":
        name, msg = (rest + ["", ""])[:2]
        fail(
            fn,
            case_text,
            f"computing a gradient through it failed ({name}: {msg}): " + GRADIENT_HINT,
        )
    if kind == "none":
        fail(
            fn,
            case_text,
            "it gives the right number but no gradient (the gradient with respect "
            "to its input is None): " + GRADIENT_HINT,
        )
    fail(fn, case_text, "the gradient through it was not taken (the run stopped first).")


def check_normalised_loss(
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
    checked_normalization(normalization)
    cases = read_cases(name)
    first = arguments[0]
    for case in cases:
        inp = case["inputs"]
        text = features_text(inp, first) + f", {normalization} normalisation"
        got = as_scalar(fn, call_student(fn, *(as_tensor(inp[k]) for k in arguments)), text)
        want, mistakes = read_normalised(case, normalization)
        if is_close(got, want, 1e-4, 0):
            continue
        hint = first_mistake(got, mistakes, hints, 1e-4)
        if hint:
            fail(fn, text, hint)
        fail(fn, text, off_by(got, want) + unexplained)
    inp = cases[0]["inputs"]
    check_gradient(
        fn, features_text(inp, first) + ", gradient", [as_tensor(inp[k]) for k in arguments]
    )
    succeed(fn, len(cases), f", {normalization} normalisation")
