"""``nst stylize`` and ``nst demo``: one optimisation, its outputs checked before it starts."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys
import tempfile
import textwrap
from typing import Any

from ..config import PRESET_WORDS, PRESETS, SETTINGS, preset
from ..errors import NSTError
from ..film import check_film_path, save_film
from ..images import check_folder, check_writable, write_new
from ..multiscale import parse_sizes, stylize_coarse_to_fine
from .options import (
    add_table_options,
    image_arg as _image_arg,
    nonneg_float as _nonneg_float,
    option_words,
    positive_int as _positive_int,
)
from .signals import EXIT_DIVERGED, EXIT_NOT_WRITTEN, interrupted_status

__all__ = [
    "PRESET_HELP",
    "LONG_CPU_STEPS",
    "option_names",
    "cli_words",
    "add_setting_options",
    "add_parsers",
    "run",
    "demo",
]


#: What each preset is, for ``--help``: the words of :data:`nst_helpers.config.PRESETS`.
PRESET_HELP = PRESET_WORDS


#: Steps from which a run on a CPU earns a warning (the seed preset's 7500 take over an hour).
LONG_CPU_STEPS = 2000


#: Python's spelling of settings in library messages, and the option that sets each.
def option_names():
    """``{setting or argument: its option}``: every setting's option comes from the settings table."""
    names = {s.name: s.option for s in SETTINGS.values() if s.option}
    return {**names, "frames_dir": "--frames", "frames_every": "--save-every", "force": "--force"}


#: A value in a library message: a quoted word, a number, True/False/None or a plain word.
_WORD_VALUE = (
    r"""'(?P<q1>[^'\s/\\]*)'|"(?P<q2>[^"\s/\\]*)"|(?P<bare>[-+]?(?:\d+\.?\d*|\.\d+)"""
    r"""(?:[eE][-+]?\d+)?|True|False|None|[A-Za-z][\w-]*)"""
)


def cli_words(text):
    """A library message in the command line's words: ``backbone='vgg16-hed'`` becomes
    ``--backbone vgg16-hed``, ``pass force=True (--force)`` becomes ``add --force``.

    Only a ``setting=value`` that stands alone is translated: never one inside a path
    (``sw/style_weight=0.001/result.png``, ``style_weight=1.png``), a list of settings such as a
    sweep's run name (``learning_rate=2,style_weight=0.01``) or a grid (``style_weight=1e-1,1e-2``),
    nor a word that names an existing file or folder."""
    text = option_words(text)

    options = option_names()

    def option(match):
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


def _sizes(text):
    try:
        return parse_sizes(text)
    except NSTError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None


