"""Layout transforms: transpose, reshape, broadcast_to, strided_slice (and its
gradient), concatenate, pad, one_hot, take (gather along an axis) and its gradient,
the triangles and diagonals of matrices (tril/triu, diag) and roll.

Each is one compute whose output element reads one input element (or a constant), so
the CPU rule treats them like broadcast elementwise ops ("injective"; "transpose" gets
tiles). Extents may be ``te.var``s where the op allows it: reshape needs constant sizes
only to check them and to infer ``-1``; the axes that strided_slice cuts must be
constant. Indices out of range in ``take`` are clipped (mode "clip") or wrapped
("wrap"); a kernel never reads outside its input. ``take_grad`` is the one reduction
here (tag "reduce"): a scatter-add written as a gather, see its docstring.
"""
from .. import te
from ..errors import DTypeError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.simplify import simplify
from .broadcast import broadcast_index, broadcast_shape, same_extent, shape_str

__all__ = ["transpose", "reshape", "broadcast_to", "strided_slice", "strided_slice_grad", "window", "window_grad",
           "window_assign",
           "concatenate", "pad", "one_hot", "take", "take_grad", "triangle", "diagonal", "diagonal_embed", "roll"]


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__} {x!r}")


def _const(e):
    return e.value if isinstance(e, E.Const) else None


def transpose(x, axes=None):
    """Permute the axes of ``x`` (reversed when ``axes`` is None), as ``numpy.transpose``."""
    _check(x, "transpose")
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim if isinstance(a, int) else a
                                                                      for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.name} "
                         f"{shape_str(x.shape)}")
    shape = [x.shape[a] for a in axes]

    def body(*idx):
        index = [None] * x.ndim
        for out_axis, in_axis in enumerate(axes):
            index[in_axis] = idx[out_axis]
        return x[tuple(index)]
    return te.compute(shape, body, name="transpose", tag="transpose")


def _size(shape):
    total = E.const(1)
    for n in shape:
        total = total * n
    return simplify(total)


