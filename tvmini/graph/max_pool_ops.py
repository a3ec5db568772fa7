"""Max pooling with indices over 1, 2 or 3 spatial axes, and its inverse.

``max_pool_nd`` serves ``F.max_pool3d`` always and ``F.max_pool1d/2d`` when they are
asked for ``return_indices`` or a ``dilation`` (the plain 2-D windows keep their own
tuned kernels, ``conv_ops.max_pool2d``); ``adaptive_max_pool_nd`` serves
``F.adaptive_max_pool3d``. Both run ``topi.pool_nd.max_pool_nd``, one kernel giving each
window's maximum and its flat position, before the op is recorded (the positions are an
output of their own, as in ``window_ops.adaptive_max_pool2d``); the gradient is
``max_pool_nd_grad``, a gather of the output gradient back to those positions.

``max_unpool`` (``F.max_unpool1d/2d/3d``) writes each value at its index in a zero
plane of the output size: the ``scatter`` kernel along the flattened spatial axes
(indices checked as ``scatter`` checks them). Its gradient is PyTorch's: the output's
gradient gathered at every index, duplicates included (the ``gather`` kernel).
"""
from ..errors import ShapeError
from ..topi.pool_nd import max_pool_nd_grad, window_output_size
from ..topi.pool_nd import max_pool_nd as max_pool_kernel
from ..runtime import ndarray as nd
from .autograd import Function
from .dispatch import run
from .index_ops import check_indices
from .nn_ops import _check_float, _check_tensor
from .ops import _kernel, check_device
from .shape_ops import reshape
from .tensor import Tensor

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


class _Unpool(Function):
    """``x`` (N, C, L) written into zeros (N, C, ``plane``) at ``indices`` along axis 2;
    the gradient gathers the output's gradient at ``indices``."""
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, indices):
        zero = nd.zeros(x.shape[:2] + (self.plane,), x.dtype, x.device)
        return run("scatter", "scatter", [zero, indices, x], attrs=(("axis", 2),))

    def backward(self, g):
        return _kernel("gather", "gather", g, self.inputs[1], axis=2), None


class _WindowMax(Function):
    """Window maxima found with their flat positions ``indices`` by one kernel before the
    op is recorded (attribute ``values``); the gradient goes back to those positions."""
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, indices):
        return self.values

    def backward(self, g):
        x, indices = self.inputs
        return _kernel("max_pool_nd_grad", max_pool_nd_grad, g, indices, size=x.shape[2:], windows=self.windows), None


def geometry(op, value, what, dims, minimum):
    """An int or a ``dims``-tuple of ints, each at least ``minimum``, as a tuple."""
    values = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(values) != dims or not all(isinstance(v, int) for v in values):
        raise ShapeError(f"{op}: {what} must be an int or a {dims}-tuple of ints, got {value!r}")
    if min(values) < minimum:
        raise ShapeError(f"{op}: {what} must be at least {minimum}, got {value!r}")
    return values


def batched(op, x, dims, fn, *args):
    """``fn`` on ``x`` (N, C, *spatial) with ``dims`` spatial axes, or on an unbatched
    (C, *spatial) ``x`` through a batch of one (each result then loses that axis)."""
    _check_tensor(op, x)
    if x.ndim == dims + 1:
        out = fn(reshape(x, (1,) + x.shape), *args)
        return tuple(reshape(t, t.shape[1:]) for t in out) if isinstance(out, tuple) else reshape(out, out.shape[1:])
    if x.ndim != dims + 2:
        raise ShapeError(f"{op}: input must be (N, C, {_AXES[dims]}) or unbatched (C, {_AXES[dims]}), got shape "
                         f"{x.shape}")
    return fn(x, *args)


def _window_max(op, x, windows, return_indices):
    _check_float(op, x)
    if min(x.shape[2:]) < 1:
        raise ShapeError(f"{op}: input of shape {x.shape} has an empty spatial axis")
    values, indices = run("max_pool_nd", max_pool_kernel, [x._data], attrs=(("windows", windows),))
    indices = Tensor._wrap(indices)
    values = _WindowMax.apply(x, indices, values=values, windows=windows)
    return (values, indices) if return_indices else values


