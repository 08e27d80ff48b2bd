"""``nst train-style`` and ``nst stylize-fast``: a network that stylises in one forward pass.

The options of ``train-style`` are the rows of the training settings table
(:class:`nst_helpers.feedforward.TrainConfig`): their help, defaults and checks come from it.
Everything that can be checked without TensorFlow (the outputs, the checkpoint folder, the network
file, the painting, the photographs, every value) is checked before it is imported.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import time
import zipfile
from typing import Any

from ..choices import BACKBONES
from ..errors import NSTError
from ..feedforward.settings import TRAIN_SETTINGS
from ..images import check_folder, check_writable, load_image, save_image
from .options import add_table_options, changes, image_arg, option_words, positive_int

__all__ = ["add_parsers", "check_before_tensorflow", "run"]


def _backbone_name(text: str) -> str:
    """``--backbone``: a name that nst_helpers.backbone knows, or a weights file that exists."""
    if text in BACKBONES or re.fullmatch(r"random:\d+", text):
        return text
    if pathlib.Path(text).expanduser().is_file():
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither auto, vgg19, vgg16-hed, random[:SEED] nor a weights file that exists"
    )


def _default(row: Any) -> str:
    value = row.default
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if row.name == "max_minutes":
        return "no limit"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_parsers(sub: Any, samples: Any) -> None:
    """Add ``train-style`` and ``stylize-fast`` to the subcommands ``sub``."""
    _add_train_style(sub, samples)
    _add_stylize_fast(sub, samples)


def _add_train_style(sub: Any, samples: Any) -> None:
    """``nst train-style PAINTING -o OUT.keras``: its options are the training settings table's,
    then where the photographs and checkpoints are (:func:`_add_run_options`)."""
    tr = sub.add_parser(
        "train-style",
        help="train a network that stylises photos with PAINTING in milliseconds",
        description="Train Johnson et al.'s (2016) transformation "
        "network for PAINTING on crops of the bundled photographs (tubingen and "
        "chelsea are held out), on VGG19; checkpoints go to OUT.checkpoints/. "
        "Ctrl-C or SIGTERM keeps the last checkpoint and writes the network so far.",
    )
    tr.add_argument(
        "painting", help="style image file, or a sample painting: " + ", ".join(samples.PAINTINGS)
    )
    tr.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.keras",
        help="where to write the trained network (a .keras file)",
    )
    add_table_options(
        tr.add_argument_group("settings (the training settings table)"),
        TRAIN_SETTINGS,
        _default,
        types={"backbone": _backbone_name},
        aliases=False,
    )
    _add_run_options(tr)


def _add_run_options(tr: Any) -> None:
    """``train-style``'s options that are not settings: the photographs, the checkpoint folder,
    resuming or starting again, and the progress bar."""
    tr.add_argument("--photos", metavar="DIR", help="train on the photographs in DIR instead")
    tr.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="checkpoint folder (default: OUT.checkpoints next to OUT.keras)",
    )
    tr.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint "
        "that reads back whole (damaged ones are moved to DIR/damaged-N/)",
    )
    tr.add_argument(
        "--force",
        action="store_true",
        help="replace OUT.keras; without --resume, "
        "start again, moving the old checkpoints to DIR/earlier-N/",
    )
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_stylize_fast(sub: Any, samples: Any) -> None:
    """``nst stylize-fast MODEL PHOTO -o OUTPUT``."""
    fs = sub.add_parser(
        "stylize-fast",
        help="stylise PHOTO with a network from nst train-style",
        description="Stylise PHOTO with a trained network: one forward pass.",
    )
    fs.add_argument("model", help="a .keras network written by nst train-style")
    fs.add_argument(
        "photo", help="image file, or a sample photograph: " + ", ".join(samples.CONTENT_SAMPLES)
    )
    fs.add_argument("-o", "--output", required=True, help="where to write the result (.png, .jpg)")
    fs.add_argument(
        "--size",
        type=positive_int,
        default=1024,
        help="shrink PHOTO to this longest side first (default: 1024)",
    )
    fs.add_argument("--force", action="store_true", help="overwrite OUTPUT")


# --- every check that needs no TensorFlow, made before importing it -----------------------------


def _check_network_file(text: str) -> None:
    """Refuse a ``.keras`` network file that is missing, unreadable, not a Keras archive, or
    damaged (a member failing its checksum), without loading it."""
    path = pathlib.Path(text).expanduser()
    made = "give a .keras file written by nst train-style."
    if path.is_dir():
        raise NSTError(f"{path}: is a folder, not a network file; {made}")
    if not path.exists():
        raise NSTError(
            f"{path}: no such network file; check the path (make one with nst train-style)."
        )
    if path.suffix != ".keras":
        raise NSTError(f"{path}: not a .keras network file; {made}")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise NSTError(f"{path}: a zip file, but not a .keras network file; {made}")
            broken = archive.testzip()
    except PermissionError:
        raise NSTError(
            f"{path}: no permission to read this file; check its permissions "
            "(chmod u+r) or copy it somewhere readable."
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise NSTError(
            f"{path}: not a .keras network file, or a truncated one ({err}); {made}"
        ) from None
    if broken:
        raise NSTError(f"{path}: damaged ({broken} in it fails its checksum); {made}")


def _checkpoint_folder(args: Any) -> pathlib.Path:
    output = pathlib.Path(args.output).expanduser()
    return pathlib.Path(args.checkpoints or output.with_suffix(".checkpoints")).expanduser()


def check_before_tensorflow(args: Any) -> None:
    """Check what ``nst train-style`` and ``nst stylize-fast`` read and write before TensorFlow is
    imported: the output, the checkpoint folder, the network file, the painting, the photos.
    The photo of stylize-fast is read here (at ``--size``) and handed on in ``args.photo``."""
    output = pathlib.Path(args.output).expanduser()
    if args.command == "stylize-fast":
        _check_stylize_fast(args, output)
        return
    if output.suffix != ".keras":
        raise NSTError(f"{output}: the network is saved as a .keras file; end the name in .keras.")
    check_writable(output, force=args.force)
    _check_checkpoint_folder(_checkpoint_folder(args), output)
    painting = image_arg(args.painting, "painting")
    if isinstance(painting, str):
        load_image(painting, max_side=64, name="painting")
    if args.photos:
        _check_photos(pathlib.Path(args.photos).expanduser())


def _check_stylize_fast(args: Any, output: pathlib.Path) -> None:
    """``stylize-fast``: the output, the network file; the photo is read (into ``args.photo``)."""
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise NSTError(f"{output}: the output must end in .png or .jpg.")
    check_writable(output, force=args.force)
    _check_network_file(args.model)
    photo = image_arg(args.photo, "content photo")
    args.photo = load_image(photo, max_side=args.size, name="photo")


def _check_checkpoint_folder(folder: pathlib.Path, output: pathlib.Path) -> None:
    """Refuse a checkpoint folder that is the network's own file, a file, or not writable."""
    if os.path.realpath(folder) == os.path.realpath(output):
        raise NSTError(f"--checkpoints {folder}: is the network's own file; give another folder.")
    if folder.exists() and not folder.is_dir():
        raise NSTError(
            f"{folder}: is a file, not a folder for checkpoints; give a folder (--checkpoints DIR)."
        )
    check_folder(folder)


