"""The sandbox a submission's kernel runs in: bubblewrap where it works (a new root, read-only
system, Python and package folders, no network, its own PID namespace), the limits on memory, CPU
time, processes and file size, and ending whatever a run left behind."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from importlib import resources
from typing import Any

from .common import one_line

__all__ = [
    "MEMORY_LIMIT",
    "FILE_LIMIT",
    "PROCESS_LIMIT",
    "sandbox_mode",
    "launcher",
    "kernel_manager_class",
    "become_subreaper",
    "descendants",
    "end_processes",
    "copy_package",
    "copy_weights",
]

#: Limits on one submission's kernel and everything it starts: address space (bytes), files
#: written (bytes each), and processes and threads beyond those its user already runs.
MEMORY_LIMIT = 8 << 30
FILE_LIMIT = 256 << 20
PROCESS_LIMIT = 1024

#: Set in the kernel before it starts: the limits, a session of its own, then the kernel itself.
_LIMITS = """\
import os, resource, sys
for name, value in zip(("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE"), sys.argv[1:5]):
    resource.setrlimit(getattr(resource, name), (int(value), int(value)))
try:
    os.setsid()
except OSError:
    pass
if os.getppid() == 1:  # a PID namespace's first process: bubblewrap ends it with the grader
    os.environ["JPY_PARENT_PID"] = "1"
