"""What every exercise's check shares: the reference values, the verdict, the wording of hints.

- **Reference values.** Each check's inputs, answer and classic mistakes are stored in
  ``data/checks/<name>.npz`` (:data:`CHECKS` names them), in one layout: ``n_cases``, then for each
  case ``c0.in.<input>``, ``c0.expected`` and ``c0.mistake.<mistake>`` (``<mistake>#<variant>`` when
  several wrong answers share one hint). :func:`read_reference` reads a file once,
  :func:`read_cases` gives its cases back as dicts.
- **Normalisations.** A loss that the seed and the paper scale differently
  (:data:`nst_helpers.choices.NORMALIZATIONS`) stores one answer per normalisation in that same
  layout: :func:`normalised` writes it, :func:`read_normalised` reads one normalisation's answer and
  mistakes back.
- **The verdict.** A right answer prints one line (:func:`succeed`); a wrong one raises
  :class:`CheckFailed` with a hint (:func:`fail`, or :func:`failer` for a value rather than a
  function).
- **Wording.** How far off a number is (:func:`off_by`, the ratio's words in :func:`_times`), and
  which stored mistake an answer reproduces (:func:`first_mistake`, comparing with
  :func:`is_close`).

Running the student's code (and TensorFlow) is :mod:`.answers`' part; this module needs NumPy only.
"""

from __future__ import annotations

import contextvars
import importlib.util
import pathlib
from typing import Any, Callable, NoReturn, SupportsFloat

import numpy as np

from ..choices import NORMALIZATIONS
from ..errors import NSTError

__all__ = [
    "CHECKS",
    "ROOT",
    "CACHE",
    "SOURCE",
    "serve_from",
    "served",
    "data_dir",
    "read_reference",
    "read_cases",
    "normalised",
    "made_up_features",
    "checked_normalization",
    "read_normalised",
    "CheckFailed",
    "function_name",
    "fail",
    "failer",
    "succeed",
    "off_by",
    "is_close",
    "magnitude",
    "first_mistake",
    "features_text",
]

#: File stem of each check's reference values in ``data/checks/``, one module of this package each.
#: New names go at the end: the position seeds each generator's random numbers (unless its module
#: names its own ``SEED``).
CHECKS = (
    "conv2d",
    "deprocess",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "total_loss",
    "adam_loop",
    "sweep_grid",
    "high_frequency_energy",
    "refined",
    "instance_norm",
    "residual_block",
)

#: The checkout's root folder, which holds ``data/checks`` when the package is not installed.
ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Each reference file's arrays, by check name, once read (:func:`read_reference`). The checks use
#: the package's binding of it (see :func:`serve_from`), which a test may replace.
CACHE: dict[str, dict[str, np.ndarray]] = {}

#: Where the checks look up ``data_dir`` and ``CACHE`` when they run: the package's namespace (bound
#: by its ``__init__``), so that replacing them there, as a test or the grader's private copy does,
#: reaches every exercise's module.
_OWNER: dict[str, Any] = {}

#: While :mod:`.record` collects a student's answers (in the grader's kernel) or judges them (in the
#: grader), where the checks' cases and the student's answers come from; None in a notebook.
SOURCE: contextvars.ContextVar[Any] = contextvars.ContextVar("nst_checks_source", default=None)


def serve_from(namespace: dict[str, Any]) -> None:
    """Read ``data_dir`` and ``CACHE`` from ``namespace`` (the package's) from now on.

    Args:
        namespace: the ``globals()`` of the package that re-exports them.
    """
    global _OWNER
    _OWNER = namespace


def served(name: str) -> Any:
    """The package's ``data_dir`` or ``CACHE``, as it is now.

    Args:
        name: ``"data_dir"`` or ``"CACHE"``.

    Returns:
        The package's binding of ``name`` (this module's own, before :func:`serve_from`).
    """
    return _OWNER.get(name, globals()[name])


# --------------------------------------------------------------------------------------------------
# Where the reference values are
# --------------------------------------------------------------------------------------------------


def data_dir() -> pathlib.Path:
    """The folder holding the reference ``.npz`` files.

    Returns:
        The subpackage ``nst_helpers.check_data`` when the package was installed with them (a wheel,
        or an editable install that maps it to ``data/checks``), else ``data/checks`` of the checkout.
    """
    try:
        spec = importlib.util.find_spec("nst_helpers.check_data")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (pathlib.Path(folder) / f"{CHECKS[0]}.npz").exists():
                return pathlib.Path(folder)
    return ROOT / "data" / "checks"


