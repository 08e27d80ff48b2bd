"""The training photographs shipped in data/photos: each one present, credited and loadable."""

import pathlib
import re

import numpy as np
import pytest

from nst_helpers.feedforward import data

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Licences the course takes photographs under (no share-alike, nothing unclear).
LICENCES = {"public domain", "CC0", "CC BY 2.0", "CC BY 4.0"}


def test_every_course_photo_is_credited_with_a_licence_we_take():
    credits = data.photo_credits()
    assert len(data.COURSE_PHOTOS) == len(credits) >= 50
    files = {p.stem for p in (ROOT / "data" / "photos").glob("*.jpg")}
    assert files == set(data.COURSE_PHOTOS)  # no photograph without a row, no row without a file
    for name, row in credits.items():
        assert row["licence"] in LICENCES, (name, row["licence"])
        assert row["author"].strip() and row["source"].strip() and row["path"].strip(), name
        assert re.fullmatch(r"[0-9a-f]{64}", row["original_sha256"]), name
    # none of them is a photograph the network is judged on, or one it already trains on
    assert not set(credits) & (set(data.HELD_OUT) | set(data.TRAINING_PHOTOS))


def test_the_data_readme_credits_each_photo_as_the_table_does():
    readme = (ROOT / "data" / "README.md").read_text()
    for name, row in data.photo_credits().items():
        line = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert line is not None, name
        assert row["author"] in line and row["licence"] in line, name


@pytest.mark.parametrize("name", ["bison", "alpine_landscape", "spaniels_at_window"])
def test_a_course_photo_loads_as_rgb_at_most_512_px(name):
    image = data.photo(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert max(image.shape[:2]) == data.PHOTO_SIDE  # stored at 512 px on the longest side
    assert image.std() > 20  # a picture, not a blank


def test_crops_are_drawn_from_named_photographs():
    crops = data.PhotoCrops(photos=["bison", "sheep", "astronaut"], size=32, batch_size=6, seed=1)
    assert crops.names == ["bison", "sheep", "astronaut"] and len(crops) == 3
    a, b = crops.batch(0), crops.batch(0)
    assert a.shape == (6, 32, 32, 3) and np.array_equal(a, b)
