"""Indexing graph Tensors: ints, slices with positive steps, ``...``, ``None``, one
integer-array index, and a bool mask.

Basic indices are one ``topi.window`` kernel (and a reshape for the dropped and new
axes) whose start offsets are run-time arguments: ``x[i]`` for every ``i``, or batch
``x[i:i + 64]`` for every ``i``, share one build (a new offset costs a call, not a
compile). Its gradient puts the incoming gradient back into zeros of ``x``'s shape
(``window_grad``). An integer tensor, list or array on one axis (the other indices full
slices) is ``take`` (see :mod:`.index_ops`); a bool mask over the leading axes selects
its True positions (read on the host, so not inside ``tm.jit``, as the result's shape
depends on the data). Indices PyTorch does not take are refused with an
:class:`~tvmini.errors.IndexingError` (also an ``IndexError``) naming the index and the
shape: a bool (``x[True]`` must not mean ``x[1]``), a float, a second ``...``, an
integer out of range.
"""
import numpy as np

from .. import te, topi
from ..errors import AutogradError, DTypeError, IndexingError, ShapeError
from ..runtime import ndarray as nd
from . import autograd, dispatch, ops
from .autograd import Function, is_grad_enabled, no_grad
from .dispatch import run, run_inplace
from .index_ops import check_indices, from_end, take
from .ops import _as_tensor, _kernel, reshape
from .tensor import Tensor


def _window(x, *starts, lengths, strides, shape):
    return topi.window(x, starts, lengths, strides, shape)


def _window_grad(g, *starts, x_shape, lengths, strides):
    return topi.window_grad(g, x_shape, starts, strides, lengths)


class _Window(Function):
    """``x[index]`` of basic indices: one kernel (the result's shape drops and adds the
    axes of extent 1 itself), offsets at run time."""
    aliases = True
    saved = ()

    def forward(self, x):
        return run("window", _window, [x], self.starts, ("int32",) * len(self.starts),
                   attrs=(("lengths", self.lengths), ("strides", self.strides), ("shape", self.shape)))

    def backward(self, g):
        x, = self.inputs
        return (_kernel("window_grad", _window_grad, g, scalars=self.starts,
                        scalar_dtypes=("int32",) * len(self.starts), x_shape=x.shape, lengths=self.lengths,
                        strides=self.strides),)


def _is_array_index(i):
    return isinstance(i, (Tensor, np.ndarray, list))


#: what a basic index may be beside None and ``...`` (a bool is refused although an int)
_BASIC_INDEX = (slice, int, np.integer)


def _advanced(x, index):
    """``x[index]`` for one array index among full slices: a mask or integer positions,
    negatives counting from the end (an integer tensor inside a trace or on the GPU goes
    to the kernel, checked where it can be read, see :func:`.index_ops.check_indices`;
    other positions are read on the host)."""
    at = next(k for k, i in enumerate(index) if _is_array_index(i))
    rest = index[:at] + index[at + 1:]
    if not all(isinstance(i, slice) and i == slice(None) for i in rest):
        raise IndexingError(f"indexing a tensor of shape {x.shape}: an integer-array or mask index can only be "
                            "combined with full slices (:)")
    chosen = index[at]
    if isinstance(chosen, Tensor) and chosen.dtype != "bool" and (dispatch.thread.tracer is not None
                                                                        or chosen.device.kind != "cpu"):
        check_indices(f"indexing a tensor of shape {x.shape} on axis {at}", chosen, x.shape[at], negative=True)
        return take(x, from_end(chosen, x.shape[at]), at)
    values = chosen.numpy() if isinstance(chosen, Tensor) else np.asarray(chosen)
    if isinstance(chosen, list) and not values.size:     # numpy makes [] float64; PyTorch: no positions
        values = values.astype(np.int64)
    if values.dtype == np.bool_:
        if at != 0 or values.shape != x.shape[:values.ndim]:
            raise IndexingError(f"mask of shape {values.shape} does not match the leading axes of a tensor of shape "
                                f"{x.shape}")
        rows = reshape(x, (values.size,) + x.shape[values.ndim:]) if values.ndim != 1 else x
        return take(rows, np.flatnonzero(values), 0)
    if not np.issubdtype(values.dtype, np.integer):
        raise IndexingError(f"indexing a tensor of shape {x.shape}: an array index must hold integers or bools, "
                            f"got {values.dtype}")
    n = x.shape[at]
    if values.size and (values.min() < -n or values.max() >= n):
        bad = values.min() if values.min() < -n else values.max()
        raise IndexingError(f"index {bad} is out of range for axis {at} with extent {n} (tensor of shape {x.shape})")
    return take(x, np.where(values < 0, values + n, values), at)


