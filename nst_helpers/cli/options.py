"""What every command of ``nst`` reads its options with: readers, options from a settings table,
sample names, and library messages put in the command line's words. Nothing here imports
TensorFlow."""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import re
from typing import Any, Callable

from .. import samples
from ..config import SETTINGS, Setting
from ..errors import NSTError

__all__ = [
    "positive_int",
    "whole",
    "finite_float",
    "nonneg_float",
    "positive_float",
    "table_reader",
    "add_table_options",
    "image_arg",
    "option_words",
    "option_names",
    "cli_words",
]


def positive_int(text: str) -> int:
    """An option's reader: a whole number of at least 1."""
    return whole(1)(text)


def whole(low: int) -> Callable[[str], int]:
    """An option's reader: a whole number of at least ``low``."""

    def read(text: str) -> Any:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {low}")
        return value

    return read


def finite_float(text: str, positive: bool) -> float:
    """A finite number, > 0 if ``positive``, else >= 0: argparse's type for a weight or a rate."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a finite number {'> 0' if positive else '>= 0'}"
        )
    return value


def nonneg_float(text: str) -> float:
    return finite_float(text, positive=False)


def positive_float(text: str) -> float:
    return finite_float(text, positive=True)


def table_reader(row: Setting) -> Callable[[str], Any]:
    """An option's reader made from a row of a settings table: the text in the row's type (a
    whole number, a finite number, a comma-separated list), then the row's own check, so that the
    command line refuses what the library would, in the table's words, before anything runs."""
    kinds = row.kinds - {type(None)}

    def read(text: str) -> Any:
        try:
            if tuple in kinds:
                value = row.convert(text)
            elif kinds == {int}:
                value = int(text)
            elif float in kinds:
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = text
        except (ValueError, NSTError):
            what = (
                row.check.words
                if row.check and tuple in kinds
                else "a whole number"
                if kinds == {int}
                else "a number"
            )
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if row.check is not None and not row.check.passes(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {row.check.words}")
        return value

    read.__name__ = row.name  # argparse names the reader in its messages
    return read


def add_table_options(
    group: Any,
    rows: dict,
    default_text: Callable[[Setting], str],
    types: dict | None = None,
    names: Any = None,
    aliases: bool = True,
) -> None:
    """One option per row of a settings table that names one (``--style-weight`` …).

    Each option's help text, choices and reader come from its row (:func:`table_reader`, or
    ``types[name]`` where a command reads it otherwise); its value lands under the row's own name,
    so the command reads them all back with :func:`changes`. A ``bool`` row is a flag that sets
    the opposite of its default (``--no-skip``).

    Args:
        group: an ``argparse`` parser or argument group.
        rows: ``{name: Setting}`` (``StyleConfig.settings()``, ``TrainConfig.settings()``).
        default_text: the words after "default:" in a row's help.
        types: readers that replace :func:`table_reader` for some rows.
        names: only these rows (default: every row with an option).
        aliases: also accept ``--setting-name`` where the option is spelled otherwise.
    """
    for s in rows.values():
        if not s.option or (names is not None and s.name not in names):
            continue
        flags = [s.option] + (
            [f"--{s.name.replace('_', '-')}"]
            if aliases and s.option != f"--{s.name.replace('_', '-')}" and s.kinds != {bool}
            else []
        )
        kw = {"dest": s.name, "help": f"{s.help} (default: {default_text(s)})"}
        if s.kinds == {bool}:
            kw.update(action="store_false" if s.default else "store_true", default=None)
        elif s.choices is not None:
            kw["choices"] = [c for c in s.choices if c is not None]
        else:
            kw["type"] = (types or {}).get(s.name) or table_reader(s)
            kw["metavar"] = s.option.lstrip("-").replace("-", "_").upper()
        group.add_argument(*flags, **kw)


def changes(args: Any, rows: dict) -> dict:
    """``{setting: value}`` of every table option given on the command line."""
    return {
        name: getattr(args, name)
        for name, s in rows.items()
        if s.option and getattr(args, name, None) is not None
    }


def image_arg(text: Any, role: str) -> Any:
    """A path, or the image of a bundled sample when no such file exists."""
    if not isinstance(text, str):
        return text
    if os.path.exists(text) or os.sep in text or "." in pathlib.Path(text).name:
        return text
    names = {kind: ", ".join(values) for kind, values in samples.list_samples().items()}
    if any(text in values for values in samples.list_samples().values()):
        return samples.load_sample(text)
    offer = (
        f"photographs: {names['content']}"
        if role.startswith("content")
        else f"paintings: {names['paintings']}; procedural: {names['style']}"
    )
    raise NSTError(f"{role} {text!r}: no such file, and not a sample name ({offer}).")


def option_words(text: str) -> str:
    """The library's advice in the command line's words: ``pass force=True (--force)`` becomes
    ``add --force``, ``drop resume (--resume)`` becomes ``drop --resume``."""
    text = re.sub(r"\b(?:pass )?\w+=True \((--[\w-]+)\)", r"add \1", text)
    return re.sub(r"\bdrop \w+ \((--[\w-]+)\)", r"drop \1", text)


#: Python's spelling of settings in library messages, and the option that sets each.
def option_names() -> dict[str, str]:
    """``{setting or argument: its option}``: every setting's option comes from the settings table."""
    names = {s.name: s.option for s in SETTINGS.values() if s.option}
    return {**names, "frames_dir": "--frames", "frames_every": "--save-every", "force": "--force"}


#: A value in a library message: a quoted word, a number, True/False/None or a plain word.
_WORD_VALUE = (
    r"""'(?P<q1>[^'\s/\\]*)'|"(?P<q2>[^"\s/\\]*)"|(?P<bare>[-+]?(?:\d+\.?\d*|\.\d+)"""
    r"""(?:[eE][-+]?\d+)?|True|False|None|[A-Za-z][\w-]*)"""
)


def cli_words(text: str) -> str:
    """A library message in the command line's words: ``backbone='vgg16-hed'`` becomes
    ``--backbone vgg16-hed``, ``pass force=True (--force)`` becomes ``add --force``.

    Only a ``setting=value`` that stands alone is translated: never one inside a path
    (``sw/style_weight=0.001/result.png``, ``style_weight=1.png``), a list of settings such as a
    sweep's run name (``learning_rate=2,style_weight=0.01``) or a grid (``style_weight=1e-1,1e-2``),
    nor a word that names an existing file or folder."""
    text = option_words(text)

    options = option_names()

    def option(match: re.Match[str]) -> str:
        start, end = match.start(), match.end()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        word = text[start:end].strip("'\"()[]").rstrip(".,;:")
        if os.path.lexists(word) or os.path.lexists(os.path.expanduser(word)):
            return match.group(0)  # a real path, named as it is
        if text[: match.start()].endswith(("--grid ", "--grid=", "--grid '")):
            return match.group(0)  # a grid is written in settings' names
        name = match.group("name")
        value = match.group("q1") or match.group("q2") or match.group("bare") or ""
        return options[name] if value == "True" else f"{options[name]} {value}"

    names = "|".join(sorted(options, key=len, reverse=True))
    # Not after a path's or a list's characters, and not before them: a value must end the word,
    # or be followed by a space, a closing bracket or quote, or punctuation that ends a clause.
    pattern = (
        rf"(?<![\w/\\.=,+~-])(?P<name>{names})=(?:{_WORD_VALUE})"
        r"(?![\w/\\=+~-]|[.,:;]\S)"
    )
    return re.sub(pattern, option, text)
