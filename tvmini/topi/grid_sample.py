"""PyTorch's ``grid_sample``: an (N, C, *S) input read at the sampling points of a grid
(N, *O, A) of coordinates in [-1, 1] (``A`` = 2 or 3 spatial axes, x first), and its two
gradients, each one kernel.

Every spatial axis is read through a few *taps* of the sampling coordinate: a position
and a weight (and the weight's derivative in the grid coordinate), built here with the
coordinate rules of PyTorch's ``GridSampler.h``:

- ``bilinear``: the coordinate, unnormalized and moved inside by the padding rule
  (``border`` clips it to the edge, ``reflection`` mirrors it and clips), gives taps
  ``floor(x)`` and ``floor(x) + 1`` weighted ``1 - f`` and ``f``;
- ``nearest``: one tap at the padded coordinate rounded half to even, weight 1;
- ``bicubic``: four taps ``floor(x) - 1 .. floor(x) + 2`` of the unpadded coordinate with
  the cubic convolution weights (A = -0.75); each tap *position* goes through the
  padding rule instead.

With ``zeros`` padding (or a tap still outside) a tap outside the input reads 0. A sample
is the sum over the product of the axes' taps of ``weight * input``.

``grid_sample_grad_input`` is written as a gather with no atomics: input element ``p``
sums, over every sampling point, ``g`` times the product over the axes of the weight
that point gives position ``p`` (the sum of its taps' weights at ``p``). The taps of
every point are one stage (tag ``materialized``: computed once, not per input element),
and the gather is a reduction over all sampling points (tag ``grid_sample_grad``, as
the grid's gradient: parallel over the output elements on the CPU): its cost is
(input size) x (points) per channel, fine for the grids of spatial transformers, not
for large images. ``grid_sample_grad_grid`` gathers, per point and axis, ``g`` times
the input at each tap times the derivative of that axis' weight and the other axes'
weights, summed over the channels.
"""
import math

from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .schedule import MATERIALIZED, register
from .schedule_cpu import _cpu, _parallel_rows
from .transform import _check, _const
from .windows import _clamp, _static

__all__ = ["grid_sample", "grid_sample_grad_input", "grid_sample_grad_grid"]

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")
_A = -0.75      # the cubic convolution's parameter, PyTorch's
GRAD_TAG = "grid_sample_grad"


class _Axis:
    """The rules of one spatial axis of ``size`` positions in ``dtype``."""

    def __init__(self, size, padding_mode, align_corners, dtype):
        self.size, self.padding_mode, self.align, self.dtype = size, padding_mode, align_corners, dtype

    def c(self, value):
        return E.const(value, self.dtype)

    def unnormalize(self, g):
        """[-1, 1] -> pixel coordinates, and its derivative."""
        if self.align:
            scale = (self.size - 1) / 2
            return (g + self.c(1.0)) * self.c(scale), scale
        return ((g + self.c(1.0)) * self.c(float(self.size)) - self.c(1.0)) * self.c(0.5), self.size / 2

    def clip(self, x):
        """``x`` clipped into [0, size - 1], and the derivative (0 where clipped)."""
        one, zero = self.c(1.0), self.c(0.0)
        limit = self.c(float(self.size - 1))
        inside = te.all(x > zero, x < limit)
        return te.min(te.max(x, zero), limit), te.if_then_else(inside, one, zero)

    def reflect(self, x):
        """``x`` mirrored into PyTorch's reflection range, and the derivative (+-1)."""
        low, high = (0, 2 * (self.size - 1)) if self.align else (-1, 2 * self.size - 1)
        if low == high:
            return self.c(0.0), self.c(0.0)
        least, span = self.c(low / 2), self.c((high - low) / 2)
        shifted = x - least
        distance = te.abs(shifted)
        flips = te.floor(distance / span)
        extra = distance - flips * span
        even = flips - self.c(2.0) * te.floor(flips * self.c(0.5)) == self.c(0.0)
        sign = te.if_then_else(shifted < self.c(0.0), self.c(-1.0), self.c(1.0))
        return (te.if_then_else(even, extra + least, span - extra + least),
                te.if_then_else(even, sign, -sign))

    def padded(self, x):
        """The padding rule on a coordinate: (coordinate, derivative)."""
        if self.padding_mode == "border":
            return self.clip(x)
        if self.padding_mode == "reflection":
            x, d_reflect = self.reflect(x)
            x, d_clip = self.clip(x)
            return x, d_reflect * d_clip
        return x, self.c(1.0)

    def taps(self, g, mode):
        """[(position (int32), weight, d weight / d g)] of grid coordinate ``g``."""
        x, scale = self.unnormalize(g)
        if mode == "bicubic":
            base = te.floor(x)
            t = x - base
            weights = [_cubic2(t + self.c(1.0), self), _cubic1(t, self), _cubic1(self.c(1.0) - t, self),
                       _cubic2(self.c(2.0) - t, self)]
            slopes = [_cubic2_slope(t + self.c(1.0), self), _cubic1_slope(t, self),
                      -_cubic1_slope(self.c(1.0) - t, self), -_cubic2_slope(self.c(2.0) - t, self)]
            positions = [self.padded(base + self.c(float(j - 1)))[0] for j in range(4)]
            return [(p.astype("int32"), w, s * self.c(scale)) for p, w, s in zip(positions, weights, slopes)]
        x, slope = self.padded(x)
        if mode == "nearest":
            return [(te.nearbyint(x).astype("int32"), self.c(1.0), self.c(0.0))]
        base = te.floor(x)
        f = x - base
        d = slope * self.c(scale)
        return [(base.astype("int32"), self.c(1.0) - f, -d), ((base + self.c(1.0)).astype("int32"), f, d)]