def read_reference(name: str) -> dict[str, np.ndarray]:
    """Every array of check ``name``'s reference file, read once (while grading, the values
    :mod:`.record` drew for this grading).

    Args:
        name: one of :data:`CHECKS`.

    Returns:
        The file's arrays by key, in the layout this module's docstring describes.
    """
    source = SOURCE.get()
    if source is not None and source.covers(name):
        return source.reference(name)
    cache = served("CACHE")
    if name not in cache:
        path = served("data_dir")() / f"{name}.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: the reference values of check_{name} are missing; reinstall nst-helpers, or "
                "in a checkout run: python -m nst_helpers.checks --regenerate"
            )
        with np.load(path, allow_pickle=False) as z:
            cache[name] = {key: z[key] for key in z.files}
    return cache[name]


def read_cases(name: str) -> list[dict[str, Any]]:
    """The test cases of a check: a list of ``{"inputs": {...}, "expected": x, "mistakes": {...}}``.

    Args:
        name: one of :data:`CHECKS`.
    """
    ref = read_reference(name)
    cases = []
    for i in range(int(ref["n_cases"])):
        prefix = f"c{i}."
        case: dict[str, Any] = {
            "inputs": {},
            "mistakes": {},
            "expected": ref.get(prefix + "expected"),
        }
        for key, value in ref.items():
            if key.startswith(prefix + "in."):
                case["inputs"][key[len(prefix + "in.") :]] = value
            elif key.startswith(prefix + "mistake."):
                case["mistakes"][key[len(prefix + "mistake.") :]] = value
        cases.append(case)
    source = SOURCE.get()
    return cases if source is None else source.cases(name, cases)


# --------------------------------------------------------------------------------------------------
# The normalisations, one encoding
# --------------------------------------------------------------------------------------------------


def normalised(answers: dict[str, tuple[float, dict[str, float]]]) -> tuple[np.float64, dict]:
    """One case's answers under every normalisation, as a case's ``expected`` and ``mistakes``.

    The default normalisation's (``NORMALIZATIONS[0]``, the seed's) right answer is ``expected``;
    every other normalisation's is the mistake ``<normalization>.expected``. Each normalisation's
    mistakes are ``<normalization>.<mistake>``, and among them the other normalisations' right
    answers, named after them (a seed answer where the paper's is asked for is ``paper.seed``).

    Args:
        answers: ``{normalization: (right answer, {mistake: wrong answer})}``, every normalisation.

    Returns:
        ``(expected, mistakes)``, as a generator returns them.
    """
    if set(answers) != set(NORMALIZATIONS):
        raise ValueError(
            f"answers for {sorted(answers)}; expected one per normalisation {NORMALIZATIONS}."
        )
    mistakes = {}
    for norm, (right, wrong) in answers.items():
        if norm != NORMALIZATIONS[0]:
            mistakes[f"{norm}.expected"] = right
        for other, (other_right, _) in answers.items():
            if other != norm:
                mistakes[f"{norm}.{other}"] = other_right
        mistakes.update({f"{norm}.{k}": v for k, v in wrong.items()})
    return np.float64(answers[NORMALIZATIONS[0]][0]), {
        k: np.float64(v) for k, v in mistakes.items()
    }


def made_up_features(
    rng: np.random.Generator, shape: tuple[int, ...], spread: float = 1.0
) -> np.ndarray:
    """Made-up features for the loss exercises: non-negative like a ReLU's, float32.

    Args:
        rng: the generator to draw from.
        shape: the features' shape, ``(1, H, W, C)``.
        spread: the standard deviation of the normal numbers whose absolute values they are.
    """
    return np.abs(rng.normal(0, spread, size=shape)).astype(np.float32)


def checked_normalization(normalization: str) -> str:
    """``normalization``, if it is one of :data:`NORMALIZATIONS`; else an :class:`NSTError`.

    Args:
        normalization: what a loss check was given.
    """
    if normalization not in NORMALIZATIONS:
        words = " or ".join(repr(n) for n in NORMALIZATIONS)
        raise NSTError(f"normalization must be {words}, not {normalization!r}.")
    return normalization


def read_normalised(
    case: dict[str, Any], normalization: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The answer that ``case`` expects under ``normalization``, and the mistakes it names there
    (what :func:`normalised` stored).

    Args:
        case: one of :func:`read_cases`' cases.
        normalization: one of :data:`NORMALIZATIONS`.

    Returns:
        ``(right answer, {mistake: wrong answer})``.
    """
    prefix = normalization + "."
    mistakes = {k[len(prefix) :]: v for k, v in case["mistakes"].items() if k.startswith(prefix)}
    want = case["expected"] if normalization == NORMALIZATIONS[0] else mistakes.pop("expected")
    return want, mistakes


# --------------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------------


class CheckFailed(AssertionError):
    """A check's verdict: the exercise is not right, or not written, yet.

    Jupyter (IPython) shows only the message, without a traceback through this package: the message
    already says what is wrong, and the traceback would point here, not at the student's code.
    """

    def _render_traceback_(self) -> list[str]:
        return [
            f"\x1b[31m✘ {line}\x1b[0m" if i == 0 else line
            for i, line in enumerate(str(self).splitlines())
        ]


def function_name(fn: Any) -> str:
    """The name that messages give the student's function ``fn`` (its type's, if it has none)."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def fail(fn: Any, case_text: str, hint: str) -> NoReturn:
    """Fail the check: raise :class:`CheckFailed` naming ``fn``, the test case and the hint.

    Args:
        fn: the student's function.
        case_text: the test case, for the message.
        hint: what is wrong and how to fix it.
    """
    raise CheckFailed(
        f"{function_name(fn)} is not right yet ({case_text}).\nHint: {hint}"
    ) from None


