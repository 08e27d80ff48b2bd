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
    stored = checks.common.read_reference(name)
    fresh = checks.reference_arrays(name)
    assert sorted(stored) == sorted(fresh), "run: python -m nst_helpers.checks --regenerate"
    for key in fresh:
        if np.issubdtype(fresh[key].dtype, np.number):
            np.testing.assert_allclose(stored[key], fresh[key], rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            assert np.array_equal(stored[key], fresh[key]), key


def test_data_dir_holds_every_reference_file():
    for name in checks.CHECKS:
        assert (checks.data_dir() / f"{name}.npz").is_file()


def test_regenerate_is_reproducible(tmp_path):
    checks.main(["--regenerate", "--out", str(tmp_path / "a")])
    checks.main(["--regenerate", "--out", str(tmp_path / "b")])
    for name in checks.CHECKS:
        assert (tmp_path / "a" / f"{name}.npz").read_bytes() == (
            tmp_path / "b" / f"{name}.npz"
        ).read_bytes()


def test_checks_import_no_higher_layer():
    code = (
        "import sys, nst_helpers.checks; "
        "bad = [m for m in ('nst_helpers.optimize', 'nst_helpers.backbone', 'nst_helpers.widgets', "
        "'tensorflow', 'ipywidgets') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_reference_file_says_how_to_regenerate(monkeypatch, tmp_path):
    monkeypatch.setattr(checks, "data_dir", lambda: tmp_path)
    monkeypatch.setattr(checks, "CACHE", {})
    with pytest.raises(FileNotFoundError, match="--regenerate"):
        checks.check_gram_matrix(lambda f: f)


def test_each_exercise_is_one_module_with_its_generator_and_its_check():
    import importlib

    for name in checks.CHECKS:
        module = importlib.import_module(f"nst_helpers.checks.{name}")
        assert callable(module.generate), name
        assert getattr(checks, f"check_{name}") is getattr(module, f"check_{name}"), name


def test_one_encoding_of_the_normalisations():
    """Both normalised losses store every normalisation's answer, and each other's as a mistake."""
    from nst_helpers.checks.common import normalised, read_cases, read_normalised
    from nst_helpers.choices import NORMALIZATIONS

    expected, mistakes = normalised({"seed": (1.0, {"sum": 4.0}), "paper": (2.0, {"no_half": 4.0})})
    case = {"expected": expected, "mistakes": mistakes}
    assert read_normalised(case, "seed") == (1.0, {"paper": 2.0, "sum": 4.0})
    assert read_normalised(case, "paper") == (2.0, {"seed": 1.0, "no_half": 4.0})
    with pytest.raises(ValueError, match="one per normalisation"):
        normalised({"seed": (1.0, {})})
    for name in ("content_loss", "style_loss"):
        for case in read_cases(name):
            for norm in NORMALIZATIONS:
                want, named = read_normalised(case, norm)
                others = set(NORMALIZATIONS) - {norm}
                assert others <= set(named), (name, norm)
                assert all(named[o] != want for o in others), (name, norm)


def test_a_copy_of_the_package_file_loaded_on_its_own_is_independent(tmp_path, capsys):
    """As the grader loads its private copy: fresh exercise modules, and its own data_dir reaches
    every check, while replacing a check in nst_helpers.checks does not reach it."""
    import importlib.util
    import pathlib
    import shutil

    shutil.copy2(checks.__file__, tmp_path / "checks.py")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(checks.data_dir() / "conv2d.npz", data / "conv2d.npz")
    name = "nst_helpers._copy_under_test"
    spec = importlib.util.spec_from_file_location(name, tmp_path / "checks.py")
    copy = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(copy)
        copy.data_dir = lambda: pathlib.Path(data)
        assert copy.check_conv2d.__module__ == f"{name}.conv2d"
        assert copy.CheckFailed is not checks.CheckFailed
        copy.check_conv2d(make_conv2d())
        assert "✔ conv2d is right" in capsys.readouterr().out
        with pytest.raises(copy.CheckFailed, match="flipped"):
            copy.check_conv2d(make_conv2d("flipped"))
        with pytest.raises(FileNotFoundError, match=str(data / "gram_matrix.npz")):
            copy.check_gram_matrix(lambda f: f)  # its data_dir, not the package's, is read
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


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
                r, c = (i, j) if mistake == "window_start" else (i * stride, j * stride)
                patch = x[r : r + kh, c : c + kw]
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
    want = tf.nn.conv2d(
        image[None, :, :, None],
        kernel[:, :, None, None],
        strides=2,
        padding=[[0, 0], [1, 1], [1, 1], [0, 0]],
    )[0, :, :, 0].numpy()
    np.testing.assert_allclose(make_conv2d()(image, kernel, stride=2, padding=1), want, atol=1e-10)


@pytest.mark.parametrize(
    "mistake, hint",
    [
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
        ("window_start", "(i*stride, j*stride)"),
    ],
)
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
        if mistake in ("clip_first", "clip_first_saturate"):
            x = np.clip(x, 0, 255) + VGG_MEAN_BGR
            x = x[..., ::-1]
            if mistake == "clip_first_saturate":
                return np.clip(x, 0, 255).astype(np.uint8)
            return x.astype(np.int64).astype(np.uint8)
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


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("bgr", "BGR/RGB swap"),
        ("mean_order", "wrong channels"),
        ("subtract_mean", "adds them back"),
        ("no_mean", "forgot to add the ImageNet means"),
        ("no_clip", "clip to [0, 255]"),
        ("batch", "remove the batch axis"),
        ("float", "the type is float32"),
        ("unit", "not floats in [0, 1]"),
        ("in_place", "changed the array it was given"),
        ("clip_first", "you clipped before adding the means back"),
        ("clip_first_saturate", "you clipped before adding the means back"),
    ],
)
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
            "np_mean": lambda: np.mean(np.square(d)),
            "tf_of_numpy": lambda: tf.constant(np.mean((generated.numpy() - target.numpy()) ** 2)),
        }[mistake]()

    content_loss.__name__ = "content_loss"
    return content_loss


