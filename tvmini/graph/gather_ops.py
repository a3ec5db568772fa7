"""PyTorch's gather/scatter family along one axis: ``gather``, ``scatter`` (and
``value=``), ``scatter_add``, ``index_add`` (out of place and in place, ``x.scatter_``
...) and the flat ``take``. Each is one ``topi.gather`` kernel (see that module: the
scatters are reductions over the index, with no atomics); the gradients are the same
kernels the other way round (``gather``'s is a scatter-add; ``src`` gets ``g`` read where
it was written, ``topi.scatter_src_grad``).

Indices are checked as :func:`.index_ops.check_indices` checks them (out of range,
negative: an IndexingError naming the op, eagerly and in ``tm.jit`` replays; on CUDA
they are clipped in the kernel instead). ``gather``/``scatter`` refuse negative indices as PyTorch does;
``take`` counts them from the end, as PyTorch's. Of duplicate indices in ``scatter`` the
last along ``dim`` wins (PyTorch leaves it unspecified), and only the winner gets a
gradient for ``src`` (the derivative of that forward; PyTorch hands ``g.gather(dim,
index)`` to every duplicate — the same where there are none).
"""
from ..errors import DeviceError, DTypeError, ShapeError
from . import axes as check_axes
from . import indexing, ops
from .operands import scaled
from .autograd import Function
from .dispatch import run
from .index_ops import check_indices, from_end, take as take_along
from .tensor import Tensor, add_methods


class _Gather(Function):
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, index):
        return run("gather", "gather", [x, index], attrs=(("axis", self.axis),))

    def backward(self, g):
        x, index = self.inputs
        return ops._kernel("gather_grad", "gather_grad", g, index, x_shape=x.shape, axis=self.axis), None


class _Scatter(Function):
    """``scatter`` (``add=False``) or ``scatter_add`` of ``src`` (a tensor of index's rank,
    or a 0-d value) into ``x``."""
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, index, src):
        name = "scatter_add" if self.add else "scatter"
        return run(name, name, [x, index, src], attrs=(("axis", self.axis),))

    def backward(self, g):
        x, index, src = self.inputs
        gx = g if self.add or not x.requires_grad else _Scatter.apply(g, index, ops._as_tensor(0, g),
                                                                        axis=self.axis, add=False)
        gsrc = ops._kernel("scatter_src_grad", "scatter_src_grad", g, index, src_shape=src.shape, axis=self.axis,
                           last_only=not self.add) if src.requires_grad else None
        return gx, None, gsrc


def _line_checks(op, x, dim, index, src=None):
    """``dim`` as an axis of ``x``, after PyTorch's checks of ``index`` (and ``src``):
    integers on ``x``'s device, in range, of ``x``'s rank (a 0-d tensor counts as 1-d)
    and no larger than ``x`` on the other axes (no larger than ``src`` on any)."""
    if not isinstance(index, Tensor):
        raise DTypeError(f"{op}: index must be an integer tensor, got {type(index).__name__}")
    if index.device != x.device:
        raise DeviceError(f"{op}: index on {index.device} but the tensor of shape {x.shape} on {x.device}")
    axis = check_axes.axis(op, dim, x.shape)
    shape, ishape = x.shape or (1,), index.shape or (1,)
    if len(ishape) != len(shape) or any(m > n for k, (m, n) in enumerate(zip(ishape, shape)) if k != axis):
        raise ShapeError(f"{op}: index of shape {index.shape} must have the rank of the tensor of shape {x.shape} "
                         f"and be no larger on every axis but {dim}")
    if src is not None:
        sshape = src.shape or (1,)
        if len(sshape) != len(ishape) or any(m > n for m, n in zip(ishape, sshape)):
            raise ShapeError(f"{op}: index of shape {index.shape} must be no larger than src of shape {src.shape} "
                             "on every axis")
    check_indices(op, index, shape[axis])
    return axis


def _as_1d(t):
    return ops.reshape(t, (1,)) if t.ndim == 0 else t


def gather(input, dim, index, *, sparse_grad=False):
    """``out[i] = input[i with axis dim replaced by index[i]]`` (PyTorch's ``gather``): the
    shape of ``index``, of ``input``'s rank and no larger off ``dim``. Its gradient adds
    each ``g`` entry at the element it was read from (duplicates accumulate; always a
    dense tensor: ``sparse_grad`` is accepted, tvmini has no sparse tensors)."""
    axis = _line_checks("gather", input, dim, index)
    out = _Gather.apply(_as_1d(input), _as_1d(index), axis=axis)
    return ops.reshape(out, index.shape) if index.ndim == 0 else out