def reshape(x, newshape):
    """``x`` with a new shape of the same size (one entry may be -1), row-major order."""
    _check(x, "reshape")
    newshape = [newshape] if isinstance(newshape, int) else list(newshape)
    size = _size(x.shape)
    if sum(1 for n in newshape if isinstance(n, int) and n == -1) > 1:
        raise ShapeError(f"reshape of {x.name} {shape_str(x.shape)}: only one -1 allowed in {newshape}")
    if -1 in [n for n in newshape if isinstance(n, int)]:
        known = _size([n for n in newshape if not (isinstance(n, int) and n == -1)])
        if _const(known) is not None and _const(size) is not None and _const(size) % _const(known):
            raise ShapeError(f"reshape: cannot reshape {x.name} {shape_str(x.shape)} (size {_const(size)}) "
                             f"into {newshape}")
        inferred = simplify(size // known) if _const(size) is None or _const(known) is None \
            else E.const(_const(size) // _const(known))
        newshape = [inferred if isinstance(n, int) and n == -1 else n for n in newshape]
    new_size = _size(newshape)
    if _const(size) is not None and _const(new_size) is not None and _const(size) != _const(new_size):
        raise ShapeError(f"reshape: cannot reshape {x.name} {shape_str(x.shape)} (size {_const(size)}) "
                         f"into {shape_str(newshape)} (size {_const(new_size)})")
    newshape = [E.convert(n) for n in newshape]

    def body(*idx):
        flat = E.const(0)
        for i, n in zip(idx, newshape):
            flat = flat * n + i
        index = []
        for n in reversed(x.shape):
            index.append(flat % n)
            flat = flat // n
        return x[tuple(reversed(index))]
    return te.compute(newshape, body, name="reshape", tag="injective")


def broadcast_to(x, shape):
    """``x`` repeated along its size-1 (and missing leading) axes to ``shape``."""
    _check(x, "broadcast_to")
    shape = tuple(E.convert(n) for n in shape)
    out = broadcast_shape(x.shape, shape, "broadcast_to")
    if len(out) != len(shape) or any(_const(a) != _const(b) or (_const(a) is None and a is not b)
                                     for a, b in zip(out, shape)):
        raise ShapeError(f"broadcast_to: {x.name} {shape_str(x.shape)} does not broadcast to {shape_str(shape)}")
    return te.compute(shape, lambda *idx: x[broadcast_index(x, shape, idx)], name="broadcast_to", tag="broadcast")


def _slice_axes(x, begin, end, strides, op):
    """Per axis: (start, step, length) with numpy semantics; uncut axes keep their extent."""
    ndim = x.ndim
    begin, end = list(begin), list(end)
    strides = [1] * len(begin) if strides is None else list(strides)
    if not len(begin) == len(end) == len(strides) or len(begin) > ndim:
        raise ShapeError(f"{op}: begin {begin}, end {end} and strides {strides} must have equal lengths "
                         f"of at most {ndim} ({x.name} {shape_str(x.shape)})")
    out = []
    for axis, n in enumerate(x.shape):
        if axis >= len(begin):
            out.append((0, 1, n))
            continue
        b, e, s = begin[axis], end[axis], strides[axis]
        if s == 0:
            raise ShapeError(f"{op}: stride 0 on axis {axis} of {x.name}")
        extent = _const(n)
        if extent is None:
            if (b in (0, None)) and e is None and s == 1:
                out.append((0, 1, n))
                continue
            raise ShapeError(f"{op}: axis {axis} of {x.name} has symbolic extent {n}; only a full slice is allowed")
        start, stop, step = slice(b, e, s).indices(extent)
        length = len(range(start, stop, step))
        out.append((start if length else 0, step, length))    # an empty slice reads nothing
    return out


def strided_slice(x, begin, end, strides=None):
    """``x[b0:e0:s0, b1:e1:s1, ...]`` with numpy semantics (negative indices and steps,
    ``None`` for an open end); axes past ``len(begin)`` are kept whole."""
    _check(x, "strided_slice")
    axes = _slice_axes(x, begin, end, strides, "strided_slice")
    return te.compute([length for _, _, length in axes],
                      lambda *idx: x[tuple(start + i * step for i, (start, step, _) in zip(idx, axes))],
                      name="strided_slice", tag="injective")


def strided_slice_grad(g, x_shape, begin, end, strides=None):
    """The gradient of ``strided_slice``: ``g`` scattered back into zeros of ``x_shape``."""
    _check(g, "strided_slice_grad")
    like = te.placeholder(x_shape, name="x", dtype=g.dtype)
    axes = _slice_axes(like, begin, end, strides, "strided_slice_grad")
    if [_const(E.convert(n)) for _, _, n in axes] != [_const(n) for n in g.shape]:
        raise ShapeError(f"strided_slice_grad: gradient {g.name} {shape_str(g.shape)} does not match the slice "
                         f"shape {shape_str([n for _, _, n in axes])}")

    def body(*idx):
        if 0 in [length for _, _, length in axes]:     # an empty slice: no gradient to place
            return E.const(0, g.dtype)
        inside, index = [], []
        for i, (start, step, length), n in zip(idx, axes, like.shape):
            if step == 1 and start == 0 and (length is n or _const(E.convert(length)) == _const(n)):
                index.append(i)
                continue
            offset = i - start if step > 0 else start - i
            k = offset // abs(step)
            inside += [offset >= 0, offset % abs(step) == 0, k < length]
            index.append(te.min(te.max(k, 0), E.convert(length) - 1))
        value = g[tuple(index)]
        return te.if_then_else(te.all(*inside), value, E.const(0, g.dtype)) if inside else value
    return te.compute(like.shape, body, name="strided_slice_grad", tag="injective")


def _window_axes(shape, starts, lengths, strides, op):
    """Per axis (start, step, length): ``starts`` are run-time expressions, each clamped
    into the one range that keeps the whole window inside the axis (so no argument
    value reads or writes outside the tensor); lengths and positive steps are constants.
    A window of length 0 fits any axis (``x[2:2]``); its start is 0, as nothing is read."""
    if not len(starts) == len(lengths) == len(strides) == len(shape):
        raise ShapeError(f"{op}: need one start, length and stride per axis of {shape_str(shape)}, got "
                         f"{len(starts)}, {len(lengths)} and {len(strides)}")
    axes = []
    for axis, (n, start, length, step) in enumerate(zip(shape, starts, lengths, strides)):
        extent = _const(E.convert(n))
        if extent is None or not isinstance(length, int) or not isinstance(step, int) or length < 0 or step < 1 \
                or (length - 1) * step >= extent:
            raise ShapeError(f"{op}: a window of {length} elements every {step} does not fit axis {axis} of "
                             f"extent {n}")
        last = extent - 1 - (length - 1) * step
        if length == 0:
            axes.append((E.const(0), step, 0))
        elif isinstance(start, int):
            if not 0 <= start <= last:
                raise ShapeError(f"{op}: start {start} puts the window outside axis {axis} of extent {n}")
            axes.append((start, step, length))
        else:
            axes.append((te.min(te.max(start.astype("int32"), 0), last) if last else E.const(0), step, length))
    return axes


def _unit_axes(lengths, shape, op):
    """Index maps between a window of ``lengths`` and a tensor of ``shape`` holding the
    same elements with axes of extent 1 dropped or added (``x[i]`` drops its row axis):
    (window index of a shape index, shape index of a window index)."""
    big = [k for k, n in enumerate(shape) if _const(E.convert(n)) != 1]
    if [_const(E.convert(shape[k])) for k in big] != [n for n in lengths if n != 1]:
        raise ShapeError(f"{op}: shape {shape_str(shape)} is not the window {list(lengths)} with axes of extent 1 "
                         "dropped or added")
    wide = [k for k, n in enumerate(lengths) if n != 1]

    def window_index(idx):
        it = iter([idx[k] for k in big])
        return tuple(next(it) if n != 1 else E.const(0) for n in lengths)

    def shape_index(idx):
        it = iter([idx[k] for k in wide])
        return tuple(next(it) if _const(E.convert(n)) != 1 else E.const(0) for n in shape)
    return window_index, shape_index


def window(x, starts, lengths, strides, shape=None):
    """``x[s0 : s0 + l0*t0 : t0, ...]`` with run-time starts ``s`` (scalar ``te.var``s or
    ints): one kernel serves every offset of a window shape, e.g. every row ``x[i]`` or
    batch ``x[i:i+b]``. A start beyond the axis is clamped (the caller checks them).
    ``shape``: the result's shape, ``lengths`` with axes of extent 1 dropped or added
    (``x[i]`` is the window (1, n) given as (n,), with no reshape after it)."""
    _check(x, "window")
    axes = _window_axes(x.shape, starts, lengths, strides, "window")
    shape = list(lengths) if shape is None else list(shape)
    window_index, _ = _unit_axes(lengths, shape, "window")

    def body(*idx):
        return x[tuple(s + i * t for i, (s, t, _) in zip(window_index(idx), axes))]
    return te.compute(shape, body, name="window", tag="injective")


def _placed(values, shape, starts, strides, outside, op, lengths=None):
    """A tensor of ``shape`` holding ``values`` at the window (``starts``, ``strides``,
    ``lengths``: by default ``values``' extents, else ``values`` is the window with axes
    of extent 1 dropped or added) and ``outside(idx)`` elsewhere."""
    lengths = [_const(n) for n in values.shape] if lengths is None else list(lengths)
    axes = _window_axes(shape, starts, lengths, strides, op)
    _, values_index = _unit_axes(lengths, values.shape, op)

    def body(*idx):
        if 0 in lengths:        # an empty window: nothing of ``values`` to place (or to read)
            return outside(idx)
        inside, index = [], []
        for i, (start, step, length) in zip(idx, axes):
            offset = i - start
            k = offset // step if step > 1 else offset
            inside += [offset >= 0, k < length] + ([offset % step == 0] if step > 1 else [])
            index.append(te.min(te.max(k, 0), length - 1))
        return te.if_then_else(te.all(*inside), values[values_index(index)], outside(idx))
    return te.compute(list(shape), body, name=op, tag="injective")


def window_grad(g, x_shape, starts, strides, lengths=None):
    """The gradient of ``window``: ``g`` placed back at the window in zeros of ``x_shape``
    (``lengths``: the window's, when ``g`` has the result's shape without them)."""
    _check(g, "window_grad")
    return _placed(g, x_shape, starts, strides, lambda idx: E.const(0, g.dtype), "window_grad", lengths)


def window_assign(x, values, starts, strides, lengths=None):
    """``x`` with ``values`` written over the window at run-time ``starts`` (``x[window]
    = values``); it reads ``x`` only at the element it writes, so it may overwrite ``x``
    in place."""
    _check(x, "window_assign")
    _check(values, "window_assign")
    if values.dtype != x.dtype:
        raise DTypeError(f"window_assign: values {values.name} are {values.dtype}, {x.name} is {x.dtype}")
    return _placed(values, x.shape, starts, strides, lambda idx: x[idx], "window_assign", lengths)


def concatenate(xs, axis=0):
    """Join tensors of equal dtype along ``axis``; the other extents must match."""
    xs = list(xs)
    if not xs:
        raise ShapeError("concatenate: needs at least one tensor")
    for x in xs:
        _check(x, "concatenate")
    first = xs[0]
    if not -first.ndim <= axis < first.ndim:
        raise ShapeError(f"concatenate: axis {axis} out of range for {first.name} {shape_str(first.shape)}")
    axis %= first.ndim
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise DTypeError(f"concatenate: {x.name} is {x.dtype}, {first.name} is {first.dtype}")
        if x.ndim != first.ndim or any(_const(a) != _const(b) or (_const(a) is None and a is not b)
                                       for k, (a, b) in enumerate(zip(x.shape, first.shape)) if k != axis):
            raise ShapeError(f"concatenate along axis {axis}: {x.name} {shape_str(x.shape)} does not match "
                             f"{first.name} {shape_str(first.shape)}")
    offsets = [E.const(0)]
    for x in xs:
        offsets.append(simplify(offsets[-1] + x.shape[axis]))
    shape = list(first.shape)
    shape[axis] = offsets[-1]

    def body(*idx):
        def part(k):
            index = list(idx)
            index[axis] = idx[axis] - offsets[k]
            return xs[k][tuple(index)]
        value = part(len(xs) - 1)
        for k in range(len(xs) - 2, -1, -1):
            value = te.if_then_else(idx[axis] < offsets[k + 1], part(k), value)
        return value
    return te.compute(shape, body, name="concatenate", tag="injective")


def pad(x, pad_before, pad_after=None, value=0.0):
    """``x`` surrounded by ``value``: ``pad_before[k]``/``pad_after[k]`` elements on axis k
    (missing trailing entries mean 0; ``pad_after`` defaults to ``pad_before``)."""
    _check(x, "pad")
    pad_before = list(pad_before)
    pad_after = list(pad_before if pad_after is None else pad_after)
    if len(pad_before) > x.ndim or len(pad_after) > x.ndim or min(pad_before + pad_after, default=0) < 0:
        raise ShapeError(f"pad: widths {pad_before}/{pad_after} do not fit {x.name} {shape_str(x.shape)}")
    before = pad_before + [0] * (x.ndim - len(pad_before))
    after = pad_after + [0] * (x.ndim - len(pad_after))
    shape = [simplify(n + b + a) for n, b, a in zip(x.shape, before, after)]

    def body(*idx):
        conds = []
        for i, n, b, a in zip(idx, x.shape, before, after):
            if b:
                conds.append(i >= b)
            if a:
                conds.append(i < n + b)
        load = x[tuple(i - b for i, b in zip(idx, before))]
        return te.if_then_else(te.all(*conds), load, E.const(value, x.dtype)) if conds else load
    return te.compute(shape, body, name="pad", tag="injective")


def _check_index(indices, op):
    _check(indices, op)
    if not dt.is_int(indices.dtype):
        raise DTypeError(f"{op}: indices {indices.name} must be integers, got {indices.dtype}")


def one_hot(indices, depth, dtype="float32", on_value=1, off_value=0):
    """``out[..., d] = on_value if indices[...] == d else off_value`` (a new last axis)."""
    _check_index(indices, "one_hot")
    dtype = dt.canonical(dtype)
    on, off = E.const(on_value, dtype), E.const(off_value, dtype)

    def body(*idx):
        return te.if_then_else(indices[idx[:-1]] == idx[-1].astype(indices.dtype), on, off)
    return te.compute(list(indices.shape) + [depth], body, name="one_hot", tag="injective")


def _take_axis(x_ndim, axis, what, op):
    if not isinstance(axis, int) or not -x_ndim <= axis < x_ndim:
        raise ShapeError(f"{op}: axis {axis} out of range for {what}")
    return axis % x_ndim


def _take_position(raw, n, mode):
    """Where index ``raw`` reads along an axis of extent ``n``."""
    return te.min(te.max(raw, 0), n - 1) if mode == "clip" else raw % n


def _check_mode(mode, op):
    if mode not in ("clip", "wrap"):
        raise TVMiniError(f"{op}: mode must be 'clip' or 'wrap', got {mode!r}")


def take(x, indices, axis=0, mode="clip"):
    """Gather along ``axis``: ``out[i..., rest...] = x[indices[i...], rest...]`` for axis 0
    (numpy.take). Out-of-range indices are clipped (``mode="clip"``) or wrapped
    (``mode="wrap"``, negative indices count from the end)."""
    _check(x, "take")
    _check_index(indices, "take")
    _check_mode(mode, "take")
    axis = _take_axis(x.ndim, axis, f"{x.name} {shape_str(x.shape)}", "take")
    n = x.shape[axis]
    shape = list(x.shape[:axis]) + list(indices.shape) + list(x.shape[axis + 1:])
    k = indices.ndim

    def body(*idx):
        pos = _take_position(indices[idx[axis:axis + k]].astype("int32"), n, mode)
        return x[tuple(idx[:axis]) + (pos,) + tuple(idx[axis + k:])]
    return te.compute(shape, body, name="take", tag="injective")


def take_grad(grad, indices, x_shape, axis=0, mode="clip"):
    """Gradient of ``take(x, indices, axis, mode)`` with respect to ``x`` (shape
    ``x_shape``): each element of ``grad`` is added to the element of ``x`` it was read
    from, so an index that occurs several times accumulates (numpy ``np.add.at``).

    Written as a gather: element ``j`` along ``axis`` sums the ``grad`` entries whose
    (clipped or wrapped) index is ``j``, a reduction over the axes of ``indices``. It
    needs no atomic scatter (same code on every target) at the cost of reading every
    index once per output element: ``x_shape[axis] * indices.size`` comparisons.
    """
    _check(grad, "take_grad")
    _check_index(indices, "take_grad")
    _check_mode(mode, "take_grad")
    x_shape = [E.convert(n) for n in x_shape]
    axis = _take_axis(len(x_shape), axis, f"x of shape {shape_str(x_shape)}", "take_grad")
    expected = x_shape[:axis] + list(indices.shape) + x_shape[axis + 1:]
    if len(expected) != grad.ndim or not all(same_extent(a, b) for a, b in zip(expected, grad.shape)):
        raise ShapeError(f"take_grad: gradient {grad.name} {shape_str(grad.shape)} does not match take's output "
                         f"shape {shape_str(expected)} (x {shape_str(x_shape)}, indices {indices.name} "
                         f"{shape_str(indices.shape)}, axis {axis})")
    n = x_shape[axis]
    raxes = [te.reduce_axis((0, extent), name=f"r{i}") for i, extent in enumerate(indices.shape)]
    zero = E.const(0, grad.dtype)

    def body(*idx):
        r = tuple(iv.var for iv in raxes)
        hit = _take_position(indices[r].astype("int32"), n, mode) == idx[axis]
        value = te.if_then_else(hit, grad[tuple(idx[:axis]) + r + tuple(idx[axis + 1:])], zero)
        return te.sum(value, axis=raxes) if raxes else value
    return te.compute(x_shape, body, name="take_grad", tag="reduce" if raxes else "injective")


def triangle(x, diagonal=0, upper=False):
    """The lower (``upper=False``: ``j - i <= diagonal``) or upper (``j - i >=
    diagonal``) triangle of the last two axes of ``x``, zeros elsewhere (``tril``/``triu``)."""
    _check(x, "triangle")
    if x.ndim < 2:
        raise ShapeError(f"triangle: {x.name} {shape_str(x.shape)} needs at least 2 axes")
    zero = E.const(0, x.dtype)

    def body(*idx):
        offset = idx[-1] - idx[-2]
        keep = offset >= diagonal if upper else offset <= diagonal
        return te.if_then_else(keep, x[idx], zero)
    return te.compute(x.shape, body, name="triangle", tag="injective")


def diagonal(x, offset=0):
    """The diagonal ``offset`` of the matrix ``x`` (above the main one when positive):
    ``out[i] = x[i + max(-offset, 0), i + max(offset, 0)]``."""
    _check(x, "diagonal")
    rows, cols = (_const(n) for n in x.shape) if x.ndim == 2 else (None, None)
    if rows is None or cols is None:
        raise ShapeError(f"diagonal: {x.name} {shape_str(x.shape)} must be a matrix of constant extents")
    down, right = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - down, cols - right))
    return te.compute((length,), lambda i: x[i + down, i + right], name="diagonal", tag="injective")


