"""Register transposes: a copy that swaps its innermost strides, ``L x L`` at a time.

The loop pair

    for k in range(Ek):                      # serial
        vectorized for j in range(Ej):
            dst[... + k * Sd + j] = src[... + j * Ss + k]

stores consecutive ``j`` but loads consecutive ``k``. Vectorizing ``j`` alone reads one
lane at a time (a gather: ``L`` scalar loads and inserts per vector). Emitted here
instead, each ``L x L`` block (``L`` lanes of the dtype) is ``L`` contiguous vector
loads along ``k``, a transpose in registers (``log2 L`` rounds of ``L`` two-vector
shuffles) and ``L`` contiguous vector stores along ``j``. This is the shape of a GEMM
packing ``B = W^T`` (every dense layer's ``x @ W^T``) and of a tiled 2-D transpose.

Only the exact pattern is taken (one unguarded store of one load of the same dtype,
both indices linear in ``k`` and ``j``, ``Ej`` a multiple of ``L``, ``Ek`` at least
``L``); the last ``Ek % L`` values of ``k`` and anything else are left to the ordinary
loop and vector code.
"""
import llvmlite.ir as ir

from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.functor import free_vars
from ..tir.stmt import BufferStore, For, ForKind
from .llvm import llvm_type
from .llvm_target import vector_bits
from .vectorize import _stride

I32, I64 = ir.IntType(32), ir.IntType(64)


def emit_transposed(fb, loop):
    """Emit serial ``loop`` (around a vectorized loop) as register transposes; False if
    it does not have the pattern of the module doc."""
    pattern = _pattern(loop)
    if pattern is None:
        return False
    inner, store, lanes = pattern
    _emit(fb, loop, inner, store, lanes)
    return True


def _const(e):
    return e.value if isinstance(e, E.Const) else None


def _pattern(loop):
    """(inner loop, store, lanes) when ``loop`` is a transposing copy, else None."""
    inner = loop.body
    if (loop.kind is not ForKind.SERIAL or not isinstance(inner, For) or inner.kind is not ForKind.VECTORIZED
            or _const(loop.extent) is None or _const(inner.extent) is None or _const(loop.min) is None
            or any(v is loop.var for v in free_vars(inner.min))):
        return None
    store = inner.body
    if not isinstance(store, BufferStore) or not isinstance(store.value, E.BufferLoad):
        return None
    load = store.value
    dtype = store.buffer.dtype
    if load.buffer is store.buffer or load.buffer.dtype != dtype or dtype in ("bool", "float16"):
        return None
    lanes = vector_bits() // dt.bits(dtype)
    k, j = loop.var, inner.var
    (dst,), (src,) = store.indices, load.indices
    if (lanes < 4 or _const(loop.extent) < lanes or _const(inner.extent) % lanes
            or _stride(dst, j) != 1 or _stride(src, k) != 1
            or _stride(dst, k) is None or _stride(src, j) in (None, 1)):
        return None
    return inner, store, lanes


def _emit(fb, loop, inner, store, lanes):
    """Blocks of ``lanes`` values of k (a loop) by ``lanes`` of j (unrolled), then the
    remaining values of k as the ordinary loop."""
    b = fb.builder
    k, j = loop.var, inner.var
    elem = llvm_type(store.buffer.dtype, in_memory=True)
    vec = ir.VectorType(elem, lanes)
    align = max(1, dt.bits(store.buffer.dtype) // 8)
    k_blocks = _const(loop.extent) // lanes
    j_blocks = _const(inner.extent) // lanes

    def block(k0):
        j_start = fb.expr(inner.min)
        for jb in range(j_blocks):
            j0 = b.add(j_start, ir.Constant(I32, jb * lanes))
            rows = []
            for r in range(lanes):          # row r: j = j0 + r, k = k0 .. k0 + lanes - 1
                fb.vars[k], fb.vars[j] = k0, b.add(j0, ir.Constant(I32, r))
                load = b.load(fb._address(store.value.buffer, store.value.indices[0]), typ=vec)
                load.align = align
                rows.append(load)
            for c, column in enumerate(transpose(b, rows)):   # column c: k = k0 + c, j = j0 ..
                fb.vars[k], fb.vars[j] = b.add(k0, ir.Constant(I32, c)), j0
                b.store(column, fb._address(store.buffer, store.indices[0])).align = align

    start = _const(loop.min)
    fb.counted_loop(f"{k.name}.block", ir.Constant(I32, start), ir.Constant(I32, start + k_blocks * lanes), lanes,
                    block)
    rest = _const(loop.extent) - k_blocks * lanes
    if rest:
        fb.stmt(loop.rebuild(start + k_blocks * lanes, rest, inner))


def transpose(b, rows):
    """The columns of the ``L x L`` matrix whose rows are the ``L`` vectors ``rows``.

    Round ``h`` (``L/2``, ..., 2, 1) exchanges bit ``h`` of the row with bit ``h`` of
    the column: rows ``r`` and ``r + h`` (bit clear in ``r``) become
    ``new[r][c] = c & h ? old[r + h][c - h] : old[r][c]`` and
    ``new[r + h][c] = c & h ? old[r + h][c] : old[r][c + h]``; after every bit has been
    exchanged, row ``c`` holds column ``c``. Each round is ``L`` two-input shuffles
    (x86: unpack, shuffle and 128-bit permute instructions).
    """
    lanes = len(rows)
    rows = list(rows)
    h = lanes // 2
    while h:
        low = [c if not c & h else lanes + c - h for c in range(lanes)]
        high = [c + h if not c & h else lanes + c for c in range(lanes)]
        for r in range(lanes):
            if r & h:
                continue
            a, z = rows[r], rows[r + h]
            rows[r] = b.shuffle_vector(a, z, ir.Constant(ir.VectorType(I32, lanes), low))
            rows[r + h] = b.shuffle_vector(a, z, ir.Constant(ir.VectorType(I32, lanes), high))
        h //= 2
    return rows
