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

With ``zeros`` padding (or a tap still outside) a tap outside the input reads 0. The
taps of every point are tables computed first, (N, *O, A, taps) each for the positions,
weights and slopes (tag ``materialized``: computed once per point, not inlined into
every read; one expression for all components and taps, which keeps the kernels small
to compile). A sample is the sum over the product of the axes' taps of ``weight *
input``.

``grid_sample_grad_input`` is written as a gather with no atomics: input element ``p``
sums, over every sampling point, ``g`` times the product over the axes of the weight
that point gives ``p``'s position along that axis (the sum of its taps' weights there,
tabled per point and axis position first). The sum skips (a ``where`` on the
reduction) every point whose weights along the outer axes are 0 at ``p``'s row: a
point reaches only its taps' rows (2 of them per axis in bilinear, 4 in bicubic), so of
the (input rows) x (points) tests per batch element a few pass, and only those do the
multiply-adds over the channels and the last axis. On the CPU each input row is a
parallel task, the points loop inside it and the channels and the (vectorized) last
axis innermost, so the test is one scalar branch per row and point. The cost is
(input rows) x (points) tests plus (points) x (taps) x (channels) x (last axis)
multiply-adds (was (input size) x (points), 4-13x torch's time).

``grid_sample_grad_grid`` first sums, per point and tap combination, ``g`` times the
input there over the channels (tag ``grid_sample_grad``: each input read once for all
the grid's components, where a sum per component read it once per component), then
per component the taps' sums times the derivative of that component's weight and the
other components' weights; ``nearest`` gives zeros (its samples are piecewise constant
in the grid).
"""
import itertools
import math

from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .conv_common import vector_lanes
from .schedule import MATERIALIZED, register
from .schedule_cpu import PARALLEL_MIN, _cpu, _parallel_rows
from .transform import _check, _const
from .windows import _clamp, _static

__all__ = ["grid_sample", "grid_sample_grad_input", "grid_sample_grad_grid"]

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")
_A = -0.75      # the cubic convolution's parameter, PyTorch's
GRAD_TAG = "grid_sample_grad"
TAPS = {"bilinear": 2, "nearest": 1, "bicubic": 4}


class _Rules:
    """The coordinate rules of grid component ``k`` (a loop variable: x, y or z) over
    spatial sizes ``sizes`` (grid component order), in ``dtype``."""

    def __init__(self, sizes, k, padding_mode, align_corners, dtype):
        self.padding_mode, self.align, self.dtype = padding_mode, align_corners, dtype
        size = self.c(float(sizes[-1]))
        for kk in reversed(range(len(sizes) - 1)):
            size = te.if_then_else(k == kk, self.c(float(sizes[kk])), size)
        self.size = size

    def c(self, value):
        return E.const(value, self.dtype)

    def unnormalize(self, g):
        """[-1, 1] -> pixel coordinates, and its derivative."""
        one, half = self.c(1.0), self.c(0.5)
        if self.align:
            return (g + one) * (self.size - one) * half, (self.size - one) * half
        return ((g + one) * self.size - one) * half, self.size * half

    def clip(self, x):
        """``x`` clipped into [0, size - 1], and the derivative (0 where clipped)."""
        one, zero = self.c(1.0), self.c(0.0)
        limit = self.size - one
        return te.min(te.max(x, zero), limit), te.if_then_else(te.all(x > zero, x < limit), one, zero)

    def reflect(self, x):
        """``x`` mirrored into PyTorch's reflection range (about -0.5 and size - 0.5, or
        0 and size - 1 with ``align_corners``; 0 for a single aligned position), and the
        derivative (+-1)."""
        zero, one = self.c(0.0), self.c(1.0)
        least, span = (zero, self.size - one) if self.align else (self.c(-0.5), self.size)
        shifted = x - least
        distance = te.abs(shifted)
        flips = te.floor(distance / span)
        extra = distance - flips * span
        even = flips - self.c(2.0) * te.floor(flips * self.c(0.5)) == zero
        sign = te.if_then_else(shifted < zero, -one, one)
        some = span > zero
        return (te.if_then_else(some, te.if_then_else(even, extra + least, span - extra + least), zero),
                te.if_then_else(some, te.if_then_else(even, sign, -sign), zero))

    def padded(self, x):
        """The padding rule on a coordinate: (coordinate, derivative)."""
        if self.padding_mode == "border":
            return self.clip(x)
        if self.padding_mode == "reflection":
            x, d_reflect = self.reflect(x)
            x, d_clip = self.clip(x)
            return x, d_reflect * d_clip
        return x, self.c(1.0)

    def tap(self, g, j, mode):
        """(position, weight, d weight / d g) of tap ``j`` (a loop variable) of grid
        coordinate ``g``; the position as a whole number in ``dtype``."""
        x, scale = self.unnormalize(g)
        zero, one, two = self.c(0.0), self.c(1.0), self.c(2.0)
        if mode == "bicubic":
            base = te.floor(x)
            t = x - base
            weights = [_cubic2(t + one, self), _cubic1(t, self), _cubic1(one - t, self), _cubic2(two - t, self)]
            slopes = [_cubic2_slope(t + one, self), _cubic1_slope(t, self), -_cubic1_slope(one - t, self),
                      -_cubic2_slope(two - t, self)]
            position = self.padded(base + j.astype(self.dtype) - one)[0]
            return position, _pick(j, weights), _pick(j, slopes) * scale
        x, slope = self.padded(x)
        if mode == "nearest":
            return te.nearbyint(x), one, zero
        base = te.floor(x)
        f = x - base
        d = slope * scale
        return base + j.astype(self.dtype), te.if_then_else(j == 0, one - f, f), te.if_then_else(j == 0, -d, d)


def _pick(j, values):
    """``values[j]`` for a loop variable ``j``."""
    out = values[-1]
    for k in reversed(range(len(values) - 1)):
        out = te.if_then_else(j == k, values[k], out)
    return out


def _cubic1(x, rules):
    return ((rules.c(_A + 2) * x - rules.c(_A + 3)) * x) * x + rules.c(1.0)


def _cubic2(x, rules):
    return ((rules.c(_A) * x - rules.c(5 * _A)) * x + rules.c(8 * _A)) * x - rules.c(4 * _A)


def _cubic1_slope(x, rules):
    return (rules.c(3 * (_A + 2)) * x - rules.c(2 * (_A + 3))) * x


def _cubic2_slope(x, rules):
    return (rules.c(3 * _A) * x - rules.c(10 * _A)) * x + rules.c(8 * _A)


def _setup(op, x_shape, grid, mode, padding_mode, align_corners):
    """(spatial sizes, output sizes) after checking the arguments."""
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
    return size, out


def _tap_tables(grid, size, mode, padding_mode, align_corners, dtype, which=3):
    """[positions, weights, slopes][:which], each (N, *O, A, T): tap ``j`` of grid
    component ``k`` of every sampling point, computed once per point (tag
    ``materialized``: not inlined into the kernels reading them)."""
    n, *out, rank = _static(grid, "grid_sample")
    sizes = list(reversed(size))        # grid component order: x (the last axis) first
    taps = TAPS[mode]

    def table(what):
        def body(*index):
            point, k, j = index[:-2], index[-2], index[-1]
            rules = _Rules(sizes, k, padding_mode, align_corners, dtype)
            return rules.tap(grid[point + (k,)], j, mode)[what]
        return te.compute((n, *out, rank, taps), body, name=f"grid_sample_taps{what}", tag=MATERIALIZED)
    return [table(what) for what in range(which)]


def _combinations(point, rank, taps):
    """Every choice of one tap per grid component: [(k, table index)] lists."""
    return [[(k, point + (k, j)) for k, j in enumerate(choice)] for choice in itertools.product(range(taps),
                                                                                               repeat=rank)]


def _read(x, n, c, positions, size):
    """``x[n, c, *position]`` for positions in grid component order (as whole numbers in
    a float dtype), 0 outside."""
    at = [p.astype("int32") for p in reversed(positions)]
    inside = te.all(*(te.all(p >= 0, p < s) for p, s in zip(at, size)))
    clamped = tuple(_clamp(p, s) for p, s in zip(at, size))
    return te.if_then_else(inside, x[(n, c) + clamped], E.const(0, x.dtype))


def _sum(values):
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


def _product(values):
    out = values[0]
    for v in values[1:]:
        out = out * v
    return out


def grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """(N, C, *S) sampled at ``grid`` (N, *O, A) -> (N, C, *O)."""
    _check(x, "grid_sample")
    shape = _static(x, "grid_sample")
    size, out = _setup("grid_sample", shape, grid, mode, padding_mode, align_corners)
    positions, weights = _tap_tables(grid, size, mode, padding_mode, align_corners, x.dtype, which=2)

    def sample(*index):
        n, c, o = index[0], index[1], index[2:]
        return _sum([_product([weights[at] for _, at in combo]) * _read(x, n, c, [positions[at] for _, at in combo],
                                                                          size)
                     for combo in _combinations((n,) + o, len(size), TAPS[mode])])
    return te.compute((shape[0], shape[1], *out), sample, name="grid_sample", tag="injective")


def grid_sample_grad_input(g, grid, input_shape, mode="bilinear", padding_mode="zeros", align_corners=False):
    """The gradient for the (N, C, *S) input: each element the sum over the sampling
    points of ``g`` times the weight the point gives it, the product of one weight per
    axis (``_axis_weights``)."""
    _check(g, "grid_sample_grad_input")
    size, out = _setup("grid_sample_grad_input", input_shape, grid, mode, padding_mode, align_corners)
    positions, weights = _tap_tables(grid, size, mode, padding_mode, align_corners, g.dtype, which=2)
    rank = len(size)
    per_axis = [_axis_weights(positions, weights, k, size[rank - 1 - k], mode) for k in range(rank)]
    points = [te.reduce_axis((0, o), name=f"o{a}") for a, o in enumerate(out)]

    def gathered(*index):
        n, c, p = index[0], index[1], index[2:]
        o = tuple(r.var for r in points)
        weight = [per_axis[k][(n,) + o + (p[rank - 1 - k],)] for k in range(rank)]
        zero = E.const(0, g.dtype)
        # a point adds nothing to a row of the input its outer-axis weights miss: skipped
        return te.sum(_product([g[(n, c) + o]] + weight), axis=points, where=te.all(*(w != zero for w in weight[1:])))
    return te.compute(tuple(input_shape), gathered, name="grid_sample_grad_input", tag=GRAD_TAG)


def _axis_weights(positions, weights, k, extent, mode):
    """(N, *O, extent): the weight each sampling point gives every position along grid
    component ``k`` (the sum of its taps' weights there; mostly 0), computed once per
    point (tag ``materialized``) so that the gradient's reduction multiplies and adds."""
    zero = E.const(0, weights.dtype)

    def body(*index):
        point, s = index[:-1], index[-1]
        along = s.astype(weights.dtype)
        return _sum([te.if_then_else(positions[point + (k, j)] == along, weights[point + (k, j)], zero)
                     for j in range(TAPS[mode])])
    return te.compute(tuple(positions.shape[:-2]) + (extent,), body, name=f"grid_sample_axis{k}", tag=MATERIALIZED)


def grid_sample_grad_grid(g, x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """The gradient for ``grid`` (N, *O, A): per point and component, the sum over the
    taps of the point's ``sum_c g * input`` there (a stage of its own, one read per tap
    and channel for all the components) times the derivative of that component's weight
    and the other components' weights; 0 for ``nearest``."""
    _check(g, "grid_sample_grad_grid")
    shape = _static(x, "grid_sample_grad_grid")
    size, out = _setup("grid_sample_grad_grid", shape, grid, mode, padding_mode, align_corners)
    grid_shape = tuple(_static(grid, "grid_sample_grad_grid"))
    if mode == "nearest":           # piecewise constant in the grid
        return te.compute(grid_shape, lambda *i: E.const(0, x.dtype), name="grid_sample_grad_grid", tag="injective")
    positions, weights, slopes = _tap_tables(grid, size, mode, padding_mode, align_corners, x.dtype)
    rank, taps = len(size), TAPS[mode]
    ch = te.reduce_axis((0, shape[1]), name="c")

    def gathered(*index):
        """sum_c g[n, c, point] x[n, c, tap ``j``'s position] (tap j: one per component)."""
        point, j = index[:-1], index[-1]
        at = [positions[point + (k, (j // taps ** k) % taps)] for k in range(rank)]
        return te.sum(g[(point[0], ch.var) + point[1:]] * _read(x, point[0], ch.var, at, size), axis=ch)
    sampled = te.compute(grid_shape[:-1] + (taps ** rank,), gathered, name="grid_sample_grad_taps", tag=GRAD_TAG)

    def slope(*index):
        point, k = index[:-1], index[-1]
        return _sum([sampled[point + (j,)] * _product([
            te.if_then_else(k == kk, slopes[point + (kk, (j // taps ** kk) % taps)],
                            weights[point + (kk, (j // taps ** kk) % taps)]) for kk in range(rank)])
            for j in range(taps ** rank)])
    return te.compute(grid_shape, slope, name="grid_sample_grad_grid", tag="injective")


@register(GRAD_TAG, target="llvm")
def schedule_grid_sample_grad(sch, tensor, target):
    """CPU: both gradients reduce with scattered reads (the taps of each point), which
    vector lanes could only gather: parallel over the fused output elements."""
    if not _cpu(target):
        return
    stage = sch[tensor]
    rows = math.prod(_static(tensor, "grid_sample_grad"))
    work = rows * math.prod(_const(E.convert(iv.dom.extent)) for iv in stage.op.reduce_axis)
    if tensor.op.name != "grid_sample_grad_input":
        _parallel_rows(stage, rows, work)
        return
    # the input's gradient: each row of the input (batch and outer spatial positions)
    # outermost, then the points (whose test, "the point's outer-axis weights reach this
    # row", holds for a few of them), then the channels and the last axis (contiguous in
    # the output and the per-axis weights) innermost, in whole vectors where it divides
    n, channels, *middle, last = stage.op.axis
    stage.reorder(n, *middle, channels, last)
    fused = stage.fuse(n, *middle)
    extent, lanes = _const(E.convert(last.dom.extent)), vector_lanes(tensor.dtype)
    if extent % lanes == 0:
        block, lane = stage.split(last, factor=lanes)
        stage.reorder(fused, *stage.op.reduce_axis, channels, block, lane)
        stage.vectorize(lane)
    else:
        stage.reorder(fused, *stage.op.reduce_axis, channels, last)
    if work >= PARALLEL_MIN:
        stage.parallel(fused)