def test_content_loss_right_answers_pass(capsys):
    assert run(checks.check_content_loss, make_content_loss()) is None
    assert (
        run(checks.check_content_loss, make_content_loss("paper_right"), normalization="paper")
        is None
    )
    out = capsys.readouterr().out
    assert "✔ content_loss is right (3 test cases, seed normalisation)." in out
    assert "paper normalisation" in out


@pytest.mark.parametrize(
    "mistake, hint",
    [
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
    ],
)
def test_content_loss_mistakes_are_named(mistake, hint):
    message = run(checks.check_content_loss, make_content_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (None, "the seed's mean squared error"),
        ("sum", "forgot the 1/2"),
        ("half_mean", "does not average"),
    ],
)
def test_content_loss_paper_mistakes_are_named(mistake, hint):
    message = run(checks.check_content_loss, make_content_loss(mistake), normalization="paper")
    assert message is not None and hint in message


@pytest.mark.parametrize("mistake", ["numpy", "np_mean", "tf_of_numpy"])
def test_content_loss_that_breaks_the_gradient_fails(mistake):
    message = run(checks.check_content_loss, make_content_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert "use TensorFlow ops so that gradients can flow" in message


@pytest.mark.parametrize("check", ["check_content_loss", "check_style_loss"])
def test_unknown_normalization_is_a_clear_error(check):
    from nst_helpers.errors import NSTError

    with pytest.raises(NSTError, match=r"^normalization must be 'seed' or 'paper', not 'gatys'\.$"):
        getattr(checks, check)(make_content_loss(), normalization="gatys")


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
        if mistake == "numpy":
            flat = features.numpy().reshape(-1, c)
            return flat.T @ flat / flat.shape[0]
        g = tf.matmul(f, f, transpose_a=True)
        return {
            "unnormalised": g,
            "wrong_reshape_unnormalised": g,
            "by_hwc": g / (m * c),
            "by_c": g / c,
            "by_m2": g / (m * m),
            "by_h": g / features.shape[1],
        }.get(mistake, g / m)

    gram_matrix.__name__ = "gram_matrix"
    return gram_matrix


@pytest.mark.parametrize("variant", [None, "einsum"])
def test_gram_right_answers_pass(variant, capsys):
    assert run(checks.check_gram_matrix, make_gram(variant)) is None
    assert "✔ gram_matrix is right (3 test cases)." in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("unnormalised", "divide by the number of positions M = H * W"),
        ("by_hwc", "not by the number of channels too"),
        ("by_c", "not by the number of channels C"),
        ("transposed", "transposed Gram"),
        ("wrong_reshape", "wrong axis"),
        ("wrong_reshape_unnormalised", "wrong axis"),
        ("centered", "do not subtract the mean"),
        ("not_symmetric", "symmetric"),
        ("by_m2", "not by M**2"),
        ("by_h", "not by the height H alone"),
        ("numpy", "use TensorFlow ops so that gradients can flow"),
    ],
)
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
            "numpy": lambda: np.mean((g.numpy() - target_gram.numpy()) ** 2),
        }[mistake]()

    style_loss.__name__ = "style_loss"
    return style_loss


