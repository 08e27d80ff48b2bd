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
from typing import Any, Callable

from ..config import PRESET_WORDS, PRESETS, SETTINGS, preset
from ..errors import NSTError
from ..film import check_film_path, save_film
from ..images import check_folder, check_writable, write_new
from ..multiscale import parse_sizes, stylize_coarse_to_fine
from .options import (
    add_table_options,
    cli_words,
    image_arg as _image_arg,
    nonneg_float as _nonneg_float,
    option_names,
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
    "changes",
    "run",
    "demo",
]


#: What each preset is, for ``--help``: the words of :data:`nst_helpers.config.PRESETS`.
PRESET_HELP = PRESET_WORDS


#: Steps from which a run on a CPU earns a warning (the seed preset's 7500 take over an hour).
LONG_CPU_STEPS = 2000


def _sizes(text: str) -> list[int]:
    """``--sizes``'s reader: :func:`parse_sizes`, its message in argparse's form."""
    try:
        return parse_sizes(text)
    except NSTError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None


def _per_preset(key: str, show: Callable[[Any], str] | None = None) -> str:
    """``fast 150, seed 7500, gatys 300`` (or ``2 in every preset``): a setting's defaults."""
    show = show or (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    values = {name: show(getattr(preset(name), key)) for name in PRESET_HELP}
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in every preset"
    return ", ".join(f"{name} {v}" for name, v in values.items())


def _presets_epilog() -> str:
    """``--help``'s closing text: what each preset sets."""
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


def add_setting_options(group: Any, names: Any = None) -> None:
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


def _add_run_options(p: argparse.ArgumentParser, default_output: str | None = None) -> None:
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
    _add_control_options(p.add_argument_group("controls (Gatys et al. 2017)"))
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_control_options(c: Any) -> None:
    """The controls of Gatys et al. (2017): more styles, blend, masks, coarse-to-fine, a film."""
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


def _stem(source: Any) -> str:
    """The name part of an image argument, for a default file name: ``photos/cat.jpg`` → ``cat``."""
    stem = pathlib.Path(str(source)).stem if isinstance(source, (str, os.PathLike)) else "image"
    return re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "image"


def _free_name(stem: str, suffix: str = ".png") -> pathlib.Path:
    """``stem.png`` in the current folder, or ``stem-2.png``, ``stem-3.png`` … if it is taken."""
    path, n = pathlib.Path(stem + suffix), 1
    while path.exists():
        n += 1
        path = pathlib.Path(f"{stem}-{n}{suffix}")
    return path


def _check_outputs(args: argparse.Namespace, output: pathlib.Path) -> None:
    """Check every file the run will write, before it starts; raise NSTError naming a bad one.

    Two outputs naming one file are refused (``-o x --report x`` would replace the image by the
    report), and each path must be writable: not an existing file (without --force), not a folder,
    not under a regular file, not in a read-only folder.
    """
    named: list[tuple[str, Any]] = [
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


def changes(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line: ``{setting: value}``."""
    return {
        name: getattr(args, name)
        for name, s in SETTINGS.items()
        if s.option and getattr(args, name, None) is not None
    }


def _controls(args: argparse.Namespace, n_styles: int) -> dict[str, Any]:
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
        masks = _check_masks(masks, n_styles)
    if getattr(args, "sizes", None) and getattr(args, "max_side", None):
        raise NSTError("--sizes sets the size of every stage; drop --size.")
    film = getattr(args, "film", None)
    if film:
        if not getattr(args, "save_every", None):
            raise NSTError("--film needs --save-every K (keep a frame every K steps).")
        check_film_path(film, force=args.force)
    return {"style_blend": blend, "style_masks": masks}


def _check_masks(masks: list[str], n_styles: int) -> list[str | None]:
    """``--mask``: one per style, each a file or ``all`` (None: everywhere)."""
    if len(masks) != n_styles:
        raise NSTError(
            f"--mask was given {len(masks)} time{'s' if len(masks) != 1 else ''} for "
            f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one mask per "
            "style, in order ('all' for everywhere)."
        )
    files = [None if m == "all" else m for m in masks]
    for i, m in enumerate(files):
        if m is not None and not os.path.exists(m):
            raise NSTError(
                f"--mask {m}: no such file (mask {i + 1}); check the path, or give "
                "'all' for everywhere."
            )
    return files


def _warn_if_long(cfg: Any) -> None:
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


def _rescue(
    write: Callable[..., pathlib.Path], path: Any, what: str
) -> tuple[pathlib.Path | None, str | None]:
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


def _save_results(
    result: Any, args: argparse.Namespace, output: pathlib.Path, default_stem: str | None = None
) -> bool:
    """Write the image, the report and the film; a write that fails is rescued and said.

    With ``default_stem`` (no ``-o``) the image takes the first free name at the end of the run,
    so it never replaces a file, even one made during the run. Returns True if a write failed.
    """
    errors = []

    def image(path: pathlib.Path, force: bool = args.force) -> pathlib.Path:
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


def run(
    content: Any, style: Any, args: argparse.Namespace, preset_name: str, changes: dict, term: dict
) -> int:
    """``nst stylize``: check every option and output, run, save, and say how it ended."""
    if getattr(args, "frames", None) and not getattr(args, "save_every", None):
        raise NSTError("--frames needs --save-every K (keep a frame every K steps).")
    cfg = preset(preset_name, **changes)  # every setting is checked before anything runs
    default_stem = None
    if args.output:
        output = pathlib.Path(args.output).expanduser()
    else:
        default_stem = f"{_stem(content)}_{_stem(style)}"
        output = _free_name(default_stem)
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


#: ``nst demo``'s changes to the ``fast`` preset: start from the cat in the painting's colours
#: (init="recolored"), which comes within 3 % of the 150 evaluations from the photograph in 110
#: (docs/performance-history.md, "nst demo in 12 s").
DEMO_CHANGES = {"init": "recolored", "steps": 110}


def demo(args: Any, term: dict) -> int:
    """``nst demo``: chelsea with The Starry Night, the ``fast`` preset from the cat recoloured."""
    changes = dict(DEMO_CHANGES, **({"steps": args.steps} if args.steps else {}))
    print(
        "Stylising chelsea (Stefan van der Walt, CC0) with The Starry Night (Vincent "
        "van Gogh, 1889) …",
        flush=True,
    )
    return run("chelsea", "starry_night", args, "fast", changes, term)
