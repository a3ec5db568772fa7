"""Convolution, pooling, batch normalisation and dropout as graph ops.

conv2d and pooling are first-class kernels with dedicated gradient kernels from
``tvmini.topi``; so is training-mode batch norm (statistics, normalisation and the
three gradients fused), whose running statistics are updated outside the tape into
fresh buffers. Evaluation-mode batch norm is a few elementwise ops. Dropout is one
kernel that hashes each element's index with a seed (see :func:`dropout`).
"""
import numpy as np

from .. import topi
from ..errors import ArgumentError, ShapeError
from ..runtime import ndarray as nd
from . import ops
from .autograd import Function
from .jit.ir import ReplayScalars
from .max_pool_ops import max_pool_nd
from . import dispatch, join_ops
from .dispatch import run, run_inplace
from .nn_ops import _check_float
from .ops import _kernel, check_same
from .creation import generator
from .tensor import Tensor


def _pair(value, what, op):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ShapeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    return pair


def _unbatched(fn, x, *args):
    """``fn`` on a (C, H, W) input through a batch of one."""
    out = fn(ops.reshape(x, (1,) + x.shape), *args)
    return ops.reshape(out, out.shape[1:])


# ---------------------------------------------------------------------------- conv2d

def _conv2d_kernel(x, w, b=None, **attrs):
    return topi.conv2d(x, w, bias=b, **attrs)


class _Conv2d(Function):
    def forward(self, x, w, b=None):
        return run("conv2d", _conv2d_kernel, [x, w] if b is None else [x, w, b], attrs=self.attrs)

    def backward(self, g):
        x, w = self.inputs[0], self.inputs[1]
        gx = _kernel("conv2d_grad_input", "conv2d_grad_input", g, w, input_shape=x.shape,
                     **dict(self.attrs)) if x.requires_grad else None
        gw = _kernel("conv2d_grad_weight", "conv2d_grad_weight", g, x, weight_shape=w.shape,
                     **dict(self.attrs)) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (ops.sum(g, (0, 2, 3)) if self.inputs[2].requires_grad else None)


