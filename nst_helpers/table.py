"""Tables of settings: each field of a frozen dataclass is one row, with its checks and metadata.

:class:`~nst_helpers.config.StyleConfig` (a run) and :class:`nst_helpers.feedforward.TrainConfig`
(a network's training) are tables. Each field is one row: its name, its type (a ``Literal`` where it
takes one of a few words), its default, and plain metadata given with
``dataclasses.field(metadata=...)`` through :func:`row`:

``help``     what it does, in a sentence or two (help texts of the explorer and the command line);
``label``    its name on a control; ``short``, in one-line summaries (default: its name);
``tab``      the explorer tab that shows it (none: no control);
``choices``  the values it takes (the words come from :mod:`nst_helpers.choices`), or
``check``    the :class:`Check` that a value must pass ("zero or positive", …);
``span``     the lowest and highest value a slider offers, ``log`` for a logarithmic one, ``step``
             its step (of the exponent, on a logarithmic slider), ``titles`` what a control shows
             for each choice;
``option``   the command-line option that sets it.

:meth:`Table.settings` reads the rows back as :class:`Setting` objects (the types of a module with
``from __future__ import annotations`` too), and :meth:`Table.replace` converts and validates every
change against them, so a new setting is one row plus its use.

:mod:`nst_helpers.config` re-exports every public name of this module.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast, get_args, get_origin, get_type_hints

from .errors import NSTError

__all__ = [
    "BELOW_ONE",
    "BOOLEAN",
    "POSITIVE",
    "POSITIVE_OR_NONE",
    "SIDE",
    "WHOLE",
    "ZERO_OR_POSITIVE",
    "Check",
    "Setting",
    "Table",
    "at_least",
    "row",
]

#: What ``typing.get_origin`` gives for ``X | None`` or ``A | B``.
_UNIONS = (typing.Union, types.UnionType)
_T = TypeVar("_T", bound="Table")


@dataclass(frozen=True)
class Check:
    """A rule that a setting's value must pass: ``test(value)`` is true, or the message says
    ``NAME must be WORDS, not VALUE.``"""

    test: Callable[[Any], bool]
    words: str

    def passes(self, value: Any) -> bool:
        """Whether ``value`` passes (a value that cannot even be compared does not)."""
        try:
            return bool(self.test(value))
        except TypeError:
            return False


def _whole(value: Any) -> bool:
    """A whole number >= 0: an integer, or a float without a fraction; not a bool, NaN or inf."""
    if isinstance(value, bool) or not (hasattr(value, "__index__") or isinstance(value, float)):
        return False
    return value >= 0 and value == value // 1 and value != math.inf


ZERO_OR_POSITIVE = Check(lambda v: v >= 0, "zero or positive")
POSITIVE = Check(lambda v: v > 0, "positive")
BELOW_ONE = Check(lambda v: 0 <= v < 1, "in [0, 1)")
WHOLE = Check(_whole, "a whole number >= 0")
SIDE = Check(
    lambda v: v is None or v == "auto" or isinstance(v, int) and v >= 32,
    "'auto', None or a whole number >= 32",
)
BOOLEAN = Check(lambda v: isinstance(v, bool), "True or False")
POSITIVE_OR_NONE = Check(
    lambda v: v is None or not isinstance(v, bool) and 0 < v < math.inf, "a positive number or None"
)


def at_least(low: int) -> Check:
    """The check of a whole number of at least ``low``."""
    return Check(lambda v: _whole(v) and v >= low, f"a whole number >= {low}")


def row(
    default: Any,
    help: str,
    *,
    label: str | None = None,
    short: str | None = None,
    tab: str | None = None,
    choices: tuple | None = None,
    check: Check | None = None,
    span: tuple | None = None,
    log: bool = False,
    step: float | None = None,
    titles: dict | None = None,
    option: str | None = None,
) -> Any:
    """One row of a settings table: a dataclass field with its metadata (see the module's text).

    Args:
        default: the setting's default (for :class:`~nst_helpers.config.StyleConfig`, the seed's).
        help: what the setting does, for help texts.
        label, short, tab, choices, check, span, log, step, titles, option: the row's metadata.

    Returns:
        A :func:`dataclasses.field`, for the class body of a :class:`Table`.
    """
    meta = dict(
        help=help,
        label=label,
        short=short,
        tab=tab,
        choices=choices,
        check=check,
        span=span,
        log=log or None,
        step=step,
        titles=titles,
        option=option,
    )
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def _kinds(tp: Any) -> set:
    """The plain classes an annotation allows: ``tuple[float, ...] | None`` -> {tuple, NoneType}."""
    origin = get_origin(tp)
    if origin is Literal:
        return {type(arg) for arg in get_args(tp)}
    if origin in _UNIONS:
        return set().union(*(_kinds(arg) for arg in get_args(tp)))
    return {origin or tp}


def _element(tp: Any) -> Any:
    """The element type of ``tuple[X, ...]`` (also inside ``... | None``), else None."""
    for arg in (tp, *get_args(tp)):
        if get_origin(arg) is tuple and get_args(arg)[1:] == (Ellipsis,):
            return get_args(arg)[0]
    return None


@dataclass(frozen=True)
class Setting:
    """One row of a settings table, read back from a :class:`Table` (see the module's text)."""

    name: str
    type: Any
    default: Any
    help: str
    label: str
    short: str
    tab: str | None = None
    choices: tuple | None = None
    check: Check | None = None
    span: tuple | None = None
    log: bool = False
    step: float | None = None
    titles: dict = field(default_factory=dict)
    option: str | None = None

    @property
    def kinds(self) -> set:
        """The plain classes its type allows: ``{float}``, ``{int, str, NoneType}`` …"""
        return _kinds(self.type)

    def convert(self, value: Any) -> Any:
        """``value`` in this setting's type where that is plain: a number for a float, a whole
        float as an int for an int, a tuple for a list; anything else is left for :meth:`validate`.

        Raises:
            NSTError: a float setting given something that is not a number.
        """
        kinds = self.kinds
        if kinds == {float}:
            try:
                return float(value)
            except (TypeError, ValueError):
                raise NSTError(f"{self.name} must be a number, not {value!r}.") from None
        if kinds == {int} and isinstance(value, float) and value.is_integer():
            return int(value)
        if tuple in kinds and value is not None:
            items = (
                [v.strip() for v in value.split(",") if v.strip()]
                if isinstance(value, str)
                else list(value)
                if isinstance(value, (list, tuple))
                else [value]
            )
            element = _element(self.type)
            if element in (int, float):
                try:
                    items = [
                        element(v) if element is float or float(v).is_integer() else v
                        for v in items
                    ]
                except (TypeError, ValueError):
                    raise NSTError(
                        f"{self.name} must be {'whole ' if element is int else ''}"
                        f"numbers, not {value!r}."
                    ) from None
            return tuple(items)
        return value

    def validate(self, value: Any) -> None:
        """Raise :class:`NSTError` unless ``value`` is one of the choices or passes the check."""
        if self.choices is not None and value not in self.choices:
            raise NSTError(
                f"{self.name} must be one of {', '.join(map(str, self.choices))}, not {value!r}."
            )
        if self.check is not None and not self.check.passes(value):
            raise NSTError(f"{self.name} must be {self.check.words}, not {value!r}.")

    def title(self, value: Any) -> str:
        """What a control shows for the choice ``value``: ``"L-BFGS"`` for ``"lbfgs"``."""
        return self.titles.get(value, str(value))


def _read_rows(table: type) -> dict[str, Setting]:
    """``{name: Setting}`` of the dataclass ``table``, its types evaluated (they are text in a
    module with ``from __future__ import annotations``)."""
    hints = get_type_hints(table)
    return {
        f.name: Setting(
            name=f.name,
            type=hints[f.name],
            default=f.default,
            **{"label": f.name.replace("_", " "), "short": f.name, **f.metadata},
        )
        for f in dataclasses.fields(cast(Any, table))  # every table is a dataclass
    }


class Table:
    r"""A table of settings: a frozen dataclass whose fields are :func:`row`\ s.

    :class:`~nst_helpers.config.StyleConfig` (a run of :func:`~nst_helpers.optimize.stylize`) and
    :class:`nst_helpers.feedforward.TrainConfig` (a network's training) are tables: their rows
    give the command line its options, help and checks, and :meth:`replace` converts and
    validates every change the same way.
    """

    @classmethod
    def settings(cls) -> dict:
        """``{name: Setting}``: the rows of this table, in the order of its fields."""
        found = _TABLES.get(cls)
        if found is None:
            found = _TABLES[cls] = _read_rows(cls)
        return found

    def replace(self: _T, **changes: Any) -> _T:
        """A copy with ``changes`` applied; unknown names or bad values raise :class:`NSTError`.

        Numbers are converted to each setting's type (``"2"`` to 2.0 for a float, 5.0 to 5 for
        ``steps``), lists and comma-separated text to tuples.
        """
        rows = self.settings()
        unknown = sorted(set(changes) - set(rows))
        if unknown:
            raise NSTError(
                f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(rows))}."
            )
        changes = {key: rows[key].convert(value) for key, value in changes.items()}
        new = dataclasses.replace(cast(Any, self), **changes)
        new.validate()
        return new

    def validate(self: _T) -> _T:
        """Raise :class:`NSTError` with a one-line reason if a value fails its row (its choices or
        its check) or the rows disagree (:meth:`check_together`).

        Returns:
            This table, unchanged.
        """
        for item in self.settings().values():
            item.validate(getattr(self, item.name))
        self.check_together()
        return self

    def check_together(self) -> None:
        """Checks that involve several rows; raise :class:`NSTError` to refuse."""

    def to_dict(self) -> dict:
        """Plain dict, for JSON reports."""
        return dataclasses.asdict(cast(Any, self))


#: The rows of every table, read once: ``{table class: {name: Setting}}``.
_TABLES: dict[type, dict[str, Setting]] = {}