def _expanded(x, index):
    """``(index, has_array)``: ``index`` checked and padded to one entry per axis
    (``...`` expanded; None kept), and whether it holds an array index. Refused, with an
    IndexingError naming the index and the shape: bools and floats (``x[True]`` is not
    ``x[1]``; PyTorch refuses ``x[1.0]``), a second ``...``, more than one array index,
    more indices than axes. One pass over the index: every op's ``x[i]`` comes here."""
    index = index if isinstance(index, tuple) else (index,)
    real = ellipses = arrays = 0
    for i in index:
        if i is None:
            continue
        if i is Ellipsis:
            ellipses += 1
            continue
        if _is_array_index(i):
            arrays += 1
        elif not isinstance(i, _BASIC_INDEX) or isinstance(i, (bool, np.bool_)):
            raise IndexingError(f"indexing a tensor of shape {x.shape}: only ints, slices, ..., None and integer or "
                                f"bool tensors are valid indices, got {type(i).__name__} {i!r}")
        real += 1
    if ellipses > 1:
        raise IndexingError(f"indexing a tensor of shape {x.shape}: an index can have only one ellipsis (...)")
    if arrays > 1:
        raise IndexingError(f"indexing a tensor of shape {x.shape}: only one integer-array or mask index is "
                            "supported (index the axes one at a time)")
    if real > x.ndim:
        raise IndexingError(f"too many indices ({real}) for a tensor of shape {x.shape}")
    if ellipses:
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        return index[:at] + (slice(None),) * (x.ndim - real) + index[at + 1:], bool(arrays)
    return index + (slice(None),) * (x.ndim - real), bool(arrays)


def _basic_window(x, index):
    """(starts, lengths, strides, result shape) of basic ``index`` (ints and slices, and
    None for a new axis of the result) on ``x``."""
    shape = x.shape
    starts, lengths, strides, out_shape, axis = [], [], [], [], 0
    for i in index:
        if i is None:
            out_shape.append(1)
            continue
        n = shape[axis]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step <= 0:
                raise ShapeError(f"slice step must be positive, got {step} (tensor of shape {shape})")
            length = len(range(start, stop, step))
            starts.append(start)
            lengths.append(length)
            strides.append(step if length > 1 else 1)
            out_shape.append(length)
        else:
            k = int(i)
            if not -n <= k < n:
                raise IndexingError(f"index {k} is out of range for axis {axis} with extent {n} "
                                    f"(tensor of shape {shape})")
            starts.append(k % n)
            lengths.append(1)
            strides.append(1)
        axis += 1
    return tuple(starts), tuple(lengths), tuple(strides), tuple(out_shape)


def getitem(x, index):
    """``x[index]`` (see the module docstring for what ``index`` may hold)."""
    index, has_array = _expanded(x, index)
    if has_array:
        if any(i is None for i in index):
            raise IndexingError(f"indexing a tensor of shape {x.shape}: None cannot be combined with an array index")
        return _advanced(x, index)
    starts, lengths, strides, out_shape = _basic_window(x, index)
    if lengths == x.shape:
        out = reshape(x, out_shape)
        if out is x:            # x[:] or x[...]: x itself, as good as PyTorch's view
            return x
    else:
        out = _Window.apply(x, starts=starts, lengths=lengths, strides=strides, shape=out_shape)
    if None not in index:
        out._aliased = (x, index)       # a copy that writes through to x (see setitem)
    return out


# -------------------------------------------------------------------------- assignment

def _window_assign(x, values, *starts, lengths, strides):
    return topi.window_assign(x, values, starts, strides, lengths)


def _masked_fill(mask, x, value):
    return topi.broadcast.elementwise("masked_fill", [mask, x], lambda m, v: te.if_then_else(m, value, v))


