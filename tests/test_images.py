import io
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from nst_helpers import images
from nst_helpers.errors import NSTError


def png_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def test_sources_agree(tmp_path, photo):
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    from_path = images.load_image(path, max_side=None)
    assert from_path.dtype == np.uint8 and from_path.shape == photo.shape
    for source in (
        str(path),
        Image.fromarray(photo),
        photo,
        path.read_bytes(),
        memoryview(path.read_bytes()),
        photo.astype(np.float32) / 255.0,
    ):
        np.testing.assert_array_equal(images.load_image(source, max_side=None), from_path)


def test_grayscale_becomes_rgb():
    gray = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (40, 1)), "L")
    out = images.load_image(png_bytes(gray), max_side=None)
    assert out.shape == (40, 64, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert out[0, 10, 1] == 40


def test_rgba_is_composited_on_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:, :20, 3] = 255  # left half opaque, right half transparent
    out = images.load_image(png_bytes(Image.fromarray(rgba, "RGBA")), max_side=None)
    assert tuple(out[5, 5]) == (255, 0, 0)
    assert tuple(out[5, 35]) == (255, 255, 255)


def test_palette_with_transparency():
    p = Image.new("P", (40, 40), 0)
    p.putpalette([0, 0, 255] + [0, 255, 0] + [0] * 762)
    p.paste(1, (0, 0, 20, 40))
    p.info["transparency"] = 0
    out = images.load_image(png_bytes(p, transparency=0), max_side=None)
    assert tuple(out[5, 5]) == (0, 255, 0)
    assert tuple(out[5, 35]) == (255, 255, 255)


def test_16_bit_grayscale_is_scaled_not_clipped():
    arr = np.full((40, 40), 32768, np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = images.load_image(png_bytes(img), max_side=None)
    assert 126 <= out[0, 0, 0] <= 129  # half of 65535 is half of 255
    out16 = images.load_image(np.full((40, 40, 3), 65535, np.uint16), max_side=None)
    assert out16.max() == 255


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (48, 40), (0, 255, 255, 0))  # pure red in CMYK
    out = images.load_image(png_bytes(cmyk, format="JPEG", quality=95), max_side=None)
    r, g, b = out[20, 20].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (80, 40), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 40, 40))  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = images.load_image(png_bytes(img, format="JPEG", exif=exif.tobytes()), max_side=None)
    assert out.shape[:2] == (80, 40)  # portrait after rotation
    assert out[10, 20].mean() > 200 and out[70, 20].mean() < 50  # white now on top


def test_resize_keeps_aspect_and_never_enlarges(photo):
    big = np.zeros((300, 600, 3), np.uint8)
    assert images.load_image(big, max_side=150).shape == (75, 150, 3)
    assert images.load_image(big, max_side=1000).shape == (300, 600, 3)
    assert images.resize(photo, size=(50, 40)).shape == (50, 40, 3)


def test_vgg_round_trip_and_keras_agreement(photo):
    import keras

    x = images.to_vgg(photo)
    assert x.shape == (1,) + photo.shape and x.dtype.name == "float32"
    expected = keras.applications.vgg19.preprocess_input(photo[None].astype("float32"))
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-4)
    np.testing.assert_array_equal(images.from_vgg(x), photo)
    clipped = images.clip_vgg(x + 1000.0)
    np.testing.assert_array_equal(images.from_vgg(clipped), np.full_like(photo, 255))


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such file"),
        (b"", "empty"),
        (b"this is not a picture, just text\n" * 10, "not an image"),
        ("truncated", "truncated"),
        ("tiny", "too small"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, photo, content, problem):
    path = tmp_path / "input.png"
    if content == "truncated":
        content = png_bytes(
            Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        )[:400]
    elif content == "tiny":
        content = png_bytes(Image.fromarray(photo[:20, :40]))
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(NSTError) as err:
        images.load_image(path)
    message = str(err.value)
    assert problem in message and "input.png" in message and "\n" not in message


def test_bad_arrays_and_types():
    with pytest.raises(NSTError, match="not an image"):
        images.load_image(np.zeros((40, 40, 5)))
    with pytest.raises(NSTError, match="NaN"):
        images.load_image(np.full((40, 40, 3), np.nan))
    with pytest.raises(NSTError, match="cannot read a dict"):
        images.load_image({"a": 1})