def test_style_loss_right_answers_pass(capsys):
    assert run(checks.check_style_loss, make_style_loss()) is None
    assert (
        run(checks.check_style_loss, make_style_loss("paper_right"), normalization="paper") is None
    )
    out = capsys.readouterr().out
    assert "✔ style_loss is right (2 test cases, seed normalisation)." in out
    assert "✔ style_loss is right (2 test cases, paper normalisation)." in out


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("sum", "you summed"),
        ("paper_right", "the paper's normalisation"),
        ("unnormalised_gram", "divide yours too"),
        ("no_square", "square the differences"),
        ("abs", "absolute value"),
        ("sqrt", "square root"),
        ("axis", "reduce over all axes"),
        ("numpy", "use TensorFlow ops so that gradients can flow"),
    ],
)
def test_style_loss_mistakes_are_named(mistake, hint):
    message = run(checks.check_style_loss, make_style_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (None, "the seed's mean: the paper divides by 4 N**2"),
        ("sum", "divide the sum by 4 N**2"),
        ("no_four", "the paper divides by 4 N**2"),
        ("n_not_squared", "not by 4 N"),
        ("double_m", "do not divide by M**2 again"),
        ("features_m", "N is the number of channels"),
        ("paper_unnormalised_gram", "divide yours too"),
    ],
)
def test_style_loss_paper_mistakes_are_named(mistake, hint):
    message = run(checks.check_style_loss, make_style_loss(mistake), normalization="paper")
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


# --------------------------------------------------------------------------------------------------
# the Adam loop
# --------------------------------------------------------------------------------------------------


def make_total_loss(mistake=None):
    def total_loss(features, content_targets, style_targets, content_weight, style_weight):
        def content_of(layer):
            if mistake == "numpy":
                return float(
                    np.mean((features[layer].numpy() - content_targets[layer].numpy()) ** 2)
                )
            return tf.reduce_mean(tf.square(features[layer] - content_targets[layer]))

        def style_of(layer):
            f = tf.reshape(features[layer], [-1, features[layer].shape[-1]])
            g = tf.matmul(f, f, transpose_a=True) / tf.cast(tf.shape(f)[0], tf.float32)
            target = style_targets[layer]
            if mistake == "gram_of_target":
                target = tf.matmul(target, target, transpose_a=True) / tf.cast(
                    tf.shape(target)[0], tf.float32
                )
            return tf.reduce_mean(tf.square(g - target))

        content = (
            tf.add_n([content_of(l) for l in content_targets])
            if mistake != "numpy"
            else sum(content_of(l) for l in content_targets)
        )
        style = tf.add_n([style_of(l) for l in style_targets])
        if mistake not in ("content_sum", "both_sum"):
            content = content / len(content_targets)
        if mistake not in ("style_sum", "both_sum"):
            style = style / len(style_targets)
        if mistake == "swapped":
            content_weight, style_weight = style_weight, content_weight
        if mistake == "no_weights":
            content_weight = style_weight = 1.0
        if mistake == "content_only":
            return content_weight * content
        if mistake == "style_only":
            return style_weight * style
        if mistake == "numpy":
            return content_weight * content + style_weight * style.numpy()
        if mistake == "pooled":  # the weighted sums over all the layers, divided by their number
            return (
                content_weight * content * len(content_targets)
                + style_weight * style * len(style_targets)
            ) / (len(content_targets) + len(style_targets))
        if mistake == "pooled_mean":  # the same, as one mean of every layer's weighted loss
            return tf.reduce_mean(
                tf.stack(
                    [content_weight * content_of(l) for l in content_targets]
                    + [style_weight * style_of(l) for l in style_targets]
                )
            )
        if mistake == "halved":  # the mean of the two weighted terms
            return tf.reduce_mean(tf.stack([content_weight * content, style_weight * style]))
        if mistake == "tripled":  # nothing the check knows
            return 3 * (content_weight * content + style_weight * style)
        return content_weight * content + style_weight * style

    total_loss.__name__ = "total_loss"
    return total_loss


