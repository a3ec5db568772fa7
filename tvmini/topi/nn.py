"""Dense linear algebra and the classifier head: matmul, batch_matmul, dense, softmax,
log_softmax, cross-entropy / nll losses and batch-norm, with their gradient kernels.

Every function takes te tensors (float32 or float64; matmul and batch_matmul also
integers, as PyTorch's) plus Python attributes and returns te tensors whose computes
carry tags that ``schedule_nn`` knows how to schedule.

Matrix products are written as three computes so that a fast CPU schedule is a matter
of loop transformations only: ``packed_b`` (B re-laid out as ``[N/bn][K][bn]``, zero
padded to a multiple of ``bn`` columns so the micro-kernel never needs a guard),
``accumulate`` (the padded product, tag ``gemm_accum``) and the output (tag ``gemm``,
which crops the padding and adds the bias). The transpose flags only change how the
operands are indexed, so every variant gets the same packed micro-kernel.
"""
from .. import te
from ..codegen.llvm_target import cache_bytes, vector_bits
from ..errors import DTypeError, ShapeError
from ..tir.dtype import bits
from ..tir.expr import Const

__all__ = ["matmul", "add_parts", "batch_matmul", "dense", "softmax", "log_softmax", "softmax_grad", "log_softmax_grad",
           "cross_entropy", "cross_entropy_grad", "nll_loss", "nll_loss_grad",
           "batch_norm_stats", "batch_norm_forward", "batch_norm_backward", "gemm_block"]

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
#: What a matrix product computes in besides the floats: PyTorch's integer dtypes
#: (bool is refused, as PyTorch's); products and sums wrap in the dtype, as PyTorch's.
PRODUCT_INTS = ("int8", "uint8", "int32", "int64")


def extent(e):
    """A shape entry as a Python int when it is constant, else the symbolic expression."""
    return e.value if isinstance(e, Const) else e


def shape_of(t):
    return tuple(extent(e) for e in t.shape)


def same_extent(a, b):
    """Whether two extents are known to be equal (equal ints, or the same symbol)."""
    return a == b if isinstance(a, int) and isinstance(b, int) else a is b


def check_float(op, *tensors):
    """Every tensor is float32/float64 and they all share one dtype; returns it."""
    return _one_dtype(op, tensors, FLOATS, "float32 or float64")


def check_product(op, *tensors):
    """The operands of a matrix product share one dtype, a float or an integer of
    ``PRODUCT_INTS``; returns it."""
    return _one_dtype(op, tensors, FLOATS + PRODUCT_INTS, f"float32, float64 or an integer dtype "
                      f"({', '.join(PRODUCT_INTS)}; not bool)")


def _one_dtype(op, tensors, allowed, wanted):
    """The one dtype of ``tensors``, of ``allowed`` (``wanted`` says which in an error)."""
    dtypes = {t.dtype for t in tensors}
    for t in tensors:
        if t.dtype not in allowed:
            raise DTypeError(f"{op}: {t.name} is {t.dtype}; {op} needs {wanted}")
    if len(dtypes) > 1:
        raise DTypeError(f"{op}: operands have different dtypes "
                         f"{', '.join(f'{t.name}: {t.dtype}' for t in tensors)}")
    return tensors[0].dtype


def check_rank(op, t, rank):
    if t.ndim != rank:
        raise ShapeError(f"{op}: {t.name} has shape {list(shape_of(t))}; expected {rank} dimensions")


def check_inner(op, data, have, weight, want, unit):
    """A layer's input has as many ``unit`` (features, channels) as its weight expects;
    ``data`` and ``weight`` describe the two operands (name and shape) for the message."""
    if not same_extent(have, want):
        raise ShapeError(f"{op}: {data} has {have} {unit} but {weight} expects {want}")


def check_bias(op, bias, outputs, unit, w):
    """``bias`` is None or a vector with one value per output (``unit``) of weight ``w``."""
    if bias is None:
        return
    check_rank(op, bias, 1)
    if not same_extent(shape_of(bias)[0], outputs):
        raise ShapeError(f"{op}: bias {bias.name} {list(shape_of(bias))} does not match the {outputs} {unit} "
                         f"of weight {w.name} {list(shape_of(w))}")


def normalize_axis(op, axis, ndim):
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