os.execv(sys.argv[5], sys.argv[5:])
"""

_SANDBOX_CACHE: dict[str, tuple[str, str]] = {}


def sandbox_mode() -> tuple[str, str]:
    """How submissions are isolated here: ``("bwrap", "")`` where bubblewrap runs a process with
    the grader's options, else ``("none", why)``. ``NST_GRADE_SANDBOX=none`` forces the latter.

    Returns:
        The mode and, for ``"none"``, why bubblewrap is not used.
    """
    if os.environ.get("NST_GRADE_SANDBOX", "").lower() == "none":
        return "none", "NST_GRADE_SANDBOX=none"
    if "mode" not in _SANDBOX_CACHE:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            found = ("none", "bubblewrap (bwrap) is not installed")
        else:
            try:
                probe = subprocess.run(
                    _bwrap_argv([], []) + ["--", sys.executable, "-c", "pass"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                found = (
                    ("bwrap", "")
                    if probe.returncode == 0
                    else (
                        "none",
                        f"bwrap cannot make a sandbox here ({one_line(probe.stderr)[:120]})",
                    )
                )
            except (OSError, subprocess.SubprocessError) as err:
                found = ("none", f"bwrap did not run ({type(err).__name__})")
        _SANDBOX_CACHE["mode"] = found
    return _SANDBOX_CACHE["mode"]


def _python_dirs() -> list[str]:
    """The folders Python and its installed packages need, read-only in the sandbox."""
    dirs = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    dirs.update(site.getsitepackages())
    dirs.update(
        sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")
    )
    out = sorted(d for d in dirs if d and os.path.isdir(d))
    return [d for d in out if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in out)]


def _bwrap_argv(read_only: list[str], writable: list[str]) -> list[str]:
    """bubblewrap's options: a new root of the system's folders and Python's, read-only, a private
    ``/tmp`` and ``/dev``, its own ``/proc`` and PID namespace, no network, no capabilities, its own
    terminal session; ``writable`` folders bound read-write, ``read_only`` read-only."""
    argv = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        "sandbox",
        "--cap-drop",
        "ALL",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    for d in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/sys"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    for d in _python_dirs() + list(read_only):
        argv += ["--ro-bind", d, d]
    for d in writable:
        argv += ["--bind", d, d]
    return argv


def _tasks_of_user() -> int:
    """Processes and threads that this user runs now (RLIMIT_NPROC counts them all)."""
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return n


def launcher(mode: str, read_only: list[str], writable: list[str], timeout: float) -> list[str]:
    """What comes before the kernel's command: the sandbox (``mode`` ``"bwrap"``), then the
    limits.

    Args:
        mode: ``"bwrap"`` (run in bubblewrap) or ``"none"`` (the limits only), as
            :func:`sandbox_mode` says.
        read_only: folders the sandbox sees read-only (besides the system's and Python's).
        writable: folders the sandbox may write in.
        timeout: the notebook's time limit in seconds (the CPU-time limit is drawn from it).

    Returns:
        The command's first words; the kernel's own command follows them.
    """
    cpu = int(max(120, 4 * timeout))
    limits = [str(MEMORY_LIMIT), str(cpu), str(_tasks_of_user() + PROCESS_LIMIT), str(FILE_LIMIT)]
    prefix = _bwrap_argv(read_only, writable) + ["--"] if mode == "bwrap" else []
    return prefix + [sys.executable, "-c", _LIMITS, *limits]


def kernel_manager_class(prefix: list[str], ipc: pathlib.Path) -> type:
    """A Jupyter kernel manager that starts its kernel behind ``prefix`` and talks to it over
    Unix sockets in ``ipc`` (a sandbox without a network still has them).

    It is the asynchronous manager, as nbclient's own default: its client waits for messages
    without blocking nbclient's event loop, so that nbclient's check that the kernel is alive runs
    every second and a kernel that died (``os._exit``, a crash, the sandbox's end) ends the run at
    once. A blocking client would wait for the dead kernel's next message forever.

    Args:
        prefix: what comes before the kernel's command (:func:`launcher`).
        ipc: the folder of the kernel's sockets and connection file.

    Returns:
        A subclass of jupyter_client's ``AsyncKernelManager``.
    """
    # jupyter_client: the [grade] extra, imported only where a notebook is graded
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(
                transport="ipc", ip=str(ipc / "k"), connection_file=str(ipc / "kernel.json")
            )
            super().__init__(**kwargs)

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return prefix + super().format_kernel_cmd(extra_arguments)

    return SandboxedKernelManager


def become_subreaper() -> None:
    """Orphans of this process's descendants (a detached process) come back to it, not to init,
    so that :func:`end_processes` finds them (Linux; elsewhere nothing). Only without a sandbox:
    bubblewrap's PID namespace ends everything in it with the kernel, and a subreaper would
    inherit the sandbox's own processes (zombies) when its outer process ends first.

    Returns:
        None.
    """
    try:
        import ctypes  # Linux's prctl, needed only without a sandbox

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def descendants() -> set[int]:
    """The process ids of this process's descendants (none where there is no ``/proc``).

    Returns:
        Their process ids.
    """
    parent: dict[int, int] = {}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if pid.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
                parent[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in found]
        found.update(kids)
        todo += kids
    return found


def _marked(marker: str) -> set[int]:
    """Processes whose environment carries this run's marker."""
    found: set[int] = set()
    needle = f"NST_GRADE_RUN={marker}".encode()
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if needle in pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    found.add(int(pid))
            except OSError:
                continue
    return found


def _zombie(pid: int) -> bool:
    """Whether process ``pid`` has ended and waits only to be reaped (or is gone)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[:1] == ["Z"]


def end_processes(marker: str, before: set[int]) -> int:
    """Kill what a run left behind: processes with its marker, and descendants of this process
    that appeared during it (a detached process that cleared its environment); reap those that
    are this process's children.

    Args:
        marker: the run's marker, set in its kernel's environment (``NST_GRADE_RUN``).
        before: this process's descendants before the run (:func:`descendants`).

    Returns:
        How many of them were still running (not zombies) when they were killed.
    """
    left = _marked(marker) | (descendants() - before)
    running = sum(1 for pid in left if not _zombie(pid))
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    for pid in left:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not ours to reap: gone once killed
                break
            if done:
                break
            time.sleep(0.05)
    return running


def copy_package(dest: pathlib.Path) -> None:
    """A private copy of this package, its reference values and its samples, for the kernel.

    Args:
        dest: the folder that gets ``nst_helpers/``.
    """
    # the checks' package: its reference values, loaded only where a class is graded
    from .. import checks

    pkg = pathlib.Path(__file__).resolve().parents[1]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(pkg, dest / "nst_helpers", ignore=ignore)
    for sub, src in (
        ("check_data", checks.data_dir()),
        ("sample_data", pathlib.Path(str(resources.files("nst_helpers.sample_data")))),
    ):
        target = dest / "nst_helpers" / sub
        if not (target / "__init__.py").exists():
            shutil.copytree(src, target, ignore=ignore, dirs_exist_ok=True)


def copy_weights(home: pathlib.Path) -> dict[str, str]:
    """Copies of VGG19's weights (those cached here) in the kernel's own cache folders.

    Args:
        home: the kernel's home folder; its ``.cache`` and ``.keras`` are made.

    Returns:
        The kernel's environment variables that point at the copies.
    """
    # the weights' module: loaded only where a class is graded
    from .. import weights

    cache, keras_home = home / ".cache" / "nst_helpers", home / ".keras"
    cache.mkdir(parents=True)
    converted = weights.converted_path()
    if converted.is_file() and weights.check_converted(converted, record=False) is None:
        shutil.copy2(converted, cache / weights.CONVERTED_FILE)  # a damaged copy stays behind
        if weights.record_path(converted).is_file():
            shutil.copy2(
                weights.record_path(converted), weights.record_path(cache / weights.CONVERTED_FILE)
            )
    if weights.keras_cache_path().is_file():
        (keras_home / "models").mkdir(parents=True)
        shutil.copy2(weights.keras_cache_path(), keras_home / "models" / weights.KERAS_FILE)
    return {"NST_CACHE_DIR": str(cache), "KERAS_HOME": str(keras_home)}
