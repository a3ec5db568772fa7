"""Padding that repeats the input instead of a constant: PyTorch's ``F.pad`` modes
"reflect" (mirror about the edge element, which is not repeated), "replicate" (repeat
the edge element) and "circular" (wrap around).

``pad_edge`` reads each output element from the input element its index maps to, one
axis at a time (:func:`source_index`), so it reads only inside the input. Its gradient
``pad_edge_grad`` adds every output gradient back to the element it was read from,
written as a gather with no atomics: input element ``i`` of a padded axis looks at the
``1 + before + after`` output positions that can map to it (its own, ``i + before``,
and each border position) and sums those that do — a reduction whose extent is the pad
widths, not the axis (tag "reduce").
"""

from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from ..tir.simplify import simplify
from .broadcast import shape_str
from .transform import _check, _const

__all__ = ["pad_edge", "pad_edge_grad"]

MODES = ("reflect", "replicate", "circular")


def source_index(o, n, before, mode):
    """The input index that output index ``o`` of an axis of extent ``n`` padded by
    ``before`` reads in ``mode`` (widths checked by :func:`_widths`: one reflection or
    wrap suffices)."""
    j = o - before
    if mode == "replicate":
        return te.min(te.max(j, 0), n - 1)
    if mode == "reflect":
        return te.if_then_else(j < 0, 0 - j, te.if_then_else(j >= n, 2 * (n - 1) - j, j))
    return te.if_then_else(j < 0, j + n, te.if_then_else(j >= n, j - n, j))


def check_widths(shape, pad_before, pad_after, mode, op):
    """Full-rank (before, after) lists, checked against the extents as PyTorch does:
    reflect widths below the extent, circular ones from 0 to the extent,
    replicate a non-empty axis; reflect and replicate take negative widths (cropping,
    the mapping still about the original edges) if an element is left."""
    if mode not in MODES:
        raise ShapeError(f"{op}: mode must be one of {MODES}, got {mode!r}")
    ndim = len(shape)
    before, after = list(pad_before), list(pad_after)
    if len(before) > ndim or len(after) > ndim:
        raise ShapeError(f"{op}: widths {before}/{after} do not fit a tensor of shape {shape_str(shape)}")
    before += [0] * (ndim - len(before))
    after += [0] * (ndim - len(after))
    for axis, (n, b, a) in enumerate(zip(shape, before, after)):
        n = _const(E.convert(n))
        if not (b or a):
            continue
        fits = {"reflect": n is None or max(b, a) < n,
                "replicate": n is None or n > 0,
                "circular": 0 <= min(b, a) and (n is None or max(b, a) <= n)}[mode]
        if not fits or (n is not None and n + b + a < 1):
            raise ShapeError(f"{op}: {mode} padding ({b}, {a}) does not fit axis {axis} of extent {n} (reflect: "
                             f"widths below the extent, circular: from 0 to the extent, replicate: a non-empty axis; "
                             f"at least one element out)")
    return before, after


def pad_edge(x, pad_before, pad_after, mode):
    """``x`` padded by ``pad_before[k]``/``pad_after[k]`` elements on axis k (missing
    trailing entries: 0) in ``mode`` ("reflect", "replicate" or "circular")."""
    _check(x, "pad_edge")
    before, after = check_widths(x.shape, pad_before, pad_after, mode, "pad_edge")
    shape = [simplify(n + b + a) for n, b, a in zip(x.shape, before, after)]

    def body(*idx):
        return x[tuple(source_index(o, n, b, mode) if b or a else o
                       for o, n, b, a in zip(idx, x.shape, before, after))]
    return te.compute(shape, body, name="pad_edge", tag="injective")


def _candidate(r, i, n, b):
    """Output position ``r`` of the ``1 + max(b, 0) + max(a, 0)`` that may read input
    index ``i``: 0 is ``i``'s own (``i + b``), then the border before, then the border
    after (which starts at ``n + b``); maybe outside the output when a width is negative."""
    border = max(b, 0)
    return te.if_then_else(r == 0, i + b, te.if_then_else(r <= border, r - 1, n + b + r - 1 - border))


def pad_edge_grad(g, x_shape, pad_before, pad_after, mode):
    """The gradient of :func:`pad_edge` for an input of ``x_shape``: each element of
    ``g`` added to the input element it was read from."""
    _check(g, "pad_edge_grad")
    x_shape = [E.convert(n) for n in x_shape]
    before, after = check_widths(x_shape, pad_before, pad_after, mode, "pad_edge_grad")
    if len(x_shape) != g.ndim:
        raise ShapeError(f"pad_edge_grad: gradient {g.name} {shape_str(g.shape)} does not match an input of "
                         f"shape {shape_str(x_shape)}")
    padded = [k for k, (b, a) in enumerate(zip(before, after)) if b or a]
    raxes = {k: te.reduce_axis((0, 1 + max(before[k], 0) + max(after[k], 0)), name=f"r{k}")
             for k in padded}
    zero = E.const(0, g.dtype)

    def body(*idx):
        at, hits = list(idx), []
        for k, r in raxes.items():
            n, b = x_shape[k], before[k]
            want = _candidate(r.var, idx[k], n, b)
            at[k] = te.min(te.max(want, 0), g.shape[k] - 1)        # read inside g; a clamped one is no hit
            hits += [want == at[k], source_index(at[k], n, b, mode) == idx[k]]
        value = te.if_then_else(te.all(*hits), g[tuple(at)], zero) if hits else g[tuple(at)]
        return te.sum(value, axis=list(raxes.values())) if raxes else value
    return te.compute(x_shape, body, name="pad_edge_grad", tag="reduce" if raxes else "injective")