def _cubic1(x, axis):
    return ((axis.c(_A + 2) * x - axis.c(_A + 3)) * x) * x + axis.c(1.0)


def _cubic2(x, axis):
    return ((axis.c(_A) * x - axis.c(5 * _A)) * x + axis.c(8 * _A)) * x - axis.c(4 * _A)


def _cubic1_slope(x, axis):
    return (axis.c(3 * (_A + 2)) * x - axis.c(2 * (_A + 3))) * x


def _cubic2_slope(x, axis):
    return (axis.c(3 * _A) * x - axis.c(10 * _A)) * x + axis.c(8 * _A)


def _setup(op, x_shape, grid, mode, padding_mode, align_corners, dtype):
    """(spatial sizes, output sizes, axes in grid order x, y[, z] -> input axes last to first)."""
    if mode not in MODES or padding_mode not in PADDING_MODES:
        raise ShapeError(f"{op}: mode must be one of {MODES} and padding_mode one of {PADDING_MODES}, got "
                         f"{mode!r} and {padding_mode!r}")
    n, _, *size = x_shape
    gn, *out, a = _static(grid, op)
    if len(size) not in (2, 3) or gn != n or a != len(size) or len(out) != len(size):
        raise ShapeError(f"{op}: grid {grid.name} {[gn, *out, a]} must be (N, *out, {len(size)}) for input "
                         f"{list(x_shape)}")
    if mode == "bicubic" and len(size) != 2:
        raise ShapeError(f"{op}: bicubic sampling needs a 4-D input, got {list(x_shape)}")
    axes = [_Axis(s, padding_mode, align_corners, dtype) for s in reversed(size)]     # grid component k
    return size, out, axes


def _point_taps(grid, point, axes, mode):
    """Per grid component (x, y[, z]) the taps of sampling point ``point`` (n, *o)."""
    return [axis.taps(grid[point + (k,)], mode) for k, axis in enumerate(axes)]


def _combinations(taps):
    """Every choice of one tap per axis, as (positions in input axis order, weights,
    slopes), each list in grid component order."""
    combos = [((), (), ())]
    for axis_taps in taps:
        combos = [(pos + (p,), ws + (w,), ss + (s,)) for pos, ws, ss in combos for p, w, s in axis_taps]
    return [(tuple(reversed(pos)), ws, ss) for pos, ws, ss in combos]


def _read(x, n, c, position, size):
    """``x[n, c, *position]``, 0 outside."""
    inside = te.all(*(te.all(p >= 0, p < s) for p, s in zip(position, size)))
    clamped = tuple(_clamp(p, s) for p, s in zip(position, size))
    return te.if_then_else(inside, x[(n, c) + clamped], E.const(0, x.dtype))


def _product(values):
    out = values[0]
    for v in values[1:]:
        out = out * v
    return out


def grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """(N, C, *S) sampled at ``grid`` (N, *O, A) -> (N, C, *O)."""
    _check(x, "grid_sample")
    shape = _static(x, "grid_sample")
    size, out, axes = _setup("grid_sample", shape, grid, mode, padding_mode, align_corners, x.dtype)

    def sample(*index):
        n, c, o = index[0], index[1], index[2:]
        combos = _combinations(_point_taps(grid, (n,) + o, axes, mode))
        return sum((_product(ws) * _read(x, n, c, pos, size) for pos, ws, _ in combos[1:]),
                   _product(combos[0][1]) * _read(x, n, c, combos[0][0], size))
    return te.compute((shape[0], shape[1], *out), sample, name="grid_sample", tag="injective")


def grid_sample_grad_input(g, grid, input_shape, mode="bilinear", padding_mode="zeros", align_corners=False):
    """The gradient for the (N, C, *S) input: each element the sum over the sampling
    points of ``g`` times the weight the point gives it."""
    _check(g, "grid_sample_grad_input")
    size, out, axes = _setup("grid_sample_grad_input", input_shape, grid, mode, padding_mode, align_corners, g.dtype)
    n_taps = {"bilinear": 2, "nearest": 1, "bicubic": 4}[mode]
    rank = len(size)
    # taps[n, *o, k, j]: tap j of component k (position as the tensor's dtype, exact for these sizes)

    def tap_table(what):
        def body(*index):
            point, k, j = index[:-2], index[-2], index[-1]
            taps = _point_taps(grid, point, axes, mode)
            value = None
            for kk in range(rank):
                for jj in range(n_taps):
                    entry = taps[kk][jj][0].astype(g.dtype) if what == 0 else taps[kk][jj][1]
                    value = entry if value is None else te.if_then_else(te.all(k == kk, j == jj), entry, value)
            return value
        return te.compute((input_shape[0], *out, rank, n_taps), body, name=f"grid_sample_taps{what}",
                          tag=MATERIALIZED)
    positions, weights = tap_table(0), tap_table(1)
    points = [te.reduce_axis((0, o), name=f"o{a}") for a, o in enumerate(out)]
    zero = E.const(0, g.dtype)

    def gathered(*index):
        n, c, p = index[0], index[1], index[2:]
        o = tuple(r.var for r in points)
        share = g[(n, c) + o]
        for k in range(rank):
            along = p[rank - 1 - k].astype(g.dtype)
            weight = None
            for j in range(n_taps):
                at = (n,) + o + (k, j)
                term = te.if_then_else(positions[at] == along, weights[at], zero)
                weight = term if weight is None else weight + term
            share = share * weight
        return te.sum(share, axis=points)
    return te.compute(tuple(input_shape), gathered, name="grid_sample_grad_input", tag=GRAD_TAG)


def grid_sample_grad_grid(g, x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """The gradient for ``grid`` (N, *O, A): per point and component, the sum over the
    channels and taps of ``g * input * d weight`` (0 for ``nearest``)."""
    _check(g, "grid_sample_grad_grid")
    shape = _static(x, "grid_sample_grad_grid")
    size, out, axes = _setup("grid_sample_grad_grid", shape, grid, mode, padding_mode, align_corners, x.dtype)
    ch = te.reduce_axis((0, shape[1]), name="c")

    def slope(*index):
        point, k = index[:-1], index[-1]
        combos = _combinations(_point_taps(grid, point, axes, mode))
        per_axis = []
        for kk in range(len(axes)):
            terms = [_product([s if a == kk else w for a, (w, s) in enumerate(zip(ws, ss))])
                     * _read(x, point[0], ch.var, pos, size) for pos, ws, ss in combos]
            per_axis.append(sum(terms[1:], terms[0]))
        value = per_axis[-1]
        for kk in reversed(range(len(axes) - 1)):
            value = te.if_then_else(k == kk, per_axis[kk], value)
        return te.sum(g[(point[0], ch.var) + point[1:]] * value, axis=ch)
    return te.compute(tuple(_static(grid, "grid_sample_grad_grid")), slope, name="grid_sample_grad_grid",
                      tag=GRAD_TAG)


@register(GRAD_TAG, target="llvm")
def schedule_grid_sample_grad(sch, tensor, target):
    """CPU: both gradients reduce with scattered reads (the taps of each point), which
    vector lanes could only gather: parallel over the fused output elements."""
    if _cpu(target):
        stage = sch[tensor]
        rows = math.prod(_static(tensor, "grid_sample_grad"))
        _parallel_rows(stage, rows, rows * math.prod(_const(E.convert(iv.dom.extent)) for iv in stage.op.reduce_axis))