def _same_padding(x, weight, stride, padding, dilation):
    """``x`` and the symmetric padding for PyTorch's string paddings: "valid" is none;
    "same" keeps the size at stride 1, padding ``dilation * (k - 1)`` in all, the odd
    element after (on the right/bottom, as PyTorch), which ``x`` then carries itself."""
    if padding == "valid":
        return x, 0
    if padding != "same":
        raise ShapeError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if _pair(stride, "stride", "conv2d") != (1, 1):
        raise ShapeError(f"conv2d: padding='same' needs stride 1, got stride {stride!r}")
    totals = [d * (k - 1) for d, k in zip(_pair(dilation, "dilation", "conv2d"), weight.shape[2:])]
    if all(t % 2 == 0 for t in totals):
        return x, tuple(t // 2 for t in totals)
    widths = (totals[1] // 2, totals[1] - totals[1] // 2, totals[0] // 2, totals[0] - totals[0] // 2)
    return join_ops.pad(x, widths), 0


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation: x (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) -> (N, F, OH, OW).

    ``groups`` splits channels into independent convolutions as in PyTorch (groups = C:
    depthwise); ``padding`` may be "same" or "valid"; an unbatched x (C, H, W) gives
    (F, OH, OW)."""
    if x.ndim == 3:
        return _unbatched(conv2d, x, weight, bias, stride, padding, dilation, groups)
    if isinstance(padding, str):
        if weight.ndim != 4:
            raise ShapeError(f"conv2d: weight of shape {weight.shape} is not (F, C/groups, KH, KW)")
        x, padding = _same_padding(x, weight, stride, padding, dilation)
    _check_float("conv2d", x, weight)
    check_same("conv2d", x, weight)
    if not isinstance(groups, int) or groups < 1:
        raise ShapeError(f"conv2d: groups must be a positive int, got {groups!r}")
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups:
        raise ShapeError(f"conv2d: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"with groups={groups} (need (N, C, H, W) and (F, C/groups, KH, KW), F divisible by groups)")
    if bias is not None:
        check_same("conv2d", x, bias)
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"conv2d: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    stride, padding, dilation = (_pair(v, n, "conv2d") for v, n in
                                 ((stride, "stride"), (padding, "padding"), (dilation, "dilation")))
    for axis in (0, 1):
        span = dilation[axis] * (weight.shape[2 + axis] - 1) + 1
        if x.shape[2 + axis] + 2 * padding[axis] < span:
            raise ShapeError(f"conv2d: kernel of shape {weight.shape} does not fit input of shape {x.shape} "
                             f"with padding {padding}")
    attrs = (("stride", stride), ("padding", padding), ("dilation", dilation), ("groups", groups))
    return _Conv2d.apply(x, weight, attrs=attrs) if bias is None else _Conv2d.apply(x, weight, bias, attrs=attrs)


# ---------------------------------------------------------------------------- conv_transpose2d

class _ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: forward is conv2d's data gradient kernel, the
    gradient in x is conv2d itself, the gradient in the weight is conv2d's weight
    gradient with the roles of input and output gradient swapped."""

    def forward(self, x, w):
        return run("conv_transpose2d", "conv2d_grad_input", [x, w],
                   attrs=(("input_shape", self.output_shape),) + self.attrs)

    def backward(self, g):
        x, w = self.inputs
        gx = _kernel("conv2d", _conv2d_kernel, g, w, **dict(self.attrs)) if x.requires_grad else None
        gw = _kernel("conv2d_grad_weight", "conv2d_grad_weight", x, g, weight_shape=w.shape,
                     **dict(self.attrs)) if w.requires_grad else None
        return gx, gw


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution (the gradient of conv2d in its input, used to upsample), with
    PyTorch's arguments and weight layout: x (N, C, H, W), weight (C, F/groups, KH, KW),
    bias (F,) -> (N, F, OH, OW), ``OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1)
    + output_padding + 1``; an unbatched (C, H, W) input gives (F, OH, OW)."""
    if x.ndim == 3:
        return _unbatched(conv_transpose2d, x, weight, bias, stride, padding, output_padding, groups, dilation)
    _check_float("conv_transpose2d", x, weight)
    check_same("conv_transpose2d", x, weight)
    if not isinstance(groups, int) or groups < 1:
        raise ShapeError(f"conv_transpose2d: groups must be a positive int, got {groups!r}")
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise ShapeError(f"conv_transpose2d: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"with groups={groups} (need (N, C, H, W) and (C, F/groups, KH, KW), C divisible by groups)")
    stride, padding, output_padding, dilation = (
        _pair(v, n, "conv_transpose2d") for v, n in ((stride, "stride"), (padding, "padding"),
                                                     (output_padding, "output_padding"), (dilation, "dilation")))
    if any(p >= s for p, s in zip(output_padding, stride)):
        raise ShapeError(f"conv_transpose2d: output_padding {output_padding} must be smaller than the stride "
                         f"{stride} (PyTorch also takes it below the dilation; tvmini does not)")
    size = [(x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (weight.shape[2 + a] - 1)
            + output_padding[a] + 1 for a in (0, 1)]
    if min(size) < 1:
        raise ShapeError(f"conv_transpose2d: input of shape {x.shape} with weight {weight.shape}, stride {stride} "
                         f"and padding {padding} gives an empty output {size}")
    if bias is not None:
        check_same("conv_transpose2d", x, bias)
        if bias.shape != (weight.shape[1] * groups,):
            raise ShapeError(f"conv_transpose2d: bias of shape {bias.shape} does not match the "
                             f"{weight.shape[1] * groups} output channels of weight {weight.shape}")
    attrs = (("stride", stride), ("padding", padding), ("dilation", dilation), ("groups", groups))
    out = _ConvTranspose2d.apply(x, weight, attrs=attrs,
                                 output_shape=(x.shape[0], weight.shape[1] * groups, *size))
    return out if bias is None else ops.add(out, ops.reshape(bias, (1, bias.shape[0], 1, 1)))


# ---------------------------------------------------------------------------- pooling

class _Pool(Function):
    def forward(self, x):
        return run(self.op, self.op, [x], attrs=self.attrs)

    def backward(self, g):
        x, = self.inputs
        if self.op == "max_pool2d":
            return (_kernel("max_pool2d_grad", "max_pool2d_grad", g, x, **dict(self.attrs)),)
        return (_kernel("avg_pool2d_grad", "avg_pool2d_grad", g, input_shape=x.shape, **dict(self.attrs)),)


def _pool_attrs(op, x, kernel_size, stride, padding):
    _check_float(op, x)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expects an (N, C, H, W) input, got shape {x.shape}")
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    if any(x.shape[2 + a] + 2 * padding[a] < kernel[a] for a in (0, 1)):
        raise ShapeError(f"{op}: window {kernel} does not fit input of shape {x.shape} with padding {padding}")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ShapeError(f"{op}: padding {padding} must be at most half the window {kernel}")
    return kernel, stride, padding


def _ceil_extra(extent, kernel, stride, pad):
    """Elements past the padded input that ``ceil_mode`` windows read (PyTorch's rule:
    one more window when a partial one starts inside the input or its left padding)."""
    out = -(-(extent + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= extent + pad:
        out -= 1
    return max((out - 1) * stride + kernel - (extent + 2 * pad), 0)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Window maxima over (N, C, H, W) or (C, H, W), PyTorch's arguments in its order;
    ``stride`` defaults to ``kernel_size``; ``ceil_mode``: partial windows at the end
    count (PyTorch's rule). A ``dilation`` other than 1 or ``return_indices`` (then
    (values, int64 positions ``h * W + w``)) take ``max_pool_ops``' kernel instead."""
    if dilation not in (1, (1, 1)) or return_indices:
        return max_pool_nd("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if x.ndim == 3:
        return _unbatched(max_pool2d, x, kernel_size, stride, padding, 1, ceil_mode)
    kernel, stride, padding = _pool_attrs("max_pool2d", x, kernel_size, stride, padding)
    extra = [_ceil_extra(x.shape[2 + a], kernel[a], stride[a], padding[a]) if ceil_mode else 0 for a in (0, 1)]
    if any(extra):
        widths = (padding[1], padding[1] + extra[1], padding[0], padding[0] + extra[0])
        x, padding = join_ops.pad(x, widths, value=float("-inf")), (0, 0)
    return _Pool.apply(x, op="max_pool2d", attrs=(("kernel", kernel), ("stride", stride), ("padding", padding)))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Window means over (N, C, H, W) or (C, H, W), with PyTorch's options: padding counts
    in the divisor (``count_include_pad``) or not, ``ceil_mode`` windows are divided by
    the part inside the padded input, ``divisor_override`` replaces every divisor."""
    if x.ndim == 3:
        return _unbatched(avg_pool2d, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    kernel, stride, padding = _pool_attrs("avg_pool2d", x, kernel_size, stride, padding)
    extra = [_ceil_extra(x.shape[2 + a], kernel[a], stride[a], padding[a]) if ceil_mode else 0 for a in (0, 1)]
    plain = not any(extra) and divisor_override is None and (count_include_pad or padding == (0, 0))
    if plain:
        return _Pool.apply(x, op="avg_pool2d", attrs=(("kernel", kernel), ("stride", stride), ("padding", padding)))
    widths = (padding[1], padding[1] + extra[1], padding[0], padding[0] + extra[0])
    area = kernel[0] * kernel[1]
    attrs = (("kernel", kernel), ("stride", stride), ("padding", (0, 0)))
    sums = _Pool.apply(join_ops.pad(x, widths), op="avg_pool2d", attrs=attrs) * float(area)
    if divisor_override is not None:
        return sums * (1.0 / divisor_override)
    # the divisor of each window: how many of its places are counted, from a pooled mask
    counted = np.zeros((1, 1) + tuple(n + 2 * p + e for n, p, e in zip(x.shape[2:], padding, extra)), x.dtype)
    inner = padding if not count_include_pad else (0, 0)
    counted[:, :, inner[0]:counted.shape[2] - extra[0] - inner[0], inner[1]:counted.shape[3] - extra[1] - inner[1]] = 1
    mask = Tensor._wrap(nd.array(counted, device=x.device))
    return sums / (_Pool.apply(mask, op="avg_pool2d", attrs=attrs) * float(area))


class _AdaptiveAvgPool(Function):
    saved = ()
    def forward(self, x):
        return run("adaptive_avg_pool2d", "adaptive_avg_pool2d", [x], attrs=(("output_size", self.output_size),))

    def backward(self, g):
        return (_kernel("adaptive_avg_pool2d_grad", "adaptive_avg_pool2d_grad", g, input_shape=self.inputs[0].shape,
                        output_size=self.output_size),)


def adaptive_avg_pool2d(x, output_size):
    """Means over PyTorch's adaptive windows: (N, C, H, W) -> (N, C, *output_size) (an
    entry None keeps that extent; (C, H, W) input gives (C, *output_size))."""
    if x.ndim == 3:
        return _unbatched(adaptive_avg_pool2d, x, output_size)
    _check_float("adaptive_avg_pool2d", x)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d: expects an (N, C, H, W) or (C, H, W) input, got shape {x.shape}")
    sizes = (output_size, output_size) if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != 2:
        raise ShapeError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
    if not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ShapeError(f"adaptive_avg_pool2d: output_size {output_size!r} must be positive ints")
    return _AdaptiveAvgPool.apply(x, output_size=sizes)


# ---------------------------------------------------------------------------- batch norm

class _BatchNormTrain(Function):
    """Training-mode batch norm as topi's fused kernels: forward gives (y, mean, var),
    backward gives (grad_x, grad_gamma, grad_beta) in one kernel each."""

    def forward(self, x, gamma, beta):
        y, self.mean, self.var = run("batch_norm_forward", "batch_norm_forward", [x, gamma, beta],
                                     attrs=(("eps", self.eps), ("axes", self.axes)))
        return y

    def backward(self, g):
        x, gamma, _ = self.inputs
        gx, ggamma, gbeta = run("batch_norm_backward", "batch_norm_backward",
                                [g._data, x._data, self.mean, self.var, gamma._data],
                                attrs=(("eps", self.eps), ("axes", self.axes)))
        return Tensor._wrap(gx), Tensor._wrap(ggamma), Tensor._wrap(gbeta)


def _blend(running, value, keep, take):
    return topi.add(topi.multiply(running, keep), topi.multiply(value, take))


def _update_running(buffer, value, momentum, scale=1.0):
    """``buffer = (1 - momentum) * buffer + momentum * scale * value`` in one kernel,
    in place (no history; the buffer keeps its memory, as a traced step needs)."""
    run_inplace("running_stat", _blend, [buffer._data, value], (0,), (1.0 - momentum, momentum * scale),
                (buffer.dtype, buffer.dtype))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise over every axis but the channel axis 1 (PyTorch's ``F.batch_norm``).

    In training the batch statistics are used and, when running buffers are given, they
    are updated in place with weight ``momentum`` for the new value (the variance with
    Bessel's correction, as PyTorch); in evaluation the running statistics are used.
    """
    _check_float("batch_norm", x)
    if x.ndim not in (2, 3, 4, 5):
        raise ShapeError(f"batch_norm: expects (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W), got shape "
                         f"{x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None:
            check_same("batch_norm", x, t)
            if t.shape != (channels,):
                raise ShapeError(f"batch_norm: {name} of shape {t.shape} does not match the {channels} channels "
                                 f"of input {x.shape}")
    weight = weight if weight is not None else Tensor._wrap(nd.array(np.ones(channels, x.dtype), device=x.device))
    bias = bias if bias is not None else Tensor._wrap(nd.zeros((channels,), x.dtype, x.device))
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, channels) + (1,) * (x.ndim - 2)
    if training and not x._data.size:    # PyTorch: an empty output, the running statistics untouched
        return x * ops.reshape(weight, stat_shape) + ops.reshape(bias, stat_shape)
    if training:
        count = x._data.size // channels
        if count < 2:
            raise ShapeError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        fn_out = _BatchNormTrain.apply(x, weight, bias, eps=float(eps), axes=axes)
        if running_mean is not None:
            fn = fn_out._ctx
            mean, var = (fn.mean, fn.var) if fn is not None else _last_stats(x, axes)
            _update_running(running_mean, mean, momentum)
            _update_running(running_var, var, momentum, count / (count - 1))
        return fn_out
    if running_mean is None or running_var is None:
        raise ShapeError("batch_norm: evaluation mode needs running_mean and running_var")
    scale = ops.reshape(weight * ops.rdiv(ops.sqrt(running_var + eps), 1.0), stat_shape)
    return (x - ops.reshape(running_mean, stat_shape)) * scale + ops.reshape(bias, stat_shape)


def _last_stats(x, axes):
    """Batch mean and biased variance (when the forward recorded no Function to keep them)."""
    return run("batch_norm_stats", "batch_norm_stats", [x._data], attrs=(("axes", axes),))


# ---------------------------------------------------------------------------- dropout

def _dropout_kernel(x, seed, p_keep):
    return topi.random.dropout(x, p_keep, seed)


#: Seeds of dropout masks are drawn below this (a replay passes them as float64 slots).
SEED_LIMIT = 1 << 31


def _draw_seed():
    return int(generator().integers(SEED_LIMIT))


class _DropoutSeed:
    """The seed of one traced dropout call, drawn anew for every ``tm.jit`` replay (a
    :class:`~.jit.ir.ReplayScalars` source): the forward call asks first and gets a new
    seed from tvmini's generator, as an eager call would; the gradient call asks later
    in the same replay and gets the same seed."""

    def __init__(self, seed):
        self.seed = seed

    def replay_scalars(self, keys):
        for key in keys:
            if key == "forward":
                self.seed = _draw_seed()
        return [self.seed] * len(keys)


class _Dropout(Function):
    """``x / keep`` where the counter-based draw of (element, seed) is under ``keep``,
    else 0 (``topi.random.dropout``, one kernel on every device); the gradient is the
    same kernel on the output's gradient with the same seed, so no mask is stored."""

    saved = ()

    def forward(self, x):
        return self._run(x, "forward")

    def backward(self, g):
        return (Tensor._wrap(self._run(g._data, "backward")),)

    def _run(self, array, key):
        replay = None if self.source is None else ReplayScalars(self.source, key)
        return run("dropout", _dropout_kernel, [array], (self.seed,), ("int64",), (("p_keep", self.keep),), replay)


def dropout(x, p=0.5, training=True, inplace=False, seed=None):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` in
    training (``p = 1``: zeros); the identity otherwise. Every call draws a new mask
    from tvmini's seeded generator (``tm.manual_seed``), or uses ``seed`` (the same mask
    every call).

    The mask is never made: each element's keep decision is a hash of its index and the
    seed, computed inside the kernel that applies it (``topi.random``), on the host or
    the GPU alike, and again by the gradient's kernel. Under ``tm.jit`` every replay
    draws a new seed. ``inplace=True`` (PyTorch's) is accepted; the result is computed
    out of place, with the same values."""
    if not 0 <= p <= 1:
        raise ShapeError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    _check_float("dropout", x)
    if p == 1:              # everything dropped: PyTorch's x * 0 (NaN where x is inf or NaN), gradient 0
        return x * 0.0
    if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < SEED_LIMIT):
        raise ArgumentError(f"dropout: seed must be an int in [0, 2^31), got {seed!r}")
    source = _DropoutSeed(_draw_seed()) if seed is None else None
    return _Dropout.apply(x, seed=int(seed) if seed is not None else source.seed, keep=1.0 - p,
                          source=source if dispatch.thread.tracer is not None else None)


def _channel_dropout(op, x, p, training, feature_ndim):
    """Zero whole channels: ``x`` (N, C, *features) or unbatched (C, *features), with
    ``feature_ndim`` feature axes, times a (N, C, 1, ...) mask of dropout draws."""
    if x.ndim not in (feature_ndim + 1, feature_ndim + 2):
        features = ("L", "H, W", "D, H, W")[feature_ndim - 1]
        raise ShapeError(f"{op}: input must be (N, C, {features}) or unbatched (C, {features}), got shape {x.shape}")
    if not 0 <= p <= 1:
        raise ShapeError(f"{op}: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    channels = x.shape[:x.ndim - feature_ndim]
    mask = dropout(Tensor._wrap(nd.array(np.ones(channels, x.dtype), device=x.device)), p)
    return x * ops.reshape(mask, channels + (1,) * feature_ndim)


def dropout1d(x, p=0.5, training=True, inplace=False):
    """Zero each channel of x (N, C, L) or (C, L) with probability ``p`` (scaling the rest
    by ``1/(1-p)``) in training, as PyTorch's; ``inplace`` as in :func:`dropout`."""
    return _channel_dropout("dropout1d", x, p, training, 1)


def dropout2d(x, p=0.5, training=True, inplace=False):
    """Zero each channel (feature map) of x (N, C, H, W) with probability ``p`` (scaling
    the rest by ``1/(1-p)``) in training. A 3-D input is taken as (N, C, L), channel by
    channel, as PyTorch does (it warns that it does so)."""
    return _channel_dropout("dropout2d", x, p, training, 2 if x.ndim != 3 else 1)


def dropout3d(x, p=0.5, training=True, inplace=False):
    """Zero each channel (volume) of x (N, C, D, H, W) or unbatched (C, D, H, W) with
    probability ``p`` (scaling the rest by ``1/(1-p)``) in training, as PyTorch's."""
    return _channel_dropout("dropout3d", x, p, training, 3)