def test_save_never_overwrites_without_force(tmp_path, photo):
    path = images.save_image(photo, tmp_path / "out" / "x.png", metadata={"backbone": "vgg16-hed"})
    assert Image.open(path).text["backbone"] == "vgg16-hed"
    with pytest.raises(NSTError, match="already exists"):
        images.save_image(photo * 0, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), photo)
    images.save_image(photo * 0, path, force=True)
    assert np.asarray(Image.open(path)).max() == 0
    with pytest.raises(NSTError, match="unknown image type"):
        images.save_image(photo, tmp_path / "x.txt")


def test_a_second_writer_racing_for_the_name_gets_the_one_line_refusal(
    tmp_path, photo, monkeypatch
):
    """The existence check and the creation are one step: a file made in between is not replaced."""
    path = tmp_path / "x.png"
    real = images.to_png_bytes

    def encode_while_another_writer_creates_the_file(*args, **kwargs):
        path.write_bytes(b"theirs")
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "to_png_bytes", encode_while_another_writer_creates_the_file)
    with pytest.raises(NSTError, match="already exists") as err:
        images.save_image(photo, path)
    assert "\n" not in str(err.value) and path.read_bytes() == b"theirs"


def test_paths_that_cannot_be_written_are_named_before_any_work(tmp_path, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(
        NSTError,
        match=r"notes.txt/out.png: cannot be written, since .*notes.txt is a file, not a folder",
    ):
        images.check_writable(a_file / "out.png")
    with pytest.raises(NSTError, match="is a folder"):
        images.check_writable(tmp_path)
    with pytest.raises(NSTError, match="already exists"):
        images.check_writable(a_file)
    assert images.check_writable(a_file, force=True) == a_file
    assert images.check_writable(tmp_path / "new" / "deeper" / "out.png")  # folders made later
    with pytest.raises(NSTError, match=r"out.png: cannot be written, since .*notes.txt is a file"):
        images.save_image(np.zeros((40, 40, 3), np.uint8), a_file / "out.png")

    import tempfile

    def read_only(*args, **kwargs):  # what a read-only folder answers (root can write anywhere)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(NSTError, match=r"cannot write in this folder \(Permission denied\)"):
        images.check_writable(tmp_path / "out.png")


def test_unreadable_file_is_one_line(tmp_path, photo, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(photo).save(path)
    if os.geteuid() != 0:  # root reads files whatever their permissions
        path.chmod(0)
        with pytest.raises(NSTError, match="secret.png.*no permission to read"):
            images.load_image(path)
        path.chmod(0o644)

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    with pytest.raises(NSTError) as err:
        images.load_image(path, name="content image")
    assert f"content image '{path}': no permission to read this file" in str(err.value)


def test_large_jpeg_decodes_at_a_reduced_scale(tmp_path, monkeypatch):
    """A photo far larger than asked is decoded at 1/8 (Image.draft), never in full."""
    path = tmp_path / "big.jpg"
    small = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(small).resize((2400, 1800)).save(path, quality=90)
    decoded = []
    real = images.resize
    monkeypatch.setattr(
        images, "resize", lambda img, *a, **k: decoded.append(img.size) or real(img, *a, **k)
    )
    out = images.load_image(path, max_side=64)
    assert out.shape == (48, 64, 3) and decoded == [(300, 225)]  # 2400 / 8, not 2400
    full = images.load_image(path, max_side=None)
    assert full.shape == (1800, 2400, 3)
    reference = np.asarray(Image.fromarray(full).resize((64, 48), Image.Resampling.LANCZOS))
    assert np.abs(out.astype(int) - reference).mean() < 3  # the same picture
    assert images.load_image(path, max_side=2000).shape == (1500, 2000, 3)  # no draft below it


def test_load_mask_scales_resizes_and_refuses_in_one_line():
    from nst_helpers.errors import NSTError
    from nst_helpers.images import load_mask

    m = load_mask(np.full((20, 30), 255, np.uint8), (40, 60), name="style mask 1")
    assert m.shape == (40, 60) and m.dtype == np.float32 and m.max() == 1.0
    for bad, words in (
        (np.zeros((40, 60)), "empty"),
        (np.ones((40, 40)), "aspect ratio"),
        (np.full((40, 60), np.nan), "NaN"),
        (-np.ones((40, 60)), "negative"),
    ):
        with pytest.raises(NSTError, match=words) as err:
            load_mask(bad, (40, 60), name="style mask 2")
        assert str(err.value).startswith("style mask 2") and "\n" not in str(err.value)