def make_run_adam(mistake=None):
    import keras

    from nst_helpers.images import VGG_MAX, VGG_MIN

    total_loss = make_total_loss("numpy" if mistake == "numpy_loss" else None)

    def adam():
        return {
            "adam_defaults": lambda: keras.optimizers.Adam(learning_rate=2.0),
            "beta_1": lambda: keras.optimizers.Adam(learning_rate=2.0, epsilon=0.1),
            "beta_2": lambda: keras.optimizers.Adam(
                learning_rate=2.0, beta_1=0.99, beta_2=0.99, epsilon=0.1
            ),
            "epsilon": lambda: keras.optimizers.Adam(learning_rate=2.0, beta_1=0.99),
            "epsilon_and_beta_2": lambda: keras.optimizers.Adam(
                learning_rate=2.0, beta_1=0.99, beta_2=0.99
            ),
            "tutorial_lr": lambda: keras.optimizers.Adam(
                learning_rate=0.02, beta_1=0.99, epsilon=0.1
            ),
        }.get(mistake, lambda: keras.optimizers.Adam(learning_rate=2.0, beta_1=0.99, epsilon=0.1))()

    def train_step(image, optimizer, problem, best):
        if mistake == "fresh_optimizer":
            optimizer = adam()
        cw, sw = problem.content_weight, problem.style_weight
        if mistake == "swapped":
            cw, sw = sw, cw
        with tf.GradientTape() as tape:
            source = problem.x0 if mistake == "wrong_variable" else image
            loss = total_loss(
                problem.extractor(source), problem.content_targets, problem.style_targets, cw, sw
            )
        grad = tape.gradient(loss, image)
        if mistake != "after_update" and float(loss) < best["loss"]:
            best["loss"] = float(loss)
            best["image"] = image if mistake == "aliased_best" else tf.identity(image)
        if mistake == "clip_before":
            image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX))
        optimizer.apply_gradients([(grad, image)])
        if mistake == "frozen":  # clips the start instead of the image: back to the start each step
            image.assign(tf.clip_by_value(problem.x0, VGG_MIN, VGG_MAX))
        elif mistake == "rgb_clip":
            image.assign(tf.clip_by_value(image, 0.0, 255.0))
        elif mistake not in ("no_clip", "clip_before"):
            image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX))
        if mistake == "after_update" and float(loss) < best["loss"]:
            best["loss"], best["image"] = float(loss), tf.identity(image)
        if mistake == "loss_after":  # the loss of the updated image
            return total_loss(
                problem.extractor(image), problem.content_targets, problem.style_targets, cw, sw
            )
        return loss

    def run_adam(problem, steps):
        if mistake == "not_written":
            raise NotImplementedError("Write your solution here.")
        image = tf.Variable(problem.x0)
        optimizer = adam()
        best = {"loss": float("inf"), "image": problem.x0}
        losses = []
        for _ in range(steps):
            if mistake == "fresh_image":
                image = tf.Variable(problem.x0)
            losses.append(float(train_step(image, optimizer, problem, best)))
        if mistake == "last_image":
            return image, losses
        if mistake == "no_losses":
            return best["image"]
        return best["image"], losses

    run_adam.__name__ = "run_adam"
    return run_adam


def test_the_check_s_own_reference_loop_follows_the_library_s():
    from nst_helpers.checks.adam_reference import adam_setup, adam_variant

    state = adam_setup()
    losses, images, _ = adam_variant(state, "right")
    np.testing.assert_allclose(losses, state["losses"], rtol=1e-5)
    assert state["result"].backbone == state["backbone"]


