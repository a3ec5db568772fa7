"""PyTorch's reordering, repeating and triangular ops: ``tril``/``triu``, ``diag``,
``flip``, ``roll``, ``repeat``/``tile``/``repeat_interleave``, ``narrow``, ``unbind``,
``movedim``/``swapaxes``, ``expand_as``/``view_as`` and ``tm.masked_fill``.

Each is a kernel of its own where it reorders data (``topi.triangle``, ``diagonal``,
``diagonal_embed``, ``roll``; ``flip`` is ``strided_slice`` with step -1), with the
inverse reordering as its gradient, or a composition of existing ops: the repeats are
a reshape that opens a size-1 axis next to each repeated one, a broadcast over it and a
reshape back (so their gradients are the broadcast's sum); ``narrow`` and ``unbind``
are basic indexing (they write through to their source, as PyTorch's views).
"""
import numpy as np

from ..errors import DTypeError, IndexingError, ShapeError, TVMiniError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import index_ops, ops
from .autograd import Function
from .dispatch import run
from .indexing import masked_fill  # noqa: F401  (tm.masked_fill; the method is Tensor's own)
from .tensor import Tensor, add_methods


class _Triangle(Function):
    saved = ()

    def forward(self, x):
        return run("triangle", "triangle", [x], attrs=(("diagonal", self.diagonal), ("upper", self.upper)))

    def backward(self, g):
        return (_Triangle.apply(g, diagonal=self.diagonal, upper=self.upper),)


def _triangle(op, x, diagonal, upper):
    if x.ndim < 2:
        raise ShapeError(f"{op}: the tensor must have at least 2 dimensions, got shape {x.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TVMiniError(f"{op}: diagonal must be an int, got {diagonal!r}")
    return _Triangle.apply(x, diagonal=int(diagonal), upper=upper)


def tril(input, diagonal=0):
    """The lower triangle of the last two axes (``j - i <= diagonal``), zeros above."""
    return _triangle("tril", input, diagonal, upper=False)


def triu(input, diagonal=0):
    """The upper triangle of the last two axes (``j - i >= diagonal``), zeros below."""
    return _triangle("triu", input, diagonal, upper=True)


class _Diagonal(Function):
    """Diagonal ``offset`` of a matrix; its gradient puts ``g`` back on it."""
    saved = ()

    def forward(self, x):
        return run("diagonal", "diagonal", [x], attrs=(("offset", self.offset),))

    def backward(self, g):
        return (_DiagonalEmbed.apply(g, shape=self.inputs[0].shape, offset=self.offset),)


class _DiagonalEmbed(Function):
    """A vector on diagonal ``offset`` of zeros of ``shape``; its gradient reads it back."""
    saved = ()

    def forward(self, v):
        return run("diagonal_embed", "diagonal_embed", [v], attrs=(("shape", self.shape), ("offset", self.offset)))

    def backward(self, g):
        return (_Diagonal.apply(g, offset=self.offset),)


def diag(input, diagonal=0):
    """PyTorch's ``diag``: a 1-D tensor becomes the square matrix with it on diagonal
    ``diagonal`` (above the main one when positive); a matrix gives that diagonal."""
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TVMiniError(f"diag: diagonal must be an int, got {diagonal!r}")
    if input.ndim == 1:
        n = input.shape[0] + abs(int(diagonal))
        return _DiagonalEmbed.apply(input, shape=(n, n), offset=int(diagonal))
    if input.ndim == 2:
        return _Diagonal.apply(input, offset=int(diagonal))
    raise ShapeError(f"diag: expected a matrix or a vector, got a tensor of shape {input.shape}")


class _Flip(Function):
    saved = ()

    def forward(self, x):
        steps = tuple(-1 if k in self.axes else 1 for k in range(len(x.shape)))
        none = (None,) * len(steps)
        return run("strided_slice", "strided_slice", [x], attrs=(("begin", none), ("end", none), ("strides", steps)))

    def backward(self, g):
        return (_Flip.apply(g, axes=self.axes),)


def flip(input, dims):
    """``input`` with the order of its elements reversed along each axis in ``dims``
    (an int or a sequence; repeats refused, as PyTorch)."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = check_axes.axes("flip", dims, input.shape) if dims else ()
    return _Flip.apply(input, axes=axes) if axes else ops.clone(input)


class _Roll(Function):
    saved = ()

    def forward(self, x):
        return run("roll", "roll", [x], attrs=(("shifts", self.shifts),))

    def backward(self, g):
        back = tuple((n - s) % n if n else 0 for n, s in zip(g.shape, self.shifts))
        return (_Roll.apply(g, shifts=back),)


def roll(input, shifts, dims=None):
    """``input`` rolled by ``shifts`` along ``dims`` (one shift per dim; an axis named
    twice rolls by the sum); ``dims=None`` rolls the flattened tensor and restores its
    shape. Elements pushed past the end come back at the front."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll: without dims, one shift is expected, got {shifts}")
        flat = ops.reshape(input, (input._data.size,))
        return ops.reshape(roll(flat, shifts, 0), input.shape)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims) or not dims:
        raise ShapeError(f"roll: shifts {shifts} and dims {dims} must have the same (nonzero) length")
    total = [0] * input.ndim
    for shift, dim in zip(shifts, dims):
        total[check_axes.axis("roll", dim, input.shape)] += int(shift)
    total = tuple(s % n if n else 0 for s, n in zip(total, input.shape))
    return _Roll.apply(input, shifts=total) if any(total) else ops.clone(input)