def _check_writable(x, value, what="assigning", recorded=False):
    """PyTorch's rules for writes into ``x``: a leaf that requires grad is written only
    under ``no_grad``; a write not ``recorded`` for backward (a mask, ``zero_``,
    ``copy_``) into a result autodiff tracks, or of a value that requires grad, is
    refused. A basic-indexing result (``x[0]``, a copy here, a view in PyTorch) writes
    through to the tensor it came from (see :func:`setitem`), so that tensor's rules
    apply first; other copies that PyTorch makes views (reshape, transpose ...) are
    refused."""
    if isinstance(x._aliased, tuple):
        _check_writable(x._aliased[0], value, what, recorded)
    elif x._aliased:
        raise IndexingError(f"{what} into a tensor of shape {x.shape} that a view op made "
                            "(x.reshape/view/transpose/squeeze/expand/split ...): tvmini made a copy where "
                            "PyTorch returns a view, so the write would not reach the tensor it came from; "
                            "write into that tensor directly, or .clone() it first to write into a copy of your own")
    if not is_grad_enabled():
        return
    if x.requires_grad and x.is_leaf:
        raise AutogradError(f"{what} into a tensor of shape {x.shape} that requires grad (a leaf, or a view of "
                            "one) is not allowed, as in PyTorch; update it under tm.no_grad() (as an optimizer does)")
    if recorded:
        return
    if x.requires_grad:
        raise AutogradError(f"{what} into a tensor of shape {x.shape} that autodiff tracks is not recorded for "
                            "backward here; build the result out of place (tm.where(mask, v, x), x.masked_fill, "
                            "tm.cat), or assign through basic indices (x[i] = v) or in-place arithmetic (x += v), "
                            "which are recorded")
    if isinstance(value, Tensor) and value.requires_grad:
        raise AutogradError(f"{what} a tensor that requires grad (shape {value.shape}) into one of shape "
                            f"{x.shape} is not recorded for backward here; build the result with tm.cat, "
                            "tm.stack or tm.where instead, assign through basic indices (x[i] = v), use "
                            "in-place arithmetic (x += v), or value.detach()")


def _records(x, value):
    """Whether writing ``value`` into ``x`` records history: in grad mode, on a result
    autodiff tracks or with a value that requires grad (not on a leaf that requires
    grad: refused)."""
    return is_grad_enabled() and x._aliased is not True and not (x.requires_grad and x.is_leaf) and (
        x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))


def update(x, op, value, what):
    """``x op= value`` in place (``op`` a binary graph op; ``what`` names it for errors),
    as PyTorch: the result is written over ``x``'s memory, so every reference to ``x``
    sees it (``p -= lr * p.grad`` under ``tm.no_grad()`` updates the parameter itself).
    ``value`` broadcasts to ``x``'s shape, and the result converts to ``x``'s dtype
    within its category (float64 into float32, not float into int), as PyTorch allows.
    In grad mode on a tensor autodiff tracks (``out += identity``), or with a value that
    requires grad, ``x`` becomes the op's output (``autograd.rebase``); a value an
    earlier op saved for its gradient and this write overwrote makes backward raise.
    Otherwise under the assignment rules of ``__setitem__``. A basic-indexing result
    writes through to its source (``y[0] += 1``), see :func:`setitem`."""
    what = f"in-place {what}"
    recorded = _records(x, value)
    _check_writable(x, value, what, recorded)
    if recorded:
        old = autograd.previous_value(x, copy=op not in (ops.add, ops.sub))    # their gradients read no values
        result = _stored(x, op(old, value), what)
        with no_grad():
            _write(x, Ellipsis, result)
        autograd.rebase(x, old, result)
    else:
        _write(x, Ellipsis, _stored(x, op(x.detach(), value.detach() if isinstance(value, Tensor) else value), what))
    write_through(x)
    return x


def _stored(x, result, what):
    """``result`` of an in-place op on ``x``, checked and cast to be stored in ``x``."""
    if result.shape != x.shape:
        raise ShapeError(f"{what}: the result's shape {result.shape} (broadcast with the operand) does "
                         f"not match the tensor's {x.shape}")
    if ops.category(result.dtype) > ops.category(x.dtype):
        raise DTypeError(f"{what}: the result is {result.dtype}, which cannot be stored in the "
                         f"{x.dtype} tensor it updates")
    return ops.cast(result, x.dtype)


