"""A sweep's runs: :func:`grid`, ``--grid SETTING=V1,V2`` read by :func:`parse_grid`, run names.

Every value is read as its setting's type and checked against the setting's own rules here,
before anything runs; a refusal names the part of the grid at fault and gives one that parses.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..choices import BACKBONES
from ..config import SETTINGS, preset
from ..errors import NSTError

__all__ = [
    "GRID_EXAMPLE",
    "grid",
    "parse_grid",
    "suggest_grid",
    "example",
    "read_value",
    "check_backbone",
    "short_value",
    "run_name",
]


def grid(**axes: Sequence[Any]) -> list[dict]:
    """Every combination of the given values, in order: ``grid(a=(1, 2), b=(3,))``.

    Returns:
        ``[{"a": 1, "b": 3}, {"a": 2, "b": 3}]``.
    """
    for key, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise NSTError(f"grid({key}=...) needs a list of values, not {values!r}.")
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(axes[k]) for k in keys))]


#: A grid that parses, for messages; each setting's own example is in :func:`example`.
GRID_EXAMPLE = "--grid style_weight=1e-1,1e-2 --grid learning_rate=2,4"

#: Examples of each setting's values where the preset's value does not make one (see example).
_EXAMPLES = {
    "steps": "100,300",
    "seed": "0,1",
    "max_side": "128,256",
    "content_layers": "block4_conv2,block5_conv2",
    "style_layers": "block1_conv1+block2_conv1,block3_conv1+block4_conv1",
    "style_layer_weights": "none",
    "backbone": "vgg19,random",
    "trainable": "false,true",
    "preserve_color": "none,luminance",
}


def example(name: str) -> str:
    """``--grid NAME=V1,V2`` with values that setting takes (a grid that parses)."""
    if name in _EXAMPLES:
        values = _EXAMPLES[name]
    elif SETTINGS[name].choices is not None:
        values = ",".join(str(c) for c in SETTINGS[name].choices if c is not None)
    else:  # a float setting: the fast preset's value and a tenth of it (or 0 and 1)
        v = getattr(preset("fast"), name)
        values = f"{v:g},{v / 10:g}" if v else "0,1"
    return f"--grid {name}={values}"


def _options() -> dict:
    """``{option without dashes: setting}``: ``lr`` -> ``learning_rate``, for a suggestion."""
    return {s.option.lstrip("-").replace("-", "_"): s.name for s in SETTINGS.values() if s.option}


def suggest_grid(key: str, values: Sequence[str]) -> str:
    """``--grid KEY=V1,V2`` with the user's own values if that grid parses, else an example."""
    text = f"{key}={','.join(dict.fromkeys(v for v in values if v))}"
    try:
        parse_grid([text])
    except NSTError:
        return example(key)
    return f"--grid {text}"


def _unknown(key: str, spec: str, values: Sequence[str]) -> NSTError:
    """The refusal of a grid's unknown setting, with the setting meant where it can be told."""
    option = _options().get(key)
    if option:
        return NSTError(
            f"--grid {spec}: unknown setting {key} (the option --"
            f"{key.replace('_', '-')} sets {option}); write {suggest_grid(option, values)}."
        )
    near = difflib.get_close_matches(key, list(SETTINGS), 1, 0.6)
    if near:
        return NSTError(
            f"--grid {spec}: unknown setting {key}; did you mean {suggest_grid(near[0], values)}?"
        )
    return NSTError(
        f"--grid {spec}: unknown setting {key}; a grid's settings are "
        f"{', '.join(sorted(SETTINGS))}, such as {GRID_EXAMPLE}."
    )


# --- one value, read as its setting's type --------------------------------------------------


def _number(text: str, what: str) -> float:
    """``text`` as a finite number; raise NSTError (without a full stop) if it is not one."""
    try:
        value = float(text)
    except ValueError:
        raise NSTError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise NSTError(f"{what} must be a finite number, not {text!r}")
    return value


def _read_choice(name: str, text: str, choices: Sequence[Any]) -> Any:
    """One of a setting's ``choices`` (``none`` or ``off`` for None), in any case."""
    low = text.lower()
    for choice in choices:
        if (choice is None and low in ("none", "off")) or (
            choice is not None and low == str(choice).lower()
        ):
            return choice
    shown = ", ".join("none" if c is None else str(c) for c in choices)
    raise NSTError(f"{name} must be one of {shown}, not {text!r}")


def _read_parts(name: str, text: str) -> tuple:
    """A list setting's value: its parts joined with ``+`` (numbers for the layers' weights)."""
    parts = [p.strip() for p in text.split("+")]
    if not all(parts):
        raise NSTError(
            f"{name}: {text!r} has an empty part (the parts of one value are joined with +)"
        )
    if name == "style_layer_weights":
        return tuple(_number(p, name) for p in parts)
    return tuple(parts)


def _read_bool(name: str, text: str) -> bool:
    """``true``/``yes``/``1`` or ``false``/``no``/``0``."""
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.lower() not in words:
        raise NSTError(f"{name} must be true or false, not {text!r}")
    return words[text.lower()]


def _read_whole(name: str, text: str, auto: bool) -> int | str:
    """A whole number (``1e2`` is 100), or ``"auto"`` where the setting takes it."""
    if auto and text.lower() == "auto":
        return "auto"
    try:
        number: float | None = float(text)
    except ValueError:
        number = None
    if number is None or not number.is_integer():
        raise NSTError(f"{name} must be a whole number, not {text!r}")
    value = int(number)
    if name == "steps" and value < 1:
        raise NSTError(f"steps must be at least 1, not {value}")
    return value


