"""Joining, splitting and re-shaping tensors, and clamping (PyTorch's names and rules).

``cat`` runs one ``topi.concatenate`` kernel and its gradient slices the incoming gradient
back into the pieces; ``pad`` runs ``topi.pad`` and its gradient is the inner slice;
``stack``/``squeeze``/``unsqueeze`` are reshapes around ``cat``; ``split``/``chunk`` are
slices. ``clamp`` is one kernel whose gradient passes where the input lies inside the
bounds (bounds included, as PyTorch). ``one_hot`` records no gradient (integer input).
"""
import math

import numpy as np

from .. import te, topi
from ..errors import DTypeError, ShapeError
from .autograd import Function
from .dispatch import run
from . import axes as check_axes
from . import ops
from .index_ops import check_indices
from .tensor import Tensor


def _along(axis, start, stop):
    """The index selecting ``start:stop`` of ``axis`` and everything of the axes before."""
    return (slice(None),) * axis + (slice(start, stop),)


# ------------------------------------------------------------------------------- cat

def _concatenate(*xs, axis):
    return topi.concatenate(xs, axis)


class _Cat(Function):
    """``cat`` of the inputs not flagged in ``skips`` (PyTorch's legacy empty tensors,
    joined as nothing); a skipped input that requires grad gets an empty gradient."""
    saved = ()          # the gradient needs the pieces' shapes only

    def forward(self, *xs):
        joined = [x for x, skip in zip(xs, self.skips) if not skip]
        return run("cat", _concatenate, joined, attrs=(("axis", self.axis),))

    def backward(self, g):
        grads, start = [], 0
        for x, skip in zip(self.inputs, self.skips):
            stop = start + (0 if skip else x.shape[self.axis])
            piece = ops.getitem(g, _along(self.axis, start, stop)) if x.requires_grad else None
            grads.append(ops.reshape(piece, (0,)) if skip and piece is not None else piece)
            start = stop
        return tuple(grads)


def _legacy_empty(tensors):
    """Which of ``tensors`` ``cat`` skips, as PyTorch: 1-d tensors of shape (0,) (the
    legacy empty tensor, ``torch.tensor([])``) beside tensors of another shape, whatever
    their number of axes; none when all are of shape (0,)."""
    skips = tuple(t.shape == (0,) for t in tensors)
    return (False,) * len(tensors) if all(skips) else skips


def cat(tensors, dim=0):
    """Join ``tensors`` (one device, equal extents but on ``dim``) along ``dim``; mixed
    dtypes promote as in arithmetic (``ops.result_dtype``). Tensors of shape (0,) beside
    others are skipped, as PyTorch (``tm.cat([tm.tensor([]), x])`` is ``x``); they still
    take part in the dtype promotion and get an empty gradient."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise ShapeError(f"cat: needs a non-empty sequence of tensors, got {[type(t).__name__ for t in tensors]}")
    skips = _legacy_empty(tensors)
    first = next(t for t, skip in zip(tensors, skips) if not skip)
    axis = check_axes.axis("cat", dim, first.shape)
    for t, skip in zip(tensors, skips):
        ops.check_device("cat", first, t)
        if skip:
            continue
        if t.ndim != first.ndim or t.shape[:axis] + t.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]:
            raise ShapeError(f"cat: tensors of shapes {first.shape} and {t.shape} differ on a dimension "
                             f"other than {axis}")
    if first.ndim == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = ops.result_dtype(dtype, t.dtype)
    tensors = [ops.cast(t, dtype) for t in tensors]
    return tensors[0] if len(tensors) == 1 else _Cat.apply(*tensors, axis=axis, skips=skips)


def stack(tensors, dim=0):
    """Join equally shaped ``tensors`` along a new axis ``dim``."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise ShapeError(f"stack: needs a non-empty sequence of tensors, got {[type(t).__name__ for t in tensors]}")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors must have one shape, got {sorted(shapes)}")
    axis = check_axes.axis("stack", dim, tensors[0].shape + (1,))
    return cat([unsqueeze(t, axis) for t in tensors], axis)


# ----------------------------------------------------------------- squeeze, unsqueeze

def unsqueeze(x, dim):
    """``x`` with a new axis of extent 1 at ``dim`` (``-1``: last)."""
    axis = check_axes.axis("unsqueeze", dim, x.shape + (1,))
    return ops.reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, dim=None):
    """``x`` without its axes of extent 1 (only ``dim``'s, or the listed ones, when given;
    an axis of another extent is kept, as PyTorch)."""
    if dim is None:
        axes = range(x.ndim)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {check_axes.axis("squeeze", d, x.shape) for d in dims}
    return ops.reshape(x, tuple(n for k, n in enumerate(x.shape) if not (k in axes and n == 1)))