def test_adam_loop_right_answer_passes(capsys):
    assert run(checks.check_adam_loop, make_run_adam()) is None
    assert "✔ run_adam is right" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("no_clip", "the pixels are never clipped"),
        ("rgb_clip", "clip to [VGG_MIN, VGG_MAX]"),
        ("wrong_variable", "the optimiser got no gradient"),
        ("frozen", "the loss never changes"),
        ("fresh_image", "make the image a tf.Variable once"),
        ("swapped", "the weights are swapped"),
        ("last_image", "not the best one"),
        ("aliased_best", "not the best one"),
        ("after_update", "before the update"),
        ("fresh_optimizer", "the optimiser is made anew at every step"),
        ("adam_defaults", "beta_1=0.99, epsilon=0.1"),
        ("numpy_loss", "use TensorFlow ops so that gradients can flow"),
        ("no_losses", "return best_image, losses"),
    ],
)
def test_adam_loop_mistakes_are_named(mistake, hint):
    message = run(checks.check_adam_loop, make_run_adam(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message
    assert message.startswith("run_adam is not right yet (5 Adam steps at 48x32 px, ")


@pytest.mark.parametrize(
    "mistake, named, not_named",
    [
        # ε and β₂ change these few steps' losses by about 1e-4, within the tolerance of rounding: the
        # image returned differs from the library's, but the mistake is Adam's, not the best image's
        ("epsilon", "epsilon is left at Keras' default, 1e-7", "best"),
        ("beta_2", "beta_2 is 0.99", "best"),
        # β₁ alone, not all of Keras' defaults; its losses are within tolerance of those defaults' too
        ("beta_1", "beta_1 is left at Keras' default, 0.9", "Adam's settings are Keras' defaults"),
        # the first loss is that of the image after the first update: not total_loss's fault
        ("loss_after", "that of the image after the step's update", "total_loss"),
        ("clip_before", "clipped before the update", "made anew"),
        ("tutorial_lr", "learning_rate=2.0", "best"),
    ],
)
def test_adam_loop_hints_name_the_real_mistake(mistake, named, not_named):
    message = run(checks.check_adam_loop, make_run_adam(mistake))
    assert message is not None, f"{mistake} was accepted"
    hint = message.split("\nHint: ", 1)[1]
    assert named in hint and not_named not in hint, hint


def test_adam_loop_names_epsilon_and_beta_2_wrong_together_before_the_best_image():
    """Both wrong: losses as near the library's as either mistake's, so neither is told apart by
    them; the image returned is not the library's best, and the hint names the settings first."""
    message = run(checks.check_adam_loop, make_run_adam("epsilon_and_beta_2"))
    assert message is not None, "epsilon_and_beta_2 was accepted"
    hint = message.split("\nHint: ", 1)[1]
    assert "epsilon is left at Keras' default" in hint or "beta_2 is 0.99" in hint, hint
    assert not hint.startswith("the losses are right"), hint


def test_total_loss_right_answer_passes(capsys):
    assert run(checks.check_total_loss, make_total_loss()) is None
    assert "✔ total_loss is right (2 test cases" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("swapped", "the weights are swapped"),
        ("no_weights", "multiply by the weights"),
        ("style_sum", "average the style losses"),
        ("content_sum", "average the content losses"),
        ("both_sum", "average over the layers"),
        ("content_only", "the style loss is missing"),
        ("style_only", "the content loss is missing"),
        ("gram_of_target", "already hold the style image's Gram matrices"),
        ("numpy", "use TensorFlow ops so that gradients can flow"),
    ],
)
def test_total_loss_mistakes_are_named(mistake, hint):
    message = run(checks.check_total_loss, make_total_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    assert hint in message


@pytest.mark.parametrize(
    "mistake, named",
    [
        # a mean over every layer, content and style pooled: how the losses are combined, not the
        # losses themselves (the exercise uses content_loss and style_loss, which pass their checks)
        ("pooled", "you averaged over all the layers pooled"),
        ("pooled_mean", "you averaged over all the layers pooled"),
        ("halved", "you averaged the two weighted terms"),
        ("tripled", "look at how they are combined"),
    ],
)
def test_total_loss_hints_name_the_real_mistake(mistake, named):
    message = run(checks.check_total_loss, make_total_loss(mistake))
    assert message is not None, f"{mistake} was accepted"
    hint = message.split("\nHint: ", 1)[1]
    assert named in hint and "Are content_loss and style_loss right" not in hint, hint


# --------------------------------------------------------------------------------------------------
# unwritten exercises, messages
# --------------------------------------------------------------------------------------------------


def _unwritten(*args, **kwargs):
    raise NotImplementedError("Write your solution here.")


@pytest.mark.parametrize(
    "check",
    [
        checks.check_conv2d,
        checks.check_deprocess,
        checks.check_content_loss,
        checks.check_gram_matrix,
        checks.check_style_loss,
        checks.check_total_loss,
        checks.check_high_frequency_energy,
        checks.check_instance_norm,
        checks.check_residual_block,
    ],
)
def test_unwritten_exercise_is_one_line(check):
    def exercise(*args, **kwargs):
        raise NotImplementedError("Write your solution here.")

    with pytest.raises(checks.CheckFailed) as info:
        check(exercise)
    message = str(info.value)
    assert message == (
        "exercise is not written yet: replace `raise NotImplementedError(...)` in its "
        "cell with your code, run that cell, then this check again."
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unwritten_helper_is_named():
    def style_loss(features, target_gram):
        return tf.reduce_mean(tf.square(gram_matrix(features) - target_gram))

    def gram_matrix(features):
        raise NotImplementedError("Write your solution here.")

    message = run(checks.check_style_loss, style_loss)
    assert message.startswith("gram_matrix, which style_loss calls, is not written yet")


def test_failures_show_without_a_traceback_in_jupyter():
    err = checks.CheckFailed("gram_matrix is not right yet (x).\nHint: y")
    lines = err._render_traceback_()
    assert len(lines) == 2 and "gram_matrix is not right yet" in lines[0] and lines[1] == "Hint: y"
    assert isinstance(err, AssertionError)


@pytest.mark.parametrize(
    "got, want, text",
    [
        (0.5, 1.0, "half the expected value"),
        (2.0, 1.0, "twice the expected value"),
        (-2.0, 1.0, "the sign is wrong, and in size it is twice the expected value"),
        (-1.0, 1.0, "the sign is wrong: minus the expected value"),
        (1.003, 1.0, "close, but 0.3 % too large"),
        (0.1, 1.0, "10 times too small"),
        (7.5, 1.0, "7.5 times too large"),
        (0.0, 1.0, "yours is zero"),
        (3.0, 0.0, "it should be exactly zero"),
    ],
)
def test_ratio_messages_read_right(got, want, text):
    message = checks.common.off_by(got, want)
    assert text in message
    assert "1 times" not in message and "0.5 times" not in message and "-2 times" not in message


# --------------------------------------------------------------------------------------------------
# notebooks 06-08
# --------------------------------------------------------------------------------------------------

RIGHT_GRID = [{"preset": "seed", "style_weight": 1e-3, "tv_weight": tv} for tv in (0.0, 1.0, 10.0)]


def test_sweep_grid_right_answers_pass(capsys):
    assert run(checks.check_sweep_grid, RIGHT_GRID) is None
    reordered = [dict(e, steps=5, max_side=64) for e in reversed(RIGHT_GRID)]
    assert run(checks.check_sweep_grid, reordered) is None
    assert "✔ my_grid is right (3 runs from the seed preset" in capsys.readouterr().out


@pytest.mark.parametrize(
    "grid, hint",
    [
        (RIGHT_GRID[0], "should be a list of dicts"),
        (RIGHT_GRID[:2], "has 2 entries; the sweep needs 3"),
        ([{"style_weight": 1e-3, "tv_weight": tv} for tv in (0, 1, 10)], 'has no "preset"'),
        ([dict(e, preset="fast") for e in RIGHT_GRID], "starts from the preset 'fast'"),
        ([dict(e, style_weight=1e-2) for e in RIGHT_GRID], "has style weight 0.01"),
        (
            [dict(e, tv_weight=t) for e, t in zip(RIGHT_GRID, (0, 0.1, 1))],
            "the TV weights are 0, 0.1, 1",
        ),
        ([dict(e, learning_rate=4.0) for e in RIGHT_GRID], "also changes learning_rate"),
        ([dict(e, tv_wieght=1.0) for e in RIGHT_GRID], "unknown setting tv_wieght"),
    ],
)
def test_sweep_grid_mistakes_are_named(grid, hint):
    message = run(checks.check_sweep_grid, grid)
    assert message is not None and hint in message, message


def make_energy(mistake=None):
    def high_frequency_energy(image):
        x = np.asarray(image) if mistake == "uint8" else np.asarray(image, dtype=np.float64)
        dv, dh = np.diff(x, axis=0), np.diff(x, axis=1)
        return {
            None: lambda: float(np.mean(dv**2) + np.mean(dh**2)),
            "uint8": lambda: float(np.mean(dv**2) + np.mean(dh**2)),
            "vertical_only": lambda: float(np.mean(dv**2)),
            "sum": lambda: float(np.sum(dv**2) + np.sum(dh**2)),
            "average": lambda: float((np.mean(dv**2) + np.mean(dh**2)) / 2),
            "abs": lambda: float(np.mean(np.abs(dv)) + np.mean(np.abs(dh))),
            "per_channel": lambda: np.mean(dv**2, axis=(0, 1)) + np.mean(dh**2, axis=(0, 1)),
            "negative": lambda: -float(np.mean(dv**2) + np.mean(dh**2)),
        }[mistake]()

    return high_frequency_energy


def test_high_frequency_energy_right_answer_passes(capsys):
    assert run(checks.check_high_frequency_energy, make_energy()) is None
    assert "✔ high_frequency_energy is right (4 test cases" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("uint8", "convert the image to floats first"),
        ("vertical_only", "add the neighbour to the right too"),
        ("sum", "take the means"),
        ("average", "do not average them"),
        ("abs", "square the differences"),
        ("per_channel", "return one number"),
        ("negative", "the sign is wrong"),
    ],
)
def test_high_frequency_energy_mistakes_are_named(mistake, hint):
    message = run(checks.check_high_frequency_energy, make_energy(mistake))
    assert message is not None and hint in message, message