def max_pool_nd(op, x, dims, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """Window maxima over the ``dims`` trailing axes of (N, C, *spatial) or (C, *spatial),
    PyTorch's arguments and checks (``stride`` None or empty: the kernel size; padding at
    most half the kernel); ``return_indices``: also the int64 flat position of
    each maximum in its spatial plane."""
    def pool(x):
        kernel = geometry(op, kernel_size, "kernel_size", dims, 1)
        strides = kernel if stride is None or stride == () else geometry(op, stride, "stride", dims, 1)
        pads = geometry(op, padding, "padding", dims, 0)
        dilations = geometry(op, dilation, "dilation", dims, 1)
        windows = []
        for extent, k, s, p, d in zip(x.shape[2:], kernel, strides, pads, dilations):
            if 2 * p > k:
                raise ShapeError(f"{op}: padding {pads} must be at most half the kernel_size {kernel}")
            outputs = window_output_size(extent, k, s, p, d, ceil_mode)
            if outputs < 1:
                raise ShapeError(f"{op}: a {kernel} window (dilation {dilations}) does not fit input of shape "
                                 f"{x.shape} with padding {pads}")
            windows.append(("regular", k, s, p, d, outputs))
        return _window_max(op, x, tuple(windows), return_indices)
    return batched(op, x, dims, pool)


def adaptive_max_pool_nd(op, x, dims, output_size, return_indices):
    """Maxima over PyTorch's adaptive windows of the ``dims`` trailing axes (an
    ``output_size`` entry None keeps that extent); ``return_indices``: also the flat
    position of each maximum."""
    def pool(x):
        sizes = (output_size,) * dims if isinstance(output_size, int) or output_size is None else tuple(output_size)
        if len(sizes) != dims:
            raise ShapeError(f"{op}: output_size must be an int or a {dims}-tuple, got {output_size!r}")
        sizes = tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
        if not all(isinstance(s, int) and s >= 1 for s in sizes):
            raise ShapeError(f"{op}: output_size {output_size!r} must be positive ints")
        return _window_max(op, x, tuple(("adaptive", s) for s in sizes), return_indices)
    return batched(op, x, dims, pool)


def unpool_size(op, in_size, kernel, stride, padding, output_size):
    """PyTorch's max_unpool output size: ``(L - 1) * stride - 2 * padding + kernel`` per
    axis, or ``output_size`` (its last ``len(kernel)`` entries), which must lie within one
    stride of that."""
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(in_size, kernel, stride, padding))
    if output_size is None:
        size = default
    else:
        size = tuple(output_size)[-len(kernel):]
        if len(tuple(output_size)) not in (len(kernel), len(kernel) + 2) or not all(isinstance(v, int) for v in size):
            raise ShapeError(f"{op}: output_size must hold {len(kernel)} (or {len(kernel) + 2}) ints, got "
                             f"{output_size!r}")
        for n, d, s in zip(size, default, stride):
            if not d - s < n < d + s:
                raise ShapeError(f"{op}: output_size {output_size!r} must be within one stride of the default "
                                 f"size {default} (stride {stride})")
    if min(size) < 1:
        raise ShapeError(f"{op}: the output size {size} must be positive")
    return size


def max_unpool(op, x, indices, dims, kernel_size, stride, padding, output_size):
    """The inverse of max pooling: a zero (N, C, *output) tensor with each value of ``x``
    written at its flat position ``indices`` (from ``max_pool*(..., return_indices=True)``);
    positions out of the output refused. (N, C, *spatial) or unbatched (C, *spatial)."""
    if not isinstance(indices, Tensor) or indices.dtype not in ("int64", "int32"):
        raise ShapeError(f"{op}: indices must be an integer tensor, got {getattr(indices, 'dtype', indices)!r}")
    if indices.shape != getattr(x, "shape", None):
        raise ShapeError(f"{op}: indices of shape {indices.shape} must have the shape of the input "
                         f"{getattr(x, 'shape', x)}")

    def unpool(x, indices):
        _check_float(op, x)
        kernel = geometry(op, kernel_size, "kernel_size", dims, 1)
        strides = kernel if stride is None or stride == () else geometry(op, stride, "stride", dims, 1)
        size = unpool_size(op, x.shape[2:], kernel, strides, geometry(op, padding, "padding", dims, 0), output_size)
        n, c = x.shape[:2]
        plane = 1
        for extent in size:
            plane *= extent
        check_device(op, x, indices)
        flat = reshape(indices, (n, c, -1))
        check_indices(op, flat, plane)
        return reshape(_Unpool.apply(reshape(x, (n, c, -1)), flat, plane=plane), (n, c) + size)
    if x.ndim == dims + 1:
        return batched(op, x, dims, lambda x: unpool(x, reshape(indices, (1,) + indices.shape)))
    return batched(op, x, dims, lambda x: unpool(x, indices))
