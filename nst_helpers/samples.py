"""Sample content and style images for the exercises, all offline.

Three kinds of image are available, all returned as ``uint8`` RGB arrays of
shape ``(height, width, 3)``:

- **Content** photographs (`CONTENT_SAMPLES`): four ship inside scikit-image
  (``astronaut``, NASA, public domain; ``chelsea``, Stefan van der Walt, CC0;
  ``coffee``, Rachel Michetti, CC0; ``rocket``, SpaceX, public domain), and
  ``tubingen``, the Neckarfront photograph of Gatys et al. (2016), by Andreas
  Praefcke, CC BY 3.0, ships inside this package: credit it wherever it is shown
  (:func:`credit`).
- **Paintings** (`PAINTINGS`): public-domain works (The Starry Night, The Scream,
  The Great Wave, The Shipwreck, Udnie, Woman with a Hat), shipped inside this
  package at 512 px on their longest side. These are the course's styles.
- **Procedural styles** (`STYLE_SAMPLES`) are drawn with numpy and PIL from a
  fixed random seed, identical on every machine, by `nst_helpers.painters`:
  ``stained_glass``, ``swirls``, ``stripes`` and ``mosaic``. Tests use them; the
  course shows paintings. Their painters (``make_swirls``, ...) are importable
  from here too.

See ``data/README.md`` for sources and licences.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from .errors import NSTError
from .images import load_image, resize
from .painters import PAINTERS, make_mosaic, make_stained_glass, make_stripes, make_swirls

__all__ = [
    "CONTENT_SAMPLES",
    "CREDITS",
    "PAINTINGS",
    "STYLE_SAMPLES",
    "credit",
    "describe",
    "list_samples",
    "load_sample",
    "make_mosaic",
    "make_stained_glass",
    "make_stripes",
    "make_swirls",
]

#: Photographs from scikit-image, and the one this package ships.
_SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
CONTENT_SAMPLES: tuple[str, ...] = _SKIMAGE_PHOTOS + ("tubingen",)
#: The procedural styles, drawn by `nst_helpers.painters`.
STYLE_SAMPLES: tuple[str, ...] = tuple(PAINTERS)

#: name -> (title, artist, year). Files: ``data/samples/<name>.jpg`` (``nst_helpers.sample_data``).
PAINTINGS: dict[str, tuple[str, str, int]] = {
    "starry_night": ("The Starry Night", "Vincent van Gogh", 1889),
    "the_scream": ("The Scream", "Edvard Munch", 1893),
    "great_wave": ("The Great Wave off Kanagawa", "Katsushika Hokusai", 1831),
    "shipwreck": ("The Shipwreck", "J. M. W. Turner", 1805),
    "udnie": ("Udnie (Young American Girl, The Dance)", "Francis Picabia", 1913),
    "woman_with_a_hat": ("Woman with a Hat", "Henri Matisse", 1905),
}

#: Credits a figure must show with the image (licences that require attribution).
CREDITS: dict[str, str] = {"tubingen": "Tübingen photograph: Andreas Praefcke, CC BY 3.0"}


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def list_samples() -> dict[str, list[str]]:
    """Lists the names that `load_sample` accepts.

    Returns:
        A dict with keys ``"content"``, ``"style"`` and ``"paintings"``, each
        a list of names.
    """
    return {
        "content": list(CONTENT_SAMPLES),
        "style": list(STYLE_SAMPLES),
        "paintings": list(PAINTINGS),
    }


def load_sample(name: str, size: int | None = None) -> np.ndarray:
    """Loads a sample image by name.

    Args:
        name: A content photograph (``"chelsea"``, ``"tubingen"``, ...), a
            painting (``"starry_night"``, ``"the_scream"``, ...; see
            `PAINTINGS`) or a procedural style (``"swirls"``, ...).
        size: Optional int. If given, the image is resized so that its longest
            side is `size` pixels, keeping the aspect ratio. Procedural styles
            are square and are drawn directly at this size (default 512).

    Returns:
        A ``uint8`` numpy array of shape ``(height, width, 3)``.

    Raises:
        NSTError: if `name` is unknown or `size` is not a positive int.
    """
    key = _normalise(name)
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise NSTError(f"size must be a positive int or None, got {size!r}.")
        size = int(size)
    if key in STYLE_SAMPLES:
        return _procedural(key, 512 if size is None else size, 0).copy()
    if key in _SKIMAGE_PHOTOS:
        image = _content(key)
    elif key in PAINTINGS or key in CONTENT_SAMPLES:
        image = _shipped(key)
    else:
        raise NSTError(f"Unknown sample {name!r}; choose one of: {_valid_names()}.")
    if size is not None:
        image = resize(image, max_side=size, label=f"sample {key}", min_side=1)
    return image.copy()


def describe(name: str) -> str:
    """One line saying what a sample is, with its credit where its licence asks for one.

    Args:
        name: A sample's name, as `load_sample` takes it.

    Returns:
        The title, artist and year of a painting, a photograph's credit, or a short note.

    Raises:
        NSTError: if `name` is unknown.

    >>> describe("starry_night")
    'The Starry Night, Vincent van Gogh, 1889 (public domain)'
    """
    key = _normalise(name)
    if key in PAINTINGS:
        title, artist, year = PAINTINGS[key]
        return f"{title}, {artist}, {year} (public domain)"
    if key in CREDITS:
        return CREDITS[key]
    if key in CONTENT_SAMPLES or key in STYLE_SAMPLES:
        return f"{key} (sample image; see data/README.md)"
    raise NSTError(f"Unknown sample {name!r}; choose one of: {_valid_names()}.")


def credit(*names: str) -> str:
    """The credit lines that a figure showing the samples ``names`` must carry.

    Args:
        *names: Sample names; anything that is not a string is skipped.

    Returns:
        The credits joined by ``"; "``, each once; empty when none is needed.
    """
    keys = dict.fromkeys(_normalise(n) for n in names if isinstance(n, str))
    return "; ".join(CREDITS[k] for k in keys if k in CREDITS)


# --------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _procedural(name: str, size: int, seed: int) -> np.ndarray:
    image = PAINTERS[name](size=size, seed=seed)
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=None)
def _content(name: str) -> np.ndarray:
    try:
        import skimage.data  # noqa: PLC0415 - lazy, optional: only the photographs need it
    except ImportError as err:
        raise NSTError(
            f"Loading {name!r} needs scikit-image; install it with 'pip install scikit-image'."
        ) from err
    image = load_image(getattr(skimage.data, name)(), max_side=None, name=f"sample {name}")
    image.setflags(write=False)
    return image


def _normalise(name: object) -> str:
    if not isinstance(name, str):
        raise NSTError(
            f"Sample name must be a string, got {name!r}; choose one of: {_valid_names()}."
        )
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _valid_names() -> str:
    groups = list_samples()
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in groups.items())


@functools.lru_cache(maxsize=None)
def _shipped(name: str) -> np.ndarray:
    data = resources.files("nst_helpers.sample_data").joinpath(f"{name}.jpg").read_bytes()
    image = load_image(data, max_side=None, name=f"sample {name}")
    image.setflags(write=False)
    return image
