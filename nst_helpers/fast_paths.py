"""The backbone's fast paths, chosen by the machine at hand.

Two departures from Gatys et al. and the seed, neither of which changes what is computed:

* bfloat16 arithmetic where the machine computes it natively (:func:`bfloat16_hardware`; the
  choice itself is :func:`nst_helpers.backbone.resolve_precision`);
* on CPUs, convolutions with frozen weights run as transposed convolutions of their flipped
  kernels (:func:`frozen_conv`), the same numbers sooner (:func:`fast_conv_default`).

:mod:`nst_helpers.backbone` uses these and re-exports them (``frozen_conv`` as ``_frozen_conv``,
where the benchmarks import it from).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._tf import Tensor, tf as _tf

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

__all__ = [
    "FAST_CONV_MIN_CHANNELS",
    "bfloat16_hardware",
    "fast_conv_default",
    "frozen_conv",
    "use_frozen_convs",
    "uses_fast_conv",
]


def frozen_conv(kernel: np.ndarray) -> Callable[[Tensor, Tensor], Tensor]:
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


#: Layers with at least this many input channels run on :func:`frozen_conv` (where it is on).
#: Below it, Keras' plain forward kernel is as fast and fuses the bias and ReLU into the
#: convolution, which the transposed convolution cannot. Measured on a 2-core AVX-512 CPU at
#: 256 px (forward with bias and ReLU): with 64 or 128 input channels plain was as fast or up to
#: 2 ms per layer faster, with 256 or 512 transposed was 1.25 to 1.7 times faster; a whole
#: evaluation with this threshold was 2 % faster than with every layer transposed.
FAST_CONV_MIN_CHANNELS = 256


def uses_fast_conv(kernel_shape: Sequence[int]) -> bool:
    """Whether a convolution with a kernel of ``kernel_shape`` ``(3, 3, in, out)`` runs on
    :func:`frozen_conv` when the fast path is on (see :data:`FAST_CONV_MIN_CHANNELS`).

    Args:
        kernel_shape: the kernel's shape, ``(3, 3, in, out)``.

    Returns:
        Whether it has at least :data:`FAST_CONV_MIN_CHANNELS` input channels.
    """
    return int(kernel_shape[2]) >= FAST_CONV_MIN_CHANNELS


def use_frozen_convs(model: keras.Model) -> None:
    """Make each convolution of ``model`` that :func:`uses_fast_conv` run on :func:`frozen_conv`.

    Args:
        model: a VGG with its weights set, which are frozen from now on.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and uses_fast_conv(layer.kernel.shape):
            layer.convolution_op = frozen_conv(np.asarray(layer.kernel.numpy()))


def fast_conv_default() -> bool:
    """Whether extractors use :func:`frozen_conv` by default: on CPUs (measured faster there).

    ``NST_FAST_CONV=0`` or ``=1`` overrides the choice.

    Returns:
        True without a GPU (or with ``NST_FAST_CONV=1``).
    """
    env = os.environ.get("NST_FAST_CONV", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return not tf.config.list_physical_devices("GPU")
