"""Grading a check in two halves: the student's code runs in a sandboxed kernel, the verdict is
the grader's.

A check runs the student's function only through :func:`.answers.call_student` (and
:func:`.answers.check_gradient`), and judges what came back with the rest of its code. While
grading, :data:`.common.SOURCE` puts one of two stand-ins behind those calls:

- In the kernel, :func:`collect` runs the check once per test case and once more for the gradient,
  on inputs that the grader drew for this grading (:func:`inputs_only`, a file the kernel reads):
  each run stops at its first call of the student's function (:class:`_Collect`), whose outcome
  (the answer, as arrays and plain JSON, or the exception, or what the gradient gave) is written
  to the kernel's output folder. No expected value is in the kernel: the runs never reach a
  comparison.
- In the grader, :func:`judge` runs the same check on the same inputs with their expected values
  and classic mistakes (computed there, from a seed the kernel never saw), and each call of the
  student's function answers with what the kernel recorded (:class:`_Replay`): the check's own
  judging code words the verdict.

What the kernel sends back is hostile: :func:`read_records` bounds its size, loads arrays with
``allow_pickle=False`` and turns anything malformed into a one-line failure.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import pathlib
import re
from typing import Any, Callable, Iterator

import numpy as np

from .answers import fail_not_written, gradient_outcome, innermost_function
from .common import CHECKS, SOURCE, CheckFailed
from .references import reference_arrays

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES",
    "MAX_ITEMS",
    "inputs_only",
    "fresh_reference",
    "collect",
    "Malformed",
    "read_records",
    "judge",
]

#: Limits on what the grader reads back from a kernel for one check.
MAX_JSON_BYTES = 1 << 20
MAX_ARRAY_BYTES = 64 << 20
MAX_ITEMS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Collected(BaseException):
    """Ends a collecting run at its first call of the student's function (not an Exception, so
    that no ``except Exception`` of a check catches it)."""


class _Only(list):
    """A check's cases while collecting: indexing reaches every case (a check takes its gradient
    on ``cases[0]``), iterating yields only the case of this run (none in the gradient's run)."""

    def __init__(self, cases: list, phase: int) -> None:
        super().__init__(cases)
        self.phase = phase

    def __iter__(self) -> Iterator[Any]:
        return iter(list.__getitem__(self, slice(self.phase, self.phase + 1)))


def inputs_only(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays of a reference file that the kernel may see: the number of cases and their
    inputs, never an expected value or a mistake."""
    return {k: v for k, v in arrays.items() if k == "n_cases" or re.match(r"^c\d+\.in\.", k)}


def fresh_reference(name: str, seed: list[int]) -> dict[str, np.ndarray]:
    """Check ``name``'s cases drawn from ``seed``, computed with the package's own reference
    implementations (the grader's, never the kernel's). The Adam loop's images are jittered too,
    since its ``generate`` draws no numbers.

    Args:
        name: one of :data:`CHECKS`.
        seed: the grading's secret seed.

    Returns:
        The arrays, in the layout of the reference files.
    """
    arrays = reference_arrays(name, seed=[*seed, CHECKS.index(name)])
    if name == "adam_loop":
        rng = np.random.default_rng([*seed, 99])
        for key in ("c0.in.content", "c0.in.style"):
            img = arrays[key].astype(np.int16) + rng.integers(-6, 7, size=arrays[key].shape)
            arrays[key] = np.clip(img, 0, 255).astype(np.uint8)
    return arrays


# --------------------------------------------------------------------------------------------------
# In the kernel
# --------------------------------------------------------------------------------------------------


def _encode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> dict:
    """``value`` as plain JSON, its arrays added to ``arrays`` (never a pickled object)."""
    name = type(value).__name__
    if value is None:
        return {"type": "NoneType"}
    if isinstance(value, (tuple, list)) and depth < 2 and len(value) <= MAX_ITEMS:
        return {
            "type": name,
            "seq": "tuple" if isinstance(value, tuple) else "list",
            "items": [_encode(v, arrays, depth + 1) for v in value],
        }
    try:
        arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        return {"type": name}
    if (
        arr.dtype == object
        or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_)
        or arr.nbytes > MAX_ARRAY_BYTES // 4
    ):
        return {"type": name}
    key = f"a{len(arrays)}"
    arrays[key] = np.array(arr, order="C")  # its own shape: ascontiguousarray makes 0-d 1-d
    return {"type": name, "array": key}


def _outcome(fn: Callable, args: tuple, kwargs: dict, arrays: dict[str, np.ndarray]) -> dict:
    """Call the student's function; what it did, as plain data."""
    before = {
        k: v.copy() for k, v in [*enumerate(args), *kwargs.items()] if isinstance(v, np.ndarray)
    }
    try:
        value = fn(*args, **kwargs)
    except NotImplementedError as err:
        return {"kind": "not_written", "inner": innermost_function(err) or ""}
    except Exception as err:  # noqa: BLE001 - whatever the student's code raises, named
        base = next(
            (c.__name__ for c in type(err).__mro__ if c.__module__ == "builtins"), "Exception"
        )
        return {
            "kind": "raised",
            "type": type(err).__name__,
            "base": base,
            "message": str(err)[:2000],
        }
    out = {"kind": "value", "value": _encode(value, arrays)}
    changed = {}
    for key, old in before.items():
        new = args[key] if isinstance(key, int) else kwargs[key]
        if not (
            new.shape == old.shape and np.array_equal(new, old, equal_nan=new.dtype.kind == "f")
        ):
            changed[str(key)] = _encode(new, arrays)
    if changed:
        out["changed"] = changed
    return out


class _Collect:
    """The kernel's stand-in: runs the student's function at the first call of run ``phase``."""

    def __init__(self, name: str, arrays: dict[str, np.ndarray], phase: int) -> None:
        self.name, self.arrays, self.phase = name, arrays, phase
        self.record: dict | None = None
        self.out: dict[str, np.ndarray] = {}

    def covers(self, name: str) -> bool:
        return name == self.name

    def reference(self, name: str) -> dict[str, np.ndarray]:
        return self.arrays

    def cases(self, name: str, cases: list) -> list:
        return _Only(cases, self.phase) if name == self.name else cases

    def call(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        if self.phase < int(self.arrays["n_cases"]):
            self.record = _outcome(fn, args, kwargs, self.out)
        raise _Collected

    def gradient(self, fn: Callable, args: list, watch: list[int] | None) -> None:
        self.record = {"kind": "gradient", "outcome": gradient_outcome(fn, args, watch)}
        raise _Collected


def collect(
    folder: str | os.PathLike, key: str, name: str, get_fn: Callable[[], Any], options: dict
) -> None:
    """Run the student's function for check ``name`` on the inputs in ``folder/key.inputs.npz``
    and write what it did to ``folder/key.*``: what the grader's collecting cell calls.

    Args:
        folder: the kernel's exchange folder (inputs from the grader, outcomes to it).
        key: the check's name there.
        name: the check, one of :data:`CHECKS`.
        get_fn: returns the student's function (a ``NameError`` there is recorded).
        options: the check's keyword arguments from the course's cell (``normalization``).
    """
    from .. import checks  # the package itself: a cycle if imported at the top of its modules

    folder = pathlib.Path(folder)
    records: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    try:
        fn = get_fn()
    except Exception as err:  # noqa: BLE001 - the exercise's cell did not define it
        records.append({"kind": "missing", "type": type(err).__name__, "message": str(err)[:500]})
        fn = None
    if fn is not None:
        with np.load(folder / f"{key}.inputs.npz", allow_pickle=False) as z:
            inputs = {k: z[k] for k in z.files}
        check = getattr(checks, f"check_{name}")
        for phase in range(int(inputs["n_cases"]) + 1):
            source = _Collect(name, inputs, phase)
            token = SOURCE.set(source)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    check(fn, **options)
            except _Collected:
                pass
            except CheckFailed:
                pass  # a check that fails before calling the function: the grader sees it too
            finally:
                SOURCE.reset(token)
            if source.record is not None:
                for k, v in source.out.items():
                    arrays[f"p{phase}{k}"] = v
                records.append({"phase": phase, **_renamed(source.record, f"p{phase}")})
        fname = getattr(fn, "__name__", None)
        if isinstance(fname, str) and _NAME.match(fname):
            records.insert(0, {"kind": "name", "name": fname})
    for k, v in arrays.items():
        np.save(folder / f"{key}.{k}.npy", v, allow_pickle=False)
    (folder / f"{key}.json").write_text(json.dumps(records))


def _renamed(record: Any, prefix: str) -> Any:
    """``record`` with its array keys prefixed (one namespace per run)."""
    if isinstance(record, dict):
        return {k: (prefix + v if k == "array" else _renamed(v, prefix)) for k, v in record.items()}
    if isinstance(record, list):
        return [_renamed(v, prefix) for v in record]
    return record


# --------------------------------------------------------------------------------------------------
# In the grader
# --------------------------------------------------------------------------------------------------


class Malformed(Exception):
    """What a kernel sent back is not what :func:`collect` writes."""


def read_records(
    folder: str | pathlib.Path, key: str
) -> tuple[list[dict], dict[str, np.ndarray]] | None:
    """What the kernel wrote for check ``key``: its records and arrays, or None if nothing.

    Args:
        folder: the kernel's exchange folder.
        key: the check's name there.

    Raises:
        Malformed: too large, not JSON of the expected shape, an array that is not a plain
            ``.npy`` file within the limits.
    """
    folder = pathlib.Path(folder)
    path = folder / f"{key}.json"
    if not path.is_file() or path.is_symlink():
        return None
    records = _read_json(path)
    names: set[str] = set()
    _collect_array_names(records, names)
    arrays, total = {}, 0
    for name in sorted(names):
        f = folder / f"{key}.{name}.npy"
        if not f.is_file() or f.is_symlink():
            raise Malformed(f"array {name} of its record is missing")
        total += f.stat().st_size
        if total > MAX_ARRAY_BYTES:
            raise Malformed("its answers are over 64 MB")
        arrays[name] = _read_array(f, name)
    return records, arrays


def _read_json(path: pathlib.Path) -> list[dict]:
    """The list of records in ``path``, within :data:`MAX_JSON_BYTES`, or :class:`Malformed`."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise Malformed("its answers' record is over 1 MB")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise Malformed(f"its answers' record is not JSON ({type(err).__name__})") from None
    if not (isinstance(records, list) and all(isinstance(r, dict) for r in records)):
        raise Malformed("its answers' record is not a list of records")
    return records


def _collect_array_names(x: Any, names: set[str], depth: int = 0) -> None:
    """Add to ``names`` the array names that the records ``x`` refer to, each one that
    :func:`collect` writes; too deep a nesting or another name is :class:`Malformed`."""
    if depth > 8:
        raise Malformed("its answers' record is nested too deeply")
    if isinstance(x, dict):
        if "array" in x:
            if not (isinstance(x["array"], str) and re.fullmatch(r"p\d{1,3}a\d{1,4}", x["array"])):
                raise Malformed("an array name in its record is not one collect writes")
            names.add(x["array"])
        for v in x.values():
            _collect_array_names(v, names, depth + 1)
    elif isinstance(x, list):
        for v in x:
            _collect_array_names(v, names, depth + 1)


def _read_array(f: pathlib.Path, name: str) -> np.ndarray:
    """The numeric array in the ``.npy`` file ``f`` (array ``name`` of a record), never unpickled,
    or :class:`Malformed`."""
    try:
        arr = np.load(f, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - any malformed file
        raise Malformed(f"array {name} is not a plain .npy file ({type(err).__name__})") from None
    if (
        not isinstance(arr, np.ndarray)
        or arr.dtype.hasobject
        or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_)
    ):
        raise Malformed(f"array {name} is not numeric")
    return arr


def _text(x: Any, limit: int = 300) -> str:
    return " ".join(str(x).split())[:limit]


def _decode(spec: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """The value that :func:`_encode` wrote, rebuilt from plain data."""
    if not isinstance(spec, dict) or depth > 3:
        raise Malformed("a value in its record is malformed")
    name = spec.get("type")
    name = name if isinstance(name, str) and _NAME.match(name) else "object"
    if name == "NoneType" and "array" not in spec and "seq" not in spec:
        return None
    if "seq" in spec:
        items = spec.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise Malformed("a sequence in its record is malformed")
        values = [_decode(v, arrays, depth + 1) for v in items]
        return tuple(values) if spec["seq"] == "tuple" else values
    if "array" in spec:
        return arrays[spec["array"]].copy()
    return type(name, (), {})()  # something that is not an array: only its type's name came back


def _raised(record: dict) -> Exception:
    """An exception like the one the student's code raised in the kernel (same name, message and
    built-in base class), for the check's own ``except`` clauses and wording."""
    name = record.get("type")
    name = name if isinstance(name, str) and _NAME.match(name) else "Exception"
    base = getattr(builtins, str(record.get("base")), Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    try:
        cls = type(name, (base,), {})
    except TypeError:  # a built-in base that cannot be subclassed
        cls = type(name, (Exception,), {})
    return cls(_text(record.get("message", ""), 2000))


class _Replay:
    """The grader's stand-in: every call of the student's function answers with what the kernel
    recorded for it; the check's cases are this grading's, with their expected values."""

    def __init__(
        self,
        name: str,
        arrays: dict[str, np.ndarray],
        records: list[dict],
        outputs: dict[str, np.ndarray],
    ) -> None:
        self.name, self.arrays, self.outputs = name, arrays, outputs
        self.calls = {
            r.get("phase"): r
            for r in records
            if r.get("kind") in ("value", "raised", "not_written")
        }
        self.grad = next((r for r in records if r.get("kind") == "gradient"), None)
        self.k = 0

    def covers(self, name: str) -> bool:
        return name == self.name

    def reference(self, name: str) -> dict[str, np.ndarray]:
        return self.arrays

    def cases(self, name: str, cases: list) -> list:
        return cases

    def call(self, fn: Any, args: tuple, kwargs: dict) -> Any:
        record = self.calls.get(self.k)
        self.k += 1
        if record is None:
            raise CheckFailed(
                f"{getattr(fn, '__name__', 'the function')} was not run on this "
                "test case (the notebook stopped first)."
            )
        if record["kind"] == "not_written":
            inner = record.get("inner")
            fail_not_written(fn, inner if isinstance(inner, str) and _NAME.match(inner) else None)
        if record["kind"] == "raised":
            raise _raised(record)
        for key, spec in (record.get("changed") or {}).items():
            target = args[int(key)] if key.isdigit() and int(key) < len(args) else kwargs.get(key)
            if isinstance(target, np.ndarray):
                new = _decode(spec, self.outputs)
                if isinstance(new, np.ndarray) and new.shape == target.shape:
                    np.copyto(target, new, casting="unsafe")
                elif target.size:  # changed in a way that did not come back: change it anyway
                    target.flat[0] = target.flat[0] + 1
        return _decode(record.get("value"), self.outputs)

    def gradient(self, fn: Any, args: list, watch: list[int] | None) -> list[str]:
        if self.grad is None:
            return []
        outcome = self.grad.get("outcome")
        if not (isinstance(outcome, list) and outcome and all(isinstance(x, str) for x in outcome)):
            raise Malformed("its gradient record is malformed")
        return [_text(x, 300) for x in outcome[:3]]


def judge(
    name: str, options: dict, arrays: dict[str, np.ndarray], read: tuple | None, fallback_name: str
) -> tuple[str, str]:
    """The verdict on one check call of a course cell, from what the kernel recorded.

    Args:
        name: the check, one of :data:`CHECKS`.
        options: its keyword arguments from the course's cell.
        arrays: this grading's reference values for it (:func:`fresh_reference`).
        read: what :func:`read_records` returned (None: the collecting cell never finished).
        fallback_name: the name of the student's function in the course's cell.

    Returns:
        ``(status, detail)``: ``("passed", "")``, ``("failed", the check's message)``,
        ``("error", "Type: message")``, or ``("missing", "")`` when nothing came back.
    """
    from .. import checks  # the package itself: a cycle if imported at the top of its modules

    if read is None:
        return "missing", ""
    records, outputs = read
    for r in records:
        if r.get("kind") == "missing":
            return "error", f"{_text(r.get('type'), 40)}: {_text(r.get('message'))}"
    named = next((r.get("name") for r in records if r.get("kind") == "name"), None)
    fn = type(
        "Answer",
        (),
        {"__name__": named if isinstance(named, str) and _NAME.match(named) else fallback_name},
    )()
    token = SOURCE.set(_Replay(name, arrays, records, outputs))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            getattr(checks, f"check_{name}")(fn, **options)
    except CheckFailed as err:
        return "failed", str(err)
    except Malformed:
        raise
    except Exception as err:  # noqa: BLE001 - the student's exception, as the kernel saw it
        return "error", f"{type(err).__name__}: {err}"
    finally:
        SOURCE.reset(token)
    return "passed", ""