def _counts(op, sizes):
    sizes = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)) else tuple(sizes)
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in sizes):
        raise ShapeError(f"{op}: repeat counts must be non-negative ints, got {sizes}")
    return tuple(int(s) for s in sizes)


def _repeated(x, axes_counts):
    """``x`` with each axis ``k`` in ``axes_counts`` repeated ``count`` times, as a
    whole (``inner=False``: ``abab``) or element by element (``inner=True``: ``aabb``):
    a reshape opening a size-1 axis beside it, a broadcast over that axis, a reshape."""
    opened, spread, final = [], [], []
    for k, n in enumerate(x.shape):
        count, inner = axes_counts.get(k, (1, False))
        pair = [(1, count), (n, n)]
        if inner:
            pair.reverse()
        opened += [p[0] for p in pair]
        spread += [p[1] for p in pair]
        final.append(n * count)
    return ops.reshape(ops.broadcast_to(ops.reshape(x, tuple(opened)), tuple(spread)), tuple(final))


def repeat(input, *sizes):
    """PyTorch's ``Tensor.repeat``: ``input`` tiled ``sizes[k]`` times along axis ``k``
    (at least as many sizes as axes; extra leading ones add axes)."""
    sizes = _counts("repeat", sizes)
    if len(sizes) < input.ndim:
        raise ShapeError(f"repeat: the number of repeat sizes ({len(sizes)}) cannot be smaller than the number of "
                         f"dimensions of the tensor of shape {input.shape}")
    x = ops.reshape(input, (1,) * (len(sizes) - input.ndim) + input.shape)
    return _repeated(x, {k: (s, False) for k, s in enumerate(sizes)})


