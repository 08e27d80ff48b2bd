"""What every exercise's check shares: the reference values, the verdict, the wording of hints.

- **Reference values.** Each check's inputs, answer and classic mistakes are stored in
  ``data/checks/<name>.npz`` (:data:`CHECKS` names them), in one layout: ``n_cases``, then for each
  case ``c0.in.<input>``, ``c0.expected`` and ``c0.mistake.<mistake>`` (``<mistake>#<variant>`` when
  several wrong answers share one hint). :func:`_cases` reads them back as dicts.
- **Normalisations.** A loss that the seed and the paper scale differently
  (:data:`nst_helpers.choices.NORMALIZATIONS`) stores one answer per normalisation in that same
  layout: :func:`normalised` writes it, :func:`_variant` reads one normalisation's answer and
  mistakes back.
- **The verdict.** A right answer prints one line (:func:`_success`); a wrong one raises
  :class:`CheckFailed` with a hint (:func:`_fail`).
- **Wording.** How far off a number is (:func:`_off_by`, the ratio's words in :func:`_times`), and
  which stored mistake an answer reproduces (:func:`_first_mistake`).

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

__all__ = ["CHECKS", "serve_from", "data_dir", "normalised", "CheckFailed"]

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

_ROOT = pathlib.Path(__file__).resolve().parents[2]

_CACHE: dict[str, dict[str, np.ndarray]] = {}

#: Where the checks look up ``data_dir`` and ``_CACHE`` when they run: the package's namespace (bound
#: by its ``__init__``), so that replacing them there, as a test or the grader's private copy does,
#: reaches every exercise's module.
_OWNER: dict[str, Any] = {}

#: While :mod:`.record` collects a student's answers (in the grader's kernel) or judges them (in the
#: grader), where the checks' cases and the student's answers come from; None in a notebook.
_SOURCE: contextvars.ContextVar[Any] = contextvars.ContextVar("nst_checks_source", default=None)


def serve_from(namespace: dict[str, Any]) -> None:
    """Read ``data_dir`` and ``_CACHE`` from ``namespace`` (the package's) from now on.

    Args:
        namespace: the ``globals()`` of the package that re-exports them.
    """
    global _OWNER
    _OWNER = namespace


def _bound(name: str) -> Any:
    """The package's ``data_dir`` or ``_CACHE``, as it is now (this module's, before binding)."""
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
    return _ROOT / "data" / "checks"


def _reference(name: str) -> dict[str, np.ndarray]:
    """Every array of check ``name``'s reference file, read once (while grading, the values
    :mod:`.record` drew for this grading)."""
    source = _SOURCE.get()
    if source is not None and source.covers(name):
        return source.reference(name)
    cache = _bound("_CACHE")
    if name not in cache:
        path = _bound("data_dir")() / f"{name}.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: the reference values of check_{name} are missing; reinstall nst-helpers, or "
                "in a checkout run: python -m nst_helpers.checks --regenerate"
            )
        with np.load(path, allow_pickle=False) as z:
            cache[name] = {key: z[key] for key in z.files}
    return cache[name]


def _cases(name: str) -> list[dict[str, Any]]:
    """The test cases of a check: a list of ``{"inputs": {...}, "expected": x, "mistakes": {...}}``."""
    ref = _reference(name)
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
    source = _SOURCE.get()
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


def _features(rng: np.random.Generator, shape: tuple[int, ...], spread: float = 1.0) -> np.ndarray:
    """Made-up features for the loss exercises: non-negative like a ReLU's, float32."""
    return np.abs(rng.normal(0, spread, size=shape)).astype(np.float32)


def _normalization(normalization: str) -> str:
    """``normalization``, if it is one of :data:`NORMALIZATIONS`; else an :class:`NSTError`."""
    if normalization not in NORMALIZATIONS:
        words = " or ".join(repr(n) for n in NORMALIZATIONS)
        raise NSTError(f"normalization must be {words}, not {normalization!r}.")
    return normalization


def _variant(case: dict[str, Any], normalization: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The answer that ``case`` expects under ``normalization``, and the mistakes it names there
    (what :func:`normalised` stored)."""
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


def _fname(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _fail(fn: Any, case_text: str, hint: str) -> NoReturn:
    raise CheckFailed(f"{_fname(fn)} is not right yet ({case_text}).\nHint: {hint}") from None


def _failer(name: str, case_text: str) -> Callable[[str], NoReturn]:
    """A ``fail(hint)`` for a check of a value rather than a function (named ``name``)."""

    def fail(hint: str) -> NoReturn:
        raise CheckFailed(f"{name} is not right yet ({case_text}).\nHint: {hint}") from None

    return fail


def _success(fn: Any, n: int, what: str = "") -> None:
    if _SOURCE.get() is not None:  # collecting or judging while grading: the grader words it
        return
    print(f"✔ {_fname(fn)} is right ({n} test cases{what}).")


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


def _off_by(got: SupportsFloat, want: SupportsFloat) -> str:
    """``expected …, got … (how they differ).`` for a scalar answer that matched no known mistake."""
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


def _close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    if got.shape != want.shape:
        return False
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return False
    return bool(np.allclose(got, want.astype(np.float64), rtol=rtol, atol=atol))


def _scale(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if np.size(x) else 1.0


def _first_mistake(
    got: np.ndarray,
    mistakes: dict[str, np.ndarray],
    hints: dict[str, str],
    rtol: float,
    atol: float = 0.0,
    rel_atol: float = 0.0,
) -> str | None:
    """The hint of the first stored mistake that ``got`` reproduces, or None.

    ``mistakes`` maps a mistake's name (optionally ``name#variant``) to the answer it gives.
    """
    for key, value in mistakes.items():
        if key.split("#")[0] in hints and _close(got, value, rtol, atol + rel_atol * _scale(value)):
            return hints[key.split("#")[0]]
    return None


def _features_text(inputs: dict[str, np.ndarray], key: str = "generated") -> str:
    return f"features of shape {tuple(inputs[key].shape)}"
