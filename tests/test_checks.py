"""Tests for nst_helpers.checks: right answers pass, the classic mistakes are caught and named."""

import subprocess
import sys

import numpy as np
import pytest

from nst_helpers import checks
from nst_helpers.images import VGG_MEAN_BGR

tf = pytest.importorskip("tensorflow")


def run(check, fn, **kwargs):
    """Run a check; return the AssertionError's message, or None when the check passes."""
    try:
        check(fn, **kwargs)
    except AssertionError as err:
        return str(err)
    return None


# --------------------------------------------------------------------------------------------------
# The reference data
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", checks.CHECKS)
def test_stored_reference_values_are_up_to_date(name):
    """data/checks/*.npz hold what the library computes now (regenerate them after a change)."""
    stored = checks._reference(name)
    fresh = checks.reference_arrays(name)
    assert sorted(stored) == sorted(fresh), "run: python -m nst_helpers.checks --regenerate"
    for key in fresh:
        np.testing.assert_allclose(stored[key], fresh[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_data_dir_holds_every_reference_file():
    for name in checks.CHECKS:
        assert (checks.data_dir() / f"{name}.npz").is_file()


def test_regenerate_is_reproducible(tmp_path):
    checks.main(["--regenerate", "--out", str(tmp_path / "a")])
    checks.main(["--regenerate", "--out", str(tmp_path / "b")])
    for name in checks.CHECKS:
        assert (tmp_path / "a" / f"{name}.npz").read_bytes() == (tmp_path / "b" / f"{name}.npz").read_bytes()


def test_checks_import_no_higher_layer():
    code = ("import sys, nst_helpers.checks; "
            "bad = [m for m in ('nst_helpers.optimize', 'nst_helpers.backbone', 'nst_helpers.widgets', "
            "'tensorflow', 'ipywidgets') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_reference_file_says_how_to_regenerate(monkeypatch, tmp_path):
    monkeypatch.setattr(checks, "data_dir", lambda: tmp_path)
    monkeypatch.setattr(checks, "_CACHE", {})
    with pytest.raises(FileNotFoundError, match="--regenerate"):
        checks.check_gram_matrix(lambda f: f)


# --------------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------------


def make_conv2d(mistake=None):
    def conv2d(image, kernel, stride=1, padding=0):
        image = np.asarray(image, dtype=np.float64)
        kernel = np.asarray(kernel, dtype=np.float64)
        if mistake == "flipped":
            kernel = kernel[::-1, ::-1]
        if mistake == "kernel_T":
            kernel = kernel.T
        if mistake == "no_padding":
            padding = 0
        if mistake == "no_stride":
            stride = 1
        if mistake == "neither":
            stride, padding = 1, 0
        mode = "edge" if mistake == "edge_padding" else "constant"
        pads = ((0, 2 * padding), (0, 2 * padding)) if mistake == "one_sided" else padding
        x = np.pad(image, pads, mode=mode)
        kh, kw = kernel.shape
        oh = (x.shape[0] - kh) // stride + 1
        ow = (x.shape[1] - kw) // stride + 1
        if mistake == "off_by_one":
            oh, ow = oh - 1, ow - 1
        out = np.zeros((oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = x[i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[i, j] = np.mean(patch * kernel) if mistake == "mean" else np.sum(patch * kernel)
        if mistake == "in_place":
            image_arg[0][...] = 0
        if mistake == "transposed":
            return out.T
        if mistake == "none":
            return None
        return out

    image_arg = []

    def wrapper(image, kernel, stride=1, padding=0):
        image_arg[:] = [image]
        return conv2d(image, kernel, stride=stride, padding=padding)

    wrapper.__name__ = "conv2d"
    return wrapper


def test_conv2d_right_answer_passes(capsys):
    assert run(checks.check_conv2d, make_conv2d()) is None
    assert "✔ conv2d is right" in capsys.readouterr().out


def test_conv2d_matches_tf_nn_conv2d_as_the_notebook_claims():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(9, 7)), rng.normal(size=(3, 3))
    want = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], strides=2,
                        padding=[[0, 0], [1, 1], [1, 1], [0, 0]])[0, :, :, 0].numpy()
    np.testing.assert_allclose(make_conv2d()(image, kernel, stride=2, padding=1), want, atol=1e-10)


@pytest.mark.parametrize("mistake, hint", [
    ("flipped", "flipped the kernel"),
    ("kernel_T", "rows and columns are swapped"),
    ("transposed", "rows and columns are swapped"),
    ("mean", "you averaged"),
    ("edge_padding", "pad with zeros"),
    ("one_sided", "pad on both sides"),
    ("no_padding", "ignored the padding"),
    ("no_stride", "ignored the stride"),
    ("neither", "ignored the padding"),  # the first failing case has padding but stride 1
    ("off_by_one", "(H + 2*padding - kh) // stride + 1"),
    ("in_place", "changed the image or kernel"),
    ("none", "forget the `return`"),
])
def test_conv2d_mistakes_are_named(mistake, hint):
    message = run(checks.check_conv2d, make_conv2d(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message
    assert message.startswith("conv2d is not right yet (image ")


# --------------------------------------------------------------------------------------------------
# deprocess
# --------------------------------------------------------------------------------------------------


def make_deprocess(mistake=None):
    def deprocess(x):
        if mistake == "in_place":
            if x.ndim == 4:
                y = x[0]
            else:
                y = x
            y += VGG_MEAN_BGR
            return np.clip(y[..., ::-1], 0, 255).astype(np.uint8)
        x = np.array(x, dtype=np.float32)
        if x.ndim == 4 and mistake != "batch":
            x = x[0]
        if mistake == "mean_order":
            x = x[..., ::-1] + VGG_MEAN_BGR
        elif mistake == "subtract_mean":
            x = (x - VGG_MEAN_BGR)[..., ::-1]
        elif mistake == "no_mean":
            x = x[..., ::-1]
        elif mistake == "bgr":
            x = x + VGG_MEAN_BGR
        else:
            x = (x + VGG_MEAN_BGR)[..., ::-1]
        if mistake == "no_clip":
            return x.astype(np.int64).astype(np.uint8)  # wraps around, like C casts usually do
        x = np.clip(x, 0, 255)
        if mistake == "float":
            return x
        if mistake == "unit":
            return x / 255.0
        if mistake == "round":
            return x.round().astype(np.uint8)
        return x.astype(np.uint8)  # truncation, as the seed did: accepted

    deprocess.__name__ = "deprocess"
    return deprocess


@pytest.mark.parametrize("variant", [None, "round"])
def test_deprocess_right_answers_pass(variant, capsys):
    assert run(checks.check_deprocess, make_deprocess(variant)) is None
    assert "✔ deprocess is right" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, hint", [
    ("bgr", "BGR/RGB swap"),
    ("mean_order", "wrong channels"),
    ("subtract_mean", "adds them back"),
    ("no_mean", "forgot to add the ImageNet means"),
    ("no_clip", "clip to [0, 255]"),
    ("batch", "remove the batch axis"),
    ("float", "the type is float32"),
    ("unit", "not floats in [0, 1]"),
    ("in_place", "changed the array it was given"),
])
def test_deprocess_mistakes_are_named(mistake, hint):
    message = run(checks.check_deprocess, make_deprocess(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


# --------------------------------------------------------------------------------------------------
# content loss
# --------------------------------------------------------------------------------------------------


def make_content_loss(mistake=None):
    def content_loss(generated, target):
        d = generated - target
        return {
            None: lambda: tf.reduce_mean(tf.square(d)),
            "paper_right": lambda: 0.5 * tf.reduce_sum(tf.square(d)),
            "sum": lambda: tf.reduce_sum(tf.square(d)),
            "half_mean": lambda: 0.5 * tf.reduce_mean(tf.square(d)),
            "abs": lambda: tf.reduce_mean(tf.abs(d)),
            "no_square": lambda: tf.reduce_mean(d),
            "sqrt": lambda: tf.sqrt(tf.reduce_mean(tf.square(d))),
            "norm": lambda: tf.norm(d),
            "axis": lambda: tf.reduce_mean(tf.square(d), axis=-1),
            "none": lambda: None,
            "nan": lambda: tf.reduce_mean(tf.square(d)) * float("nan"),
            "numpy": lambda: float(np.mean((generated.numpy() - target.numpy()) ** 2)),
        }[mistake]()

    content_loss.__name__ = "content_loss"
    return content_loss


def test_content_loss_right_answers_pass(capsys):
    assert run(checks.check_content_loss, make_content_loss()) is None
    assert run(checks.check_content_loss, make_content_loss("numpy")) is None
    assert run(checks.check_content_loss, make_content_loss("paper_right"), normalization="paper") is None
    out = capsys.readouterr().out
    assert "✔ content_loss is right (3 test cases, seed normalisation)." in out
    assert "paper normalisation" in out


@pytest.mark.parametrize("mistake, hint", [
    ("sum", "you summed"),
    ("paper_right", "the paper's normalisation"),
    ("half_mean", "no 1/2"),
    ("abs", "absolute value"),
    ("no_square", "square the differences"),
    ("sqrt", "square root"),
    ("norm", "do not take a norm"),
    ("axis", "reduce over all axes"),
    ("none", "forget the `return`"),
    ("nan", "NaN or infinite"),
])
def test_content_loss_mistakes_are_named(mistake, hint):
    message = run(checks.check_content_loss, make_content_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


@pytest.mark.parametrize("mistake, hint", [
    (None, "the seed's mean squared error"),
    ("sum", "forgot the 1/2"),
    ("half_mean", "does not average"),
])
def test_content_loss_paper_mistakes_are_named(mistake, hint):
    message = run(checks.check_content_loss, make_content_loss(mistake), normalization="paper")
    assert message is not None and hint in message


def test_unknown_normalization_is_a_clear_error():
    with pytest.raises(ValueError, match="'seed' or 'paper'"):
        checks.check_content_loss(make_content_loss(), normalization="gatys")


# --------------------------------------------------------------------------------------------------
# Gram matrix
# --------------------------------------------------------------------------------------------------


def make_gram(mistake=None):
    def gram_matrix(features):
        c = features.shape[-1]
        m = tf.cast(tf.size(features) // c, tf.float32)
        f = tf.reshape(features, [-1, c])
        if mistake == "einsum":  # the TensorFlow tutorial's version: (1, C, C)
            g = tf.linalg.einsum("bijc,bijd->bcd", features, features)
            return g / m
        if mistake in ("wrong_reshape", "wrong_reshape_unnormalised"):
            f = tf.transpose(tf.reshape(features, [c, -1]))
        if mistake == "centered":
            f = f - tf.reduce_mean(f, axis=0)
        if mistake == "transposed":
            return tf.matmul(f, f, transpose_b=True) / m
        if mistake == "not_symmetric":
            return tf.matmul(f[:-1], f[1:], transpose_a=True) / m
        g = tf.matmul(f, f, transpose_a=True)
        return {
            "unnormalised": g,
            "wrong_reshape_unnormalised": g,
            "by_hwc": g / (m * c),
            "by_c": g / c,
        }.get(mistake, g / m)

    gram_matrix.__name__ = "gram_matrix"
    return gram_matrix


@pytest.mark.parametrize("variant", [None, "einsum"])
def test_gram_right_answers_pass(variant, capsys):
    assert run(checks.check_gram_matrix, make_gram(variant)) is None
    assert "✔ gram_matrix is right (3 test cases)." in capsys.readouterr().out


@pytest.mark.parametrize("mistake, hint", [
    ("unnormalised", "divide by the number of positions M = H * W"),
    ("by_hwc", "not by the number of channels too"),
    ("by_c", "not by the number of channels C"),
    ("transposed", "transposed Gram"),
    ("wrong_reshape", "wrong axis"),
    ("wrong_reshape_unnormalised", "wrong axis"),
    ("centered", "do not subtract the mean"),
    ("not_symmetric", "symmetric"),
])
def test_gram_mistakes_are_named(mistake, hint):
    message = run(checks.check_gram_matrix, make_gram(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


# --------------------------------------------------------------------------------------------------
# style loss
# --------------------------------------------------------------------------------------------------


def make_style_loss(mistake=None):
    raw = mistake in ("unnormalised_gram", "paper_unnormalised_gram")
    gram_matrix = make_gram("unnormalised" if raw else None)

    def style_loss(features, target_gram):
        g = gram_matrix(features)
        d = g - target_gram
        n = tf.cast(tf.shape(g)[0], tf.float32)
        m = tf.cast(tf.size(features) // tf.shape(features)[-1], tf.float32)
        paper = tf.reduce_sum(tf.square(d)) / (4 * n * n)
        return {
            None: lambda: tf.reduce_mean(tf.square(d)),
            "unnormalised_gram": lambda: tf.reduce_mean(tf.square(d)),
            "paper_right": lambda: paper,
            "paper_unnormalised_gram": lambda: paper,
            "sum": lambda: tf.reduce_sum(tf.square(d)),
            "no_square": lambda: tf.reduce_mean(d),
            "abs": lambda: tf.reduce_mean(tf.abs(d)),
            "sqrt": lambda: tf.sqrt(tf.reduce_mean(tf.square(d))),
            "no_four": lambda: tf.reduce_sum(tf.square(d)) / (n * n),
            "n_not_squared": lambda: tf.reduce_sum(tf.square(d)) / (4 * n),
            "double_m": lambda: paper / (m * m),
            "features_m": lambda: tf.reduce_sum(tf.square(d)) / (4 * m * m),
            "axis": lambda: tf.reduce_mean(tf.square(d), axis=0),
        }[mistake]()

    style_loss.__name__ = "style_loss"
    return style_loss


def test_style_loss_right_answers_pass(capsys):
    assert run(checks.check_style_loss, make_style_loss()) is None
    assert run(checks.check_style_loss, make_style_loss("paper_right"), normalization="paper") is None
    out = capsys.readouterr().out
    assert "✔ style_loss is right (2 test cases, seed normalisation)." in out
    assert "✔ style_loss is right (2 test cases, paper normalisation)." in out


@pytest.mark.parametrize("mistake, hint", [
    ("sum", "you summed"),
    ("paper_right", "the paper's normalisation"),
    ("unnormalised_gram", "divide yours too"),
    ("no_square", "square the differences"),
    ("abs", "absolute value"),
    ("sqrt", "square root"),
    ("axis", "reduce over all axes"),
])
def test_style_loss_mistakes_are_named(mistake, hint):
    message = run(checks.check_style_loss, make_style_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


@pytest.mark.parametrize("mistake, hint", [
    (None, "the seed's mean: the paper divides by 4 N**2"),
    ("sum", "divide the sum by 4 N**2"),
    ("no_four", "the paper divides by 4 N**2"),
    ("n_not_squared", "not by 4 N"),
    ("double_m", "do not divide by M**2 again"),
    ("features_m", "N is the number of channels"),
    ("paper_unnormalised_gram", "divide yours too"),
])
def test_style_loss_paper_mistakes_are_named(mistake, hint):
    message = run(checks.check_style_loss, make_style_loss(mistake), normalization="paper")
    assert message is not None, f"{mistake} was accepted"
    assert hint in message