def _check_photos(photos: pathlib.Path) -> None:
    """``--photos``: a folder holding at least one .jpg or .png photograph, or an image file."""
    if photos.is_dir():
        if not any(p.suffix.lower() in (".jpg", ".jpeg", ".png") for p in photos.rglob("*")):
            raise NSTError(f"--photos {photos}: holds no .jpg or .png photographs to train on.")
    elif photos.exists():
        load_image(photos, max_side=64, name=f"--photos {photos}")
    else:
        raise NSTError(
            f"--photos {photos}: no such folder; give a folder of .jpg or .png photographs."
        )


# --- the commands ----------------------------------------------------------------------------------


def _train_style(args: Any, term: dict) -> int | str:
    from .. import feedforward as ff  # TensorFlow: only once every check has passed

    cfg = ff.TrainConfig().replace(**changes(args, TRAIN_SETTINGS))
    folder = _checkpoint_folder(args)
    output = pathlib.Path(args.output).expanduser()
    if not args.quiet:
        limit = f", at most {cfg.max_minutes:g} minutes" if cfg.max_minutes else ""
        print(
            f"Training a network on {ff.describe_style(args.painting)} ({cfg.steps} steps of "
            f"{cfg.batch_size} crops of {cfg.size} px{limit}) …",
            flush=True,
        )
    result = ff.train(
        args.painting,
        cfg,
        photos=args.photos,
        checkpoint_dir=folder,
        resume=args.resume,
        force=args.force,
        progress=not args.quiet,
        verbose=False,
    )
    if result.stop_reason == "diverged":
        raise NSTError(f"{result.message} The last good checkpoint is in {folder}.")
    path = result.save(output, force=args.force)
    minutes = (result.setup_seconds + result.compile_seconds + result.seconds) / 60
    pace = (
        f"{1000 * result.seconds_per_step:.0f} ms/step"
        if result.step > result.start_step
        else f"no step to do: the checkpoint was at step {result.start_step} of {cfg.steps}"
    )
    resumed = f"resumed at step {result.start_step}, " if args.resume else ""
    print(
        f"Wrote {path.resolve()} ({ff.describe_network(result.model)}; {resumed}this run "
        f"{minutes:.1f} min, {pace}; checkpoints in {folder})."
    )
    if result.stop_reason == "interrupted":
        what = "SIGTERM" if term.get("signalled") else "Ctrl-C"
        print(
            f"Interrupted ({what}) at step {result.step} of {cfg.steps}: the network so far is in "
            f"{output} and the checkpoint in {folder}; to go on: nst train-style "
            f"{args.painting} -o {args.output} --resume --force (and the same options).",
            file=sys.stderr,
        )
        return "interrupted"
    if result.stop_reason == "time limit":
        print(
            f"Stopped by the time limit at step {result.step} of {cfg.steps}; --resume --force "
            "continues.",
            file=sys.stderr,
        )
    return 0