def _src(op, input, src, value):
    """The tensor to scatter: ``src`` of ``input``'s dtype, or a number (``value``) as a
    0-d one, which the kernel writes at every position."""
    if (src is None) == (value is None):
        raise ShapeError(f"{op}: give exactly one of src and value (tensor of shape {input.shape})")
    if src is None or not isinstance(src, Tensor):
        number = value if src is None else src
        return ops._as_tensor(ops.stored_value(number, input.dtype, f"{op} into a {input.dtype} tensor"), input)
    ops.check_device(op, input, src)
    if src.dtype != input.dtype:
        raise DTypeError(f"{op}: src is {src.dtype} but the tensor of shape {input.shape} is {input.dtype} "
                         "(they must match, as in PyTorch)")
    return src


def _scatter(op, input, dim, index, src, value, add):
    number = not isinstance(src, Tensor)
    src = _src(op, input, src, value)
    axis = _line_checks(op, input, dim, index, None if number else src)
    out = _Scatter.apply(_as_1d(input), _as_1d(index), src if number else _as_1d(src), axis=axis, add=add)
    return ops.reshape(out, ()) if input.ndim == 0 else out


def scatter(input, dim, index, src=None, *, value=None):
    """``input`` with ``src[i]`` (or the number ``value``) written at ``i`` with axis
    ``dim`` replaced by ``index[i]`` (PyTorch's ``scatter``, out of place). Of several
    entries aimed at one element the last along ``dim`` wins (PyTorch: unspecified)."""
    return _scatter("scatter", input, dim, index, src, value, add=False)


def scatter_add(input, dim, index, src):
    """``input`` with each ``src[i]`` added at ``i`` with axis ``dim`` replaced by
    ``index[i]`` (duplicates accumulate), PyTorch's ``scatter_add``."""
    if not isinstance(src, Tensor):
        raise DTypeError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
    return _scatter("scatter_add", input, dim, index, src, None, add=True)


class _IndexAdd(Function):
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, index, source):
        return run("index_add", "index_add", [x, index, source], attrs=(("axis", self.axis),))

    def backward(self, g):
        _, index, source = self.inputs
        return g, None, take_along(g, index, self.axis) if source.requires_grad else None


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source``'s slices along ``dim`` added at the positions
    of the 1-D ``index`` (repeats accumulate), PyTorch's ``index_add``."""
    axis = check_axes.axis("index_add", dim, input.shape)
    if not isinstance(index, Tensor) or index.ndim > 1:
        raise ShapeError(f"index_add: index must be a 1-D integer tensor, got "
                         f"{'shape ' + str(index.shape) if isinstance(index, Tensor) else type(index).__name__}")
    ops.check_same("index_add", input, source)
    x, index, source = _as_1d(input), _as_1d(index), _as_1d(source)
    want = x.shape[:axis] + index.shape + x.shape[axis + 1:]
    if source.shape != want:
        raise ShapeError(f"index_add: source of shape {source.shape} must be {want}: the tensor of shape "
                         f"{input.shape} with axis {dim} of the index's length {index.shape[0]}")
    check_indices("index_add", index, x.shape[axis])
    out = _IndexAdd.apply(x, index, scaled("index_add", source, alpha), axis=axis)
    return ops.reshape(out, ()) if input.ndim == 0 else out


def take(input, index):
    """``input`` read as 1-D at the positions ``index`` (PyTorch's ``take``): the shape of
    ``index``; negative positions count from the end."""
    if not isinstance(index, Tensor):
        raise DTypeError(f"take: index must be an integer tensor, got {type(index).__name__}")
    flat = ops.reshape(input, (input._data.size,))
    check_indices("take", index, flat.shape[0], negative=True)
    return take_along(flat, from_end(index, flat.shape[0]), 0)


def _scatter_(self, dim, index, src=None, *, value=None):
    """``scatter`` in place (recorded for autograd as PyTorch's in-place ops, under the
    rules of ``indexing.update``); returns self."""
    _src("scatter_", self, src, value)         # exactly one of them, of this tensor's dtype
    return indexing.update(self, lambda old, s: scatter(old, dim, index, s), value if src is None else src,
                           "scatter_")


def _scatter_add_(self, dim, index, src):
    """``scatter_add`` in place; returns self."""
    return indexing.update(self, lambda old, s: scatter_add(old, dim, index, s), src, "scatter_add_")


def _index_add_(self, dim, index, source, *, alpha=1):
    """``index_add`` in place; returns self."""
    return indexing.update(self, lambda old, s: index_add(old, dim, index, s, alpha=alpha), source, "index_add_")


add_methods({
    "gather": lambda self, dim, index, *, sparse_grad=False: gather(self, dim, index),
    "scatter": lambda self, dim, index, src=None, *, value=None: scatter(self, dim, index, src, value=value),
    "scatter_add": lambda self, dim, index, src: scatter_add(self, dim, index, src),
    "index_add": lambda self, dim, index, source, *, alpha=1: index_add(self, dim, index, source, alpha=alpha),
    "take": lambda self, index: take(self, index),
    "scatter_": _scatter_,
    "scatter_add_": _scatter_add_,
    "index_add_": _index_add_,
})
