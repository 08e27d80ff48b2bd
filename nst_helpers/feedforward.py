"""A network that stylises a photograph in one forward pass (Johnson, Alahi & Fei-Fei 2016).

Gatys et al. (2016) optimise the pixels of every new photograph: a minute of a laptop's CPU per
picture (:func:`nst_helpers.optimize.stylize`). Johnson et al. (2016) train a small image-to-image
network once per painting, over many photographs, to minimise the same kind of loss: the content
loss and the Gram-matrix style loss on a frozen VGG, plus total variation, the *perceptual loss*.
Afterwards one forward pass stylises any photo, at any size, in milliseconds. Ulyanov, Vedaldi &
Lempitsky (2016) found that normalising each image on its own (*instance normalisation*) instead of
the batch makes such networks much better.

This module holds:

:func:`transformation_network`
    The network: three convolutions (the last two with stride 2), residual blocks, two upsampling
    convolutions and a last 9x9 convolution, each inner one followed by
    :class:`InstanceNormalization` and a ReLU; what it computes is added to the photo. Its input
    and output are RGB images in 0…255 of any size.
:class:`PhotoCrops`
    The training set, offline: random crops, scales and flips of the photographs this package and
    scikit-image ship (:data:`TRAINING_PHOTOS`), reproducible from a seed and a step number.
    :data:`HELD_OUT` (``tubingen`` and ``chelsea``) are never trained on, so they test the network.
:class:`PerceptualLoss` and :func:`train`
    The training loss, from :mod:`nst_helpers.losses` on the frozen VGG19 of
    :mod:`nst_helpers.backbone`, and the training loop, compiled with ``tf.function``, with
    checkpoints, resuming, a time limit and Ctrl-C (or SIGTERM, in ``nst train-style``) that keeps
    the last checkpoint.
:func:`stylize_fast`, :func:`save_network`, :func:`load_network`
    Using a trained network, and keeping it as a normal ``.keras`` file. Its custom layers are
    registered with Keras, so ``keras.saving.load_model`` reads it with no ``custom_objects`` and in
    Keras' safe mode (nothing in the file is executed).

References:
    Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", ECCV, arXiv:1603.08155 (and its supplementary material).
    Ulyanov, Vedaldi & Lempitsky (2016), "Instance Normalization: The Missing Ingredient for Fast
    Stylization", arXiv:1607.08022.
    Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts", Distill.
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import re
import sys
import tempfile
import time
import weakref
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import losses, samples
from ._tf import tf as _tf
from .backbone import load_backbone, resolve_precision
from .errors import NSTError
from .images import VGG_MEAN_BGR, check_folder, check_writable, load_image, save_image, write_new
from .optimize import StopRun, _forget_custom_gradients, _progress_bar

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

#: The package name under which the custom layers are registered with Keras.
PACKAGE = "nst_helpers"

#: Photographs of the training set: three that this package offers as samples (``astronaut``,
#: ``coffee``, ``rocket``, through scikit-image; see :mod:`nst_helpers.samples`) and eight more of
#: scikit-image's own images, colour and grey. Grey ones are given three equal channels.
TRAINING_PHOTOS = ("astronaut", "coffee", "rocket", "motorcycle", "hubble_deep_field",
                   "immunohistochemistry", "camera", "grass", "gravel", "brick", "coins")
#: Photographs never trained on, to judge the network by: the Neckarfront in Tübingen of Gatys et
#: al. (2016) and Chelsea the cat (also scikit-image's ``cat``).
HELD_OUT = ("tubingen", "chelsea")
#: Longest side the training photographs are kept at, in pixels.
PHOTO_SIDE = 512


# --------------------------------------------------------------------------------------------------
# The network's pieces
# --------------------------------------------------------------------------------------------------


def instance_norm(x, epsilon=1e-5):
    """Normalise each image's each channel over its spatial positions (Ulyanov et al. 2016).

    ``y[n, i, j, c] = (x[n, i, j, c] − μ[n, c]) / sqrt(σ²[n, c] + ε)``, where ``μ`` and ``σ²`` are
    the mean and the (biased) variance of ``x[n, :, :, c]``: one mean and one variance per image
    and channel, over the height and the width. Batch normalisation would average over the batch
    too, layer normalisation over the channels too.

    Args:
        x: a ``(N, H, W, C)`` tensor.
        epsilon: added to the variance, so a constant channel gives 0 and not 0/0.

    Returns:
        A tensor of ``x``'s shape.

    Reference:
        Ulyanov, Vedaldi & Lempitsky (2016), "Instance Normalization: The Missing Ingredient for
        Fast Stylization", equation 5.
    """
    mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + epsilon)


def residual_block(x, conv_1, norm_1, conv_2, norm_2):
    """Johnson et al.'s residual block: ``x + norm_2(conv_2(relu(norm_1(conv_1(x)))))``.

    The block learns a correction to its input: the two convolutions compute what to add, and the
    skip connection carries ``x`` through unchanged, so at the start (small weights) the block is
    close to the identity and gradients reach the layers below it undimmed. There is no ReLU after
    the sum (Johnson et al.'s supplementary material, after Gross & Wilber 2016).

    Args:
        x: a ``(N, H, W, C)`` tensor.
        conv_1, conv_2: callables mapping a ``(N, H, W, C)`` tensor to one of the same shape (a
            3x3 convolution with its padding).
        norm_1, norm_2: callables, the normalisations after each convolution.

    Returns:
        A tensor of ``x``'s shape.

    Reference:
        He, Zhang, Ren & Sun (2016), "Deep Residual Learning for Image Recognition", CVPR;
        Johnson et al. (2016), supplementary material, figure 1.
    """
    return x + norm_2(conv_2(tf.nn.relu(norm_1(conv_1(x)))))


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceNormalization(keras.layers.Layer):
    """:func:`instance_norm`, then a learnt scale ``γ`` and shift ``β`` per channel.

    Args:
        epsilon: added to the variance.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        return instance_norm(x, self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by ``padding`` pixels on each side, mirroring the image at its edges.

    Zero padding would show the network a dark frame around every image, which it learns to paint
    as a border; mirrored pixels look like more of the picture.

    Args:
        padding: pixels added on each side.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (n, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PadToMultiple(keras.layers.Layer):
    """Mirror-pad the bottom and the right so that height and width are multiples of ``multiple``.

    The network halves the image twice and doubles it twice; on other sizes the output would not
    match the input. :class:`CropToInput` cuts the padding off again at the end.

    Args:
        multiple: what height and width are padded up to a multiple of.
    """

    def __init__(self, multiple=4, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        shape = tf.shape(x)
        m = self.multiple
        return tf.pad(x, [[0, 0], [0, (-shape[1]) % m], [0, (-shape[2]) % m], [0, 0]],
                      mode="REFLECT")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        up = lambda d: None if d is None else -(-d // self.multiple) * self.multiple  # noqa: E731
        return (n, up(h), up(w), c)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CropToInput(keras.layers.Layer):
    """Crop the first input to the height and width of the second (undoes :class:`PadToMultiple`);
    outside training, clip it to 0…255 too.

    It also carries the network's description (``info``: the painting, the backbone, the training
    settings), so that a saved ``.keras`` file says what made it (:func:`network_info`).

    Args:
        info: a JSON-ready dict.
    """

    def __init__(self, info=None, **kwargs):
        super().__init__(**kwargs)
        self.info = dict(info or {})

    def call(self, inputs, training=False):
        y, x = inputs
        shape = tf.shape(x)
        y = y[:, :shape[1], :shape[2], :]
        return y if training else tf.clip_by_value(y, 0.0, 255.0)

    def compute_output_shape(self, input_shapes):
        y, x = input_shapes
        return (y[0], x[1], x[2], y[3])

    def get_config(self):
        return {**super().get_config(), "info": self.info}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualBlock(keras.layers.Layer):
    """:func:`residual_block` with two mirror-padded 3x3 convolutions and instance normalisation.

    .. note:: Johnson et al. use unpadded convolutions and crop the skip connection to match;
       mirror padding keeps the size, as most later implementations do.

    Args:
        filters: channels in and out.
        kernel_size: of both convolutions.
        seed: seeds the convolutions' initial weights (None: Keras' random state).
    """

    def __init__(self, filters, kernel_size=3, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.seed = None if seed is None else int(seed)
        self.pad = ReflectionPadding2D(self.kernel_size // 2, name="pad")
        self.conv_1 = keras.layers.Conv2D(self.filters, self.kernel_size, name="conv_1",
                                          kernel_initializer=_initializer(self.seed, 0))
        self.norm_1 = InstanceNormalization(name="norm_1")
        self.conv_2 = keras.layers.Conv2D(self.filters, self.kernel_size, name="conv_2",
                                          kernel_initializer=_initializer(self.seed, 1))
        self.norm_2 = InstanceNormalization(name="norm_2")

    def build(self, input_shape):
        padded = self.pad.compute_output_shape(input_shape)
        for conv, norm in ((self.conv_1, self.norm_1), (self.conv_2, self.norm_2)):
            conv.build(padded)
            norm.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, x):
        return residual_block(x, lambda t: self.conv_1(self.pad(t)), self.norm_1,
                              lambda t: self.conv_2(self.pad(t)), self.norm_2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "seed": self.seed}


def _initializer(seed, k):
    """Glorot-uniform initial weights (Keras' default), seeded with ``(seed, k)`` unless ``seed``
    is None; each layer gets its own ``k``, so that no two layers start alike."""
    return keras.initializers.GlorotUniform(seed=None if seed is None else 1000 * seed + k)


def _conv(x, filters, kernel_size, strides=1, name=None, norm=True, initializer=None):
    """Mirror padding, a convolution, then instance normalisation and a ReLU (unless ``norm`` is
    off, for the last layer)."""
    x = ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, name=name,
                            kernel_initializer=initializer or "glorot_uniform")(x)
    if norm:
        x = InstanceNormalization(name=f"{name}_norm")(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def transformation_network(filters=(16, 32, 64), residual_blocks=5, skip=True, seed=None,
                           name="transformation_network"):
    """Johnson et al.'s image transformation network, with instance normalisation.

    ``c9s1-f0, d-f1, d-f2, residual_blocks x R-f2, u-f1, u-f0, c9s1-3``: a 9x9 convolution, two 3x3
    convolutions of stride 2 (each halves the size), residual blocks at a quarter of the size, two
    upsampling steps back to the full size, and a 9x9 convolution to three channels, in pixel
    units (x 127.5), added to the photo. Input and output are RGB images in 0…255,
    ``(N, H, W, 3)``, of any size of at least 4 px a side (the input is mirror-padded to a
    multiple of 4, the output cropped and, outside training, clipped to 0…255).

    Args:
        filters: channels of the first layer, and after the first and the second downsampling.
            Johnson et al. use ``(32, 64, 128)``; the default is half as wide, four times cheaper.
        residual_blocks: how many (Johnson et al.: 5).
        skip: add the network's output to the photo (a skip connection around the whole network,
            whose last layer starts at zero); without it the output is the network's alone.
        seed: seeds the initial weights, so that the same seed builds the same network (None:
            Keras' random state).
        name: the Keras model's name.

    Returns:
        An uncompiled ``keras.Model``.

    Reference:
        Johnson et al. (2016), section 3.1 and supplementary material, table 1.

    .. note:: Each upsampling is a nearest-neighbour enlargement followed by a 3x3 convolution,
       not Johnson et al.'s fractionally strided convolution, which leaves checkerboard artefacts
       (Odena et al. 2016). Instance normalisation replaces batch normalisation (Ulyanov et al.
       2016). The output is the photo plus the network's correction (``skip``), its last layer
       starting at zero, where Johnson et al.'s is a scaled tanh of the network alone: in a few
       hundred steps on a CPU, the network alone had not yet learnt to reproduce the photo (its
       content loss stayed flat over 300 steps), and saturated tanh units left blobs of pure
       colour where their gradient had vanished; with the skip the photo is there from step 0
       and training only has to learn the style. ``skip=False`` builds the network alone
       (linear output, clipped outside training).
    """
    filters = tuple(int(f) for f in filters)
    if len(filters) != 3 or min(filters) < 1:
        raise NSTError(f"filters must be three positive whole numbers, not {filters!r}.")
    if int(residual_blocks) != residual_blocks or residual_blocks < 0:
        raise NSTError(f"residual_blocks must be a whole number >= 0, not {residual_blocks!r}.")
    f0, f1, f2 = filters
    inputs = keras.Input(shape=(None, None, 3), name="photo")
    padded = PadToMultiple(4, name="pad_to_multiple")(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(padded)
    x = _conv(x, f0, 9, name="conv_in", initializer=_initializer(seed, 0))
    x = _conv(x, f1, 3, strides=2, name="down_1", initializer=_initializer(seed, 1))
    x = _conv(x, f2, 3, strides=2, name="down_2", initializer=_initializer(seed, 2))
    for i in range(int(residual_blocks)):
        block_seed = None if seed is None else 1000 * seed + 10 * (i + 1)
        x = ResidualBlock(f2, seed=block_seed, name=f"residual_{i + 1}")(x)
    for i, f in enumerate((f1, f0), start=1):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_{i}_enlarge")(x)
        x = _conv(x, f, 3, name=f"up_{i}", initializer=_initializer(seed, 2 + i))
    if skip:  # the photo plus a correction, which starts at zero: the photo itself
        x = _conv(x, 3, 9, name="conv_out", norm=False, initializer="zeros")
        x = keras.layers.Rescaling(127.5, name="to_pixels")(x)
        x = keras.layers.Add(name="photo_plus_correction")([padded, x])
    else:
        x = _conv(x, 3, 9, name="conv_out", norm=False, initializer=_initializer(seed, 5))
        x = keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels")(x)
    outputs = CropToInput(name="crop_to_input")([x, inputs])
    return keras.Model(inputs, outputs, name=name)


def network_info(model):
    """The description a trained network carries: painting, backbone, settings (a dict)."""
    try:
        return dict(model.get_layer("crop_to_input").info)
    except (ValueError, AttributeError):
        return {}


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


def default_precision():
    """The VGG's arithmetic that :func:`train` uses for ``precision="auto"``.

    ``"bfloat16"`` where the hardware computes it natively: a CPU with AMX or AVX512-BF16, or a GPU
    of compute capability 8.0 or more (Ampere and later; not Colab's T4); else ``"float32"``.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            capability = tf.config.experimental.get_device_details(gpus[0]).get(
                "compute_capability", (0, 0))
        except (ValueError, RuntimeError):
            capability = (0, 0)
        return "bfloat16" if tuple(capability or (0, 0)) >= (8, 0) else "float32"
    return resolve_precision("auto")


@dataclass(frozen=True)
class TrainConfig:
    """The settings of a training run; change them with :meth:`replace` (validated).

    The defaults are sized for two CPU cores: 128 px crops, batch 4, a network half as wide as
    Johnson et al.'s, Adam at 2e-3 (their 1e-3 is slower to show the style in a few hundred
    steps). :data:`JOHNSON` holds the published settings (for a GPU). The weights were tuned on
    short runs (``docs/feedforward.md``).

    .. note:: The layers are VGG19's (the course's network), not Johnson et al.'s VGG16:
       ``block2_conv2`` for content (their relu2_2) and Gatys et al.'s style layers without
       ``block5_conv1`` (at 128 px its maps are 8x8, and it would cost a third of each step).
    """

    steps: int = 1200
    batch_size: int = 4
    size: int = 128  # side of the square training crops, px
    style_size: int = 256  # longest side of the painting whose Gram matrices are the target, px
    learning_rate: float = 2e-3
    content_weight: float = 1.0
    style_weight: float = 5e-5
    tv_weight: float = 30.0
    content_layers: tuple = ("block2_conv2",)
    style_layers: tuple = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")
    normalization: str = "seed"  # see nst_helpers.losses
    filters: tuple = (16, 32, 64)
    residual_blocks: int = 5
    skip: bool = True  # the output is the photo plus the network's correction
    backbone: str = "auto"
    precision: str = "auto"  # "auto" (default_precision()), "float32" or "bfloat16", for the VGG
    seed: int = 0
    checkpoint_every: int = 100
    #: Stop after this many minutes from the start of :func:`train` (set-up included); None: no limit.
    max_minutes: float = None

    def replace(self, **changes):
        """A copy with ``changes``; unknown names or bad values raise :class:`NSTError`."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise NSTError(f"unknown training setting{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(unknown)}; valid: {', '.join(sorted(names))}.")
        for key in ("content_layers", "style_layers", "filters"):
            if isinstance(changes.get(key), str):
                changes[key] = tuple(s.strip() for s in changes[key].split(",") if s.strip())
            elif changes.get(key) is not None:
                changes[key] = tuple(changes[key])
        if "filters" in changes:
            try:
                changes["filters"] = tuple(int(f) for f in changes["filters"])
            except (TypeError, ValueError):
                raise NSTError(f"filters must be whole numbers, not {changes['filters']!r}.") from None
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self):
        """Raise :class:`NSTError` with a one-line reason if a value is out of range."""
        def whole(key, low):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise NSTError(f"{key} must be a whole number >= {low}, not {v!r}.")

        for key, low in (("steps", 0), ("batch_size", 1), ("size", 32), ("style_size", 32),
                         ("residual_blocks", 0), ("seed", 0), ("checkpoint_every", 1)):
            whole(key, low)
        for key in ("learning_rate", "content_weight", "style_weight", "tv_weight"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise NSTError(f"{key} must be a finite number >= 0, not {v!r}.")
        if not self.learning_rate > 0:
            raise NSTError(f"learning_rate must be positive, not {self.learning_rate!r}.")
        if len(self.filters) != 3 or any(int(f) < 1 for f in self.filters):
            raise NSTError(f"filters must be three positive whole numbers, not {self.filters!r}.")
        if not self.content_layers or not self.style_layers:
            raise NSTError("give at least one content layer and one style layer.")
        if self.normalization not in losses.NORMALIZATIONS:
            raise NSTError(f"normalization must be one of {', '.join(losses.NORMALIZATIONS)}, "
                           f"not {self.normalization!r}.")
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise NSTError(f"precision must be auto, float32 or bfloat16, not {self.precision!r}.")
        m = self.max_minutes
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float))
                              or not m > 0 or not math.isfinite(m)):
            raise NSTError(f"max_minutes must be a positive number or None, not {m!r}.")
        return self

    def to_dict(self):
        """Plain dict, for JSON."""
        return dataclasses.asdict(self)

    def architecture(self):
        """The settings a checkpoint cannot change: the network's shape and the data's."""
        return {k: getattr(self, k) for k in ("filters", "residual_blocks", "skip", "size",
                                              "batch_size")}


#: Johnson et al.'s published settings (section 4.1): the 80 000 images of COCO at 256 px, batch 4,
#: 40 000 iterations (two epochs), Adam at 1e-3, their network width. Their TV weight, between
#: 1e-6 and 1e-4 for their losses, is chosen per painting; weights here are for this library's.
#: On a GPU: ``train(painting, photos="coco/train2014", **JOHNSON)``. Not run for this course.
#: ``skip=False`` is their layout (with a linear output where theirs is a scaled tanh).
JOHNSON = dict(size=256, batch_size=4, steps=40000, learning_rate=1e-3, filters=(32, 64, 128),
               residual_blocks=5, skip=False, style_size=512, checkpoint_every=2000)


# --------------------------------------------------------------------------------------------------
# The training set
# --------------------------------------------------------------------------------------------------


def _photo(name):
    """A training or held-out photograph by name, ``uint8`` RGB at most :data:`PHOTO_SIDE` px."""
    if name in samples.CONTENT_SAMPLES:
        image = samples.load_sample(name)
    else:
        from skimage import data

        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return load_image(image, max_side=PHOTO_SIDE, name=name)


class PhotoCrops:
    """Random square crops of photographs, scaled and flipped: the training set.

    Batch ``k`` is drawn from a random generator seeded with ``(seed, k)``, so it is the same
    whenever it is asked for: a resumed run sees the batches the uninterrupted run would have seen.
    Each crop picks a photograph at random, a square side between a quarter of the photograph's
    short side (at least ``0.75 * size``) and all of it (log-uniformly), a position, and a
    horizontal flip half the time, and is resized to ``size`` px.

    Args:
        photos: ``None`` for :data:`TRAINING_PHOTOS`; or a folder of image files (``.jpg``,
            ``.jpeg``, ``.png``; read when drawn, so any number fits), or a list of images
            (anything :func:`~nst_helpers.images.load_image` reads).
        size: side of the crops, px.
        batch_size: crops per batch.
        seed: the random seed.
    """

    def __init__(self, photos=None, size=128, batch_size=4, seed=0):
        self.size, self.batch_size, self.seed = int(size), int(batch_size), int(seed)
        self._files = None
        if photos is None:
            self.names = list(TRAINING_PHOTOS)
            self._images = [_photo(n) for n in self.names]
        elif isinstance(photos, (str, os.PathLike)) and pathlib.Path(photos).expanduser().is_dir():
            folder = pathlib.Path(photos).expanduser()
            self._files = sorted(p for p in folder.rglob("*")
                                 if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            if not self._files:
                raise NSTError(f"{folder}: holds no .jpg or .png photographs to train on.")
            self.names = [p.name for p in self._files]
            self._images = None
        else:
            if isinstance(photos, (str, os.PathLike)) or not hasattr(photos, "__len__"):
                photos = [photos]
            if not len(photos):
                raise NSTError("give at least one photograph to train on.")
            self._images = [load_image(p, max_side=PHOTO_SIDE, name=f"training photo {i + 1}")
                            for i, p in enumerate(photos)]
            self.names = [str(p) if isinstance(p, (str, os.PathLike)) else f"photo {i + 1}"
                          for i, p in enumerate(photos)]

    def __len__(self):
        return len(self.names)

    def _image(self, i):
        if self._images is not None:
            return self._images[i]
        return load_image(self._files[i], max_side=max(PHOTO_SIDE, self.size),
                          name=f"training photo {self._files[i]}")

    def crop(self, rng):
        """One crop, ``uint8`` ``(size, size, 3)``, drawn with the NumPy generator ``rng``."""
        from PIL import Image

        image = self._image(int(rng.integers(len(self))))
        h, w = image.shape[:2]
        high = min(h, w)
        low = min(high, max(0.75 * self.size, 0.25 * high))
        side = int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        box = (x, y, x + side, y + side)
        out = Image.fromarray(image).resize((self.size, self.size), Image.Resampling.BILINEAR,
                                            box=box, reducing_gap=2.0)
        out = np.asarray(out, dtype=np.uint8)
        return out[:, ::-1] if rng.random() < 0.5 else out

    def batch(self, step):
        """Batch number ``step``: ``float32`` ``(batch_size, size, size, 3)`` RGB in 0…255."""
        rng = np.random.default_rng([self.seed, int(step)])
        return np.stack([self.crop(rng) for _ in range(self.batch_size)]).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# The perceptual loss
# --------------------------------------------------------------------------------------------------


def _to_vgg(rgb):
    """RGB in 0…255 ``(N, H, W, 3)`` → VGG's input: BGR with the ImageNet means removed."""
    return tf.reverse(tf.cast(rgb, tf.float32), axis=[-1]) - VGG_MEAN_BGR


def _painting(style, size):
    """The painting as ``uint8`` RGB, at most ``size`` px: a sample name or an image."""
    if isinstance(style, str) and not os.path.exists(style) and "." not in style:
        style = samples.load_sample(style)
    return load_image(style, max_side=size, name="painting")


def _style_description(style):
    if isinstance(style, str) and not os.path.exists(style):
        try:
            return samples.describe(style)
        except NSTError:
            return style
    if isinstance(style, (str, os.PathLike)):
        return pathlib.Path(style).name
    return "a style image"


class PerceptualLoss:
    """Johnson et al.'s training loss: content, style and total variation on the frozen VGG.

    ``content = content_weight * mean over content layers of content_loss(F(y), F(x))``, with
    ``x`` the photographs and ``y`` the network's outputs; ``style = style_weight * mean over the
    batch of style_loss(F(y_i), A)``, each image against the painting's Gram matrices ``A``;
    ``tv = tv_weight * total_variation_loss(y)``; all from :mod:`nst_helpers.losses` with
    ``normalization``, on images in VGG space.

    Args:
        style: the painting: a sample name or anything
            :func:`~nst_helpers.images.load_image` reads.
        config: a :class:`TrainConfig`.
        verbose: say which backbone was loaded.
        description: how to name the painting (default: from ``style``).

    .. note:: The style loss is taken image by image: :func:`nst_helpers.losses.gram_matrix` of a
       whole batch would pool the positions of all its images into one Gram matrix.
    """

    def __init__(self, style, config, verbose=True, description=None):
        self.config = config
        self.style_description = description or _style_description(style)
        self.style = _painting(style, config.style_size)
        self.precision = (default_precision() if config.precision == "auto" else config.precision)
        self.backbone = load_backbone(config.backbone, verbose=verbose)
        self.backbone.check_layers(list(config.content_layers) + list(config.style_layers))
        self.extractor = self.backbone.extractor(
            list(dict.fromkeys(list(config.content_layers) + list(config.style_layers))),
            precision=self.precision)
        # The photographs' content features need only the layers up to the content layer.
        self.content_extractor = self.backbone.extractor(list(config.content_layers),
                                                         precision=self.precision)
        feats = self.extractor(_to_vgg(self.style[None]))
        self.style_grams = {l: tf.constant(losses.gram_matrix(feats[l]))
                            for l in config.style_layers}
        self.layer_weights = {l: 1.0 / len(config.style_layers) for l in config.style_layers}

    def __call__(self, stylised, photos):
        """``(total, content, style, tv)`` for the outputs ``stylised`` of ``photos`` (both RGB in
        0…255, ``(N, H, W, 3)``), weights applied."""
        cfg = self.config
        y = _to_vgg(stylised)
        targets = self.content_extractor(_to_vgg(photos))
        feats = self.extractor(y)
        content = tf.add_n([losses.content_loss(feats[l], tf.stop_gradient(targets[l]),
                                                cfg.normalization)
                            for l in cfg.content_layers]) / len(cfg.content_layers)
        n = int(stylised.shape[0])
        style = tf.add_n([
            losses.style_loss({l: feats[l][i:i + 1] for l in cfg.style_layers}, self.style_grams,
                              self.layer_weights, cfg.normalization)
            for i in range(n)]) / n
        content = cfg.content_weight * tf.cast(content, tf.float32)
        style = cfg.style_weight * tf.cast(style, tf.float32)
        tv = cfg.tv_weight * losses.total_variation_loss(y)
        return content + style + tv, content, style, tv


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------

LOSS_NAMES = ("total", "content", "style", "tv")
#: The file in a checkpoint folder that records what the checkpoints belong to.
RUN_FILE = "training.json"


@dataclass
class TrainProgress:
    """What a :func:`train` callback sees every ``callback_every`` steps."""

    step: int
    steps: int
    losses: dict  # the last step's weighted losses
    history: dict = field(repr=False)
    elapsed: float  # seconds since the first step of this call
    model: object = field(repr=False, default=None)

    def preview(self, image, max_side=128):
        """``image`` stylised by the network as it is now (``uint8``)."""
        return stylize_fast(self.model, image, max_side=max_side)


@dataclass
class TrainResult:
    """The outcome of :func:`train`."""

    model: object = field(repr=False)
    history: dict = field(repr=False)  # "total", "content", "style", "tv": one value per step
    start_step: int  # the step this call began from (a resumed run's checkpoint)
    step: int  # the step reached
    seconds: float  # training time of this call, without set-up and compilation
    setup_seconds: float
    compile_seconds: float
    backbone: str
    precision: str
    config: TrainConfig = field(repr=False)
    stop_reason: str = "finished"  # finished, time limit, interrupted or stopped
    message: str = ""
    checkpoint: str = None  # the last checkpoint written, if any

    @property
    def seconds_per_step(self):
        done = self.step - self.start_step
        return self.seconds / done if done else float("nan")

    @property
    def interrupted(self):
        return self.stop_reason in ("interrupted", "stopped")

    def save(self, path, force=False):
        """Save the network as a ``.keras`` file (:func:`save_network`); returns the path."""
        return save_network(self.model, path, force=force)

    def __repr__(self):
        return (f"TrainResult(step {self.step} of {self.config.steps}, backbone={self.backbone}, "
                f"precision={self.precision}, {self.seconds:.0f} s, "
                f"{1000 * self.seconds_per_step:.0f} ms/step, stop_reason={self.stop_reason!r})")


def _painting_hash(image):
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def _run_record(config, painting, description):
    return {"architecture": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in config.architecture().items()},
            "painting": _painting_hash(painting), "style": description,
            "config": config.to_dict()}


#: Subfolders of a checkpoint folder that files are moved into instead of being deleted: damaged
#: checkpoints found when resuming (``damaged-1``, ``damaged-2`` …), and an earlier run's
#: checkpoints when training starts again with ``force`` (``earlier-1`` …).
DAMAGED, EARLIER = "damaged", "earlier"
#: The file that TensorFlow's checkpoint manager keeps the names of the newest checkpoints in.
STATE_FILE = "checkpoint"
_CHECKPOINT_FILE = re.compile(r"ckpt-(\d+)\.(?:index|data-(\d+)-of-(\d+))")


def _note(text):
    """Say on stderr what was done to the user's files (always, whatever ``verbose``)."""
    print(f"Note: {text}", file=sys.stderr, flush=True)


def _checkpoint_files(folder):
    """``{step: [files]}``: the files of every checkpoint in ``folder`` (``ckpt-N.index``,
    ``ckpt-N.data-00000-of-00001`` …), found on disk, whatever the state file says."""
    found = {}
    if pathlib.Path(folder).is_dir():
        for path in pathlib.Path(folder).iterdir():
            m = _CHECKPOINT_FILE.fullmatch(path.name)
            if m and path.is_file():
                found.setdefault(int(m.group(1)), []).append(path)
    return found


def _read_state(folder):
    """The steps that ``folder/checkpoint`` names, newest first (``[]`` if there is no such file).

    Raises:
        ValueError: the file is there but damaged (not the text TensorFlow writes).
    """
    path = pathlib.Path(folder) / STATE_FILE
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(str(err)) from None
    lines = [line for line in text.splitlines() if line.strip()]
    pairs = [re.fullmatch(r'\s*(\w+)\s*:\s*("[^"]*"|[-+\d.eE]+)\s*', line) for line in lines]
    if not pairs or not all(pairs):
        raise ValueError("not a checkpoint list")
    named = [m.group(2).strip('"') for m in pairs if m.group(1).endswith("model_checkpoint_path")
             or m.group(1) == "all_model_checkpoint_paths"]
    steps = [re.fullmatch(r"ckpt-(\d+)", pathlib.Path(name).name) for name in named]
    if not named or not all(steps):
        raise ValueError("names no checkpoint")
    return sorted({int(m.group(1)) for m in steps}, reverse=True)


def _checkpoint_problem(folder, step, files):
    """Why checkpoint ``step`` cannot be resumed from (a few words), or None: every file there and
    every value in it reads back (TensorFlow checks each value's checksum)."""
    names = {p.name for p in files}
    if f"ckpt-{step}.index" not in names:
        return "its .index file is missing"
    shards = [_CHECKPOINT_FILE.fullmatch(n) for n in names if ".data-" in n]
    counts = {int(m.group(3)) for m in shards}
    if not shards or len(counts) != 1 or {int(m.group(2)) for m in shards} != set(
            range(counts.pop())):
        return "its data file is missing"
    try:
        reader = tf.train.load_checkpoint(str(pathlib.Path(folder) / f"ckpt-{step}"))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # noqa: BLE001 - TensorFlow raises OpError, IndexError … for bad files
        first = (str(err).splitlines() or [""])[0].replace(str(folder) + os.sep, "")[:100]
        return f"truncated or damaged ({first or type(err).__name__})"
    return None


def _set_aside(folder, files, kind):
    """Move ``files`` into a new subfolder ``folder/KIND-N``; return that subfolder."""
    n = 1
    while True:
        target = pathlib.Path(folder) / f"{kind}-{n}"
        try:
            target.mkdir()
            break
        except FileExistsError:
            n += 1
        except OSError as err:
            raise NSTError(f"{target}: cannot be made to keep {len(files)} file(s) aside "
                           f"({err.strerror or err}); nothing was moved or deleted.") from None
    for path in files:
        try:
            os.replace(path, target / path.name)
        except OSError as err:
            raise NSTError(f"{path}: cannot be moved to {target} ({err.strerror or err}); "
                           "nothing was deleted.") from None
    return target


def _write_state(folder, steps):
    """Write ``folder/checkpoint`` naming ``steps`` (the last one newest), as TensorFlow would."""
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
    write_new(pathlib.Path(folder) / STATE_FILE, ("\n".join(lines) + "\n").encode(), force=True)


#: How each setting of :meth:`TrainConfig.architecture` is given on the command line.
_ARCHITECTURE_OPTIONS = {"filters": "--filters", "residual_blocks": "--blocks",
                         "skip": "--no-skip", "size": "--size", "batch_size": "--batch-size"}
#: The advice that ends every refusal to resume.
_START_AGAIN = ("or start again: pass force=True (--force) and drop resume (--resume) (the "
                "checkpoints are then moved aside, not deleted).")


def _checkpoint_setup(folder, config, painting, description, resume, force):
    """Check the checkpoint folder before training; return ``(record, checkpoint)``: the folder's
    record of the earlier run and the checkpoint to resume from, or ``(None, None)`` to start.

    Nothing there is ever deleted. A folder holding another run's checkpoints is refused unless
    ``resume`` (same network, crops and painting) or ``force`` (start again: the earlier files are
    moved into ``earlier-N/``). Resuming takes the newest checkpoint that reads back whole; newer
    ones that are truncated or damaged, and a damaged list of checkpoints, are moved into
    ``damaged-N/``, and a note on stderr says so. Where no checkpoint can be resumed from, or the
    checkpoints belong to another network or painting, nothing is changed and :class:`NSTError`
    says what to do.
    """
    folder = pathlib.Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NSTError(f"{folder}: is a file, not a folder for checkpoints; give a folder.")
    check_folder(folder)
    found = _checkpoint_files(folder)
    state_path, record_path = folder / STATE_FILE, folder / RUN_FILE
    try:
        listed, state_damaged = _read_state(folder), False
    except ValueError:
        listed, state_damaged = [], True
    newest = f" (up to step {max(found)})" if found else ""
    if not resume:
        if not found and not state_path.exists():
            return None, None
        if not force:
            raise NSTError(f"{folder}: already holds checkpoints of a training run{newest}; pass "
                           "resume=True (--resume) to continue it, or force=True (--force) to "
                           "start again (they are then moved aside, not deleted).")
        files = [p for step in sorted(found) for p in found[step]]
        files += [p for p in (state_path, record_path) if p.is_file()]
        moved = _set_aside(folder, files, EARLIER)
        _note(f"{folder} held an earlier run's checkpoints{newest}; starting again, they were "
              f"moved to {moved} (move them back into {folder} to resume that run).")
        return None, None
    if not found:
        gone = (f" (its list names ckpt-{', ckpt-'.join(map(str, listed))}, which are missing)"
                if listed else "")
        raise NSTError(f"{folder}: holds no checkpoint to resume from{gone}; drop resume "
                       "(--resume) to start training.")
    try:
        earlier = json.loads(record_path.read_text(encoding="utf-8"))
        if not isinstance(earlier, dict):
            raise ValueError
    except (OSError, ValueError):
        raise NSTError(f"{record_path}: missing or unreadable, so the checkpoints beside it cannot "
                       f"be checked against this run (network, painting); restore it from a copy, "
                       + _START_AGAIN) from None
    now = _run_record(config, painting, description)
    then = earlier.get("architecture") if isinstance(earlier.get("architecture"), dict) else {}
    differ = [k for k in now["architecture"] if then.get(k) != now["architecture"][k]]
    if differ:
        k = differ[0]
        raise NSTError(f"{folder}: its checkpoints have {k} {then.get(k)}, not "
                       f"{now['architecture'][k]}; resume with the same {k} "
                       f"({_ARCHITECTURE_OPTIONS[k]}), " + _START_AGAIN)
    if earlier.get("painting") != now["painting"]:
        raise NSTError(f"{folder}: its checkpoints were trained on another painting "
                       f"({earlier.get('style', '?')}); resume with that one, " + _START_AGAIN)
    damaged, reasons, chosen = [], [], None
    for step in sorted(found, reverse=True):
        problem = _checkpoint_problem(folder, step, found[step])
        if problem is None:
            chosen = step
            break
        damaged.append(step)
        reasons.append(f"ckpt-{step}: {problem}")
    if chosen is None:
        raise NSTError(f"{folder}: no checkpoint there can be resumed from ({'; '.join(reasons)}); "
                       "nothing was changed. Put back a copy, " + _START_AGAIN)
    aside = [p for step in damaged for p in found[step]]
    if state_damaged:
        aside.append(state_path)
        reasons.append(f"its list of checkpoints, {STATE_FILE}, is damaged")
    gone = [s for s in listed if s > chosen and s not in found]
    if gone:
        reasons.append(f"ckpt-{', ckpt-'.join(map(str, gone))}, named in its list, "
                       f"{'is' if len(gone) == 1 else 'are'} missing")
    if aside:
        reasons.append(f"the damaged files were moved to {_set_aside(folder, aside, DAMAGED)}")
    keep = sorted(s for s in found if s not in damaged)
    if not listed or listed[0] != chosen or aside or gone:
        _write_state(folder, keep)
    if reasons:
        _note(f"resuming from step {chosen} in {folder}: {'; '.join(reasons)}.")
    return earlier, str(folder / f"ckpt-{chosen}")


def latest_step(checkpoint_dir):
    """The step of the newest checkpoint in ``checkpoint_dir``, or None if there is none."""
    latest = tf.train.latest_checkpoint(str(pathlib.Path(checkpoint_dir).expanduser()))
    return None if latest is None else int(latest.rsplit("-", 1)[-1])


def train(style, config=None, *, photos=None, checkpoint_dir=None, resume=False, force=False,
          callback=None, callback_every=50, should_stop=None, progress=True, verbose=True,
          **changes):
    """Train a transformation network for the painting ``style`` (Johnson et al. 2016).

    Every step draws a batch of crops (:class:`PhotoCrops`), stylises them with the network,
    measures the :class:`PerceptualLoss` and lets Adam change the network's weights; the VGG stays
    frozen. The step is one ``tf.function``, traced once.

    Args:
        style: the painting: a sample name (``"starry_night"``), a file, an array.
        config: a :class:`TrainConfig` (default ``TrainConfig()``); ``**changes`` replace its
            settings, e.g. ``steps=600, size=96``.
        photos: the training photographs (see :class:`PhotoCrops`); default
            :data:`TRAINING_PHOTOS`, never :data:`HELD_OUT`.
        checkpoint_dir: a folder for checkpoints, written every ``config.checkpoint_every`` steps,
            at the end, and when the run is interrupted. None: no checkpoints.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` that reads back whole
            (its step, network, optimiser state) up to ``config.steps``; newer damaged ones are
            moved into ``damaged-N/`` there, saying so. Without it, a folder that already holds
            checkpoints is refused unless ``force``.
        force: start again in a folder that holds checkpoints: they are moved into
            ``earlier-N/`` there, not deleted (with ``resume`` it changes nothing).
        callback: called with a :class:`TrainProgress` every ``callback_every`` steps (and at the
            last); raise :class:`~nst_helpers.optimize.StopRun` in it to stop (a checkpoint is
            written).
        should_stop: a function checked after every step; True stops like ``StopRun``.
        progress: show a tqdm progress bar.
        verbose: print what is loaded and why the run ended.

    Returns:
        A :class:`TrainResult`. Ctrl-C (``KeyboardInterrupt``, which ``nst train-style`` also
        raises on SIGTERM) ends the run after the step in progress, writes a checkpoint of it and
        still returns the network.
    """
    t0 = time.perf_counter()
    cfg = config or TrainConfig()
    cfg = cfg.replace(**changes) if changes else cfg.validate()
    if int(callback_every) != callback_every or callback_every < 1:
        raise NSTError(f"callback_every must be a whole number >= 1, not {callback_every!r}.")
    description, painting = _style_description(style), _painting(style, cfg.style_size)
    resume_from = None
    if checkpoint_dir is not None:  # before the network is loaded, so that a refusal is quick
        _, resume_from = _checkpoint_setup(checkpoint_dir, cfg, painting, description, resume, force)
    loss_fn = PerceptualLoss(painting, cfg, verbose=verbose, description=description)
    data = PhotoCrops(photos, size=cfg.size, batch_size=cfg.batch_size, seed=cfg.seed)
    net = transformation_network(cfg.filters, cfg.residual_blocks, skip=cfg.skip, seed=cfg.seed)
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    optimizer.build(net.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    manager = None
    if checkpoint_dir is not None:
        folder = pathlib.Path(checkpoint_dir).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        ckpt = tf.train.Checkpoint(model=net, optimizer=optimizer, step=step)
        manager = tf.train.CheckpointManager(ckpt, str(folder), max_to_keep=2,
                                             checkpoint_name="ckpt", step_counter=step)
        if resume_from is not None:
            try:
                ckpt.restore(resume_from).assert_existing_objects_matched()
            except Exception as err:  # noqa: BLE001 - shapes or names that do not match
                first = (str(err).splitlines() or [""])[0][:160]
                raise NSTError(f"{resume_from}: does not fit this network ({first}); resume with "
                               f"the settings it was trained with ({folder / RUN_FILE}), "
                               + _START_AGAIN) from None
            if verbose:
                print(f"Resuming from step {int(step.numpy())} ({resume_from}).")
        record = _run_record(cfg, painting, description)
        write_new(folder / RUN_FILE, (json.dumps(record, indent=1) + "\n").encode(), force=True)
    start_step = int(step.numpy())
    spec = tf.TensorSpec((cfg.batch_size, cfg.size, cfg.size, 3), tf.float32)

    @tf.function(input_signature=[spec])
    def train_step(photos_):
        with tf.GradientTape() as tape:
            total, content, style_, tv = loss_fn(net(photos_, training=True), photos_)
        grads = tape.gradient(total, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        step.assign_add(1)
        return tf.stack([total, content, style_, tv])

    t1 = time.perf_counter()
    concrete = train_step.get_concrete_function()
    _forget_custom_gradients(concrete.graph)
    compile_seconds = time.perf_counter() - t1
    setup_seconds = t1 - t0

    history = {k: [] for k in LOSS_NAMES}
    saved = [None if resume_from is None else start_step]  # the step resumed from is on disk

    def checkpoint():
        if manager is not None and int(step.numpy()) != saved[0]:
            manager.save(checkpoint_number=step)
            saved[0] = int(step.numpy())  # only once written: Ctrl-C while writing writes again
        return manager.latest_checkpoint if manager is not None else None

    bar = _progress_bar(cfg.steps - start_step, f"Training [{loss_fn.backbone.name}]", progress)
    reason, message = "finished", ""
    start = time.perf_counter()
    deadline = None if cfg.max_minutes is None else t0 + 60.0 * cfg.max_minutes
    try:
        while int(step.numpy()) < cfg.steps:
            k = int(step.numpy())
            row = concrete(tf.constant(data.batch(k))).numpy()
            for name, v in zip(LOSS_NAMES, row):
                history[name].append(float(v))
            k += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{row[0]:.4g}", refresh=False)
            if not math.isfinite(float(row[0])):
                reason = "diverged"
                message = (f"The loss became {'NaN' if math.isnan(row[0]) else 'infinite'} at step "
                           f"{k}; lower learning_rate (now {cfg.learning_rate:g}).")
                break
            if manager is not None and k % cfg.checkpoint_every == 0:
                checkpoint()
            if callback is not None and (k % callback_every == 0 or k == cfg.steps):
                last = {n: history[n][-1] for n in LOSS_NAMES}
                try:
                    callback(TrainProgress(k, cfg.steps, last, history,
                                           time.perf_counter() - start, net))
                except StopRun:
                    reason = "stopped"
                    break
            if should_stop is not None and should_stop():
                reason = "stopped"
                break
            if deadline is not None and time.perf_counter() >= deadline and k < cfg.steps:
                reason = "time limit"
                message = (f"Stopped at step {k} of {cfg.steps}: the time limit of "
                           f"{cfg.max_minutes:g} minutes was reached.")
                break
    except KeyboardInterrupt:
        reason = "interrupted"
        message = f"Interrupted at step {int(step.numpy())} of {cfg.steps}."
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    path = checkpoint() if reason != "diverged" else (manager.latest_checkpoint if manager else None)
    if path and reason in ("interrupted", "stopped", "time limit"):
        message = f"{message} The last checkpoint is {path}.".strip()
    if message and verbose:
        print(message)
    done = int(step.numpy())
    net.get_layer("crop_to_input").info = {
        "style": loss_fn.style_description, "backbone": loss_fn.backbone.name,
        "precision": loss_fn.precision, "steps": done,
        "training_photos": list(data.names) if len(data) <= 50 else f"{len(data)} photographs",
        "held_out": list(HELD_OUT) if photos is None else [], "config": cfg.to_dict(),
        "library": "nst_helpers"}
    return TrainResult(model=net, history=history, start_step=start_step, step=done,
                       seconds=seconds, setup_seconds=setup_seconds,
                       compile_seconds=compile_seconds, backbone=loss_fn.backbone.name,
                       precision=loss_fn.precision, config=cfg, stop_reason=reason,
                       message=message, checkpoint=path)


# --------------------------------------------------------------------------------------------------
# Using, saving and loading a network
# --------------------------------------------------------------------------------------------------

_FORWARD = weakref.WeakKeyDictionary()


def _forward(model):
    """``model``'s forward pass as one ``tf.function`` for images of any size, traced once."""
    fn = _FORWARD.get(model)
    if fn is None:
        fn = tf.function(lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        _FORWARD[model] = fn
    return fn


def stylize_fast(model, image, max_side=1024):
    """Stylise ``image`` with a trained network: one forward pass.

    Args:
        model: a network from :func:`train` or :func:`load_network`, or the path of a ``.keras``
            file.
        image: anything :func:`~nst_helpers.images.load_image` reads (a file, an array, bytes).
        max_side: shrink the image first so that its longest side is at most this (the network
            runs at any size; memory grows with it); None keeps the size.

    Returns:
        The stylised image, ``uint8`` RGB, of the (shrunk) image's size.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_network(model)
    photo = load_image(image, max_side=max_side, name="photo")
    out = _forward(model)(tf.constant(photo[None].astype(np.float32)))
    return np.clip(np.round(out[0].numpy()), 0, 255).astype(np.uint8)


def milliseconds_per_image(model, image, max_side, repeats=5):
    """The median time of :func:`stylize_fast`'s forward pass on ``image`` at ``max_side``, in ms.

    The first pass (which traces and warms up) is not counted. Loading and resizing the image are
    not counted either: only the network.
    """
    photo = load_image(image, max_side=max_side, name="photo")
    x = tf.constant(photo[None].astype(np.float32))
    fn = _forward(model)
    fn(x).numpy()
    times = []
    for _ in range(int(repeats)):
        t = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


def save_network(model, path, force=False):
    """Save a network as a ``.keras`` file; never replaces a file without ``force``.

    Returns:
        The path written.
    """
    path = pathlib.Path(path).expanduser()
    if path.suffix != ".keras":
        raise NSTError(f"{path}: a network is saved as a .keras file; end the name in .keras.")
    check_writable(path, force=force)
    with tempfile.TemporaryDirectory(prefix="nst-network-") as tmp:
        tmp_path = pathlib.Path(tmp) / "network.keras"
        model.save(tmp_path)
        data = tmp_path.read_bytes()
    return write_new(path, data, force=force)


def load_network(path):
    """Load a network saved by :func:`save_network` (or ``nst train-style``).

    The file is read in Keras' safe mode: its layers are this module's registered classes and
    Keras' own, and no code stored in it runs.

    Raises:
        NSTError: the file is missing, not a ``.keras`` file, damaged, or not a network made here.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise NSTError(f"{path}: no such network file; check the path (make one with "
                       "nst train-style).")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise NSTError(f"{path}: not a .keras network file; give one written by nst train-style.")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for a bad file
        first = str(err).splitlines()[0][:160] if str(err) else ""
        raise NSTError(f"{path}: cannot be read as a network ({type(err).__name__}: {first}); "
                       "give a file written by nst train-style.") from None
    if not network_info(model) and "crop_to_input" not in [l.name for l in model.layers]:
        raise NSTError(f"{path}: a Keras model, but not a style network made by nst train-style.")
    return model


def describe_network(model):
    """One line: which painting, backbone and training made the network."""
    info = network_info(model)
    if not info:
        return "an untrained network"
    return (f"network trained on {info.get('style', '?')} with {info.get('backbone', '?')} "
            f"({info.get('precision', '?')}), {info.get('steps', '?')} steps")


# --------------------------------------------------------------------------------------------------
# The commands nst train-style and nst stylize-fast (parsed in nst_helpers.cli)
# --------------------------------------------------------------------------------------------------


#: The option of each training setting whose name differs from it.
_OPTIONS = {"max_minutes": "--minutes", "residual_blocks": "--blocks", "learning_rate": "--lr"}


def _cli_text(text):
    """A library message in the command line's words: ``resume=True (--resume)`` → ``--resume``,
    ``batch_size must …`` → ``--batch-size must …``."""
    import re

    text = re.sub(r"\b(?:pass )?\w+=True \((--[\w-]+)\)", r"add \1", text)
    text = re.sub(r"\bdrop \w+ \((--[\w-]+)\)", r"drop \1", text)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return re.sub(r"^(\w+)(?= must)", lambda m: _OPTIONS.get(m.group(1), "--" + m.group(1).replace(
        "_", "-")) if m.group(1) in names else m.group(1), text)


def _train_style(args, term):
    output = pathlib.Path(args.output).expanduser()
    if output.suffix != ".keras":
        raise NSTError(f"{output}: the network is saved as a .keras file; end the name in .keras.")
    check_writable(output, force=args.force)
    folder = pathlib.Path(args.checkpoints or output.with_suffix(".checkpoints")).expanduser()
    changes = {k: v for k, v in (
        ("steps", args.steps), ("size", args.size), ("batch_size", args.batch_size),
        ("style_size", args.style_size), ("learning_rate", args.lr),
        ("content_weight", args.content_weight), ("style_weight", args.style_weight),
        ("tv_weight", args.tv_weight), ("filters", args.filters),
        ("residual_blocks", args.blocks), ("skip", args.skip),
        ("content_layers", args.content_layers),
        ("style_layers", args.style_layers), ("backbone", args.backbone),
        ("precision", args.precision), ("seed", args.seed),
        ("checkpoint_every", args.checkpoint_every), ("max_minutes", args.minutes))
        if v is not None}
    cfg = TrainConfig().replace(**changes)
    if not args.quiet:
        print(f"Training a network on {_style_description(args.painting)} "
              f"({cfg.steps} steps of {cfg.batch_size} crops of {cfg.size} px"
              f"{f', at most {cfg.max_minutes:g} minutes' if cfg.max_minutes else ''}) …",
              flush=True)
    result = train(args.painting, cfg, photos=args.photos, checkpoint_dir=folder,
                   resume=args.resume, force=args.force, progress=not args.quiet, verbose=False)
    if result.stop_reason == "diverged":
        raise NSTError(f"{result.message} The last good checkpoint is in {folder}.")
    path = result.save(output, force=args.force)
    minutes = (result.setup_seconds + result.compile_seconds + result.seconds) / 60
    pace = (f"{1000 * result.seconds_per_step:.0f} ms/step" if result.step > result.start_step
            else f"no step to do: the checkpoint was at step {result.start_step} of {cfg.steps}")
    resumed = f"resumed at step {result.start_step}, " if args.resume else ""
    print(f"Wrote {path.resolve()} ({describe_network(result.model)}; {resumed}this run "
          f"{minutes:.1f} min, {pace}; checkpoints in {folder}).")
    if result.stop_reason == "interrupted":
        what = "SIGTERM" if term.get("signalled") else "Ctrl-C"
        print(f"Interrupted ({what}) at step {result.step} of {cfg.steps}: the network so far is in "
              f"{output} and the checkpoint in {folder}; to go on: nst train-style "
              f"{args.painting} -o {args.output} --resume --force (and the same options).",
              file=sys.stderr)
        return "interrupted"
    if result.stop_reason == "time limit":
        print(f"Stopped by the time limit at step {result.step} of {cfg.steps}; --resume --force "
              "continues.", file=sys.stderr)
    return 0


def _stylize_fast(args, image_arg):
    output = pathlib.Path(args.output).expanduser()
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise NSTError(f"{output}: the output must end in .png or .jpg.")
    check_writable(output, force=args.force)
    model = load_network(args.model)
    photo = image_arg(args.photo, "photo")
    t = time.perf_counter()
    image = stylize_fast(model, photo, max_side=args.size)
    ms = 1000 * (time.perf_counter() - t)
    info = network_info(model)
    path = save_image(image, output, force=args.force,
                      metadata={"backbone": info.get("backbone", "?"), "network": info})
    h, w = image.shape[:2]
    print(f"Wrote {path.resolve()} ({w}x{h}, {describe_network(model)}; {ms:.0f} ms, the "
          "one-off tracing included).")
    return 0


def run_command(args, term, image_arg):
    """Run ``nst train-style`` or ``nst stylize-fast`` with the parsed ``args``.

    Args:
        args: the ``argparse`` namespace.
        term: the dict whose ``"signalled"`` says whether SIGTERM interrupted the run.
        image_arg: turns a photo argument into a path or a sample's image (``nst_helpers.cli``).

    Returns:
        0, or ``"interrupted"`` for a run ended by Ctrl-C or SIGTERM (its network and checkpoint
        written).

    Raises:
        NSTError: bad input, in the command line's words.
    """
    try:
        if args.command == "train-style":
            return _train_style(args, term)
        return _stylize_fast(args, image_arg)
    except NSTError as err:
        raise NSTError(_cli_text(str(err))) from None
