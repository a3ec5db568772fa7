"""Binary search in sorted rows: ``searchsorted`` (PyTorch's ``searchsorted`` and
``bucketize``), and ``consecutive_starts``, the mask of where runs of equal elements
start (``unique``'s and ``unique_consecutive``'s).

The search is PyTorch's lower/upper bound, step for step: with ``[start, end)`` the
range still open (``[0, n)`` at first), each step looks at ``mid = start + (end -
start) // 2`` and moves ``start`` past it when ``seq[mid]`` is not ``>= v`` (left;
right: not ``> v``), else ``end`` to it. Written with PyTorch's negated comparisons, a
NaN behaves as it does there (a NaN value goes past every element; a NaN in the
sequence counts as smaller), so the indices agree even where a sequence holding NaNs
is not ordered for ``<``. Each step shrinks the range to at most half, so
``n.bit_length()`` steps end every search; te has no loop, so each step is a compute
of two outputs (``start``, ``end``) over the values' shape, ``O(m log n)`` work in all
against a counting reduction's ``O(m n)`` (1000 values in 4096 elements: 12 steps
against 4096 comparisons each). The steps are never inlined into the next (each
reads its predecessor twice: inlined they would grow twice over at every step); the
CPU schedule computes them all for a chunk of values at a time (``schedule_search``).
"""
from .. import te
from ..errors import DTypeError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import shape_str
from .schedule import register, target_kind
from .schedule_cpu import PARALLEL_MIN
from .schedule_cuda import _bind_flat

__all__ = ["searchsorted", "consecutive_starts"]

#: Tags of the search's steps and of its output, whose CPU rule computes the steps
#: inside its loop over chunks of ``CHUNK`` values.
STEP_TAG, SEARCH_TAG = "search_step", "search"
CHUNK = 512


def _check(x, op, what):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: {what} must be a te tensor, got {type(x).__name__} {x!r}")


def _extents(shape):
    return [e.value if isinstance(e, E.Const) else None for e in shape]


def searchsorted(sorted_sequence, values, right=False, sorter=None, dtype="int64"):
    """For each element of ``values``, the index in its row of ``sorted_sequence`` (the
    last axis; a 1-D sequence serves every value, else its leading axes are the
    values') where it would be inserted to keep the row sorted: before equal elements
    (``right``: after them). ``sorter``: int indices that sort each row (the sequence
    is then read through them). Output: ``values``' shape, ``dtype`` int32 or int64."""
    op = "searchsorted"
    _check(sorted_sequence, op, "sorted_sequence")
    _check(values, op, "values")
    seq = sorted_sequence
    if seq.ndim == 0:
        raise ShapeError(f"{op}: sorted_sequence {seq.name} must have at least one axis, got a 0-d tensor")
    if seq.ndim > 1 and (values.ndim != seq.ndim or _extents(values.shape[:-1]) != _extents(seq.shape[:-1])):
        raise ShapeError(f"{op}: sorted_sequence {shape_str(seq.shape)} and values {shape_str(values.shape)} must "
                         "have the same leading axes (or the sequence be 1-D)")
    if sorter is not None:
        _check(sorter, op, "sorter")
        if not dt.is_int(sorter.dtype) or _extents(sorter.shape) != _extents(seq.shape):
            raise ShapeError(f"{op}: sorter must be integer indices of the sequence's shape {shape_str(seq.shape)}, "
                             f"got {sorter.dtype} {shape_str(sorter.shape)}")
    if dt.canonical(dtype) not in ("int32", "int64"):
        raise DTypeError(f"{op}: the index dtype must be int32 or int64, got {dtype}")
    if seq.dtype != values.dtype:
        raise DTypeError(f"{op}: sorted_sequence and values must share a dtype, got {seq.dtype} and {values.dtype}")
    n = seq.shape[-1]
    if not isinstance(n, E.Const):
        raise ShapeError(f"{op}: the sequence's length must be a constant, got {n}")
    n = n.value

    def element(i, position):
        row = tuple(i[:-1]) if seq.ndim > 1 else ()
        at = row + (te.min(position, max(n - 1, 0)),)
        if sorter is not None:
            at = row + (sorter[at].astype("int32"),)
        return seq[at]

    def step(start, end):
        def body(*i):
            s, e = (start(i), end(i))
            mid = s + (e - s) // 2
            probe, v = element(i, mid), values[i]
            past = ~(probe > v) if right else ~(probe >= v)
            open_ = s < e
            return (te.if_then_else(open_ & past, mid + 1, s), te.if_then_else(open_ & ~past, mid, e))
        return body

    start, end = (lambda i: E.const(0, "int32")), (lambda i: E.const(n, "int32"))
    for k in range(n.bit_length()):
        s, e = te.compute(values.shape, step(start, end), name=f"{op}.step{k}", tag=STEP_TAG)
        start, end = _reader(s), _reader(e)
    return te.compute(values.shape, lambda *i: start(i).astype(dtype), name=op, tag=SEARCH_TAG)


def _reader(tensor):
    return lambda i: tensor[i]


def _steps(tensor):
    """The search steps feeding ``tensor``."""
    found, stack = [], list(tensor.op.input_tensors)
    while stack:
        t = stack.pop()
        if getattr(t.op, "tag", None) == STEP_TAG and t.op not in found:
            found.append(t.op)
            stack.extend(t.op.input_tensors)
    return found


@register(SEARCH_TAG)
def schedule_search(sch, tensor, target="llvm"):
    """CPU: the values in chunks of ``CHUNK`` (parallel when many), every step computed
    inside the chunk loop, so a chunk's search state stays in L1 from step to step."""
    if target_kind(target) not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    axes = list(stage.op.axis)
    if not axes:
        return
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    total = 1
    for e in stage.op.shape:
        total *= e.value
    chunk, _ = stage.split(fused, factor=CHUNK)
    if total * len(_steps(tensor)) >= PARALLEL_MIN and total > CHUNK:
        stage.parallel(chunk)
    for op in _steps(tensor):
        inner = sch[op.output(0)]
        inner.compute_at(stage, chunk)


@register(STEP_TAG, target="cuda")
def schedule_step_cuda(sch, tensor, target="cuda"):
    """CUDA: a kernel per step (each reads its predecessor twice: never inlined)."""
    stage = sch[tensor]
    if stage.attach_type == "root" and not stage.relations:
        _bind_flat(stage, list(stage.op.axis))


def consecutive_starts(x):
    """bool mask of a 1-D ``x``: element ``i`` starts a run of equal elements (the first
    one, or unequal to the one before it; a NaN is unequal to every element, so each
    starts a run of its own, as PyTorch's ``unique`` counts them)."""
    _check(x, "consecutive_starts", "x")
    if x.ndim != 1:
        raise ShapeError(f"consecutive_starts: expects a 1-D tensor, got {x.name} of shape {shape_str(x.shape)}")
    return te.compute(x.shape, lambda i: (i == 0) | (x[i] != x[te.max(i - 1, 0)]), name="consecutive_starts",
                      tag="elemwise")
