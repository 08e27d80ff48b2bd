"""Files written safely: checked before a long run, never replaced by accident.

:func:`check_writable` and :func:`check_folder` refuse, in one line and before any time is spent, a
file that the run could not write later; :func:`write_new` creates a file only where none is
(unless ``force``), in one step, so that of two writers racing for one name the second is refused.

:mod:`nst_helpers.images` re-exports :data:`PathLike`, :func:`check_folder`, :func:`check_writable`
and :func:`write_new`: import them from there.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import TypeAlias

from .errors import NSTError

__all__ = [
    "PathLike",
    "check_folder",
    "check_writable",
    "exists_message",
    "write_new",
]

#: A path as the functions here take it.
PathLike: TypeAlias = "str | os.PathLike[str]"


def exists_message(path: PathLike) -> str:
    """The one-line refusal to replace the file at ``path`` without ``force``."""
    return f"{path}: already exists; choose another name or pass force=True (--force)."


def check_folder(folder: PathLike, file: PathLike | None = None) -> pathlib.Path:
    """Raise :class:`NSTError` now if files could not be created in ``folder`` later.

    A folder that does not exist yet passes if it could be created: its nearest existing parent
    must be a folder this process can write in (tried by creating and removing a hidden file, so a
    read-only mount or permissions count, whoever runs it).

    Args:
        folder: a path to a folder, existing or to be made.
        file: the file to be written there, to name in the message (default: the folder).

    Returns:
        The folder, with ``~`` expanded.

    Raises:
        NSTError: naming the part of the path that is a file, or the folder that is read-only.
    """
    path = pathlib.Path(folder).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NSTError(
            f"{file or path}: cannot be {'written' if file else 'a folder'}, since "
            f"{existing} is a file, not a folder; choose another path."
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".nst-check-"):
            pass
    except OSError as err:
        raise NSTError(
            f"{existing}: cannot write in this folder ({err.strerror or err}); choose "
            "another one or change its permissions."
        ) from None
    return path


def check_writable(path: PathLike, force: bool = False) -> pathlib.Path:
    """Raise :class:`NSTError` now if a file could not be written at ``path`` later.

    Call it before a long run, for every file the run will write: an existing file (without
    ``force``), a folder of that name, a path under a regular file or a read-only folder is
    reported in one line before any time is spent.

    Args:
        path: the file to be written.
        force: whether an existing file may be replaced.

    Returns:
        The path, with ``~`` expanded.

    Raises:
        NSTError: the file could not be written there, in one line.
    """
    file = pathlib.Path(path).expanduser()
    if file.is_dir():
        raise NSTError(f"{file}: is a folder; give a file name.")
    if file.exists() and not force:
        raise NSTError(exists_message(file))
    check_folder(file.parent, file=file)
    return file


def write_new(path: PathLike, data: bytes, force: bool = False) -> pathlib.Path:
    """Write ``data`` (bytes) to ``path``; without ``force`` only if no file is there.

    The existence check and the creation are one step (``open(path, "xb")``), so of two writers
    racing for one name the second gets the one-line refusal. Missing parent folders are made.

    Args:
        path: the file to write.
        data: its contents.
        force: whether an existing file may be replaced.

    Returns:
        The path, with ``~`` expanded.

    Raises:
        NSTError: the file exists (without ``force``), or the folder or file cannot be written.
    """
    file = pathlib.Path(path).expanduser()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "wb" if force else "xb") as f:
            f.write(data)
    except (FileExistsError, NotADirectoryError):
        if file.parent.is_dir():
            raise NSTError(exists_message(file)) from None
        check_folder(file.parent, file=file)  # names the part of the path that is a file
        raise
    except IsADirectoryError:
        raise NSTError(f"{file}: is a folder; give a file name.") from None
    except OSError as err:
        raise NSTError(f"{file}: cannot be written ({err.strerror or err}).") from None
    return file