def _per_preset(key, show=None):
    """``fast 150, seed 7500, gatys 300`` (or ``2 in every preset``): a setting's defaults."""
    show = show or (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    values = {name: show(getattr(preset(name), key)) for name in PRESET_HELP}
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in every preset"
    return ", ".join(f"{name} {v}" for name, v in values.items())


def _presets_epilog():
    lines = ["presets (the defaults of every setting not given):"]
    for name, what in PRESET_HELP.items():
        cfg = preset(name)
        side = cfg.max_side if isinstance(cfg.max_side, int) else "256 (512 with a GPU)"
        optimiser = (
            "L-BFGS"
            if cfg.optimizer == "lbfgs"
            else f"Adam with learning rate {cfg.learning_rate:g}"
        )
        text = (
            f"{what}. {optimiser}, {cfg.steps} steps, {side} px, content weight "
            f"{cfg.content_weight:g} at {', '.join(cfg.content_layers)}, style weight "
            f"{cfg.style_weight:g}, tv weight {cfg.tv_weight:g}."
        )
        lines += textwrap.wrap(text, 78, initial_indent=f"  {name:7}", subsequent_indent=" " * 9)
    return "\n".join(lines)


#: How the command line reads a setting's value, where the table's type alone does not say:
#: counts start at 1; the seed is checked by the settings table.
_ARG_TYPES = {"steps": _positive_int, "max_side": _positive_int, "seed": int}


def add_setting_options(group, names=None):
    """One option per row of the settings table that names one (``--style-weight`` …).

    Each option's help text, choices and per-preset defaults come from the table
    (:data:`nst_helpers.config.SETTINGS`); its value lands under the setting's own name, so
    :func:`_changes` reads them all back. ``names`` limits the options to those settings.
    """
    # The run's readers keep their own wording: counts start at 1, weights are any number >= 0
    # (the table then checks the rest, in the library's words).
    types = {
        s.name: _ARG_TYPES.get(s.name, _nonneg_float if float in s.kinds else str)
        for s in SETTINGS.values()
    }
    add_table_options(group, SETTINGS, lambda s: _per_preset(s.name), types, names)


def _add_run_options(p, default_output=None):
    p.add_argument(
        "-o",
        "--output",
        default=default_output,
        help="where to write the result, .png or .jpg (default: "
        + (default_output or "CONTENT_STYLE.png in the current folder, never replacing a file")
        + ")",
    )
    p.add_argument(
        "--preset",
        default="fast",
        choices=list(PRESETS),
        help="starting hyperparameters, see below (default: fast; seed means 7500 "
        "Adam steps, over an hour on a CPU)",
    )
    add_setting_options(p.add_argument_group("settings (each replaces the preset's value)"))
    p.add_argument(
        "--save-every",
        type=_positive_int,
        metavar="K",
        help="keep a frame every K steps (with --frames or --film)",
    )
    p.add_argument("--frames", metavar="DIR", help="folder for the frames kept every K steps")
    p.add_argument("--report", metavar="FILE.json", help="write a JSON report of the run")
    c = p.add_argument_group("controls (Gatys et al. 2017)")
    c.add_argument(
        "--style",
        dest="more_styles",
        action="append",
        metavar="STYLE2",
        help="another style image (repeat for more); blend with --blend or place with --mask",
    )
    c.add_argument(
        "--blend",
        nargs="+",
        type=_nonneg_float,
        metavar="W",
        help="one weight per style image, as shares (default equal), e.g. --blend 3 1",
    )
    c.add_argument(
        "--mask",
        action="append",
        metavar="FILE",
        help="where a style applies (white = here): one mask image per style, in order; "
        "'all' for everywhere",
    )
    c.add_argument(
        "--sizes",
        type=_sizes,
        metavar="S1,S2,...",
        help="coarse-to-fine: optimise at each longest side in turn, e.g. 256,512,1024 "
        "(instead of --size; --steps then counts per stage)",
    )
    c.add_argument(
        "--film",
        metavar="OUT.gif",
        help="a GIF (or MP4, with imageio-ffmpeg) of the frames kept every K steps "
        "(needs --save-every)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_parsers(sub: Any, samples: Any) -> None:
    """Add ``stylize`` and ``demo`` to the subcommands ``sub``."""
    st = sub.add_parser(
        "stylize",
        help="stylise CONTENT with STYLE",
        description="Stylise CONTENT with the style of STYLE.",
        epilog=_presets_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument(
        "content",
        help="content image file, or a sample photograph: " + ", ".join(samples.CONTENT_SAMPLES),
    )
    st.add_argument(
        "style",
        help="style image file, or a sample painting: "
        + ", ".join(samples.PAINTINGS)
        + " (or a procedural style: "
        + ", ".join(samples.STYLE_SAMPLES)
        + ")",
    )
    _add_run_options(st)
    demo = sub.add_parser(
        "demo",
        help="stylise a bundled photograph with The Starry Night",
        description="Stylise Chelsea the cat with Van Gogh's The Starry Night, "
        "on VGG19 (fetched once if needed).",
    )
    demo.add_argument(
        "-o",
        "--output",
        default="nst-demo.png",
        help="where to write the result (default: nst-demo.png)",
    )
    demo.add_argument("--steps", type=_positive_int)
    demo.add_argument("--force", action="store_true")
    demo.add_argument("-q", "--quiet", action="store_true")


def _stem(source):
    """The name part of an image argument, for a default file name: ``photos/cat.jpg`` → ``cat``."""
    stem = pathlib.Path(str(source)).stem if isinstance(source, (str, os.PathLike)) else "image"
    return re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "image"


def _free_name(stem, suffix=".png"):
    """``stem.png`` in the current folder, or ``stem-2.png``, ``stem-3.png`` … if it is taken."""
    path, n = pathlib.Path(stem + suffix), 1
    while path.exists():
        n += 1
        path = pathlib.Path(f"{stem}-{n}{suffix}")
    return path


def _check_outputs(args, output):
    """Check every file the run will write, before it starts; raise NSTError naming a bad one.

    Two outputs naming one file are refused (``-o x --report x`` would replace the image by the
    report), and each path must be writable: not an existing file (without --force), not a folder,
    not under a regular file, not in a read-only folder.
    """
    named = [
        ("-o/--output", output),
        ("--report", getattr(args, "report", None)),
        ("--film", getattr(args, "film", None)),
        ("--frames", getattr(args, "frames", None)),
    ]
    named = [(option, path) for option, path in named if path]
    seen: dict[str, str] = {}
    for option, path in named:
        key = os.path.realpath(os.path.expanduser(str(path)))
        if key in seen:
            raise NSTError(
                f"{seen[key]} and {option} both name {path}; give each output its own file."
            )
        seen[key] = option
    frames = getattr(args, "frames", None)
    for option, path in named:
        if option == "--frames":
            continue
        path = pathlib.Path(path).expanduser()
        if (
            frames
            and re.fullmatch(r"frame_\d{5}\.png", path.name)
            and pathlib.Path(os.path.realpath(path.parent)).is_relative_to(
                os.path.realpath(os.path.expanduser(frames))
            )
        ):
            raise NSTError(f"{option} {path}: the frames go there; choose another name.")
        if option == "--film":
            continue  # checked with its type by film.check_film_path
        if option == "-o/--output" and not args.output:
            check_folder(path.parent)
        else:
            check_writable(path, force=args.force)


def changes(args):
    """The settings given on the command line: ``{setting: value}``."""
    return {
        name: getattr(args, name)
        for name, s in SETTINGS.items()
        if s.option and getattr(args, name, None) is not None
    }


def _controls(args, n_styles):
    """Check the options of several styles, masks, sizes and films; return stylize's arguments."""
    blend, masks = getattr(args, "blend", None), getattr(args, "mask", None)
    if blend is not None:
        if len(blend) != n_styles:
            raise NSTError(
                f"--blend has {len(blend)} weight{'s' if len(blend) != 1 else ''} for "
                f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one per style."
            )
        if not sum(blend) > 0:
            raise NSTError("--blend weights are all zero; give at least one positive weight.")
    if masks is not None:
        if len(masks) != n_styles:
            raise NSTError(
                f"--mask was given {len(masks)} time{'s' if len(masks) != 1 else ''} for "
                f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one mask per "
                "style, in order ('all' for everywhere)."
            )
        masks = [None if m == "all" else m for m in masks]
        for i, m in enumerate(masks):
            if m is not None and not os.path.exists(m):
                raise NSTError(
                    f"--mask {m}: no such file (mask {i + 1}); check the path, or give "
                    "'all' for everywhere."
                )
    if getattr(args, "sizes", None) and getattr(args, "max_side", None):
        raise NSTError("--sizes sets the size of every stage; drop --size.")
    film = getattr(args, "film", None)
    if film:
        if not getattr(args, "save_every", None):
            raise NSTError("--film needs --save-every K (keep a frame every K steps).")
        check_film_path(film, force=args.force)
    return {"style_blend": blend, "style_masks": masks}


def _warn_if_long(cfg):
    """One line on stderr when a run of this many steps will take long on this machine's CPU."""
    if int(cfg.steps) < LONG_CPU_STEPS:
        return
    from .._tf import tf  # TensorFlow is loaded by now (the run's set-up); only asked, not started

    if tf().config.list_physical_devices("GPU"):
        return
    optimiser = "Adam" if cfg.optimizer == "adam" else "L-BFGS"
    print(
        f"nst: note: {cfg.steps} {optimiser} steps on a CPU take long (the seed preset's 7500 "
        "take over an hour at 256 px); for a first look add --steps 300, or use --preset fast.",
        file=sys.stderr,
        flush=True,
    )


def _rescue(write, path, what):
    """Call ``write(path)``; if that fails, write to a new file in the temporary folder instead.

    Returns ``(path written, None)`` or ``(rescued path or None, one-line error)``.
    """
    try:
        return write(path), None
    except NSTError as err:
        problem = str(err).rstrip(".")
    suffix = pathlib.Path(path).suffix or ".png"
    try:
        fd, spare = tempfile.mkstemp(prefix=f"nst-{_stem(path)}-", suffix=suffix)
        os.close(fd)
        write(pathlib.Path(spare), force=True)
    except (NSTError, OSError) as err:
        return None, f"{problem}; and the {what} could not be saved anywhere else either ({err})."
    return pathlib.Path(spare), f"{problem}; the {what} was saved to {spare} instead."


def _save_results(result, args, output, default_stem=None):
    """Write the image, the report and the film; a write that fails is rescued and said.

    With ``default_stem`` (no ``-o``) the image takes the first free name at the end of the run,
    so it never replaces a file, even one made during the run. Returns True if a write failed.
    """
    errors = []

    def image(path, force=args.force):
        if default_stem and path == output:
            path, force = _free_name(default_stem), False
        return result.save(path, force=force)

    path, error = _rescue(image, output, "image")
    errors.append(error)
    if getattr(args, "report", None):
        data = (json.dumps(result.report(), indent=2, allow_nan=False) + "\n").encode()
        report, error = _rescue(
            lambda p, force=args.force: write_new(p, data, force=force),
            pathlib.Path(args.report).expanduser(),
            "report",
        )
        errors.append(error)
        if report is not None and error is None:
            print(f"Wrote {report.resolve()} (the report).")
    if getattr(args, "film", None):
        film, error = _rescue(
            lambda p, force=args.force: save_film(result, p, force=force),
            pathlib.Path(args.film).expanduser(),
            "film",
        )
        errors.append(error)
        if film is not None and error is None:
            print(f"Wrote {film.resolve()} ({len(result.frames)} frames).")
    if path is not None:
        h, w = result.image.shape[:2]
        print(
            f"Wrote {path.resolve()} ({w}x{h}, backbone {result.backbone}, {result.steps} steps, "
            f"{result.seconds:.0f} s, best loss {result.best_loss:.4g})."
        )
    for error in filter(None, errors):
        print(f"nst: error: {cli_words(error)}", file=sys.stderr)
    return any(errors)


def run(content, style, args, preset_name, changes, term):
    if getattr(args, "frames", None) and not getattr(args, "save_every", None):
        raise NSTError("--frames needs --save-every K (keep a frame every K steps).")
    cfg = preset(preset_name, **changes)  # every setting is checked before anything runs
    default_stem = None if args.output else f"{_stem(content)}_{_stem(style)}"
    output = pathlib.Path(args.output).expanduser() if args.output else _free_name(default_stem)
    if not str(output).lower().endswith((".png", ".jpg", ".jpeg")):
        raise NSTError(f"{output}: the output must end in .png or .jpg.")
    _check_outputs(args, output)
    styles = [style] + list(getattr(args, "more_styles", None) or [])
    controls = _controls(args, len(styles))
    content = _image_arg(content, "content image")
    styles = [_image_arg(s, "style image") for s in styles]
    style = styles if len(styles) > 1 else styles[0]
    options = dict(
        progress=not args.quiet,
        frames_every=getattr(args, "save_every", None),
        frames_dir=getattr(args, "frames", None),
        force=args.force,
        **controls,
    )
    _warn_if_long(cfg)
    if getattr(args, "sizes", None):
        steps = changes.pop("steps", None)
        result = stylize_coarse_to_fine(
            content, style, args.sizes, preset_name, steps, **options, **changes
        )
    else:
        from ..optimize import stylize  # TensorFlow: once every check has passed

        result = stylize(content, style, preset_name, **options, **changes)
    failed = _save_results(result, args, output, default_stem)
    if result.stop_reason == "interrupted":
        signal_name = "SIGTERM" if term["signalled"] else "Ctrl-C"
        print(
            f"Interrupted: the image saved is the best one found before {signal_name}.",
            file=sys.stderr,
        )
        return interrupted_status(term)
    if failed:
        return EXIT_NOT_WRITTEN
    if result.stop_reason == "diverged":
        print(f"nst: {cli_words(result.message)}", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def demo(args: Any, term: dict) -> int:
    """``nst demo``: chelsea with The Starry Night, the ``fast`` preset."""
    changes = {"steps": args.steps} if args.steps else {}
    print(
        "Stylising chelsea (Stefan van der Walt, CC0) with The Starry Night (Vincent "
        "van Gogh, 1889) …",
        flush=True,
    )
    return run("chelsea", "starry_night", args, "fast", changes, term)
