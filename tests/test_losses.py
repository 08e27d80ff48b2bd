import numpy as np
import pytest

from nst_helpers import losses
from nst_helpers.errors import NSTError


def np_gram(f):
    f = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return f.T @ f


@pytest.fixture()
def feats(rng):
    return rng.normal(size=(1, 6, 5, 4)).astype(np.float32), rng.normal(size=(1, 6, 5, 4)).astype(
        np.float32
    )


def test_gram_matches_numpy(feats):
    f, _ = feats
    np.testing.assert_allclose(
        losses.gram_matrix(f, normalize=False).numpy(), np_gram(f), rtol=1e-5
    )
    np.testing.assert_allclose(losses.gram_matrix(f).numpy(), np_gram(f) / 30, rtol=1e-5)
    assert losses.gram_matrix(f[0]).shape == (4, 4)


def test_masked_gram(feats):
    f, _ = feats
    ones = np.ones((6, 5), np.float32)
    np.testing.assert_allclose(
        losses.gram_matrix(f, mask=ones).numpy(), losses.gram_matrix(f).numpy(), rtol=1e-5
    )
    half = np.zeros((6, 5), np.float32)
    half[:3] = 1
    np.testing.assert_allclose(
        losses.gram_matrix(f, mask=half).numpy(), np_gram(f[:, :3]) / 15, rtol=1e-5
    )


def test_style_loss_paper_formula(feats):
    g, a = feats
    n, m = 4, 30
    expected = ((np_gram(g) - np_gram(a)) ** 2).sum() / (4 * n**2 * m**2)
    target = losses.gram_matrix(a)
    got = losses.style_layer_loss(g, target, normalization="paper").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_style_loss_seed_formula_and_layer_weights(feats):
    g, a = feats
    expected = ((np_gram(g) / 30 - np_gram(a) / 30) ** 2).mean()
    target = losses.gram_matrix(a)
    np.testing.assert_allclose(losses.style_layer_loss(g, target).numpy(), expected, rtol=1e-4)
    total = losses.style_loss(
        {"l1": g, "l2": g}, {"l1": target, "l2": target}, {"l1": 0.25, "l2": 0.0}
    )
    np.testing.assert_allclose(total.numpy(), 0.25 * expected, rtol=1e-4)
    equal = losses.style_loss({"l1": g, "l2": g}, {"l1": target, "l2": target})
    np.testing.assert_allclose(equal.numpy(), expected, rtol=1e-4)


def test_content_loss(feats):
    g, a = feats
    d = g.astype(np.float64) - a
    np.testing.assert_allclose(losses.content_loss(g, a).numpy(), (d**2).mean(), rtol=1e-5)
    np.testing.assert_allclose(
        losses.content_loss(g, a, "paper").numpy(), 0.5 * (d**2).sum(), rtol=1e-5
    )
    assert losses.content_loss(g, g).numpy() == 0
    with pytest.raises(NSTError, match="normalization"):
        losses.content_loss(g, a, "mean")


def test_total_variation(rng):
    x = rng.normal(size=(1, 7, 9, 3)).astype(np.float32)
    expected = (np.diff(x, axis=1) ** 2).mean() + (np.diff(x, axis=2) ** 2).mean()
    np.testing.assert_allclose(losses.total_variation_loss(x).numpy(), expected, rtol=1e-5)
    assert losses.total_variation_loss(np.ones((1, 7, 9, 3), np.float32)).numpy() == 0


def test_gram_gradient_matches_autodiff_for_any_upstream_gradient(rng):
    import tensorflow as tf

    f = tf.constant(rng.normal(size=(1, 5, 7, 6)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=(6, 6)).astype(np.float32))  # not symmetric
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(f)
        library = tf.reduce_sum(losses.gram_matrix(f) * upstream)
        flat = tf.reshape(f, [-1, 6])
        reference = tf.reduce_sum(tf.matmul(flat, flat, transpose_a=True) / 35.0 * upstream)
    np.testing.assert_allclose(float(library), float(reference), rtol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(library, f).numpy(), tape.gradient(reference, f).numpy(), rtol=1e-4, atol=1e-5
    )