def _check_fill_value(value, what):
    """Refuse a value tensor of more than 0 dimensions for a masked fill (as PyTorch)."""
    if isinstance(value, Tensor) and value.ndim:
        raise IndexingError(f"{what}: the value must be a number or a 0-d tensor, got shape {value.shape}")


def masked_fill(x, mask, value):
    """``value`` where the bool ``mask`` (broadcast) holds, else ``x``: PyTorch's
    ``masked_fill``, keeping ``x``'s dtype (an int64 tensor filled with 2.7 holds 2, a
    bool one filled with 5 holds True; numbers convert as :func:`ops.stored_value`, a
    0-d tensor value is cast). Differentiable in ``x`` and a floating ``value``."""
    if not isinstance(mask, Tensor) or mask.dtype != "bool":
        raise DTypeError(f"masked_fill: the mask must be a bool tensor, got "
                         f"{mask.dtype + ' tensor' if isinstance(mask, Tensor) else type(mask).__name__}")
    _check_fill_value(value, "masked_fill")
    ops.broadcast_shapes("masked_fill", x.shape, mask.shape)
    if isinstance(value, Tensor):
        value = ops.cast(value, x.dtype)
    else:
        value = _as_tensor(ops.stored_value(value, x.dtype, f"masked_fill of a {x.dtype} tensor"), x)
    return ops.where(mask, value, x)


def _as_values(x, value, shape):
    """``value`` (a number, an array or a tensor) as a tensor of ``x``'s dtype broadcast
    to ``shape`` (a number converted as :func:`ops.stored_value`)."""
    if ops._is_number(value) or isinstance(value, (bool, np.bool_)):
        value = ops.stored_value(value, x.dtype, f"assigning into a {x.dtype} tensor")
    values = value if isinstance(value, Tensor) else _as_tensor(value, x)
    ops.check_device("setitem", x, values)
    values = ops.cast(values, x.dtype)
    ops.broadcast_shapes("setitem", values.shape, shape)
    return ops.broadcast_to(values, shape) if values.shape != shape else values


def _no_positions(given):
    """Whether the array index ``given`` is an integer one holding no positions (``[]``,
    an empty integer tensor or array): an assignment through it writes nothing."""
    if isinstance(given, list):
        return not np.asarray(given).size
    size = given._data.size if isinstance(given, Tensor) else given.size
    return size == 0 and given.dtype in ("int32", "int64")


def _assign_nothing(x, index, given, value):
    """``x[index] = value`` where the integer-array index ``given`` holds no positions: a
    no-op, as PyTorch's, once ``value`` passed the checks a real assignment makes (it
    fits ``x``'s dtype, is on its device and broadcasts to the empty selection)."""
    at = next(k for k, i in enumerate(index) if i is given)
    if not all(isinstance(i, slice) and i == slice(None) for k, i in enumerate(index) if k != at):
        raise IndexingError(f"assigning into a tensor of shape {x.shape}: an integer-array index can only be "
                            "combined with full slices (:)")
    positions = np.shape(given) if isinstance(given, list) else tuple(given.shape)
    _as_values(x, value, x.shape[:at] + positions + x.shape[at + 1:])


def setitem(x, index, value):
    """``x[index] = value`` in place (``value`` a number or a tensor broadcast to the
    selection): a window of basic indices (one kernel over ``x``, offsets at run time),
    or a bool mask (of ``x``'s shape or its leading axes) with a number or a 0-d tensor.
    An integer-array index holding no positions (``x[[]] = v``) writes nothing, as
    PyTorch; a 0-d integer tensor is read as an int (``counts[label] += 1``); other
    integer-array assignments are refused. When ``x`` is the result of basic indexing
    (``x = y[0]``: a view in PyTorch, a copy here) the write also goes through to ``y``,
    so ``y[0][1] = v``, ``y[0] += 1`` and ``row = y[0]; row *= 2`` change ``y`` as in
    PyTorch."""
    index = _scalar_indices(index)
    recorded = _records(x, value) and not _expanded(x, index)[1]
    _check_writable(x, value, "assigning", recorded)
    if recorded:
        _record_assign(x, index, value)
    else:
        _write(x, index, value)
    write_through(x)


def write_through(x):
    """Copy ``x``, just written in place, into the tensor it was indexed from, if it is
    a basic-indexing result (PyTorch's view); recorded for backward as any assignment."""
    if isinstance(x._aliased, tuple):
        source, at = x._aliased
        setitem(source, at, x)


