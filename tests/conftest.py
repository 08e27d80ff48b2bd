"""Shared test set-up: the offline backbone and small images, so tests run anywhere."""

import os

import numpy as np
import pytest

os.environ.setdefault("NST_BACKBONE", "vgg16-hed")


@pytest.fixture(autouse=True)
def _offline_backbone(monkeypatch):
    monkeypatch.setenv("NST_BACKBONE", "vgg16-hed")


@pytest.fixture(scope="session")
def photo():
    """A small real photograph (scikit-image's Chelsea the cat), 64 px on its long side."""
    from nst_helpers.images import load_image
    from skimage import data

    return load_image(data.chelsea(), max_side=64)


@pytest.fixture(scope="session")
def texture():
    """A small procedural style image."""
    from nst_helpers.samples import load_sample

    return load_sample("stained_glass", size=64)


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
