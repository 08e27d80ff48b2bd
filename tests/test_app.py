"""nst lab: the explorer's app notebook, Voilà's command and settings, and what it refuses.

Nothing here starts Voilà (tests/test_app_load.py does, under load); where ``nst lab`` would start
it, a stand-in records what it was given.
"""

import asyncio
import datetime
import importlib.metadata
import importlib.util
import json
import socket
import uuid

import numpy as np
import pytest
from PIL import Image

from nst_helpers import app
from nst_helpers.cli import main
from nst_helpers.explorer.records import MAX_UPLOAD_BYTES


def test_the_app_notebook_shows_the_explorer_and_nothing_else():
    nb = app.app_notebook("tubingen", "udnie", quick=True)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) == 1 and code[0]["source"].rstrip().endswith("explorer")
    assert "Explorer(content='tubingen', style='udnie', quick=True)" in code[0]["source"]
    compile(code[0]["source"], "app", "exec")
    assert nb["cells"][0]["source"].startswith("# Neural style transfer")
    json.dumps(nb)  # a notebook nbformat can write


def test_the_page_states_the_upload_limit_and_keeps_to_it():
    nb = app.app_notebook()
    markdown = "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    assert MAX_UPLOAD_BYTES == 20_000_000 and "up to 20 MB" in markdown
    # The page reads a larger file as empty: the widget sends its name and size, not its bytes.
    assert f"var limit = {MAX_UPLOAD_BYTES}," in markdown and "readAsArrayBuffer" in markdown
    assert "blob.size > limit ? new Blob([]) : blob" in markdown
    small = app.app_notebook(upload_limit=3_000_000)
    assert (
        "up to 3 MB" in small["cells"][0]["source"]
        and "var limit = 3000000," in small["cells"][1]["source"]
    )


def test_voila_serves_it_without_sources_or_tracebacks_on_that_port_only():
    cmd = app.voila_command("/x/explorer.ipynb", port=9000, ip="0.0.0.0", open_browser=False)
    assert cmd[1:4] == ["-m", "voila", "/x/explorer.ipynb"]
    assert {
        "--port=9000",
        "--Voila.ip=0.0.0.0",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--no-browser",
        "--Voila.port_retries=0",
    } <= set(cmd)


def test_voilas_own_settings_bound_kernels_and_stop_those_of_pages_never_opened(tmp_path):
    """voila.json as nst lab writes it, read by Voilà itself, reaches the kernel manager's traits."""
    voila_app = pytest.importorskip("voila.app")
    from voila.configuration import VoilaConfiguration

    from nst_helpers.app_kernels import BoundedKernelManager

    (tmp_path / "voila.json").write_text(json.dumps(app.voila_config(max_kernels=3, cull_after=60)))
    server = voila_app.Voila()
    server.load_config_file("voila", path=[str(tmp_path)])
    assert server.port_retries == 0
    assert server.tornado_settings["websocket_max_message_size"] == 2 * MAX_UPLOAD_BYTES
    configuration = VoilaConfiguration(parent=server)
    assert configuration.multi_kernel_manager_class is BoundedKernelManager
    assert configuration.preheat_kernel is False
    manager = BoundedKernelManager(parent=server)
    assert manager.max_kernels == 3
    assert (manager.cull_idle_timeout, manager.cull_interval) == (60, 15)
    assert manager.cull_connected is False and manager.cull_busy is False
    # The defaults: 4 pages, 2 minutes, checked every 30 s.
    default = app.voila_config()
    assert default["BoundedKernelManager"] == {"max_kernels": 4}
    assert default["MappingKernelManager"]["cull_idle_timeout"] == 120
    assert default["MappingKernelManager"]["cull_interval"] == 30


