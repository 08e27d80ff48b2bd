"""A JupyterLab server and a headless Chromium for the real-browser tests.

The server runs from this Python environment on a free localhost port, without a token, with
``CI=true`` (tiny images, few steps) and the course's VGG19, on a temporary copy of the notebooks,
so the repository's files are never touched. Its JupyterLab settings, workspaces and runtime files
live in the same temporary folder. Chromium is Debian's (``/usr/bin/chromium``); Playwright drives it
without downloading a browser of its own.

Without Chromium the tests are skipped, unless ``NST_REQUIRE_BROWSER=1`` (as in CI), which makes a
missing browser a failure.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # required as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # otherwise Chromium keeps trying the (closed) network
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Lab settings for the test: every cell stays in the page (no virtual scrolling), no news popup.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in a real (headless Chromium) browser"
    )


def _require_browser():
    if os.path.exists(CHROMIUM):
        return
    message = f"{CHROMIUM} not found; install it with: apt-get install -y chromium"
    if os.environ.get("NST_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (NST_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(message)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


class LabServer:
    """A running ``jupyter lab``; :meth:`stop` shuts its kernels down, then the server."""

    def __init__(self, root, port, proc, log):
        self.root, self.port, self.proc, self.log = root, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, lines=60):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:  # ask the server to shut its kernels down (they run in their own sessions)
                _, body = _get(self.url + "/api/kernels", timeout=3)
                for kernel in json.loads(body):
                    request = urllib.request.Request(
                        f"{self.url}/api/kernels/{kernel['id']}", method="DELETE"
                    )
                    urllib.request.urlopen(request, timeout=10).close()
            except (OSError, ValueError, urllib.error.URLError):
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


#: The notebook that :func:`full_lab` serves: the explorer alone, in full mode, for the screenshot.
FULL_MODE_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "from nst_helpers.explorer import Explorer\n"
            'explorer = Explorer(content="chelsea", style="starry_night")\n'
            "explorer",
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _start_lab(base, notebooks, ci=True):
    """A :class:`LabServer` on ``notebooks`` ({file name: notebook dict}) in the folder ``base``."""
    root = base / "notebooks"
    root.mkdir()
    for name, notebook in notebooks.items():
        (root / name).write_text(json.dumps(notebook))
    settings = base / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = dict(
        os.environ,
        NST_BACKBONE="vgg19",
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        MPLBACKEND="Agg",
    )
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    port = _free_port()
    log = base / "jupyter.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LabServer(root, port, proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if _get(server.url + "/api/status", timeout=2)[0] == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not start within 60 s:\n{server.log_tail()}")
            time.sleep(0.3)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab (CI mode) serving a temporary copy of notebooks/06, nothing else of the repository."""
    _require_browser()
    notebooks = {}
    for path in ROOT.glob("notebooks/06_*.ipynb"):  # copied without outputs, as a reader gets it
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        notebooks[path.name] = notebook
    server = _start_lab(tmp_path_factory.mktemp("lab"), notebooks)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def full_lab(tmp_path_factory):
    """JupyterLab in full mode (no ``CI``) serving only the explorer, for the README's screenshot."""
    _require_browser()
    server = _start_lab(
        tmp_path_factory.mktemp("full-lab"), {"explorer.ipynb": FULL_MODE_NOTEBOOK}, ci=False
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
