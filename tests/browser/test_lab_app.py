"""`nst lab` in a real browser: the explorer as a Voilà app, headless Chromium.

The test starts ``nst lab --quick`` (tiny images, few steps) on a free port, opens the page, checks
that no code is shown, uploads a file over the 20 MB limit (a message, the page still connected),
uploads a photograph of its own as the content image, presses Run and
watches the preview change until the run joins the gallery, then starts a run of 5000 steps and
stops it with the Stop button.
Every wait is bounded; it takes under a minute once the kernel is up.
"""

import contextlib
import importlib.util
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

_spec = importlib.util.spec_from_file_location(
    "browser_helpers", pathlib.Path(__file__).with_name("conftest.py")
)
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
_free_port, _require_browser = _helpers._free_port, _helpers._require_browser

pytestmark = pytest.mark.browser

PREVIEW_SRCS = """() => {
    window.__previews = [];
    const img = document.querySelector('.nst-explorer img.nst-preview');
    new MutationObserver(() => window.__previews.push(img.src))
        .observe(img, {attributes: true, attributeFilter: ['src']});
}"""
BUTTON_ENABLED = "name => !document.querySelector(`.nst-explorer button.nst-${name}`).disabled"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """``nst lab`` serving the explorer on a free localhost port; saved runs in a temporary folder."""
    _require_browser()
    pytest.importorskip("voila")
    base = tmp_path_factory.mktemp("nst-lab")
    port = _free_port()
    env = dict(
        os.environ,
        CI="true",
        NST_BACKBONE="vgg19",
        MPLBACKEND="Agg",
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        IPYTHONDIR=str(base / "ipython"),
    )
    log = base / "lab.log"
    cmd = [
        sys.executable,
        "-m",
        "nst_helpers",
        "lab",
        "--port",
        str(port),
        "--ip",
        "127.0.0.1",
        "--no-browser",
        "--quick",
        "--dir",
        str(base),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nst lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nst lab did not listen within 60 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{port}/", "dir": base, "log": log}
    finally:
        proc.send_signal(signal.SIGTERM)  # nst lab stops Voilà, which shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, log.read_text()[-3000:]


@contextlib.contextmanager
def _app_page(browser, tmp_path, log):
    """A browser page; on failure a full-page screenshot and the app's log; no widget errors."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        yield page
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}\n{log.read_text()[-3000:]}")
        raise
    finally:
        page.close()
    widget_errors = [e for e in errors if "widget" in e.lower()]
    assert not widget_errors, widget_errors


def test_upload_run_preview_and_stop_in_the_voila_app(app, browser, tmp_path):
    start = time.monotonic()
    photo = tmp_path / "my_photo.png"
    y, x = np.mgrid[0:60, 0:80]
    Image.fromarray(np.stack([x * 3, y * 4, (x + y) * 2], -1).astype(np.uint8)).save(photo)
    with _app_page(browser, tmp_path, app["log"]) as page:
        page.goto(app["url"], timeout=180_000)
        explorer = page.locator(".nst-explorer")
        explorer.wait_for(state="visible", timeout=180_000)
        # An app, not a notebook: the title and the widgets, no code, no editor, no traceback.
        body = page.locator("body").inner_text()
        assert "the hyperparameter explorer" in body
        assert (
            "from nst_helpers" not in body and "Explorer(" not in body and "Traceback" not in body
        )
        assert page.locator(".cm-editor, .CodeMirror, .jp-InputArea-editor").count() == 0

        # A file five times the 20 MB limit (over the websocket's limit too): the page sends its
        # name and size, not its bytes, the explorer says why, and the page stays connected.
        huge = tmp_path / "huge_photo.png"
        with open(huge, "wb") as f:
            f.truncate(100_000_000)
        upload = explorer.locator("button.widget-upload", has_text="Upload content")
        with page.expect_file_chooser(timeout=10_000) as chooser:
            upload.click()
        chooser.value.set_files(str(huge))
        page.wait_for_function(
            "() => document.querySelector('.nst-explorer .nst-message').innerText.includes('huge_photo.png')",
            timeout=30_000,
        )
        assert "over the 20 MB limit on uploads" in explorer.locator(".nst-message").inner_text()
        assert "uploads: png or jpeg files of up to 20 mb" in body.lower()

        # Upload a photograph of our own as the content image.
        with page.expect_file_chooser(timeout=10_000) as chooser:
            upload.click()
        chooser.value.set_files(str(photo))
        page.wait_for_function(
            "() => document.querySelector('.nst-explorer .nst-message').innerText.includes('my_photo.png')",
            timeout=30_000,
        )
        assert (
            "Using my_photo.png (80x60 px) as the content image"
            in explorer.locator(".nst-message").inner_text()
        )
        assert "my_photo.png" in explorer.locator("select").first.input_value()

        # Run: the preview changes as the run goes, and the run joins the gallery.
        page.evaluate(PREVIEW_SRCS)
        explorer.locator("button.nst-run").click()
        page.wait_for_function(
            "() => document.querySelectorAll('.nst-explorer .nst-card').length >= 1",
            timeout=120_000,
            polling=250,
        )
        page.wait_for_function(BUTTON_ENABLED, arg="run", timeout=30_000)
        previews = page.evaluate("() => window.__previews")
        assert len(set(previews)) >= 2, previews
        card = explorer.locator(".nst-card").last
        assert card.locator("img").evaluate("img => img.naturalWidth") > 0
        assert "finished" in explorer.locator(".nst-message").inner_text()

        # A long run, stopped with the Stop button: it keeps the best image so far.
        explorer.locator(".lm-TabBar-tab, .p-TabBar-tab", has_text="Optimiser").first.click()
        steps = explorer.locator(
            ".widget-slider", has=page.locator("label", has_text=re.compile(r"^steps$"))
        )
        readout = steps.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("5000")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "el => el.innerText.trim() === '5000'", arg=readout.element_handle(), timeout=10_000
        )
        page.evaluate(PREVIEW_SRCS)
        explorer.locator("button.nst-run").click()
        page.wait_for_function("() => window.__previews.length >= 2", timeout=120_000, polling=100)
        assert explorer.locator("button.nst-stop").is_enabled()
        explorer.locator("button.nst-stop").click()
        page.wait_for_function(BUTTON_ENABLED, arg="run", timeout=60_000, polling=250)
        message = explorer.locator(".nst-message").inner_text()
        stopped = re.search(r"Run #2 stopped at step (\d+) of 5000", message)
        assert stopped and int(stopped.group(1)) < 5000, message
        assert explorer.locator(".nst-card").count() == 2
    assert time.monotonic() - start < 300