def test_pages_beyond_the_limit_are_refused_even_when_they_load_together(monkeypatch):
    """Ten page loads at the same moment, a limit of 2: two kernels, eight 503s saying why; a
    kernel that stops (its page closed or culled) frees a place."""
    pytest.importorskip("voila")
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from tornado import web

    from nst_helpers.app_kernels import BoundedKernelManager

    async def start(self, **kwargs):  # a kernel that takes a while to start, as a real one does
        await asyncio.sleep(0.05)
        kernel_id = str(uuid.uuid4())
        self._kernels[kernel_id] = object()
        return kernel_id

    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", start)
    manager = BoundedKernelManager(max_kernels=2, cull_idle_timeout=120, cull_interval=30)

    async def load_pages(n):
        return await asyncio.gather(
            *(manager.start_kernel(kernel_name="python3") for _ in range(n)), return_exceptions=True
        )

    results = asyncio.run(load_pages(10))
    started = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, web.HTTPError)]
    assert len(started) == 2 and len(refused) == 8 and len(manager.list_kernel_ids()) == 2
    assert all(r.status_code == 503 for r in refused)
    assert refused[0].reason == (
        "The explorer is full: 2 pages are open, the most this server allows (nst lab "
        "--max-kernels 2). A page that is closed frees its place at once, one that never finished "
        "loading within 150 seconds: try again then."
    )
    refused[0].reason.encode("ascii")  # it is the status line's reason phrase
    assert manager.live_kernels() == 2
    manager._kernels.pop(started[0])  # a page closed, or culled
    results = asyncio.run(load_pages(3))
    assert sum(isinstance(r, str) for r in results) == 1 and len(manager.list_kernel_ids()) == 2


class _NoVoila:
    """Stands in for Voilà's process: records the command and the files nst lab wrote for it."""

    def __init__(self, seen):
        self.seen = seen

    def __call__(self, cmd, cwd, env):
        self.seen.update(
            cmd=cmd,
            env=env,
            notebook=json.loads(open(cmd[3]).read()),
            config=json.loads((cwd / "voila.json").read_text()),
        )
        return self

    def poll(self):
        return 1

    def wait(self, timeout=None):
        return 1


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_what_nst_lab_hands_voila(tmp_path, monkeypatch):
    """The notebook and voila.json that nst lab writes; a relative --content is made absolute
    (the kernel runs in --dir), and the bound and the culling are what the options say."""
    pytest.importorskip("voila")
    seen = {}
    monkeypatch.setattr(app.subprocess, "Popen", _NoVoila(seen))
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(tmp_path / "mine.png")
    runs = tmp_path / "runs"
    runs.mkdir()
    port = _free_port()
    assert (
        main(
            [
                "lab",
                "--port",
                str(port),
                "--ip",
                "127.0.0.1",
                "--no-browser",
                "--dir",
                str(runs),
                "--content",
                "mine.png",
                "--style",
                "udnie",
                "--max-kernels",
                "3",
                "--cull-after",
                "45",
            ]
        )
        == 1
    )  # the stand-in "exits" with 1
    source = seen["notebook"]["cells"][-1]["source"]
    assert f"content={str(tmp_path / 'mine.png')!r}" in source and "style='udnie'" in source
    assert seen["env"]["NST_LAB_DIR"] == str(runs)
    assert f"--port={port}" in seen["cmd"] and "--Voila.port_retries=0" in seen["cmd"]
    assert seen["config"]["BoundedKernelManager"]["max_kernels"] == 3
    assert seen["config"]["MappingKernelManager"]["cull_idle_timeout"] == 45


