"""``nst lab``: the explorer of notebook 06 as a web app (Voilà)."""

from __future__ import annotations

from typing import Any

from .options import positive_int as _positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``lab`` to the subcommands ``sub``."""
    lb = sub.add_parser(
        "lab",
        help="serve the explorer of notebook 06 as a web app (Voila)",
        description="Serve the hyperparameter explorer as a standalone web page "
        "with Voila: the same widgets, uploads, Run and Stop, sweeps and gallery, "
        'no code cells. Needs pip install "nst-helpers[app]". Uploads are '
        "limited to 20 MB; a port in use is an error, never another port.",
    )
    lb.add_argument(
        "--port",
        type=_positive_int,
        default=8866,
        help="the port to listen on, that one or none (default: 8866)",
    )
    lb.add_argument(
        "--ip",
        default="localhost",
        help="address to listen on (default: localhost; "
        "0.0.0.0 lets the network in, for a class demo)",
    )
    lb.add_argument("--dir", default=".", help="where saved runs go (default: this folder)")
    lb.add_argument(
        "--content", default="chelsea", help="the first content image (default: chelsea)"
    )
    lb.add_argument(
        "--style", default="starry_night", help="the first style image (default: starry_night)"
    )
    lb.add_argument("--quick", action="store_true", help="tiny images and few steps")
    lb.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lb.add_argument(
        "--max-kernels",
        type=_positive_int,
        default=4,
        metavar="N",
        help="the most pages open at once, each with its own kernel of about 1 GB; a "
        "page beyond them is refused with a message (default: 4)",
    )
    lb.add_argument(
        "--cull-after",
        type=_positive_int,
        default=120,
        metavar="SECONDS",
        help="stop the kernel of a page that was closed or never opened after this "
        "many idle seconds, at least 10 (default: 120); open pages keep theirs",
    )


def run(args: Any) -> int:
    """``nst lab``: serve the explorer as asked (:func:`nst_helpers.app.serve`)."""
    from ..app import serve  # Voilà and the explorer: only for this command

    return serve(
        port=args.port,
        ip=args.ip,
        folder=args.dir,
        content=args.content,
        style=args.style,
        quick=args.quick,
        open_browser=not args.no_browser,
        max_kernels=args.max_kernels,
        cull_after=args.cull_after,
    )
