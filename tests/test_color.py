"""Colour histogram matching as Gatys et al. (2017) do it: the colours' mean and covariance."""

import numpy as np
import pytest

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


def test_match_colors_takes_the_blended_references_colours():
    photo = load_sample("chelsea", size=96)
    night, wave = load_sample("starry_night", size=96), load_sample("great_wave", size=96)
    pix = lambda im: im.reshape(-1, 3).astype(np.float64)  # noqa: E731
    one = color.match_colors(photo, [night])
    assert one.shape == photo.shape and one.dtype == np.uint8
    np.testing.assert_allclose(pix(one).mean(0), pix(night).mean(0), atol=8)
    # A 3:1 blend lands between the two palettes, nearer the heavier one.
    blend = pix(color.match_colors(photo, [night, wave], [3, 1])).mean(0)
    mixture = 0.75 * pix(night).mean(0) + 0.25 * pix(wave).mean(0)
    np.testing.assert_allclose(blend, mixture, atol=8)
    assert np.abs(blend - mixture).max() < np.abs(pix(one).mean(0) - mixture).max() + 8
    # The picture's layout stays: recolouring is one linear map of every pixel's colour.
    grey = lambda im: pix(im).mean(1)  # noqa: E731
    assert np.corrcoef(grey(one), grey(photo))[0, 1] > 0.8


def test_match_colors_says_what_was_wrong_with_its_weights():
    photo = load_sample("coffee", size=32)
    with pytest.raises(ValueError, match="at least one reference"):
        color.match_colors(photo, [])
    with pytest.raises(ValueError, match=r"one non-negative weight per reference image \(1\)"):
        color.match_colors(photo, [photo], [1, 2])
    with pytest.raises(ValueError, match="not all zero"):
        color.match_colors(photo, [photo], [0])