@pytest.fixture(scope="module")
def coarse_to_fine(photo, texture):
    from nst_helpers.images import resize
    from nst_helpers.optimize import stylize

    small, large = resize(photo, max_side=64), resize(photo, max_side=128)
    quiet = dict(progress=False, verbose=False)
    coarse = stylize(small, texture, "fast", max_side=64, steps=3, **quiet)

    def refine(**changes):
        kwargs = dict(max_side=128, steps=2, init_image=coarse.image, **quiet)
        kwargs.update(changes)
        photo_ = kwargs.pop("photo", large)
        return stylize(
            photo_, texture, "fast", **{k: v for k, v in kwargs.items() if v is not None}
        )

    return coarse, large, texture, refine


def test_refined_right_answer_passes(coarse_to_fine, capsys):
    coarse, large, texture, refine = coarse_to_fine
    assert run(lambda r: checks.check_refined(r, coarse, large, texture), refine()) is None
    assert "✔ refined is right (128 px, 2 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    "changes, hint",
    [
        ({"init_image": None}, "started from the photograph"),
        ({"steps": 3}, "give it steps=2"),
        ({"optimizer": "adam"}, "refined changes optimizer"),
        ({"max_side": 96}, "a 128 px run of large_photo is"),
        ({"image_only": True}, "not its image"),
    ],
)
def test_refined_mistakes_are_named(coarse_to_fine, changes, hint):
    coarse, large, texture, refine = coarse_to_fine
    image_only = changes.pop("image_only", False)
    result = refine(**changes)
    message = run(
        lambda r: checks.check_refined(r, coarse, large, texture),
        result.image if image_only else result,
    )
    assert message is not None and hint in message, message


