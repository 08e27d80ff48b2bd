"""The explorer as a standalone web app: ``nst lab`` serves it with Voilà.

For a class demo, or a student without JupyterLab: the page shows the explorer of notebook 06 and
nothing else, no code cells (Voilà strips them), with the same widgets, uploads, Run and Stop,
sweeps and gallery. Each page gets a kernel of its own. Saved runs go to ``--dir`` (the current
folder by default), into the explorer's ``outputs/explorer``.

What keeps a class from knocking the machine over, all through Voilà's and Jupyter server's own
settings (written to a ``voila.json`` that Voilà reads from its working folder):

- at most ``--max-kernels`` pages at once (default 4; each kernel holds TensorFlow and VGG19, about
  1 GB once it has run): a page load beyond them gets ``503`` and a sentence saying why, and starts
  nothing (:class:`nst_helpers.app_kernels.BoundedKernelManager`, Voilà's
  ``multi_kernel_manager_class``);
- the kernel of a page that was closed, or never connected (a script, a crawler, a tab closed while
  loading), is shut down after ``--cull-after`` seconds without activity (Jupyter server's
  ``MappingKernelManager.cull_idle_timeout``, ``cull_connected=False``: a page that is open keeps
  its kernel however long it stays idle);
- uploads are limited to 20 MB (:data:`nst_helpers.explorer.records.MAX_UPLOAD_BYTES`), said on the
  page; a larger file is not sent (the page sends its name and size only) and the explorer says why;
  websocket messages may be up to twice the limit, so a page that sends a large file anyway gets the
  same message instead of a dropped connection;
- the port is the one asked for or none (``port_retries=0``): a port in use is a one-line error
  before anything starts, and the address printed is the one Voilà listens on.

Voilà is an extra (``pip install "nst-helpers[app]"``): it asks for no ipywidgets of its own, so
installing it keeps Colab's ipywidgets 7 as it is.

    nst lab [--port 8866] [--ip localhost] [--dir .] [--content chelsea] [--style starry_night]
            [--quick] [--no-browser] [--max-kernels 4] [--cull-after 120]
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import samples
from .errors import NSTError
from .explorer.records import MAX_UPLOAD_BYTES
from .images import load_image

__all__ = [
    "app_notebook",
    "voila_command",
    "voila_config",
    "serve",
    "MAX_KERNELS",
    "CULL_AFTER",
    "MIN_CULL_AFTER",
    "MEMORY_PER_KERNEL",
]

TITLE = "Neural style transfer: the hyperparameter explorer"
#: Pages (kernels) alive at once unless ``--max-kernels`` says otherwise.
MAX_KERNELS = 4
#: Seconds without activity after which the kernel of a closed or never-connected page is shut down.
CULL_AFTER = 120
#: The shortest ``--cull-after``: a page needs a few seconds to connect to the kernel that ran it.
MIN_CULL_AFTER = 10
#: About what one page's kernel holds once the explorer has run (TensorFlow and VGG19), in bytes.
MEMORY_PER_KERNEL = 1_000_000_000


def _upload_guard(limit: int) -> str:
    """A script for the page: a file over ``limit`` bytes is read as empty, so the upload widget
    sends its name and size but not its bytes, and the explorer says it is too large (a file over
    the websocket's limit would otherwise drop the page's connection without a word)."""
    return (
        "<script>(function () { var limit = %d, read = FileReader.prototype.readAsArrayBuffer; "
        "FileReader.prototype.readAsArrayBuffer = function (blob) { return read.call(this, "
        "blob && blob.size > limit ? new Blob([]) : blob); }; })();</script>" % int(limit)
    )


def app_notebook(
    content: str = "chelsea",
    style: str = "starry_night",
    quick: bool = False,
    upload_limit: int | None = None,
) -> dict:
    """The notebook the app runs: a title, and one cell that shows the explorer.

    Args:
        content: the first content image (a sample's name or a file).
        style: the first style image.
        quick: tiny images and few steps (a slow machine, or CI).
        upload_limit: the largest upload in bytes, said on the page and kept to by the page's
            upload guard (default: the explorer's own limit).

    Returns:
        The notebook, as a dict (nbformat 4).
    """
    limit = MAX_UPLOAD_BYTES if upload_limit is None else int(upload_limit)
    intro = (
        f"# {TITLE}\n\n"
        "Choose a photograph and a painting (or upload your own), set the weights, and press "
        "**Run**; **Stop** ends a run early and keeps its best image. Finished runs join the "
        "gallery; **Sweep** runs a small grid of settings. Part of the course *Neural style "
        "transfer, from convolutions to the full loop* (notebook 06).\n\n"
        f"Uploads: PNG or JPEG files of up to {limit / 1e6:.0f} MB."
    )
    source = (
        "import os\n"
        "os.chdir(os.environ.get('NST_LAB_DIR') or os.getcwd())  # where saved runs go\n"
        "from nst_helpers.explorer import Explorer\n"
        f"explorer = Explorer(content={content!r}, style={style!r}, quick={bool(quick)!r})\n"
        "explorer"
    )
    return {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": intro},
            {
                "cell_type": "markdown",
                "id": "upload-guard",
                "metadata": {},
                "source": _upload_guard(limit),
            },
            {
                "cell_type": "code",
                "id": "explorer",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source,
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "title": TITLE,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def voila_config(
    max_kernels: int = MAX_KERNELS, cull_after: int = CULL_AFTER, upload_limit: int | None = None
) -> dict:
    """Voilà's and Jupyter server's settings for the app (what ``nst lab`` writes to voila.json).

    Args:
        max_kernels: the most pages (kernels) alive at once.
        cull_after: seconds without activity after which the kernel of a page that is not
            connected (closed, or never opened) is shut down.
        upload_limit: the largest upload in bytes; websocket messages may be twice as large.

    Returns:
        The configuration, as a dict of traitlets sections.
    """
    limit = MAX_UPLOAD_BYTES if upload_limit is None else int(upload_limit)
    return {
        "Voila": {"port_retries": 0, "tornado_settings": {"websocket_max_message_size": 2 * limit}},
        "VoilaConfiguration": {
            "multi_kernel_manager_class": "nst_helpers.app_kernels.BoundedKernelManager",
            "preheat_kernel": False,  # a pool of kernels would hold 1 GB each with nobody on them
        },
        "BoundedKernelManager": {"max_kernels": int(max_kernels)},
        "MappingKernelManager": {
            "cull_idle_timeout": int(cull_after),
            "cull_interval": max(1, min(60, int(cull_after) // 4)),
            "cull_connected": False,
            "cull_busy": False,
        },
    }


def voila_command(
    notebook: str | os.PathLike, port: int = 8866, ip: str = "localhost", open_browser: bool = True
) -> list[str]:
    """The command that serves ``notebook`` with Voilà: sources stripped, no tracebacks shown, on
    ``port`` or not at all (``port_retries=0``).

    Args:
        notebook: the app's notebook file.
        port: the port to listen on.
        ip: the address to listen on (``localhost``: this machine only).
        open_browser: open the page in the default browser.

    Returns:
        The command, as a list of arguments.
    """
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={int(port)}",
        f"--Voila.ip={ip}",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--theme=light",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def _image_source(text: str, role: str) -> str:
    """A sample's name as it is, or a readable image file as an absolute path (the kernel runs in
    ``--dir``, so a relative path would be looked for there)."""
    names = samples.list_samples()
    path = pathlib.Path(text).expanduser()
    if not path.exists() and any(text in values for values in names.values()):
        return text
    if not path.exists():
        offer = (
            f"photographs: {', '.join(names['content'])}"
            if role == "--content"
            else f"paintings: {', '.join(names['paintings'])}; procedural: "
            f"{', '.join(names['style'])}"
        )
        raise NSTError(f"{role} {text!r}: no such file, and not a sample name ({offer}).")
    load_image(str(path), max_side=64, name=f"{role} {text!r}")  # says what is wrong with it
    return str(path.resolve())


def _port_problem(ip: str, port: int) -> str | None:
    """Why Voilà could not listen on ``ip``:``port`` (bound and released the way Tornado binds
    it), or ``None``."""
    # Lazy: tornado is optional, it comes with Voilà (the [app] extra), which _check asks for first.
    from tornado.netutil import bind_sockets  # noqa: PLC0415

    try:
        sockets = bind_sockets(port, ip or None)
    except socket.gaierror:
        return (
            f"--ip {ip}: not an address of this machine; use localhost, 127.0.0.1, or 0.0.0.0 "
            "to let the network in."
        )
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            free = next((p for p in range(port + 1, min(port + 50, 65536)) if _free(ip, p)), None)
            offer = f", e.g. --port {free}" if free else ""
            return (
                f"port {port} is in use on {ip} (another nst lab, Jupyter, or another "
                f"program listens there); stop it, or choose another port with --port{offer}."
            )
        if err.errno in (errno.EACCES, errno.EPERM):
            return (
                f"not allowed to listen on port {port} (ports below 1024 need administrator "
                "rights); choose another with --port, e.g. --port 8866."
            )
        if err.errno == errno.EADDRNOTAVAIL:
            return (
                f"--ip {ip}: not an address of this machine; use localhost, 127.0.0.1, or "
                "0.0.0.0 to let the network in."
            )
        return f"cannot listen on {ip} port {port}: {err.strerror or err}."
    for sock in sockets:
        sock.close()
    return None


def _free(ip: str, port: int) -> bool:
    """Whether Voilà could listen on ``ip``:``port`` now."""
    from tornado.netutil import bind_sockets  # noqa: PLC0415 - lazy, optional: see _port_problem

    try:
        for sock in bind_sockets(port, ip or None):
            sock.close()
    except OSError:
        return False
    return True


def _check(
    port: int, folder: pathlib.Path, max_kernels: int = MAX_KERNELS, cull_after: int = CULL_AFTER
) -> None:
    """Refuse what would keep the app from starting, in one line, before anything starts."""
    if importlib.util.find_spec("voila") is None:
        raise NSTError(
            'nst lab needs Voilà: pip install "nst-helpers[app]" (it keeps your '
            "ipywidgets as they are)."
        )
    if not 1 <= int(port) <= 65535:
        raise NSTError(f"--port must be between 1 and 65535, not {port}.")
    if int(max_kernels) < 1:
        raise NSTError(f"--max-kernels must be at least 1, not {max_kernels}.")
    if int(cull_after) < MIN_CULL_AFTER:
        raise NSTError(
            f"--cull-after must be at least {MIN_CULL_AFTER} seconds, not "
            f"{cull_after}: a page needs a few seconds to connect to its kernel."
        )
    if not folder.is_dir():
        raise NSTError(f"{folder}: no such folder for --dir.")
    if not os.access(folder, os.W_OK):
        raise NSTError(f"{folder}: cannot write there (saved runs go there); choose another --dir.")


def _connect_host(ip: str) -> str:
    """The address to reach a server listening on ``ip`` (all addresses: this machine's)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(ip, ip)


def _listening(proc: subprocess.Popen, ip: str, port: int) -> bool:
    """Wait until Voilà accepts connections on ``port`` (True) or exits (False)."""
    host = _connect_host(ip)
    while proc.poll() is None:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        return proc.poll() is None
    return False


def _pythonpath(env: dict) -> str:
    """PYTHONPATH with this package's folder first, so that Voilà finds the kernel manager and the
    kernels find the explorer even when nst_helpers runs from a checkout without being installed."""
    here = str(pathlib.Path(__file__).resolve().parent.parent)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def serve(
    port: int = 8866,
    ip: str = "localhost",
    folder: str | os.PathLike = ".",
    content: str = "chelsea",
    style: str = "starry_night",
    quick: bool = False,
    open_browser: bool = True,
    max_kernels: int = MAX_KERNELS,
    cull_after: int = CULL_AFTER,
) -> int:
    """Serve the explorer app until Ctrl-C or SIGTERM; returns Voilà's exit status.

    Args:
        port: the port to listen on (that one or none).
        ip: the address to listen on; ``0.0.0.0`` lets other machines of the network in (a class
            demo), and each visitor can run style transfer on this machine.
        folder: where saved runs go (the explorer's ``outputs/explorer`` inside it).
        content: the first content image.
        style: the first style image.
        quick: tiny images and few steps.
        open_browser: open the page in the default browser.
        max_kernels: the most pages (kernels, about 1 GB each) alive at once.
        cull_after: seconds after which the kernel of a closed or never-connected page stops.

    Returns:
        0 after Ctrl-C or SIGTERM, else Voilà's own exit status.

    Raises:
        NSTError: bad options, a port in use, or Voilà missing (before anything starts).
    """
    folder = pathlib.Path(folder).expanduser().resolve()
    _check(port, folder, max_kernels, cull_after)
    content, style = _image_source(content, "--content"), _image_source(style, "--style")
    problem = _port_problem(ip, int(port))
    if problem:
        raise NSTError(problem)
    limit = MAX_UPLOAD_BYTES
    home = pathlib.Path(tempfile.mkdtemp(prefix="nst-lab-"))
    try:
        notebook = _write_app(home, content, style, quick, max_kernels, cull_after, limit)
        env = dict(os.environ, NST_LAB_DIR=str(folder))
        env["PYTHONPATH"] = _pythonpath(env)
        proc = subprocess.Popen(voila_command(notebook, port, ip, open_browser), cwd=home, env=env)
        serving = _serving_message(ip, port, folder, max_kernels, cull_after, limit)
        code = _run_voila(proc, ip, int(port), serving)
        if code not in (0, -signal.SIGTERM):
            problem = _port_problem(ip, int(port))  # taken between the check and Voilà's start
            if problem:
                raise NSTError(problem)
        return 0 if code in (0, -signal.SIGTERM) else code
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _write_app(
    home: pathlib.Path,
    content: str,
    style: str,
    quick: bool,
    max_kernels: int,
    cull_after: int,
    limit: int,
) -> pathlib.Path:
    """Write the app's notebook and ``voila.json`` into ``home``; the notebook's path."""
    notebook = home / "explorer.ipynb"
    notebook.write_text(json.dumps(app_notebook(content, style, quick, limit), indent=1))
    (home / "voila.json").write_text(  # Voilà reads voila.json from its working folder
        json.dumps(voila_config(max_kernels, cull_after, limit), indent=1)
    )
    return notebook


def _serving_message(
    ip: str, port: int, folder: pathlib.Path, max_kernels: int, cull_after: int, limit: int
) -> str:
    """What ``nst lab`` prints once Voilà listens: where, and the bounds that keep it standing."""
    return (
        f"Serving the explorer on http://{ip}:{port}/ (Ctrl-C stops it); saved runs "
        f"go to {folder}.\nAt most {max_kernels} page{'s' if max_kernels != 1 else ''}"
        f" at once (about {MEMORY_PER_KERNEL * max_kernels / 1e9:.0f} GB of memory; "
        f"--max-kernels); a page closed or never opened frees its place after "
        f"{cull_after} s idle (--cull-after); uploads up to {limit / 1e6:.0f} MB."
    )


def _run_voila(proc: subprocess.Popen, ip: str, port: int, serving: str) -> int:
    """Say ``serving`` once Voilà listens, and wait for it; SIGTERM stops it, and Ctrl-C too,
    which returns 0. Returns Voilà's exit status."""
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        if _listening(proc, ip, port):
            print(serving, flush=True)
        return proc.wait()
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
