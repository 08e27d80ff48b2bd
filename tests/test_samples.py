"""Tests for nst_helpers.samples: every sample is offline, shipped or drawn."""

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers import samples
from nst_helpers.errors import NSTError

ALL_LOCAL = samples.CONTENT_SAMPLES + samples.STYLE_SAMPLES


# --------------------------------------------------------------------------
# Listing and loading
# --------------------------------------------------------------------------


def test_list_samples():
    listed = samples.list_samples()
    assert set(listed) == {"content", "style", "paintings"}
    assert tuple(listed["content"]) == ("astronaut", "chelsea", "coffee", "rocket", "tubingen")
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
    assert set(samples.PAINTINGS) == {
        "starry_night",
        "the_scream",
        "great_wave",
        "shipwreck",
        "udnie",
        "woman_with_a_hat",
    }
    for name, (title, artist, year) in samples.PAINTINGS.items():
        assert title and artist
        assert 1800 <= year < 1929  # long out of copyright
        assert "public domain" in samples.describe(name)


@pytest.mark.parametrize("name", tuple(samples.PAINTINGS) + ("tubingen",))
def test_shipped_images_load_offline_and_stay_small(name):
    image = samples.load_sample(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert max(image.shape[:2]) == 512 and min(image.shape[:2]) >= 256
    assert image.std() > 20  # a real picture, not a placeholder
    files = Path(samples.__file__).parents[1] / "data" / "samples"
    assert (files / f"{name}.jpg").stat().st_size < 120_000


def test_paintings_are_distinct():
    means = {n: samples.load_sample(n, size=64).reshape(-1, 3).mean(0) for n in samples.PAINTINGS}
    values = list(means.values())
    assert all(np.abs(a - b).max() > 3 for i, a in enumerate(values) for b in values[i + 1 :])


def test_credits():
    assert samples.credit("chelsea", "starry_night") == ""
    assert (
        samples.credit("tubingen", "udnie", "tubingen")
        == "Tübingen photograph: Andreas Praefcke, CC BY 3.0"
    )
    assert "van Gogh" in samples.describe("starry_night") and "1889" in samples.describe(
        "starry_night"
    )
    with pytest.raises(NSTError, match="starry_night"):
        samples.describe("sunflowers")


def test_unknown_painting():
    with pytest.raises(NSTError, match="starry_night"):
        samples.load_sample("sunflowers")


# --------------------------------------------------------------------------
# Module hygiene
# --------------------------------------------------------------------------


def test_module_imports_only_light_dependencies():
    imported = set()
    for module in ("samples.py", "painters.py"):  # the catalogue and its procedural painters
        for node in ast.walk(ast.parse((Path(samples.__file__).parent / module).read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or "").split(".")[0])
    allowed = {
        "__future__",
        "collections",
        "functools",
        "importlib",
        "numpy",
        "PIL",
        "skimage",
        ".errors",
        ".images",
        ".painters",
    }
    assert imported <= allowed, imported - allowed  # in particular, no tensorflow (nor in images)
