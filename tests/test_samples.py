"""Tests for nst_helpers.samples. No test touches the real network."""

import ast
import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers import samples
from nst_helpers.errors import NSTError

ALL_LOCAL = samples.CONTENT_SAMPLES + samples.STYLE_SAMPLES


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Every test runs offline, with an empty cache folder of its own."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))


def _png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Listing and loading
# --------------------------------------------------------------------------


def test_list_samples():
    listed = samples.list_samples()
    assert set(listed) == {"content", "style", "paintings"}
    assert tuple(listed["content"]) == ("astronaut", "chelsea", "coffee", "rocket")
    assert tuple(listed["style"]) == samples.STYLE_SAMPLES
    assert {"stained_glass", "swirls", "stripes"} <= set(listed["style"])
    assert len(listed["style"]) >= 4
    assert tuple(listed["paintings"]) == tuple(samples.PAINTINGS)


@pytest.mark.parametrize("name", ALL_LOCAL)
def test_sample_loads_as_uint8_rgb(name):
    image = samples.load_sample(name)
    assert isinstance(image, np.ndarray)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    assert 256 <= min(image.shape[:2]) and max(image.shape[:2]) <= 1024
    assert image.std() > 20  # not blank


@pytest.mark.parametrize("name", samples.STYLE_SAMPLES)
def test_procedural_default_is_square_512(name):
    assert samples.load_sample(name).shape == (512, 512, 3)


def test_load_sample_returns_a_copy():
    first = samples.load_sample("swirls")
    first[:] = 0
    assert samples.load_sample("swirls").any()
    photo = samples.load_sample("chelsea")
    photo[:] = 0
    assert samples.load_sample("chelsea").any()


def test_names_are_normalised():
    np.testing.assert_array_equal(
        samples.load_sample(" Stained-Glass ", size=64),
        samples.load_sample("stained_glass", size=64),
    )


@pytest.mark.parametrize("name", ["chelsea", "rocket", "astronaut", "mosaic"])
@pytest.mark.parametrize("size", [64, 300])
def test_size_sets_the_longest_side(name, size):
    full = samples.load_sample(name)
    image = samples.load_sample(name, size=size)
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert max(image.shape[:2]) == size
    full_ratio = full.shape[1] / full.shape[0]
    assert image.shape[1] / image.shape[0] == pytest.approx(full_ratio, rel=0.02)


@pytest.mark.parametrize("size", [0, -5, 2.5, "big", True])
def test_bad_size_raises(size):
    with pytest.raises(NSTError, match="size"):
        samples.load_sample("chelsea", size=size)


def test_unknown_name_lists_valid_names():
    with pytest.raises(NSTError) as info:
        samples.load_sample("mona_lisa")
    message = str(info.value)
    assert "\n" not in message
    assert "mona_lisa" in message
    for name in ALL_LOCAL + tuple(samples.PAINTINGS):
        assert name in message


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError):
        samples.load_sample("nope")