def test_voila_does_not_bring_ipywidgets_of_its_own():
    """Installing the [app] extra in Colab keeps its ipywidgets 7."""
    try:
        requires = importlib.metadata.requires("voila") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("voila is not installed")
    hard = [r for r in requires if "extra ==" not in r]
    assert not [
        r
        for r in hard
        if r.lower().startswith(("ipywidgets", "jupyterlab-widgets", "widgetsnbextension"))
    ]
    ours = importlib.metadata.requires("nst-helpers") or []
    assert any(r.startswith("voila") and 'extra == "app"' in r for r in ours)


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("nst: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture()
def no_voila_started(monkeypatch):
    """Fails the test if nst lab starts Voilà: bad input must be refused before."""

    def popen(*args, **kwargs):
        raise AssertionError("Voilà was started")

    monkeypatch.setattr(app.subprocess, "Popen", popen)


def test_bad_options_end_in_one_line(tmp_path, capsys, no_voila_started):
    pytest.importorskip("voila")
    assert main(["lab", "--dir", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert "no such folder for --dir" in _one_line_error(capsys)
    assert main(["lab", "--port", "70000", "--no-browser", "--dir", str(tmp_path)]) == 2
    assert "--port must be between 1 and 65535" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--cull-after", "5"], "--cull-after must be at least 10 seconds, not 5"),
        (
            ["--content", "nosuch"],
            "--content 'nosuch': no such file, and not a sample name (photographs: ",
        ),
        (
            ["--style", "nosuch.jpg"],
            "--style 'nosuch.jpg': no such file, and not a sample name (paintings: ",
        ),
        (["--content", "notes.txt"], "not an image file PIL can read"),
        (
            ["--ip", "no-such-host.invalid"],
            "--ip no-such-host.invalid: not an address of this machine",
        ),
        (["--ip", "192.0.2.55"], "--ip 192.0.2.55: not an address of this machine"),
    ],
)
def test_every_bad_option_ends_in_one_line_before_voila_starts(
    tmp_path, capsys, monkeypatch, no_voila_started, extra, expected
):
    pytest.importorskip("voila")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a picture")
    assert (
        main(
            [
                "lab",
                "--no-browser",
                "--dir",
                str(tmp_path),
                "--port",
                str(_free_port()),
                "--ip",
                "127.0.0.1",
                *extra,
            ]
        )
        == 2
    )
    assert expected in _one_line_error(capsys)


@pytest.mark.parametrize("option", ["--max-kernels", "--cull-after", "--port"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_counts_that_are_not_positive_whole_numbers_are_refused(
    option, value, capsys, no_voila_started
):
    with pytest.raises(SystemExit) as exit_:
        main(["lab", "--no-browser", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err


def test_a_port_in_use_is_an_error_not_another_port(tmp_path, capsys, no_voila_started):
    """Voilà would silently take the next port while nst lab printed the one asked for."""
    pytest.importorskip("voila")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert (
            main(
                [
                    "lab",
                    "--port",
                    str(port),
                    "--ip",
                    "127.0.0.1",
                    "--no-browser",
                    "--dir",
                    str(tmp_path),
                ]
            )
            == 2
        )
    err = _one_line_error(capsys)
    assert f"port {port} is in use on 127.0.0.1" in err and "choose another port with --port" in err
    offered = int(err.rsplit("--port ", 1)[1].rstrip(".\n"))
    assert offered != port


def test_without_voila_it_says_what_to_install(tmp_path, capsys, monkeypatch, no_voila_started):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "voila" else real(name, *a)
    )
    assert main(["lab", "--no-browser", "--dir", str(tmp_path)]) == 2
    assert 'pip install "nst-helpers[app]"' in _one_line_error(capsys)


def _v8(name, content, size=None):
    """A FileUpload.value as ipywidgets 8 makes it (``size`` as the browser declares it)."""
    return (
        {
            "name": name,
            "type": "image/png",
            "size": len(content) if size is None else size,
            "content": memoryview(content),
            "last_modified": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
        },
    )


def test_uploads_over_the_limit_end_in_a_message_in_the_page(tmp_path):
    """Through the explorer's upload widgets: a file over 20 MB, or one the page declares over 20 MB
    and sends empty (what nst lab's page does), changes nothing and says why."""
    pytest.importorskip("ipywidgets")
    from nst_helpers.explorer import Explorer

    ex = Explorer(quick=True, backbone="random", folder=tmp_path / "saved")
    try:
        before = ex.lab.sources["content"]
        too_large = bytes(MAX_UPLOAD_BYTES + 1)
        for value in (_v8("huge.png", too_large), _v8("huge.png", b"", size=10**9)):
            ex.controls["content_upload"].value = value
            assert ex.messages[-1][0] == "error" and ex.lab.sources["content"] == before
            assert "huge.png is" in ex.message and "over the 20 MB limit on uploads" in ex.message
            assert "over the 20 MB limit" in ex.message_html.value  # what the page shows
        ex.controls["load_upload"].value = _v8("run.json", too_large)
        assert ex.message.startswith("Not loaded: run.json is 20.0 MB, over the 20 MB limit")
        # At the limit, the size is no objection (this file is refused for not being a picture).
        ex.controls["style_upload"].value = _v8("edge.png", bytes(MAX_UPLOAD_BYTES))
        assert "limit" not in ex.message and "edge.png" in ex.message
    finally:
        ex.stop()
