"""The transformation network of Johnson et al. (2016), with instance normalisation.

Its pieces (:func:`instance_norm`, :func:`residual_block`, the Keras layers built on them) and
:func:`transformation_network`. The custom layers are registered with Keras under the package name
``nst_helpers``, so ``keras.saving.load_model`` reads a saved network with no ``custom_objects``
and in Keras' safe mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from .._tf import Tensor, tf as _tf
from ..errors import NSTError

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

__all__ = [
    "PACKAGE",
    "instance_norm",
    "residual_block",
    "InstanceNormalization",
    "ReflectionPadding2D",
    "PadToMultiple",
    "CropToInput",
    "ResidualBlock",
    "transformation_network",
    "network_info",
]

#: The package name under which the custom layers are registered with Keras.
PACKAGE = "nst_helpers"

#: A layer's input shape as Keras gives it: ``(N, H, W, C)``, each an int, or None where a size is
#: not fixed (the channels always are).
_Shape: TypeAlias = "tuple[Any, ...]"


def instance_norm(x: Tensor, epsilon: float = 1e-5) -> Tensor:
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


def residual_block(
    x: Tensor,
    conv_1: Callable[[Tensor], Tensor],
    norm_1: Callable[[Tensor], Tensor],
    conv_2: Callable[[Tensor], Tensor],
    norm_2: Callable[[Tensor], Tensor],
) -> Tensor:
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

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape: _Shape) -> None:
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x: Tensor) -> Tensor:
        return instance_norm(x, self.epsilon) * self.gamma + self.beta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by ``padding`` pixels on each side, mirroring the image at its edges.

    Zero padding would show the network a dark frame around every image, which it learns to paint
    as a border; mirrored pixels look like more of the picture.

    Args:
        padding: pixels added on each side.
    """

    def __init__(self, padding: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x: Tensor) -> Tensor:
        p = self.padding
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape: _Shape) -> _Shape:
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (n, grow(h), grow(w), c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PadToMultiple(keras.layers.Layer):
    """Mirror-pad the bottom and the right so that height and width are multiples of ``multiple``.

    The network halves the image twice and doubles it twice; on other sizes the output would not
    match the input. :class:`CropToInput` cuts the padding off again at the end.

    Args:
        multiple: what height and width are padded up to a multiple of.
    """

    def __init__(self, multiple: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x: Tensor) -> Tensor:
        shape = tf.shape(x)
        m = self.multiple
        return tf.pad(
            x, [[0, 0], [0, (-shape[1]) % m], [0, (-shape[2]) % m], [0, 0]], mode="REFLECT"
        )

    def compute_output_shape(self, input_shape: _Shape) -> _Shape:
        n, h, w, c = input_shape
        up = lambda d: None if d is None else -(-d // self.multiple) * self.multiple  # noqa: E731
        return (n, up(h), up(w), c)

    def get_config(self) -> dict[str, Any]:
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

    def __init__(self, info: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.info = dict(info or {})

    def call(self, inputs: Sequence[Tensor], training: bool = False) -> Tensor:
        y, x = inputs
        shape = tf.shape(x)
        y = y[:, : shape[1], : shape[2], :]
        return y if training else tf.clip_by_value(y, 0.0, 255.0)

    def compute_output_shape(self, input_shapes: Sequence[_Shape]) -> _Shape:
        y, x = input_shapes
        return (y[0], x[1], x[2], y[3])

    def get_config(self) -> dict[str, Any]:
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

    def __init__(
        self, filters: int, kernel_size: int = 3, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.seed = None if seed is None else int(seed)
        self.pad = ReflectionPadding2D(self.kernel_size // 2, name="pad")
        self.conv_1 = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            name="conv_1",
            kernel_initializer=_initializer(self.seed, 0),
        )
        self.norm_1 = InstanceNormalization(name="norm_1")
        self.conv_2 = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            name="conv_2",
            kernel_initializer=_initializer(self.seed, 1),
        )
        self.norm_2 = InstanceNormalization(name="norm_2")

    def build(self, input_shape: _Shape) -> None:
        padded = self.pad.compute_output_shape(input_shape)
        for conv, norm in ((self.conv_1, self.norm_1), (self.conv_2, self.norm_2)):
            conv.build(padded)
            norm.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, x: Tensor) -> Tensor:
        return residual_block(
            x,
            lambda t: self.conv_1(self.pad(t)),
            self.norm_1,
            lambda t: self.conv_2(self.pad(t)),
            self.norm_2,
        )

    def compute_output_shape(self, input_shape: _Shape) -> _Shape:
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "seed": self.seed,
        }


def _initializer(seed: int | None, k: int) -> Any:
    """Glorot-uniform initial weights (Keras' default), seeded with ``(seed, k)`` unless ``seed``
    is None; each layer gets its own ``k``, so that no two layers start alike."""
    return keras.initializers.GlorotUniform(seed=None if seed is None else 1000 * seed + k)


def _conv(
    x: Tensor,
    filters: int,
    kernel_size: int,
    strides: int = 1,
    name: str | None = None,
    norm: bool = True,
    initializer: Any = None,
) -> Tensor:
    """Mirror padding, a convolution, then instance normalisation and a ReLU (unless ``norm`` is
    off, for the last layer)."""
    x = ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        name=name,
        kernel_initializer=initializer or "glorot_uniform",
    )(x)
    if norm:
        x = InstanceNormalization(name=f"{name}_norm")(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def transformation_network(
    filters: Sequence[int] = (16, 32, 64),
    residual_blocks: int = 5,
    skip: bool = True,
    seed: int | None = None,
    name: str = "transformation_network",
) -> keras.Model:
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
    f0, f1, f2 = _checked_widths(filters, residual_blocks)
    inputs = keras.Input(shape=(None, None, 3), name="photo")
    padded = PadToMultiple(4, name="pad_to_multiple")(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(padded)
    x = _downsampling(x, (f0, f1, f2), seed)
    x = _residual_blocks(x, f2, int(residual_blocks), seed)
    x = _upsampling(x, (f1, f0), seed)
    x = _to_pixels(x, padded, skip, seed)
    outputs = CropToInput(name="crop_to_input")([x, inputs])
    return keras.Model(inputs, outputs, name=name)


def _checked_widths(filters: Sequence[int], residual_blocks: int) -> tuple[int, int, int]:
    """``filters`` as three whole numbers, once they and ``residual_blocks`` pass their checks."""
    widths = tuple(int(f) for f in filters)
    if len(widths) != 3 or min(widths) < 1:
        raise NSTError(f"filters must be three positive whole numbers, not {widths!r}.")
    if int(residual_blocks) != residual_blocks or residual_blocks < 0:
        raise NSTError(f"residual_blocks must be a whole number >= 0, not {residual_blocks!r}.")
    return widths[0], widths[1], widths[2]


def _downsampling(x: Tensor, widths: tuple[int, int, int], seed: int | None) -> Tensor:
    """``c9s1-f0, d-f1, d-f2``: a 9x9 convolution, then two 3x3 ones of stride 2."""
    f0, f1, f2 = widths
    x = _conv(x, f0, 9, name="conv_in", initializer=_initializer(seed, 0))
    x = _conv(x, f1, 3, strides=2, name="down_1", initializer=_initializer(seed, 1))
    return _conv(x, f2, 3, strides=2, name="down_2", initializer=_initializer(seed, 2))


def _residual_blocks(x: Tensor, width: int, blocks: int, seed: int | None) -> Tensor:
    """``blocks`` residual blocks of ``width`` channels, at a quarter of the size."""
    for i in range(blocks):
        block_seed = None if seed is None else 1000 * seed + 10 * (i + 1)
        x = ResidualBlock(width, seed=block_seed, name=f"residual_{i + 1}")(x)
    return x


def _upsampling(x: Tensor, widths: tuple[int, int], seed: int | None) -> Tensor:
    """``u-f1, u-f0``: twice a nearest-neighbour enlargement and a 3x3 convolution (not Johnson
    et al.'s fractionally strided convolution, which leaves checkerboard artefacts)."""
    for i, f in enumerate(widths, start=1):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_{i}_enlarge")(x)
        x = _conv(x, f, 3, name=f"up_{i}", initializer=_initializer(seed, 2 + i))
    return x


def _to_pixels(x: Tensor, padded: Tensor, skip: bool, seed: int | None) -> Tensor:
    """``c9s1-3``: a 9x9 convolution to three channels in pixel units (x 127.5); with ``skip``
    added to the (padded) photo, its weights starting at zero, else shifted to 0…255 alone."""
    if skip:  # the photo plus a correction, which starts at zero: the photo itself
        x = _conv(x, 3, 9, name="conv_out", norm=False, initializer="zeros")
        x = keras.layers.Rescaling(127.5, name="to_pixels")(x)
        return keras.layers.Add(name="photo_plus_correction")([padded, x])
    x = _conv(x, 3, 9, name="conv_out", norm=False, initializer=_initializer(seed, 5))
    return keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels")(x)


def network_info(model: keras.Model) -> dict[str, Any]:
    """The description a trained network carries: painting, backbone, settings (a dict)."""
    try:
        return dict(model.get_layer("crop_to_input").info)
    except (ValueError, AttributeError):
        return {}
