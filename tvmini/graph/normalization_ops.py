"""More normalisations, PyTorch's ``F.rms_norm``, ``F.instance_norm`` and
``F.local_response_norm``, written with the graph's ops (means, products, slices), so
their gradients and ``tm.jit`` tracing come from theirs; ``instance_norm``'s running
statistics are updated in place outside the tape, as batch norm's.
"""
import math

import numpy as np

from ..errors import ShapeError
from . import join_ops, ops
from .autograd import no_grad
from .conv_ops import _update_running
from .stat_ops import _float, _normalized


def _trailing(op, x, normalized_shape):
    """``normalized_shape`` as a tuple that must be ``x``'s trailing shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"{op}: normalized_shape {shape} is not the trailing shape of a tensor of shape {x.shape}")
    return shape


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002  (torch's argument name)
    """``x / sqrt(mean(x^2) + eps) * weight`` with the mean over the trailing axes
    ``normalized_shape``; ``eps`` defaults to the dtype's machine epsilon (PyTorch's)."""
    x = _float(input, "rms_norm")
    shape = _trailing("rms_norm", x, normalized_shape)
    if weight is not None and weight.shape != shape:
        raise ShapeError(f"rms_norm: weight of shape {weight.shape} does not match normalized_shape {shape}")
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    out = x * (ops.mean(x * x, axes, keepdims=True) + eps).rsqrt()
    return out if weight is None else out * weight


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample of ``input`` (N, C, *) over its spatial
    axes, then ``* weight + bias`` per channel. With ``use_input_stats`` the sample's own
    statistics are used and, when running buffers are given, they move towards the
    batch's mean of them (the variance with Bessel's correction) with weight
    ``momentum``, in place; otherwise the running statistics normalise."""
    x = _float(input, "instance_norm")
    if x.ndim < 3:
        raise ShapeError(f"instance_norm: input must be (N, C, *) with at least one spatial axis, got shape "
                         f"{x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ShapeError(f"instance_norm: {name} of shape {t.shape} does not match the {channels} channels of "
                             f"input {x.shape}")
    per_channel = (channels,) + (1,) * (x.ndim - 2)
    spatial = tuple(range(2, x.ndim))
    if use_input_stats:
        count = math.prod(x.shape[2:])
        if count < 2:
            raise ShapeError(f"instance_norm: expected more than 1 spatial element per channel, got input {x.shape}")
        out = _normalized(x, spatial, eps)
        if running_mean is not None or running_var is not None:
            with no_grad():
                mean = ops.mean(x, spatial, keepdims=True)
                var = ops.mean((x - mean) * (x - mean), spatial)
                if running_mean is not None:
                    _update_running(running_mean, ops.mean(mean, (0,) + spatial)._data, momentum)
                if running_var is not None:
                    _update_running(running_var, ops.mean(var, (0,))._data, momentum, count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ShapeError("instance_norm: use_input_stats=False needs running_mean and running_var")
        out = (x - ops.reshape(running_mean, per_channel)) * (ops.reshape(running_var, per_channel) + eps).rsqrt()
    if weight is not None:
        out = out * ops.reshape(weight, per_channel)
    return out + ops.reshape(bias, per_channel) if bias is not None else out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002
    """Each element divided by ``(k + alpha / size * s) ** beta``, ``s`` the sum of the
    squares over the ``size`` channels around it (``size // 2`` before, ``(size - 1) // 2``
    after, zeros past the edges): PyTorch's ``F.local_response_norm`` on (N, C, *)."""
    x = _float(input, "local_response_norm")
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm: input must be (N, C, *) with at least one spatial axis, got shape "
                         f"{x.shape}")
    if not isinstance(size, int) or size < 1:
        raise ShapeError(f"local_response_norm: size must be a positive int, got {size!r}")
    channels = x.shape[1]
    widths = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]
    squares = join_ops.pad(x * x, widths)
    window = squares[:, 0:channels]
    for j in range(1, size):
        window = window + squares[:, j:j + channels]
    return x / ops.pow(window * (alpha / size) + k, beta)