class _WindowPut(Function):
    """``x`` with the window of basic indices replaced by ``values`` (a recorded
    assignment, PyTorch's CopySlices): the gradient is ``g`` with the window zeroed for
    ``x``, ``g``'s window for ``values``."""
    saved = ()

    def forward(self, x, values):
        out = nd.array(x)
        run_inplace("window_assign", _window_assign, [out, values], (0,), self.starts, ("int32",) * len(self.starts),
                    (("lengths", self.lengths), ("strides", self.strides)))
        return out

    def backward(self, g):
        x, values = self.inputs
        gx = gv = None
        if x.requires_grad:
            gx = Tensor._wrap(nd.array(g._data))
            run_inplace("window_assign", _window_assign, [gx._data, _as_values(gx, 0, values.shape)._data], (0,),
                        self.starts, ("int32",) * len(self.starts),
                        (("lengths", self.lengths), ("strides", self.strides)))
        if values.requires_grad:
            gv = _kernel("window", _window, g, scalars=self.starts, scalar_dtypes=("int32",) * len(self.starts),
                         lengths=self.lengths, strides=self.strides, shape=values.shape)
        return gx, gv


def _record_assign(x, index, value):
    """``x[index] = value`` for basic ``index``, recorded: ``x`` becomes the output of a
    :class:`_WindowPut` of its previous value (``autograd.rebase``), as in PyTorch."""
    index, _ = _expanded(x, index)
    if any(i is None for i in index):
        raise IndexingError(f"assigning into a tensor of shape {x.shape}: None is not an assignable index")
    starts, lengths, strides, out_shape = _basic_window(x, index)
    values = _as_values(x, value, out_shape)
    old = autograd.previous_value(x, copy=False)        # the gradient reads no values
    result = _WindowPut.apply(old, values, starts=starts, lengths=lengths, strides=strides)
    with no_grad():
        _write(x, Ellipsis, result)
    autograd.rebase(x, old, result)


def _scalar_indices(index):
    """``index`` with each 0-d integer tensor read as a Python int (PyTorch takes one as
    an int; a host read, so not inside ``tm.jit``)."""
    def scalar(i):
        return int(i.item()) if isinstance(i, Tensor) and not i.ndim and i.dtype in _INDEX_DTYPES else i
    return tuple(map(scalar, index)) if isinstance(index, tuple) else scalar(index)


_INDEX_DTYPES = ("int8", "uint8", "int32", "int64")


def _write(x, index, value):
    """``x[index] = value`` into ``x``'s own array (see :func:`setitem`)."""
    index, has_array = _expanded(x, index)
    if has_array:
        given = next(i for i in index if _is_array_index(i))
        if _no_positions(given):
            _assign_nothing(x, index, given, value)
            return
        mask = given if isinstance(given, Tensor) else Tensor._wrap(nd.array(np.asarray(given), device=x.device))
        rest = [i for i in index if not _is_array_index(i)]
        if mask.dtype != "bool" or index[0] is not given or \
                not all(isinstance(i, slice) and i == slice(None) for i in rest) or mask.shape != x.shape[:mask.ndim]:
            raise IndexingError(f"assigning into a tensor of shape {x.shape}: besides basic indices only a bool mask "
                                "over its leading axes is supported (no integer-array assignment)")
        _check_fill_value(value, "assigning through a mask")
        scalar = ops.stored_value(value.item() if isinstance(value, Tensor) else value, x.dtype,
                                  f"assigning through a mask into a {x.dtype} tensor")
        mask = reshape(mask, mask.shape + (1,) * (x.ndim - mask.ndim))
        run_inplace("masked_fill", _masked_fill, [mask._data, x._data], (1,), (int(scalar) if x.dtype == "bool" else scalar,),
                    (x.dtype,))
        return
    if any(i is None for i in index):
        raise IndexingError(f"assigning into a tensor of shape {x.shape}: None is not an assignable index")
    starts, lengths, strides, out_shape = _basic_window(x, index)
    values = _as_values(x, value, out_shape)
    run_inplace("window_assign", _window_assign, [x._data, values._data], (0,), starts, ("int32",) * len(starts),
                (("lengths", lengths), ("strides", strides)))