# --------------------------------------------------------------------------
# Procedural styles
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", samples.STYLE_SAMPLES)
def test_procedural_is_deterministic_and_seeded(name):
    make = getattr(samples, "make_" + name)
    a = make(size=192, seed=0)
    b = make(size=192, seed=0)
    c = make(size=192, seed=1)
    assert a.shape == (192, 192, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.2


@pytest.mark.parametrize("name", samples.STYLE_SAMPLES)
def test_procedural_default_seed_matches_load_sample(name):
    make = getattr(samples, "make_" + name)
    np.testing.assert_array_equal(make(), samples.load_sample(name))


@pytest.mark.parametrize("name", samples.STYLE_SAMPLES)
def test_procedural_is_colourful_and_textured(name):
    image = samples.load_sample(name)
    pixels = image.reshape(-1, 3)
    # Strong colour contrast in every channel, and many distinct colours.
    assert (pixels.std(axis=0) > 35).all()
    assert len(np.unique(pixels, axis=0)) > 3000
    # Saturated rather than grey.
    saturation = np.asarray(Image.fromarray(image).convert("HSV"))[..., 1] / 255
    assert saturation.mean() > 0.25
    # Plenty of sharp edges (strokes, lead lines, grout, band borders).
    grey = image.astype(np.float32).mean(axis=-1)
    gradient = np.hypot(np.diff(grey, axis=1)[:-1], np.diff(grey, axis=0)[:, :-1])
    assert (gradient > 30).mean() > 0.03


@pytest.mark.parametrize("size", [8, 33, 100])
@pytest.mark.parametrize("name", samples.STYLE_SAMPLES)
def test_procedural_odd_sizes(name, size):
    image = getattr(samples, "make_" + name)(size=size, seed=3)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8


# --------------------------------------------------------------------------
# Paintings
# --------------------------------------------------------------------------


def test_paintings_table():
    assert {"starry_night", "great_wave"} <= set(samples.PAINTINGS)
    for name, (title, artist, year, url) in samples.PAINTINGS.items():
        assert title and artist
        assert 1800 <= year < 1930  # long out of copyright
        assert url.startswith("https://upload.wikimedia.org/wikipedia/commons/")
        assert name in samples._PAINTING_FALLBACK
        assert samples._PAINTING_FALLBACK[name] in samples.STYLE_SAMPLES


def test_fetch_painting_falls_back_offline(tmp_path, capsys):
    image = samples.fetch_painting("starry_night", cache_dir=tmp_path)
    np.testing.assert_array_equal(image, samples.load_sample("swirls"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "starry_night" in lines[0] and "swirls" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing cached


@pytest.mark.parametrize("error", [TimeoutError("timed out"), ConnectionResetError()])
def test_fetch_painting_falls_back_on_other_failures(monkeypatch, tmp_path, capsys, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    image = samples.fetch_painting("great_wave", cache_dir=tmp_path)
    assert image.dtype == np.uint8 and image.ndim == 3
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_fetch_painting_without_fallback_raises(tmp_path, capsys):
    with pytest.raises(NSTError) as info:
        samples.fetch_painting("great_wave", cache_dir=tmp_path, fallback=False)
    assert "great_wave" in str(info.value) and "\n" not in str(info.value)
    assert capsys.readouterr().out == ""


def test_load_sample_painting_offline_uses_env_cache_dir(capsys):
    image = samples.load_sample("the_scream", size=128)
    assert image.shape == (128, 128, 3)
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_fetch_painting_reads_cache_without_network(tmp_path, capsys):
    picture = np.zeros((20, 30, 3), np.uint8)
    picture[:, :15] = (200, 30, 40)
    Image.fromarray(picture).save(tmp_path / "great_wave.png")
    image = samples.fetch_painting("great_wave", cache_dir=tmp_path)
    np.testing.assert_array_equal(image, picture)
    assert capsys.readouterr().out == ""


def test_cache_dir_defaults_to_env(monkeypatch, tmp_path):
    picture = np.full((10, 12, 3), 77, np.uint8)
    Image.fromarray(picture).save(tmp_path / "composition_vii.png")
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    np.testing.assert_array_equal(samples.fetch_painting("composition_vii"), picture)
    np.testing.assert_array_equal(
        samples.load_sample("composition_vii", size=24),
        np.full((20, 24, 3), 77, np.uint8),
    )


def test_download_is_cached_atomically(monkeypatch, tmp_path):
    picture = (np.arange(16 * 24 * 3) % 251).astype(np.uint8).reshape(16, 24, 3)
    requests = []

    def fake_urlopen(request, timeout=None):
        requests.append((request, timeout))
        return _FakeResponse(_png_bytes(picture))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    cache = tmp_path / "new" / "cache"
    image = samples.fetch_painting("starry_night", cache_dir=cache, timeout=2.5)
    np.testing.assert_array_equal(image, picture)
    (request, timeout), = requests
    assert timeout == 2.5
    assert request.full_url == samples.PAINTINGS["starry_night"][3]
    assert request.get_header("User-agent")
    assert [p.name for p in cache.iterdir()] == ["starry_night.jpg"]  # no temp files

    # The second call is served from the cache.
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network"))
    np.testing.assert_array_equal(samples.fetch_painting("starry_night", cache_dir=cache), picture)


def test_garbage_download_is_not_cached(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda *a, **k: _FakeResponse(b"<html>rate limited</html>")
    )
    image = samples.fetch_painting("starry_night", cache_dir=tmp_path)
    assert image.shape == (512, 512, 3)
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_painting():
    with pytest.raises(NSTError, match="starry_night"):
        samples.fetch_painting("sunflowers")


# --------------------------------------------------------------------------
# Module hygiene
# --------------------------------------------------------------------------


def test_module_imports_only_light_dependencies():
    source = Path(samples.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    allowed = {
        "functools", "io", "os", "tempfile", "urllib", "pathlib",
        "numpy", "PIL", "skimage", ".errors",
    }
    assert imported <= allowed, imported - allowed  # in particular, no tensorflow