# -------------------------------------------------------------------- split, chunk

def split(x, split_size_or_sections, dim=0):
    """Pieces of ``x`` along ``dim``: of ``split_size_or_sections`` elements each (the last
    may be shorter) for an int, of the listed sizes (summing to the extent) for a list."""
    axis = check_axes.axis("split", dim, x.shape)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ShapeError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]   # PyTorch: an empty piece
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or min(sizes, default=0) < 0:
            raise ShapeError(f"split: sizes {sizes} must be at least 0 and sum to {n}, the extent of dim {axis} "
                             f"of a tensor of shape {x.shape}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(ops.getitem(x, _along(axis, start, start + size)))
        start += size
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """``x`` cut along ``dim`` into at most ``chunks`` pieces of equal size (the last may
    be shorter; fewer pieces when the extent does not allow ``chunks``), as PyTorch."""
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ShapeError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = x.shape[check_axes.axis("chunk", dim, x.shape)]
    if n == 0:      # PyTorch: ``chunks`` empty pieces
        return split(x, [0] * chunks, dim)
    return split(x, math.ceil(n / chunks), dim)


# ------------------------------------------------------------------------------ pad

class _Pad(Function):
    saved = ()
    def forward(self, x):
        return run("pad", "pad", [x], attrs=(("pad_before", self.before), ("pad_after", self.after),
                                             ("value", self.value)))

    def backward(self, g):
        x, = self.inputs
        return (ops.getitem(g, tuple(slice(b, b + n) for b, n in zip(self.before, x.shape))),)


class _EdgePad(Function):
    """``pad`` in mode "reflect", "replicate" or "circular": each output element read
    from an input element; the gradient adds it back there (``topi.pad_edge_grad``)."""
    saved = ()

    def forward(self, x):
        return run("pad_edge", "pad_edge", [x], attrs=self._attrs())

    def backward(self, g):
        x, = self.inputs
        return (ops._kernel("pad_edge_grad", "pad_edge_grad", g, x_shape=x.shape, **dict(self._attrs())),)

    def _attrs(self):
        return ("pad_before", self.before), ("pad_after", self.after), ("mode", self.mode)


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _check_edge_mode(x, pad, mode):
    """PyTorch's rule for the non-constant modes: 2, 4 or 6 widths (the last 1, 2 or 3
    axes) of an input with one or two axes more (a channel axis, and a batch axis)."""
    axes = len(pad) // 2
    if not 1 <= axes <= 3 or x.ndim not in (axes + 1, axes + 2):
        raise ShapeError(f"pad: mode {mode!r} pads the last 1, 2 or 3 axes of a tensor with 1 or 2 axes more, "
                         f"got {len(pad)} widths for a {x.ndim}-D tensor of shape {x.shape}")


def pad(x, pad, mode="constant", value=None):
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) widths from the last axis
    backwards — ``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the
    last two. Negative widths crop (down to an extent of 0, not past it). ``mode``:
    "constant" (``value``, default 0), or, as PyTorch's, "reflect" (mirror about the edge
    element), "replicate" (repeat the edge element) or "circular" (wrap around), which
    pad the last 1, 2 or 3 axes of a tensor with 1 or 2 more axes; reflect widths must be
    below the extent, circular ones at most the extent. As PyTorch's, negative reflect
    and replicate widths crop while the mapping stays about the original edges, and
    circular wraps what is left after cropping."""
    if mode not in PAD_MODES:
        raise ShapeError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: {len(pad)} widths do not pair up with the {x.ndim} axes of a tensor of shape {x.shape}")
    if mode != "constant":
        _check_edge_mode(x, pad, mode)
        if value:
            raise ShapeError(f"pad: mode {mode!r} takes no fill value, got value={value!r}")
    before, after = [0] * x.ndim, [0] * x.ndim
    for k in range(len(pad) // 2):
        before[x.ndim - 1 - k], after[x.ndim - 1 - k] = pad[2 * k], pad[2 * k + 1]
    if mode in ("reflect", "replicate"):         # negative widths crop inside the kernel, as PyTorch's
        topi.pad_modes.check_widths(x.shape, before, after, mode, "pad")
        return _EdgePad.apply(x, before=tuple(before), after=tuple(after), mode=mode)
    crop = tuple(slice(-min(b, 0), n + min(a, 0)) for b, a, n in zip(before, after, x.shape))
    if any(s.start > s.stop for s in crop):        # cropping to an extent of 0 is fine, as PyTorch
        raise ShapeError(f"pad: widths {tuple(pad)} crop more than a tensor of shape {x.shape} holds")
    if any(b < 0 or a < 0 for b, a in zip(before, after)):
        x = ops.getitem(x, crop)
    before, after = tuple(max(b, 0) for b in before), tuple(max(a, 0) for a in after)
    if not any(before) and not any(after):
        return x
    if mode == "circular":                      # PyTorch's wraps the cropped tensor
        topi.pad_modes.check_widths(x.shape, before, after, mode, "pad")
        return _EdgePad.apply(x, before=before, after=after, mode=mode)
    value = 0 if value is None else value
    value = bool(value) if x.dtype == "bool" else (int(value) if not x.dtype.startswith("float") else float(value))
    return _Pad.apply(x, before=before, after=after, value=value)


# ----------------------------------------------------------------------------- clamp

def _clamp(x, lo, hi, bounds):
    value = x
    if bounds[0]:
        value = topi.maximum(value, lo)
    if bounds[1]:
        value = topi.minimum(value, hi)
    return value


def _clamp_grad(x, g, lo, hi, bounds):
    def inside(v, d):
        conds = ([v >= lo] if bounds[0] else []) + ([v <= hi] if bounds[1] else [])
        return te.if_then_else(te.all(*conds), d, te.const(0, d.dtype))
    return topi.broadcast.elementwise("clamp_grad", [x, g], inside)


class _Clamp(Function):
    def forward(self, x):
        return run("clamp", _clamp, [x], self.scalars, (x.dtype,) * 2, (("bounds", self.bounds),))

    def backward(self, g):
        x, = self.inputs
        return (ops._kernel("clamp_grad", _clamp_grad, x, g, scalars=self.scalars, scalar_dtypes=(x.dtype,) * 2,
                        bounds=self.bounds),)


def clamp(x, min=None, max=None):
    """``x`` limited to ``[min, max]`` (either may be None); the gradient flows where
    ``min <= x <= max`` (PyTorch's rule at the bounds). A bound converts as a number
    stored into ``x``'s dtype, refused where it does not fit (``10**400``, ``1e300`` for
    float32, ``2**40`` for int32: ValueOverflowError), as PyTorch's."""
    if min is None and max is None:
        raise ShapeError("clamp: at least one of min and max must be given")
    for bound in (min, max):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float, np.number))):
            raise DTypeError(f"clamp: bounds must be numbers, got {bound!r}")
    if not x.dtype.startswith("float") and any(isinstance(b, (float, np.floating)) for b in (min, max)):
        raise DTypeError(f"clamp: float bounds for an {x.dtype} tensor; convert it with .float() first")
    scalars = tuple(0 if b is None else ops.stored_value(b, x.dtype, "clamp") for b in (min, max))
    return _Clamp.apply(x, scalars=scalars, bounds=(min is not None, max is not None))


def clamp_min(input, min):  # noqa: A002  (torch's argument name)
    """``clamp(input, min=min)`` (PyTorch's ``clamp_min``)."""
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """``clamp(input, max=max)`` (PyTorch's ``clamp_max``)."""
    return clamp(input, max=max)


# --------------------------------------------------------------------------- one_hot

def one_hot(labels, num_classes=-1):
    """int64 rows with a 1 at each label (PyTorch's ``F.one_hot``; ``num_classes=-1``:
    one more than the largest label, read from the data). No gradient. Labels outside
    ``[0, num_classes)`` raise (checked on the host for CPU labels outside ``tm.jit``;
    elsewhere such a label gives a row of zeros)."""
    if labels.dtype not in ("int32", "int64"):
        raise DTypeError(f"one_hot: labels must be an integer tensor, got {labels.dtype}")
    if num_classes == -1:
        num_classes = int(labels.numpy().max()) + 1 if labels._data.size else 0
    if num_classes <= 0:
        raise ShapeError(f"one_hot: num_classes must be positive, got {num_classes}")
    check_indices("one_hot", labels, num_classes)        # a label outside the classes is an error, as PyTorch
    return ops._kernel("one_hot", "one_hot", labels, depth=int(num_classes), dtype="int64")