def failer(name: str, case_text: str) -> Callable[[str], NoReturn]:
    """A ``fail(hint)`` for a check of a value rather than a function.

    Args:
        name: what the value is called in the notebook.
        case_text: the test case, for the message.
    """

    def fail_value(hint: str) -> NoReturn:
        raise CheckFailed(f"{name} is not right yet ({case_text}).\nHint: {hint}") from None

    return fail_value


def succeed(fn: Any, n: int, what: str = "") -> None:
    """Print that ``fn`` passed its ``n`` test cases (``what`` adds what they covered); nothing
    while grading, where the grader words the verdict."""
    if SOURCE.get() is not None:  # collecting or judging while grading: the grader words it
        return
    print(f"✔ {function_name(fn)} is right ({n} test cases{what}).")


# --------------------------------------------------------------------------------------------------
# Comparing answers, and saying how they differ
# --------------------------------------------------------------------------------------------------


def _times(r: float) -> str:
    """How a positive ratio ``got / want`` reads: 'twice the expected value', '3 times too small'."""
    named = {
        2.0: "twice the expected value",
        0.5: "half the expected value",
        4.0: "four times the expected value",
        0.25: "a quarter of the expected value",
        3.0: "three times the expected value",
        1 / 3: "a third of the expected value",
    }
    for value, text in named.items():
        if abs(r / value - 1) < 1e-3:
            return text
    if abs(r - 1) < 0.01:
        return f"close, but {abs(r - 1) * 100:.2g} % too {'large' if r > 1 else 'small'}"
    if r > 1:
        return f"{r:.3g} times too large"
    return f"{1 / r:.3g} times too small"


def off_by(got: SupportsFloat, want: SupportsFloat) -> str:
    """``expected …, got … (how they differ).`` for a scalar answer that matched no known mistake.

    Args:
        got: the student's answer.
        want: the right answer.
    """
    got, want = float(got), float(want)
    text = f"expected {want:.6g}, got {got:.6g}"
    if want == 0:
        return f"{text} (it should be exactly zero here)."
    if got == 0:
        return f"{text} (yours is zero)."
    r = got / want
    if r < 0:
        if abs(-r - 1) < 1e-3:
            return f"{text} (the sign is wrong: minus the expected value)."
        return f"{text} (the sign is wrong, and in size it is {_times(-r)})."
    return f"{text} ({_times(r)})."


def is_close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    """Whether ``got`` has ``want``'s shape, is finite, and is within ``rtol`` and ``atol`` of
    it."""
    if got.shape != want.shape:
        return False
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return False
    return bool(np.allclose(got, want.astype(np.float64), rtol=rtol, atol=atol))


def magnitude(x: np.ndarray) -> float:
    """The largest absolute value of ``x`` (1 for an empty array), to scale a tolerance by."""
    return float(np.max(np.abs(x))) if np.size(x) else 1.0


def first_mistake(
    got: np.ndarray,
    mistakes: dict[str, np.ndarray],
    hints: dict[str, str],
    rtol: float,
    atol: float = 0.0,
    rel_atol: float = 0.0,
) -> str | None:
    """The hint of the first stored mistake that ``got`` reproduces, or None.

    Args:
        got: the student's answer.
        mistakes: each mistake's answer, by the mistake's name (optionally ``name#variant``).
        hints: each mistake's hint, by its name; mistakes without one are skipped.
        rtol: the relative tolerance of :func:`is_close`.
        atol: its absolute tolerance.
        rel_atol: more absolute tolerance, relative to the mistake's :func:`magnitude`.
    """
    for key, value in mistakes.items():
        if key.split("#")[0] in hints and is_close(
            got, value, rtol, atol + rel_atol * magnitude(value)
        ):
            return hints[key.split("#")[0]]
    return None


def features_text(inputs: dict[str, np.ndarray], key: str = "generated") -> str:
    """``features of shape (…)``: how a loss check's messages name its test case."""
    return f"features of shape {tuple(inputs[key].shape)}"
