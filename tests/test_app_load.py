"""``nst lab`` under a class's load: 20 page loads at once on 127.0.0.1, against the real command.

The server runs with ``--max-kernels 2 --cull-after 10 --quick``. Twenty visitors open the page at
the same moment (plain HTTP GETs: in Voilà the page's GET is what starts a kernel and runs the
explorer in it). The test watches the server's process tree all along and asserts:

- the kernels alive never outnumber the bound (2), and every visitor beyond it gets a ``503`` page
  that says why, quickly, while those admitted get the explorer;
- the memory of the server and its children (resident set, summed) stays under
  ``MAX_KERNELS x 1.25 GB + 0.5 GB`` (3 GB here), whereas each page starting a kernel of its own
  would take about 1 GB per visitor;
- the kernels of these pages, which never connect (no browser runs their widgets), are shut down
  by the culler within ``--cull-after`` plus its interval, and a later visitor still gets a working
  page;
- SIGTERM stops the server with exit status 0 and no kernel left behind.

It starts three kernels in all (about a minute of CPU on a small machine). psutil is used where
installed, else ``/proc``.
"""

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from nst_helpers.app import MEMORY_PER_KERNEL

pytest.importorskip("voila")
if not sys.platform.startswith("linux"):
    pytest.skip("the process tree is read from psutil or /proc (Linux)", allow_module_level=True)

MAX_KERNELS = 2
CULL_AFTER = 10  # seconds; nst lab checks every max(1, 10 // 4) = 2 s
LOADS = 20
#: The ceiling on the resident memory of nst lab, Voilà and the kernels together, in bytes.
MEMORY_CEILING = MAX_KERNELS * 1.25 * MEMORY_PER_KERNEL + 500_000_000
PAGE_TIMEOUT = 240  # seconds for one page (a kernel importing TensorFlow on a busy machine)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

try:
    import psutil
except ImportError:  # read /proc instead
    psutil = None


def _tree(pid):
    """``[(pid, rss_bytes, cmdline)]`` for ``pid`` and every process below it."""
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        found = []
        for proc in procs:
            try:
                found.append((proc.pid, proc.memory_info().rss, " ".join(proc.cmdline())))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return found
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    wanted, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in wanted]
        wanted.update(children)
        frontier.extend(children)
    page = os.sysconf("SC_PAGE_SIZE")
    found = []
    for p in sorted(wanted):
        try:
            with open(f"/proc/{p}/statm") as f:
                rss = int(f.read().split()[1]) * page
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append((p, rss, cmdline))
    return found


def _is_kernel(pid):
    """Whether ``pid`` is a live kernel process (a zombie's command line is empty)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ipykernel" in f.read()
    except OSError:
        return False


def _kernels(tree):
    return [pid for pid, _, cmdline in tree if "ipykernel" in cmdline]


class Watch(threading.Thread):
    """Samples the server's process tree every 0.2 s: the most kernels and the most memory seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.most_kernels, self.most_memory, self.samples = pid, 0, 0, 0
        self.kernel_pids = set()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            tree = _tree(self.pid)
            kernels = _kernels(tree)
            self.kernel_pids.update(kernels)
            self.most_kernels = max(self.most_kernels, len(kernels))
            self.most_memory = max(self.most_memory, sum(rss for _, rss, _ in tree))
            self.samples += 1
            self.done.wait(0.2)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(url):
    """One visitor's page: ``(status, body, seconds)``."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=PAGE_TIMEOUT) as response:
            status, body = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read().decode(errors="replace")
    return status, body, time.monotonic() - start


def _assert_explorer_page(body):
    """The page a visitor gets when admitted: the explorer's widget, the limit on uploads, no
    code and no error."""
    assert "the hyperparameter explorer" in body and "up to 20 MB" in body
    assert WIDGET_MIME in body and re.search(r'"model_id":\s*"[0-9a-f]{32}"', body), body[-3000:]
    assert "readAsArrayBuffer" in body  # the page's guard on uploads
    assert "from nst_helpers" not in body and "Traceback" not in body


def _wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout} s")


def test_a_class_opening_the_page_at_once_cannot_knock_the_server_over(tmp_path):
    start = time.monotonic()
    port = _free_port()
    env = dict(
        os.environ,
        CI="true",
        NST_BACKBONE="vgg19",
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    runs = tmp_path / "runs"
    runs.mkdir()
    log = tmp_path / "lab.log"
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
        str(runs),
        "--max-kernels",
        str(MAX_KERNELS),
        "--cull-after",
        str(CULL_AFTER),
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    watch = Watch(server.pid)
    url = f"http://127.0.0.1:{port}/"

    def log_tail():
        return log.read_text(errors="replace")[-4000:]

    try:
        # The address printed is the one it listens on.
        _wait_for(
            lambda: (
                server.poll() is not None or f"Serving the explorer on {url} " in log.read_text()
            ),
            90,
            "nst lab did not say where it serves",
        )
        assert server.poll() is None, log_tail()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert f"At most {MAX_KERNELS} pages at once" in log.read_text()
        watch.start()

        # Twenty visitors at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=LOADS) as pool:
            pages = list(pool.map(_load, [url] * LOADS))
        statuses = [status for status, _, _ in pages]
        admitted = [page for page in pages if page[0] == 200]
        refused = [page for page in pages if page[0] == 503]
        assert len(admitted) + len(refused) == LOADS, (statuses, log_tail())
        assert 1 <= len(admitted) <= MAX_KERNELS, statuses
        for _, body, _ in admitted:
            _assert_explorer_page(body)
        for _, body, seconds in refused:
            assert "The explorer is full: 2 pages are open" in body and "--max-kernels 2" in body
            assert seconds < 30  # refused at once, not after waiting for a kernel
        assert watch.most_kernels <= MAX_KERNELS, watch.most_kernels
        print(
            f"\n{len(admitted)} pages served in {max(s for _, _, s in admitted):.0f} s, "
            f"{len(refused)} refused; at most {watch.most_kernels} kernels, "
            f"{watch.most_memory / 1e9:.2f} GB"
        )

        # Their pages never connect: the culler stops their kernels; then a visitor gets a page.
        _wait_for(
            lambda: not _kernels(_tree(server.pid)),
            CULL_AFTER + 50,
            "the kernels of pages that never connected were not shut down",
        )
        assert server.poll() is None, log_tail()
        status, body, _ = _load(url)
        assert status == 200, (status, body[-2000:])
        _assert_explorer_page(body)
        assert len(_kernels(_tree(server.pid))) == 1
        assert watch.most_kernels <= MAX_KERNELS, watch.most_kernels
        assert watch.most_memory < MEMORY_CEILING, (
            f"{watch.most_memory / 1e9:.2f} GB, over the ceiling of {MEMORY_CEILING / 1e9:.2f} GB"
        )
        assert watch.samples > 10
    finally:
        watch.done.set()
        left = {pid for pid, _, _ in _tree(server.pid)}
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # nst lab stops Voilà, which stops its kernels
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        time.sleep(1)
        stragglers = [pid for pid in left | watch.kernel_pids if _is_kernel(pid)]
        for pid in stragglers:  # ours, by id: kernels that outlived the server
            os.kill(pid, signal.SIGKILL)
    assert server.returncode == 0, log_tail()
    assert not stragglers, "kernels outlived nst lab"
    assert time.monotonic() - start < 420