def read_value(name: str, text: str) -> Any:
    """One grid value for the setting ``name``, read as that setting's type; raise NSTError
    (without a full stop, to be continued) if it cannot be one."""
    s = SETTINGS[name]
    kinds = s.kinds
    if s.choices is not None:
        return _read_choice(name, text, s.choices)
    if type(None) in kinds and text.lower() == "none":
        return None
    if tuple in kinds:
        return _read_parts(name, text)
    if bool in kinds:
        return _read_bool(name, text)
    if float in kinds:
        return _number(text, name)
    if int in kinds:
        return _read_whole(name, text, auto=str in kinds)
    return text


# --- a whole grid ------------------------------------------------------------------------------


def _split_spec(spec: str) -> tuple[str, list[str]]:
    """``SETTING=V1,V2`` as ``(setting, [V1, V2])``, refused unless a known setting and values."""
    key, sep, values = spec.partition("=")
    key = key.strip().lower().replace("-", "_")
    if not sep or not key:
        known = key if key in SETTINGS else "style_weight"
        raise NSTError(
            f"--grid {spec!r}: write SETTING=V1,V2,... (a setting, '=' and its "
            f"values), such as {example(known)}."
        )
    parts = [v.strip() for v in values.split(",")]
    if key not in SETTINGS:
        raise _unknown(key, spec, parts)
    if not any(parts):
        raise NSTError(f"--grid {spec!r}: no values after '='; list them, such as {example(key)}.")
    if not all(parts):
        raise NSTError(
            f"--grid {spec!r}: an empty value between commas; list each value "
            f"once, such as {example(key)}."
        )
    return key, parts


def _read_checked(key: str, spec: str, text: str) -> Any:
    """One value of the grid ``spec``, read and checked as the setting ``key`` takes it."""
    try:
        value = read_value(key, text)
        SETTINGS[key].validate(SETTINGS[key].convert(value))
        if key == "backbone":
            check_backbone(value)
    except NSTError as err:
        raise NSTError(f"--grid {spec}: {str(err).rstrip('.')}; such as {example(key)}.") from None
    return value


def _read_values(key: str, spec: str, parts: Sequence[str]) -> list[Any]:
    """The values of the grid ``spec``, each read, checked and given once."""
    read: list[Any] = []
    for text in parts:
        value = _read_checked(key, spec, text)
        if any(_same(value, v) for v in read):
            raise NSTError(f"--grid {spec}: {text} is listed twice; give each value once.")
        read.append(value)
    return read


def parse_grid(specs: Sequence[str]) -> list[dict]:
    """``["style_weight=1e-1,1e-2", "learning_rate=2,4"]`` as :func:`grid` runs (4 here).

    Each ``SETTING=V1,V2,...`` names a setting of :class:`~nst_helpers.config.StyleConfig`
    (``-`` may stand for ``_``) and its values, read as that setting's type: numbers, a choice,
    ``none``, ``true``/``false``; the layers of one value of a list setting are joined with ``+``
    (``style_layers=block1_conv1+block2_conv1,block3_conv1``). No values (``style_weight=``), an
    empty value (``1e-2,``), a value given twice, a setting given twice, an unknown setting and a
    value the setting cannot take are refused, naming the part and giving a grid that works.
    """
    axes: dict[str, tuple[list[Any], list[str]]] = {}
    given: dict[str, str] = {}
    for spec in specs:
        key, parts = _split_spec(spec)
        if key in axes:
            raise NSTError(
                f"--grid gives {key} twice ({given[key]} and {spec}); list all its "
                f"values once, in one: {suggest_grid(key, axes[key][1] + parts)}."
            )
        axes[key], given[key] = (_read_values(key, spec, parts), parts), spec
    return grid(**{k: v for k, (v, _) in axes.items()}) if axes else [{}]


def _same(a: Any, b: Any) -> bool:
    """Whether two values are one: equal and of one type, or written alike in a run's name."""
    return type(a) is type(b) and a == b or run_name({"x": a}) == run_name({"x": b})


def check_backbone(spec: Any) -> str:
    """A backbone's name, checked as :func:`nst_helpers.backbone.load_backbone` reads it."""
    spec = str(spec)
    if not (
        spec in BACKBONES
        or spec.startswith("random:")
        or spec.endswith(".h5")
        or os.sep in spec
        or pathlib.Path(spec).expanduser().exists()
    ):
        raise NSTError(
            f"unknown backbone {spec!r}; choose one of {', '.join(BACKBONES)}, "
            "'random:SEED' or a path to a VGG19 weights file."
        )
    if spec.startswith("random:") and not spec.partition(":")[2].isdigit():
        raise NSTError(f"backbone {spec!r}: the seed after 'random:' must be a whole number.")
    return spec


# --- run names ---------------------------------------------------------------------------------


def short_value(value: Any) -> str:
    """A setting's value as a run's name writes it: ``0.01``, ``block1_conv1+block2_conv1``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "+".join(short_value(v) for v in value)
    return str(value)


def run_name(settings: Mapping[str, Any]) -> str:
    """A folder name for one run's settings: ``learning_rate=4,style_weight=0.01``."""
    if not settings:
        return "base"
    text = ",".join(f"{k}={short_value(v)}" for k, v in sorted(settings.items()))
    return "".join(c if c.isalnum() or c in "=,.+-_" else "_" for c in text)
