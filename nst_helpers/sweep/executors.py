"""Where a sweep's runs go: a pool of spawned processes, or a Dask scheduler checked first."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib.util
import multiprocessing
import socket
from collections.abc import Iterator

from ..errors import NSTError

__all__ = ["check_scheduler", "executor_for", "process_pool"]

_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
_EXAMPLE = "such as tcp://127.0.0.1:8786 (the address that dask scheduler prints)"


def _host_and_port(address: str, scheme: str, rest: str) -> tuple[str, str]:
    """``rest`` (``HOST:PORT`` after the scheme) as ``(host, port)``, refused if malformed."""
    if scheme == "inproc":
        return rest, ""
    host, colon, port = rest.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        what = (
            "no port number"
            if not colon or not port
            else "no host"
            if not host
            else f"the port {port!r} is not a number from 1 to 65535"
        )
        raise NSTError(f"--scheduler {address}: {what}; write tcp://HOST:PORT, {_EXAMPLE}.")
    return host, port


def _check_answers(address: str, host: str, port: str, timeout: float) -> None:
    """Refuse ``address`` unless something accepts a TCP connection at HOST:PORT in time."""
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        reason = (
            "no answer"
            if isinstance(err, TimeoutError)
            else err.strerror or str(err) or type(err).__name__
        )
        raise NSTError(
            f"--scheduler {address}: no Dask scheduler answers there "
            f"({reason.lower()}); start one with dask scheduler, or check the "
            "address."
        ) from None


def check_scheduler(address: str, timeout: float = 5.0) -> str:
    """Raise :class:`NSTError` now if ``address`` is not a Dask scheduler's address that answers.

    Checks, before Dask or TensorFlow is imported: the form (``tcp://HOST:PORT`` or
    ``HOST:PORT``; also tls, ws, wss, ucx), that Dask's ``distributed`` is installed, and that
    something listens at HOST:PORT (a TCP connection within ``timeout`` seconds).

    Returns:
        The address.

    Raises:
        NSTError: the address is malformed, nothing answers there, or ``distributed`` is missing.
    """
    text = str(address).strip()
    scheme, sep, rest = text.rpartition("://")
    scheme = scheme.lower() if sep else "tcp"
    if sep and scheme not in _SCHEMES:
        raise NSTError(
            f"--scheduler {address}: unknown protocol {scheme}://; write "
            f"tcp://HOST:PORT, {_EXAMPLE}."
        )
    host, port = _host_and_port(address, scheme, rest)
    if importlib.util.find_spec("distributed") is None:
        raise NSTError(
            '--scheduler needs Dask\'s distributed package: pip install "nst-helpers[dask]".'
        )
    if scheme in ("tcp", "tls", "ws", "wss"):
        _check_answers(address, host, port, timeout)
    return text


@contextlib.contextmanager
def executor_for(
    workers: int | None = None, scheduler: str | None = None
) -> Iterator[cf.Executor | None]:
    """The executor that ``nst sweep --workers N`` or ``--scheduler ADDRESS`` means (or None).

    A scheduler's address is checked first (:func:`check_scheduler`): a malformed or
    unreachable one raises :class:`NSTError`, as does a scheduler that does not answer as one.

    Args:
        workers: a pool of this many spawned processes (:func:`process_pool`).
        scheduler: a Dask scheduler's address; it wins over ``workers``.

    Yields:
        The executor, or None to run in this process; it is shut down on leaving.
    """
    if scheduler:
        check_scheduler(scheduler)
        import distributed  # noqa: PLC0415 - lazy: optional (the [dask] extra), 0.4 s to import

        try:
            client = distributed.Client(scheduler, timeout=30)
        except Exception as err:  # OSError, TimeoutError, ValueError, a comm error ...
            reason = str(err).strip().rstrip(".") or type(err).__name__
            raise NSTError(
                f"--scheduler {scheduler}: could not connect to a Dask scheduler "
                f"there ({reason}); check the address."
            ) from None
        with client:
            yield client.get_executor()
    elif workers:
        with process_pool(workers) as pool:
            yield pool
    else:
        yield None


def process_pool(workers: int = 2) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each with its own TensorFlow and backbone.

    .. note:: Split the cores between workers yourself (``TF_NUM_INTRAOP_THREADS``) if each run
       is small; on a laptop one process using every core is usually as fast as a pool.
    """
    if not (isinstance(workers, int) and workers >= 1):
        raise NSTError(f"workers must be a whole number >= 1, not {workers!r}.")
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
