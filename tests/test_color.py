"""Colour histogram matching as Gatys et al. (2017) do it: the colours' mean and covariance."""

import numpy as np

from nst_helpers import color
from nst_helpers.samples import load_sample


def test_match_histogram_gives_the_content_colour_mean_and_covariance():
    style, photo = load_sample("starry_night", size=128), load_sample("chelsea", size=128)
    matched = color.match_histogram(style, photo)
    assert matched.shape == style.shape and matched.dtype == np.uint8
    pix = lambda im: im.reshape(-1, 3).astype(np.float64)  # noqa: E731
    np.testing.assert_allclose(pix(matched).mean(0), pix(photo).mean(0), atol=3)
    cov_m, cov_p = np.cov(pix(matched), rowvar=False), np.cov(pix(photo), rowvar=False)
    assert np.abs(cov_m - cov_p).max() < 0.08 * np.abs(cov_p).max()
    # Per-channel histograms alone do not match the cross-channel covariance this closely.
    per_channel = np.cov(pix(color.match_channel_histograms(style, photo)), rowvar=False)
    assert np.abs(per_channel - cov_p).max() > np.abs(cov_m - cov_p).max()


def test_match_histogram_of_an_image_with_itself_changes_nothing():
    photo = load_sample("coffee", size=64)
    assert np.abs(color.match_histogram(photo, photo).astype(int) - photo).max() <= 1
