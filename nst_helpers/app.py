"""The explorer as a standalone web app: ``nst lab`` serves it with Voilà.

For a class demo, or a student without JupyterLab: the page shows the explorer of notebook 06 and
nothing else, no code cells (Voilà strips them), with the same widgets, uploads, Run and Stop,
sweeps and gallery. Each browser tab gets a kernel of its own. Saved runs go to ``--dir`` (the
current folder by default), into the explorer's ``outputs/explorer``.

Voilà is an extra (``pip install "nst-helpers[app]"``): it asks for no ipywidgets of its own, so
installing it keeps Colab's ipywidgets 7 as it is.

    nst lab [--port 8866] [--ip localhost] [--dir .] [--content chelsea] [--style starry_night]
            [--quick] [--no-browser]
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

from .errors import NSTError

__all__ = ["app_notebook", "voila_command", "serve", "run_command"]

TITLE = "Neural style transfer: the hyperparameter explorer"


def app_notebook(content: str = "chelsea", style: str = "starry_night", quick: bool = False) -> dict:
    """The notebook the app runs: a title, and one cell that shows the explorer.

    Args:
        content: the first content image (a sample's name or a file).
        style: the first style image.
        quick: tiny images and few steps (a slow machine, or CI).

    Returns:
        The notebook, as a dict (nbformat 4).
    """
    intro = (f"# {TITLE}\n\n"
             "Choose a photograph and a painting (or upload your own), set the weights, and press "
             "**Run**; **Stop** ends a run early and keeps its best image. Finished runs join the "
             "gallery; **Sweep** runs a small grid of settings. Part of the course *Neural style "
             "transfer, from convolutions to the full loop* (notebook 06).")
    source = ("import os\n"
              "os.chdir(os.environ.get('NST_LAB_DIR') or os.getcwd())  # where saved runs go\n"
              "from nst_helpers.explorer import Explorer\n"
              f"explorer = Explorer(content={content!r}, style={style!r}, quick={bool(quick)!r})\n"
              "explorer")
    return {
        "cells": [{"cell_type": "markdown", "id": "intro", "metadata": {}, "source": intro},
                  {"cell_type": "code", "id": "explorer", "execution_count": None, "metadata": {},
                   "outputs": [], "source": source}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}, "title": TITLE},
        "nbformat": 4, "nbformat_minor": 5,
    }


def voila_command(notebook: str | os.PathLike, port: int = 8866, ip: str = "localhost",
                  open_browser: bool = True) -> list[str]:
    """The command that serves ``notebook`` with Voilà: sources stripped, no tracebacks shown.

    Args:
        notebook: the app's notebook file.
        port: the port to listen on.
        ip: the address to listen on (``localhost``: this machine only).
        open_browser: open the page in the default browser.

    Returns:
        The command, as a list of arguments.
    """
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={int(port)}",
           f"--Voila.ip={ip}", "--strip_sources=True", "--show_tracebacks=False",
           "--theme=light"]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def _check(port: int, folder: pathlib.Path) -> None:
    if importlib.util.find_spec("voila") is None:
        raise NSTError("nst lab needs Voilà: pip install \"nst-helpers[app]\" (it keeps your "
                       "ipywidgets as they are).")
    if not 1 <= int(port) <= 65535:
        raise NSTError(f"--port must be between 1 and 65535, not {port}.")
    if not folder.is_dir():
        raise NSTError(f"{folder}: no such folder for --dir.")
    if not os.access(folder, os.W_OK):
        raise NSTError(f"{folder}: cannot write there (saved runs go there); choose another --dir.")


def serve(port: int = 8866, ip: str = "localhost", folder: str | os.PathLike = ".",
          content: str = "chelsea", style: str = "starry_night", quick: bool = False,
          open_browser: bool = True) -> int:
    """Serve the explorer app until Ctrl-C or SIGTERM; returns Voilà's exit status.

    Args:
        port: the port to listen on.
        ip: the address to listen on; ``0.0.0.0`` lets other machines of the network in (a class
            demo), and each visitor can run style transfer on this machine.
        folder: where saved runs go (the explorer's ``outputs/explorer`` inside it).
        content: the first content image.
        style: the first style image.
        quick: tiny images and few steps.
        open_browser: open the page in the default browser.

    Returns:
        0 after Ctrl-C or SIGTERM, else Voilà's own exit status.
    """
    folder = pathlib.Path(folder).resolve()
    _check(port, folder)
    home = pathlib.Path(tempfile.mkdtemp(prefix="nst-lab-"))
    try:
        notebook = home / "explorer.ipynb"
        notebook.write_text(json.dumps(app_notebook(content, style, quick), indent=1))
        env = dict(os.environ, NST_LAB_DIR=str(folder))
        print(f"Serving the explorer on http://{ip}:{port}/ (Ctrl-C stops it); saved runs go to "
              f"{folder}.", flush=True)
        proc = subprocess.Popen(voila_command(notebook, port, ip, open_browser), cwd=home, env=env)
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
        return 0 if code in (0, -signal.SIGTERM) else code
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_command(args) -> int:
    """``nst lab``: what the command line asked for (see :func:`serve`)."""
    return serve(port=args.port, ip=args.ip, folder=args.dir, content=args.content,
                 style=args.style, quick=args.quick, open_browser=not args.no_browser)