def diagonal_embed(v, shape, offset=0):
    """A matrix of ``shape`` holding the vector ``v`` on its diagonal ``offset`` and zeros
    elsewhere: ``diagonal``'s inverse (and gradient)."""
    _check(v, "diagonal_embed")
    down, right = max(-offset, 0), max(offset, 0)
    length = max(0, min(shape[0] - down, shape[1] - right))
    if v.ndim != 1 or _const(v.shape[0]) != length:
        raise ShapeError(f"diagonal_embed: {v.name} {shape_str(v.shape)} is not diagonal {offset} "
                         f"(length {length}) of a {shape_str(shape)} matrix")
    zero = E.const(0, v.dtype)

    def body(i, j):
        if not length:
            return zero
        on = (j - i == offset)
        return te.if_then_else(on, v[te.min(te.max(i - down, 0), length - 1)], zero)
    return te.compute(tuple(shape), body, name="diagonal_embed", tag="injective")


def roll(x, shifts):
    """``x`` rolled by ``shifts[k]`` (each in ``0 .. extent-1``) along axis ``k``: an
    element moves ``shifts[k]`` places forward, the last ones wrapping to the front."""
    _check(x, "roll")
    if len(shifts) != x.ndim:
        raise ShapeError(f"roll: need one shift per axis of {x.name} {shape_str(x.shape)}, got {list(shifts)}")

    def body(*idx):
        return x[tuple(i if not s else (i + (n - s)) % n for i, n, s in zip(idx, x.shape, shifts))]
    return te.compute(x.shape, body, name="roll", tag="injective")