def tile(input, dims):
    """``torch.tile``: ``repeat`` with ones prepended to ``dims`` when it has fewer
    entries than the tensor has axes."""
    dims = _counts("tile", (dims,))
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element repeated ``repeats`` times in place along ``dim`` (None: of the
    flattened tensor): an int, or a 1-D integer tensor of per-element counts (one count
    for every element, or one for all). ``repeat_interleave(counts)`` alone gives
    ``arange(len(counts))`` with each index repeated its count (PyTorch's form).

    Per-element counts give a result whose length depends on their values: they are read
    on the host (a synchronisation, as PyTorch's on a GPU unless ``output_size`` is
    given; here ``output_size`` is checked against them) and the result is an
    ``index_select``, whose gradient adds the copies back."""
    if repeats is None:
        counts = _repeat_counts(input, None, output_size)
        return Tensor._wrap(nd.array(np.repeat(np.arange(len(counts)), counts), device=input.device))
    if dim is None:
        input, dim = ops.flatten(input), 0
    axis = check_axes.axis("repeat_interleave", dim, input.shape)
    if not input.ndim:
        input = ops.reshape(input, (1,))
    if isinstance(repeats, Tensor):
        counts = _repeat_counts(repeats, input.shape[axis], output_size)
        index = Tensor._wrap(nd.array(np.repeat(np.arange(input.shape[axis]), counts), device=input.device))
        return index_ops.index_select(input, axis, index)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise TVMiniError(f"repeat_interleave: repeats must be a non-negative int or a 1-D integer tensor, got "
                          f"{repeats!r}")
    if output_size is not None and output_size != input.shape[axis] * repeats:
        raise ShapeError(f"repeat_interleave: output_size {output_size} is not {input.shape[axis]} x {repeats}")
    return _repeated(input, {axis: (int(repeats), True)})


def _repeat_counts(repeats, extent, output_size):
    """The per-element counts of tensor ``repeats`` as a numpy array, checked: integers,
    1-D (or one count), none negative, one per element of an axis of ``extent`` (None:
    any), summing to ``output_size`` when given."""
    if repeats.dtype not in ("int32", "int64", "int8", "uint8"):
        raise DTypeError(f"repeat_interleave: repeats must be an integer tensor, got {repeats.dtype}")
    counts = repeats.numpy().reshape(-1) if repeats.ndim <= 1 else None
    if counts is None or (extent is not None and len(counts) not in (1, extent)):
        raise ShapeError(f"repeat_interleave: repeats of shape {repeats.shape} must be 1-D with one count per "
                         f"element ({extent}) or a single count")
    if (counts < 0).any():
        raise ShapeError(f"repeat_interleave: repeats must not be negative, got {counts.min()}")
    if extent is not None and len(counts) == 1:
        counts = np.full(extent, counts[0])
    if output_size is not None and output_size != counts.sum():
        raise ShapeError(f"repeat_interleave: output_size {output_size} differs from the counts' sum {counts.sum()}")
    return counts


def narrow(input, dim, start, length):
    """The ``length`` elements from ``start`` (negative: from the end) along ``dim``,
    as ``x[..., start:start + length]`` (writes through to ``input``, as a view)."""
    axis = check_axes.axis("narrow", dim, input.shape)
    n = input.shape[axis] if input.ndim else 1
    start = int(start.item() if isinstance(start, Tensor) else start)
    if not -n <= start <= n:
        raise IndexingError(f"narrow: start {start} is out of range for axis {dim} of extent {n} "
                            f"(tensor of shape {input.shape})")
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise ShapeError(f"narrow: start ({start}) + length ({length}) exceeds the extent {n} of axis {dim} "
                         f"(tensor of shape {input.shape})")
    return input[(slice(None),) * axis + (slice(start, start + length),)]


def unbind(input, dim=0):
    """The slices of ``input`` along ``dim``, as a tuple (``dim`` removed)."""
    if not input.ndim:
        raise IndexingError("unbind: a 0-d tensor has no dimension to unbind")
    axis = check_axes.axis("unbind", dim, input.shape)
    return tuple(input[(slice(None),) * axis + (i,)] for i in range(input.shape[axis]))


def movedim(input, source, destination):
    """``input`` with axes ``source`` moved to positions ``destination`` (ints or equal
    length sequences), the other axes keeping their order."""
    source = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    destination = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(source) != len(destination):
        raise ShapeError(f"movedim: source {source} and destination {destination} must have the same length")
    src = [check_axes.axis("movedim", a, input.shape) for a in source]
    dst = [check_axes.axis("movedim", a, input.shape) for a in destination]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError(f"movedim: repeated axis in source {source} or destination {destination} "
                         f"(tensor of shape {input.shape})")
    rest = iter(k for k in range(input.ndim) if k not in src)
    placed = dict(zip(dst, src))
    return ops.transpose(input, tuple(placed[k] if k in placed else next(rest) for k in range(input.ndim)))


def swapaxes(input, axis0, axis1):
    """``input`` with two axes exchanged (``transpose(axis0, axis1)``)."""
    return input.transpose(axis0, axis1)


moveaxis, swapdims = movedim, swapaxes

add_methods({
    "tril": lambda self, diagonal=0: tril(self, diagonal),
    "triu": lambda self, diagonal=0: triu(self, diagonal),
    "diag": lambda self, diagonal=0: diag(self, diagonal),
    "flip": lambda self, *dims: flip(self, dims[0] if len(dims) == 1 else dims),
    "roll": lambda self, shifts, dims=None: roll(self, shifts, dims),
    "repeat": lambda self, *sizes: repeat(self, *sizes),
    "tile": lambda self, *dims: tile(self, dims[0] if len(dims) == 1 else dims),
    "repeat_interleave": lambda self, repeats, dim=None, *, output_size=None: repeat_interleave(
        self, repeats, dim, output_size=output_size),
    "narrow": lambda self, dim, start, length: narrow(self, dim, start, length),
    "unbind": lambda self, dim=0: unbind(self, dim),
    "movedim": lambda self, source, destination: movedim(self, source, destination),
    "moveaxis": lambda self, source, destination: movedim(self, source, destination),
    "swapaxes": lambda self, axis0, axis1: swapaxes(self, axis0, axis1),
    "swapdims": lambda self, dim0, dim1: swapaxes(self, dim0, dim1),
    "expand_as": lambda self, other: self.expand(other.shape),
    "view_as": lambda self, other: self.reshape(other.shape),
})