# --------------------------------------------------------------------------------------------------
# instance_norm and residual_block (notebook 09)
# --------------------------------------------------------------------------------------------------


def _norm(axes, eps="inside", mean=True):
    def instance_norm(x, epsilon):
        m, v = tf.nn.moments(x, axes=axes, keepdims=True)
        centred = x - m if mean else x
        if eps == "inside":
            return centred / tf.sqrt(v + epsilon)
        return centred / (tf.sqrt(v) if eps == "none" else tf.sqrt(v) + epsilon)

    return instance_norm


@pytest.mark.parametrize(
    "fn, words",
    [
        (_norm([0, 1, 2]), "batch normalisation"),
        (_norm([1, 2, 3]), "layer normalisation"),
        (_norm([3]), "across the channels"),
        (_norm([1, 2], eps="none"), "0 / 0 = NaN"),
        (_norm([1, 2], eps="outside"), "inside the square root"),
        (_norm([1, 2], mean=False), "subtract each channel's mean"),
        (
            lambda x, epsilon: (
                (x.numpy() - x.numpy().mean((1, 2), keepdims=True))
                / np.sqrt(x.numpy().var((1, 2), keepdims=True) + epsilon)
            ),
            "no gradient",
        ),
    ],
)
def test_instance_norm_check_names_the_mistake(fn, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_instance_norm(fn)


def test_instance_norm_check_accepts_right_answers(capsys):
    from nst_helpers import feedforward as ff

    checks.check_instance_norm(ff.instance_norm)
    checks.check_instance_norm(_norm([1, 2]))
    out = capsys.readouterr().out
    assert out.count("✔") == 2
    assert (
        "✔ instance_norm is right (3 test cases: per image and channel, with a constant channel)."
    ) in out  # the line notebook 09 stores


def test_instance_norm_without_keepdims_still_gets_the_keepdims_hint():
    def instance_norm(x, epsilon):
        mean, variance = tf.nn.moments(x, axes=[1, 2])  # (N, C): does not broadcast against x
        return (x - mean) / tf.sqrt(variance + epsilon)

    with pytest.raises(checks.CheckFailed, match=r"keepdims=True"):
        checks.check_instance_norm(instance_norm)


relu = tf.nn.relu


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda x, c1, n1, c2, n2: n2(c2(relu(n1(c1(x))))), "no skip connection"),
        (lambda x, c1, n1, c2, n2: relu(x + n2(c2(relu(n1(c1(x)))))), "no ReLU after the sum"),
        (lambda x, c1, n1, c2, n2: x + n2(c2(n1(c1(x)))), "ReLU between the two convolutions"),
        (lambda x, c1, n1, c2, n2: n2(x + c2(relu(n1(c1(x))))), "before adding the skip"),
        (lambda x, c1, n1, c2, n2: x, "unchanged"),
    ],
)
def test_residual_block_check_names_the_mistake(fn, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_residual_block(fn)


def _branch(x, c1, n1, c2, n2):
    return n2(c2(relu(n1(c1(x)))))


def _keras_concatenate(x, *layers):
    import keras

    return keras.layers.Concatenate()([x, _branch(x, *layers)])


@pytest.mark.parametrize(
    "fn, named",
    [
        # x and the branch joined instead of added: a wrong shape, but not instance_norm's keepdims
        pytest.param(
            lambda x, *layers: tf.concat([x, _branch(x, *layers)], axis=-1),
            "You concatenated x and the branch",
            id="concat_channels",
        ),
        pytest.param(
            lambda x, *layers: tf.concat([x, _branch(x, *layers)], axis=1),
            "You concatenated x and the branch",
            id="concat_height",
        ),
        pytest.param(
            _keras_concatenate, "You concatenated x and the branch", id="keras_concatenate"
        ),
        pytest.param(
            lambda x, *layers: tf.stack([x, _branch(x, *layers)]),
            "You stacked x and the branch",
            id="stack",
        ),
        # the siblings: ReLUs and normalisations in the wrong places, layers used wrongly
        pytest.param(
            lambda x, c1, n1, c2, n2: x + relu(n2(c2(relu(n1(c1(x)))))),
            "no ReLU on the second branch",
            id="relu_before_sum",
        ),
        pytest.param(
            lambda x, c1, n1, c2, n2: x + n2(c2(n1(relu(c1(x))))),
            "normalise first, then the ReLU",
            id="relu_before_norm",
        ),
        pytest.param(
            lambda x, c1, n1, c2, n2: x + n1(c1(relu(n1(c1(x))))),
            "use each layer once",
            id="first_layers_twice",
        ),
        pytest.param(
            lambda x, c1, n1, c2, n2: x + n1(c1(x)),
            "the branch has two convolutions",
            id="one_convolution",
        ),
        pytest.param(
            lambda x, c1, n1, c2, n2: x + c2(relu(n1(c1(x)))),
            "use each given layer once",
            id="no_norm_2",
        ),
        pytest.param(
            lambda x, c1, n1, c2, n2: x * n2(c2(relu(n1(c1(x))))),
            "add x at the end",
            id="multiplied",
        ),
    ],
)
def test_residual_block_hints_name_the_real_mistake(fn, named):
    with pytest.raises(checks.CheckFailed) as info:
        checks.check_residual_block(fn)
    hint = str(info.value).split("\nHint: ", 1)[1]
    assert named in hint and "keepdims" not in hint, hint


def test_residual_block_check_accepts_the_block(capsys):
    from nst_helpers import feedforward as ff

    checks.check_residual_block(ff.residual_block)
    checks.check_residual_block(lambda x, c1, n1, c2, n2: x + n2(c2(relu(n1(c1(x))))))
    out = capsys.readouterr().out
    assert out.count("✔") == 2
    assert "✔ residual_block is right (2 test cases, with the check's own layers)." in out