def gemm_block(dtype):
    """Columns per packed block of B: two of the host's SIMD vectors of ``dtype`` (16
    float32 with AVX2, 32 with AVX-512). Measured on AVX-512 (Zen 5, 2 cores, A/B in one
    process): 32-column blocks 1.2-1.45x faster than 16 on the training steps' products
    and 1024^3 (310 -> 430 GFLOP/s), where one-vector blocks leave half the accumulator
    registers unused and load B twice per FMA."""
    return 2 * vector_bits() // bits(dtype)


def _block_width(N, dtype):
    """Columns per packed block for ``N`` columns: ``gemm_block``, or for fewer columns
    N rounded up to whole SIMD vectors (a classifier's 10 outputs compute as 16 vector
    lanes over zero-padded B, 6x faster than 10 scalar columns)."""
    block = gemm_block(dtype)
    if not isinstance(N, int) or N >= block:
        return block
    lanes = block // 2
    return max(lanes, -(-N // lanes) * lanes)      # 0 columns: no blocks of one vector


# --------------------------------------------------------------------------- matrix products

def gemm_stages(name, batch, M, N, K, a_at, b_at, dtype, bias_at=None, columns=None):
    """``out[*b, i, j] = sum_k a_at(b, i, k) * b_at(b, k, j) (+ bias_at(i, j))`` as pack/accumulate/crop.

    ``batch`` is () or (B,); ``a_at``/``b_at`` take the batch index tuple and two ints
    expressions. ``columns``, when given, is the output's shape past the row axis (its
    product is ``N``): column ``j`` is stored at the row-major position ``j`` of those
    axes (a pointwise convolution's (rows, columns) of pixels). Returns the output
    tensor (tag ``gemm``); the accumulation (tag ``gemm_accum``) always has one column axis.
    """
    bn = _block_width(N, dtype)
    blocks = (N + bn - 1) // bn
    nb = len(batch)
    rows, row = _padded_rows(M)
    packed = te.compute(
        (*batch, blocks, K, bn),
        lambda *idx: _pack_value(idx[:nb], idx[nb], idx[nb + 1], idx[nb + 2], bn, N, b_at, dtype),
        name=f"{name}.packed_b", tag="gemm_pack")
    k = te.reduce_axis((0, K), name="k")
    accumulate = te.compute(
        (*batch, rows, blocks * bn),
        lambda *idx: te.sum(a_at(idx[:nb], row(idx[nb]), k) * packed[(*idx[:nb], idx[nb + 1] // bn, k, idx[nb + 1] % bn)],
                            axis=k),
        name=f"{name}.accumulate", tag="gemm_accum")
    columns = (N,) if columns is None else tuple(columns)

    def value(*idx):
        i, j = idx[nb], _row_major(idx[nb + 1:], columns)
        product = accumulate[(*idx[:nb], i, j)]
        return product if bias_at is None else product + bias_at(i, j)
    return te.compute((*batch, M, *columns), value, name=name, tag="gemm")


def _row_major(index, shape):
    """The row-major position of ``index`` in an array of ``shape``."""
    flat = index[0]
    for i, extent in zip(index[1:], shape[1:]):
        flat = flat * extent + i
    return flat


#: A quarter of one core's L2 cache: what the parts of a split product may take together.
L2_QUARTER = cache_bytes(2, default=512 * 1024) // 4

GEMM_ROW_BLOCKS = (1, 2, 3, 4, 6, 8)
GEMM_ROW_PAD = 24          # a multiple of every row block


def _padded_rows(M):
    """(rows of the accumulation, row of A it reads): M rounded up to ``GEMM_ROW_PAD``
    with the extra rows reading A's last row, so that every row block of every schedule
    lies inside the accumulation and its micro-kernel needs no guard (the output crops
    the extra rows). Otherwise the guard of a partial last block sits on every
    multiply-add of the code all blocks share: measured 1.15-1.2x slower at 130^3,
    no different at the training steps' shapes."""
    if not isinstance(M, int) or M % GEMM_ROW_PAD == 0:
        return M, lambda i: i
    return -(-M // GEMM_ROW_PAD) * GEMM_ROW_PAD, lambda i: te.min(i, M - 1)


def _pack_value(b, jo, k, ji, bn, N, b_at, dtype):
    j = jo * bn + ji
    if isinstance(N, int) and N % bn == 0:
        return b_at(b, k, j)
    return te.if_then_else(j < N, b_at(b, k, j), te.const(0, dtype))


def _operand_dims(t, transposed):
    """(rows, cols) of the last two dimensions of ``t`` as the product sees them."""
    rows, cols = shape_of(t)[-2:]
    return (cols, rows) if transposed else (rows, cols)


def matmul(a, b, transpose_a=False, transpose_b=False, parts=1):
    """``op(a) @ op(b)`` for 2-D tensors, ``op`` transposing when its flag is set; floats,
    or integers (see :func:`check_product`) whose products and sums wrap in the dtype.

    ``parts`` > 1 splits the reduction into that many consecutive chunks of k: each is a
    product of its own (one batched GEMM, tag ``gemm``, batch index = chunk) and the
    output (tag ``gemm_parts``) adds them up. The CPU schedule gives every thread one
    chunk: see :func:`reduction_parts` for when that pays."""
    check_rank("matmul", a, 2)
    check_rank("matmul", b, 2)
    dtype = check_product("matmul", a, b)
    M, K = _operand_dims(a, transpose_a)
    K2, N = _operand_dims(b, transpose_b)
    if not same_extent(K, K2):
        raise ShapeError(f"matmul: inner dimensions differ: {a.name} {list(shape_of(a))}"
                         f"{'^T' if transpose_a else ''} @ {b.name} {list(shape_of(b))}{'^T' if transpose_b else ''}")

    def a_at(_, i, k):
        return a[k, i] if transpose_a else a[i, k]

    def b_at(_, k, j):
        return b[j, k] if transpose_b else b[k, j]
    if parts == 1:
        return gemm_stages("matmul", (), M, N, K, a_at, b_at, dtype)
    if not isinstance(K, int) or not isinstance(parts, int) or parts < 1 or K % parts:
        raise ShapeError(f"matmul: the reduction of {K} steps does not split into {parts} equal parts")
    chunk = K // parts
    partial = gemm_stages("matmul.parts", (parts,), M, N, chunk, lambda p, i, k: a_at(p, i, p[0] * chunk + k),
                          lambda p, k, j: b_at(p, p[0] * chunk + k, j), dtype)
    return te.compute((M, N), _total([lambda i, j, part=part: partial[part, i, j] for part in range(parts)]),
                      name="matmul", tag="gemm_parts")


def add_parts(*parts):
    """The elementwise sum of ``parts`` (tensors of one shape): the partial sums a split
    reduction leaves (a jit step's batch lanes, ``graph/jit/passes/lanes.py``). A matrix
    or larger carries tag ``gemm_parts``, like :func:`matmul`'s sum of parts, so that an
    optimizer update reading it can be computed with it row by row."""
    shape = shape_of(parts[0])
    return te.compute(shape, _total([lambda *i, p=p: p[i] for p in parts]), name="add_parts",
                      tag="gemm_parts" if len(shape) >= 2 else "elemwise")


def _total(reads):
    """The index function ``reads[0](*i) + reads[1](*i) + ...``."""
    def total(*i):
        value = reads[0](*i)
        for read in reads[1:]:
            value = value + read(*i)
        return value
    return total


def reduction_parts(M, N, K, dtype, threads):
    """How many parts :func:`matmul` should split a reduction of ``K`` steps into on a
    CPU running ``threads`` threads: ``threads`` for a small product over a long
    reduction (a weight gradient ``dY^T @ X`` over a large batch), else 1.

    Split by output tiles, every thread reads every row of ``dY`` (the operand each
    output tile needs whole), so each core pulls the whole of it through its cache;
    split by batch rows, each thread reads its own half of both operands once, and
    adding up the parts (small, still in cache) is cheap. Pays when every part keeps at
    least 256 steps and the parts together fit in a quarter of a core's L2. Measured
    (2-core Xeon, AVX-512, whole OVERFIT jit steps, batch 1024, A/B in one process):
    1.020 -> 0.980 ms."""
    if threads < 2 or not all(isinstance(x, int) for x in (M, N, K)) or K % threads or K // threads < 256:
        return 1
    return threads if threads * M * N * bits(dtype) // 8 <= L2_QUARTER else 1


def batch_matmul(a, b, transpose_a=False, transpose_b=False):
    """Batched ``op(a[i]) @ op(b[i])`` for 3-D tensors; a batch extent of 1 broadcasts."""
    check_rank("batch_matmul", a, 3)
    check_rank("batch_matmul", b, 3)
    dtype = check_product("batch_matmul", a, b)
    Ba, Bb = shape_of(a)[0], shape_of(b)[0]
    M, K = _operand_dims(a, transpose_a)
    K2, N = _operand_dims(b, transpose_b)
    if not same_extent(K, K2):
        raise ShapeError(f"batch_matmul: inner dimensions differ: {a.name} {list(shape_of(a))} "
                         f"@ {b.name} {list(shape_of(b))} (transpose_a={transpose_a}, transpose_b={transpose_b})")
    if not (same_extent(Ba, Bb) or Ba == 1 or Bb == 1):
        raise ShapeError(f"batch_matmul: batch dimensions {Ba} ({a.name}) and {Bb} ({b.name}) do not broadcast")
    batch = Bb if Ba == 1 else Ba

    def a_at(bi, i, k):
        n = 0 if Ba == 1 else bi[0]
        return a[n, k, i] if transpose_a else a[n, i, k]

    def b_at(bi, k, j):
        n = 0 if Bb == 1 else bi[0]
        return b[n, j, k] if transpose_b else b[n, k, j]
    return gemm_stages("batch_matmul", (batch,), M, N, K, a_at, b_at, dtype)


def dense(x, w, bias=None):
    """``x @ w.T + bias`` with PyTorch's Linear layout: x (N, in), w (out, in), bias (out,)."""
    check_rank("dense", x, 2)
    check_rank("dense", w, 2)
    operands = (x, w) if bias is None else (x, w, bias)
    dtype = check_float("dense", *operands)
    M, K = shape_of(x)
    N, K2 = shape_of(w)
    check_inner("dense", f"{x.name} {list(shape_of(x))}", K, f"weight {w.name} {list(shape_of(w))}", K2, "features")
    check_bias("dense", bias, N, "outputs", w)
    return gemm_stages("dense", (), M, N, K, lambda _, i, k: x[i, k], lambda _, k, j: w[j, k], dtype,
                       None if bias is None else lambda i, j: bias[j])


# --------------------------------------------------------------------------- softmax family

def _reduce_over(op, x, axis, tag, body, reducer):
    """``reducer`` over ``axis`` of ``body(index with the reduce variable inserted)``."""
    shape = shape_of(x)
    k = te.reduce_axis((0, shape[axis]), name="k")
    kept = shape[:axis] + shape[axis + 1:]

    def f(*idx):
        full = (*idx[:axis], k, *idx[axis:])
        return reducer(body(full), axis=k)
    return te.compute(kept, f, name=op, tag=tag)


def _reduce_tag(x, axis):
    """``row_reduce`` when reducing the innermost axis (a consumer computes it per row)."""
    return "row_reduce" if axis == x.ndim - 1 else "axis_reduce"


def _drop(idx, axis):
    return (*idx[:axis], *idx[axis + 1:])


def _row_max(op, x, axis):
    """The max of ``x`` over ``axis``, which a stable softmax subtracts before exp."""
    return _reduce_over(f"{op}.max", x, axis, _reduce_tag(x, axis), lambda i: x[i], te.max)


def _max_and_sum_exp(op, x, axis):
    """(max over ``axis``, sum of exp(x - max) over ``axis``): the two passes of a stable
    softmax, for a consumer that needs no exponential of its own."""
    rmax = _row_max(op, x, axis)
    rsum = _reduce_over(f"{op}.sum_exp", x, axis, _reduce_tag(x, axis),
                        lambda i: te.exp(x[i] - rmax[_drop(i, axis)]), te.sum)
    return rmax, rsum


def _exponentials(op, x, axis):
    """(``exp(x - max)`` over ``axis``, a stage of its own tagged ``softmax``; their sum)
    for a consumer that reads the exponentials too: a schedule computing the stage per
    row, as the CPU rule does, takes each exponential once (one inlining it, twice)."""
    rmax = _row_max(op, x, axis)
    e = te.compute(shape_of(x), lambda *i: te.exp(x[i] - rmax[_drop(i, axis)]), name=f"{op}.exp", tag="softmax")
    return e, _reduce_over(f"{op}.sum_exp", x, axis, _reduce_tag(x, axis), lambda i: e[i], te.sum)


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (see :func:`_exponentials`)."""
    check_float("softmax", x)
    axis = normalize_axis("softmax", axis, x.ndim)
    e, rsum = _exponentials("softmax", x, axis)
    return te.compute(shape_of(x), lambda *i: e[i] / rsum[_drop(i, axis)], name="softmax", tag="softmax")


def log_softmax(x, axis=-1):
    """``x - max - log(sum(exp(x - max)))`` along ``axis``."""
    check_float("log_softmax", x)
    axis = normalize_axis("log_softmax", axis, x.ndim)
    rmax, rsum = _max_and_sum_exp("log_softmax", x, axis)
    return te.compute(shape_of(x), lambda *i: x[i] - rmax[_drop(i, axis)] - te.log(rsum[_drop(i, axis)]),
                      name="log_softmax", tag="softmax")


def _check_same_shape(op, a, b):
    if len(shape_of(a)) != len(shape_of(b)) or not all(same_extent(p, q) for p, q in zip(shape_of(a), shape_of(b))):
        raise ShapeError(f"{op}: {a.name} {list(shape_of(a))} and {b.name} {list(shape_of(b))} differ in shape")


def softmax_grad(y, grad_y, axis=-1):
    """Gradient through softmax given its output ``y``: ``y * (grad_y - sum(y * grad_y))``."""
    check_float("softmax_grad", y, grad_y)
    _check_same_shape("softmax_grad", y, grad_y)
    axis = normalize_axis("softmax_grad", axis, y.ndim)
    dot = _reduce_over("softmax_grad.dot", y, axis, _reduce_tag(y, axis), lambda i: y[i] * grad_y[i], te.sum)
    return te.compute(shape_of(y), lambda *i: y[i] * (grad_y[i] - dot[_drop(i, axis)]),
                      name="softmax_grad", tag="softmax")


def log_softmax_grad(y, grad_y, axis=-1):
    """Gradient through log_softmax given its output ``y``: ``grad_y - exp(y) * sum(grad_y)``."""
    check_float("log_softmax_grad", y, grad_y)
    _check_same_shape("log_softmax_grad", y, grad_y)
    axis = normalize_axis("log_softmax_grad", axis, y.ndim)
    total = _reduce_over("log_softmax_grad.sum", y, axis, _reduce_tag(y, axis), lambda i: grad_y[i], te.sum)
    return te.compute(shape_of(y), lambda *i: grad_y[i] - te.exp(y[i]) * total[_drop(i, axis)],
                      name="log_softmax_grad", tag="softmax")


def _check_labels(op, scores, labels):
    check_float(op, scores)
    check_rank(op, scores, 2)
    check_rank(op, labels, 1)
    if labels.dtype not in INTS:
        raise DTypeError(f"{op}: labels {labels.name} are {labels.dtype}; class labels are int32 or int64")
    if not same_extent(shape_of(labels)[0], shape_of(scores)[0]):
        raise ShapeError(f"{op}: {scores.name} {list(shape_of(scores))} has {shape_of(scores)[0]} rows but "
                         f"labels {labels.name} {list(shape_of(labels))} has {shape_of(labels)[0]}")
    return shape_of(scores)


def _picked(scores, labels, n):
    """``scores[n, labels[n]]``, NaN for a label outside [0, C) (never read out of bounds)."""
    classes = scores.shape[1]
    label = labels[n].astype("int32")
    valid = te.all(label >= 0, label < classes)
    return te.if_then_else(valid, scores[n, te.max(te.min(label, classes - 1), 0)], te.const(float("nan"), scores.dtype))


def _is_label(labels, n, j):
    return labels[n].astype("int32") == j


def cross_entropy(logits, labels):
    """Per-sample loss ``logsumexp(logits[n]) - logits[n, labels[n]]``, shape (N,).

    A label outside ``[0, C)`` gives a NaN loss for that sample (no memory outside
    ``logits`` is read)."""
    N, _ = _check_labels("cross_entropy", logits, labels)
    rmax, rsum = _max_and_sum_exp("cross_entropy", logits, 1)
    return te.compute((N,), lambda n: te.log(rsum[n]) + rmax[n] - _picked(logits, labels, n),
                      name="cross_entropy", tag="row_loss")


def cross_entropy_grad(logits, labels, grad_loss):
    """``(softmax(logits) - one_hot(labels)) * grad_loss[:, None]``, shape (N, C) (the
    exponentials taken once per element, see :func:`_exponentials`)."""
    N, C = _check_labels("cross_entropy_grad", logits, labels)
    check_float("cross_entropy_grad", logits, grad_loss)
    check_rank("cross_entropy_grad", grad_loss, 1)
    if not same_extent(shape_of(grad_loss)[0], N):
        raise ShapeError(f"cross_entropy_grad: grad_loss {grad_loss.name} {list(shape_of(grad_loss))} does not "
                         f"match the {N} rows of {logits.name}")
    e, rsum = _exponentials("cross_entropy_grad", logits, 1)
    one = te.const(1, logits.dtype)
    zero = te.const(0, logits.dtype)
    return te.compute(
        (N, C), lambda n, j: (e[n, j] / rsum[n]
                              - te.if_then_else(_is_label(labels, n, j), one, zero)) * grad_loss[n],
        name="cross_entropy_grad", tag="softmax")


def nll_loss(logp, labels):
    """Per-sample ``-logp[n, labels[n]]``, shape (N,) (NaN for a label outside [0, C))."""
    N, _ = _check_labels("nll_loss", logp, labels)
    return te.compute((N,), lambda n: -_picked(logp, labels, n), name="nll_loss", tag="row_loss")


def nll_loss_grad(logp, labels, grad_loss):
    """``-one_hot(labels) * grad_loss[:, None]``, shape of ``logp`` (whose values it does not read)."""
    N, C = _check_labels("nll_loss_grad", logp, labels)
    check_float("nll_loss_grad", logp, grad_loss)
    zero = te.const(0, logp.dtype)
    return te.compute((N, C), lambda n, j: te.if_then_else(_is_label(labels, n, j), -grad_loss[n], zero),
                      name="nll_loss_grad", tag="softmax")


# --------------------------------------------------------------------------- batch norm

def _bn_axes(op, x, axes):
    """(sorted reduced axes, kept axes, element count per kept index) of ``axes``."""
    axes = sorted({normalize_axis(op, a, x.ndim) for a in axes})
    if not axes or len(axes) == x.ndim:
        raise ShapeError(f"{op}: axes {axes} of {x.name} {list(shape_of(x))} must leave at least one axis "
                         "(the channels) and reduce at least one")
    kept = [a for a in range(x.ndim) if a not in axes]
    count = 1
    for a in axes:
        count = count * shape_of(x)[a]
    return axes, kept, count


def _channel_reduce(name, x, axes, kept, body):
    """``sum over axes of body(full index)``, indexed by the kept axes."""
    shape = shape_of(x)
    raxes = [te.reduce_axis((0, shape[a]), name=f"r{a}") for a in axes]
    tag = "channel_reduce_last" if kept[-1] == x.ndim - 1 else "channel_reduce"

    def f(*kidx):
        full = [None] * x.ndim
        for a, v in zip(kept, kidx):
            full[a] = v
        for a, r in zip(axes, raxes):
            full[a] = r
        return te.sum(body(tuple(full)), axis=raxes)
    return te.compute(tuple(shape[a] for a in kept), f, name=name, tag=tag)


def _check_params(op, x, kept, *params):
    want = [shape_of(x)[a] for a in kept]
    for p in params:
        if len(shape_of(p)) != len(want) or not all(same_extent(u, v) for u, v in zip(shape_of(p), want)):
            raise ShapeError(f"{op}: {p.name} has shape {list(shape_of(p))}; for {x.name} {list(shape_of(x))} "
                             f"it must be {want} (the axes that are not reduced)")


def batch_norm_stats(x, axes):
    """(mean, biased variance) of ``x`` over ``axes``, each shaped like the other axes
    (``(0,)`` on (N, C) and ``(0, 2, 3)`` on NCHW give (C,)). Variance is two-pass."""
    check_float("batch_norm_stats", x)
    axes, kept, count = _bn_axes("batch_norm_stats", x, axes)
    inv_count = te.const(1.0, x.dtype) / te.const(count, x.dtype) if isinstance(count, int) else \
        te.const(1.0, x.dtype) / count.astype(x.dtype)
    sums = _channel_reduce("batch_norm.sum", x, axes, kept, lambda i: x[i])
    mean = te.compute(shape_of(sums), lambda *c: sums[c] * inv_count, name="batch_norm.mean", tag="bn_apply")
    squares = _channel_reduce("batch_norm.sum_sq", x, axes, kept,
                              lambda i: _sq(x[i] - mean[tuple(i[a] for a in kept)]))
    var = te.compute(shape_of(squares), lambda *c: squares[c] * inv_count, name="batch_norm.var", tag="bn_apply")
    return mean, var


def _sq(v):
    return v * v


def _per_channel(name, like, f):
    """A per-channel compute shaped like ``like`` (tag "bn_apply"): on the CPU it runs
    once per channel before the elementwise pass that reads it, so that pass does no
    square root or division per element (with the parallel channel sums of
    ``schedule_nn``, a 1024x256 batch-norm backward measured 175 -> 79-88 us)."""
    return te.compute(shape_of(like), lambda *c: f(c), name=name, tag="bn_apply")


def _inv_std(var, eps):
    """``1 / sqrt(var + eps)`` per channel."""
    return _per_channel(f"{var.name}.inv_std", var,
                        lambda c: te.const(1.0, var.dtype) / te.sqrt(var[c] + te.const(eps, var.dtype)))


def batch_norm_forward(x, gamma, beta, eps, axes):
    """Training-mode batch norm: returns ``(y, mean, var)`` with
    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` (mean/var over ``axes``, the
    biased variance; the graph layer updates running statistics from them), computed as
    ``y = x * scale + shift`` with ``scale = gamma / sqrt(var + eps)`` and
    ``shift = beta - mean * scale`` per channel."""
    check_float("batch_norm_forward", x, gamma, beta)
    _, kept, _ = _bn_axes("batch_norm_forward", x, axes)
    _check_params("batch_norm_forward", x, kept, gamma, beta)
    mean, var = batch_norm_stats(x, axes)
    inv_std = _inv_std(var, eps)
    scale = _per_channel("batch_norm.scale", var, lambda c: gamma[c] * inv_std[c])
    shift = _per_channel("batch_norm.shift", var, lambda c: beta[c] - mean[c] * scale[c])

    def y(*i):
        c = tuple(i[a] for a in kept)
        return x[i] * scale[c] + shift[c]
    return te.compute(shape_of(x), y, name="batch_norm", tag="bn_apply"), mean, var


def batch_norm_backward(grad_y, x, mean, var, gamma, eps, axes):
    """Gradients of ``batch_norm_forward``'s y: returns ``(grad_x, grad_gamma, grad_beta)``.

    With ``xhat = (x - mean) / sqrt(var + eps)`` and m elements per channel:
    ``grad_beta = sum(grad_y)``, ``grad_gamma = sum(grad_y * xhat)`` and
    ``grad_x = gamma / sqrt(var + eps) * (grad_y - grad_beta / m - xhat * grad_gamma / m)``;
    the per-channel factors are computed once per channel.
    """
    check_float("batch_norm_backward", grad_y, x, mean, var, gamma)
    _check_same_shape("batch_norm_backward", grad_y, x)
    axes, kept, count = _bn_axes("batch_norm_backward", x, axes)
    _check_params("batch_norm_backward", x, kept, mean, var, gamma)
    inv_count = te.const(1.0 / count, x.dtype)
    inv_std = _inv_std(var, eps)

    def channel(i):
        return tuple(i[a] for a in kept)
    grad_beta = _channel_reduce("batch_norm_grad_beta", x, axes, kept, lambda i: grad_y[i])
    grad_gamma = _channel_reduce("batch_norm_grad_gamma", x, axes, kept,
                                 lambda i: grad_y[i] * (x[i] - mean[channel(i)]) * inv_std[channel(i)])
    scale = _per_channel("batch_norm_grad_x.scale", var, lambda c: gamma[c] * inv_std[c])
    offset = _per_channel("batch_norm_grad_x.offset", var, lambda c: grad_beta[c] * inv_count)
    slope = _per_channel("batch_norm_grad_x.slope", var, lambda c: inv_std[c] * grad_gamma[c] * inv_count)

    def grad_x(*i):
        c = channel(i)
        return scale[c] * (grad_y[i] - offset[c] - (x[i] - mean[c]) * slope[c])
    return te.compute(shape_of(x), grad_x, name="batch_norm_grad_x", tag="bn_apply"), grad_gamma, grad_beta