def _stylize_fast(args: Any) -> int:
    from .. import feedforward as ff  # TensorFlow: only once every check has passed

    output = pathlib.Path(args.output).expanduser()
    model = ff.load_network(args.model)
    t = time.perf_counter()
    image = ff.stylize_fast(model, args.photo, max_side=args.size)
    ms = 1000 * (time.perf_counter() - t)
    info = ff.network_info(model)
    path = save_image(
        image,
        output,
        force=args.force,
        metadata={"backbone": info.get("backbone", "?"), "network": info},
    )
    h, w = image.shape[:2]
    print(
        f"Wrote {path.resolve()} ({w}x{h}, {ff.describe_network(model)}; {ms:.0f} ms, the "
        "one-off tracing included)."
    )
    return 0


def run(args: Any, term: dict) -> int | str:
    """Run ``nst train-style`` or ``nst stylize-fast`` with the parsed ``args``.

    Args:
        args: the ``argparse`` namespace.
        term: the dict whose ``"signalled"`` says whether SIGTERM interrupted the run.

    Returns:
        0, or ``"interrupted"`` for a run ended by Ctrl-C or SIGTERM (its network and checkpoint
        written).

    Raises:
        NSTError: bad input, in the command line's words.
    """
    check_before_tensorflow(args)
    try:
        if args.command == "train-style":
            return _train_style(args, term)
        return _stylize_fast(args)
    except NSTError as err:
        raise NSTError(option_words(str(err))) from None
