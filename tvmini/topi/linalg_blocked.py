"""The kernels of the blocked solvers (``graph.linalg_kernels``): what a blocked
Cholesky or triangular solve does once per block of ``w`` columns (or rows), around
the step kernels of ``topi.linalg_lu`` (Cholesky's restricted to a panel) and the
batched GEMM of the graph layer's matmul.

Every kernel takes the block's position as a runtime scalar, and the panels are
full-height (all ``n`` rows, rows above the block ignored), so the kernels of one
matrix shape and block width are built once and serve every block (only a ragged
last block adds a second width). Indices derived from those scalars are clamped into
their axes, so no kernel reads outside a buffer whatever the scalar.

* :func:`take_block`: a ``rows x cols`` window of a batch of matrices.
* :func:`triangular_parts` and :func:`divide_columns`: what the inverse of each
  triangular ``w x w`` diagonal block is made from. With ``T = D (I - N)`` (``D`` the
  diagonal, ``N`` strictly triangular, so ``N^w = 0``), ``T^{-1} = (I + N)(I + N^2)
  (I + N^4) ... D^{-1}``: ``ceil(log2 w) - 1`` squarings and products, each a call of
  the graph layer's GEMM, instead of ``w`` substitution steps (each a kernel call).
  (As te stages of one kernel, the default reduction schedule ran these products
  some 30x slower than the GEMM kernel.)
* :func:`cholesky_block_update`, :func:`trsm_block_update`, :func:`put_block`: the
  matrix after a block, assembled from the factored panel (the solved rows) and the
  GEMM product of the trailing update, in one pass over it.
"""
from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .linalg_lu import _clamp, _extent
from .transform import _check

__all__ = ["take_block", "triangular_parts", "divide_columns", "cholesky_block_update", "trsm_block_update",
           "put_block"]


def _batch3(x, op):
    _check(x, op)
    if len(x.shape) != 3:
        raise ShapeError(f"{op}: expects a batch of matrices (B, r, c), got {x.name} of shape {x.shape}")
    return _extent(x, 1), _extent(x, 2)


def take_block(a, row, col, rows, cols):
    """``out[b, r, c] = a[b, row + r, col + c]`` (B, rows, cols): the window at (``row``,
    ``col``) of ``a`` (B, n, m); indices past ``a``'s edges are clamped to them."""
    n, m = _batch3(a, "take_block")
    return te.compute((a.shape[0], rows, cols), lambda b, r, c: a[b, _clamp(row + r, n), _clamp(col + c, m)],
                      name="take_block", tag="injective")


def triangular_parts(t, lower=True, unit=False):
    """[N, I + N] (B, w, w) of the ``lower`` (else upper) triangles ``T = D (I - N)`` of
    ``t`` (B, w, w): ``N = -D^{-1} (T - D)``, strictly triangular (``D`` taken as ones
    where ``unit``); the other triangle of ``t`` is not read."""
    w, cols = _batch3(t, "triangular_parts")
    if w != cols:
        raise ShapeError(f"triangular_parts: expects square blocks, got {t.name} of shape {t.shape}")
    one, zero = E.const(1, t.dtype), E.const(0, t.dtype)

    def strict(b, i, k):
        value = -t[b, i, k] if unit else -t[b, i, k] / t[b, i, i]
        return te.if_then_else((i > k) if lower else (i < k), value, zero)
    n = te.compute(t.shape, strict, name="triangular_strict", tag="injective")
    return [n, te.compute(t.shape, lambda b, i, k: te.if_then_else(i == k, one, n[b, i, k]),
                          name="triangular_unit", tag="injective")]


def divide_columns(x, t):
    """``out[b, i, c] = x[b, i, c] / t[b, c, c]``: ``x D^{-1}`` for the diagonal ``D`` of
    ``t`` (B, w, w)."""
    _batch3(x, "divide_columns")
    w, _ = _batch3(t, "divide_columns")
    return te.compute(x.shape, lambda b, i, c: x[b, i, c] / t[b, _clamp(c, w), _clamp(c, w)], name="divide_columns",
                      tag="injective")


def _in_block(i, start, width):
    return te.all(i >= start, i < start + width)


def cholesky_block_update(a, panel, product, j):
    """The matrix after the Cholesky block of columns ``j .. j+w-1``: the factored
    ``panel`` (B, n, w) in them, the trailing block less ``product`` (B, n, n)
    (``panel @ panel^T``)."""
    n, _ = _batch3(a, "cholesky_block_update")
    _, w = _batch3(panel, "cholesky_block_update")

    def body(b, r, c):
        value = a[b, r, c]
        rest = te.if_then_else(te.all(r >= j + w, c >= j + w), value - product[b, r, c], value)
        return te.if_then_else(_in_block(c, j, w), panel[b, r, _clamp(c - j, w)], rest)
    return te.compute(a.shape, body, name="cholesky_block_update", tag="injective")


def trsm_block_update(x, solved, product, j, lower=True):
    """The right-hand sides (B, n, m) after the substitution block of rows ``j ..
    j+w-1``: ``solved`` (B, w, m) in them, the rows still to solve (below the block
    when ``lower``, else above it) less ``product`` (B, n, m)."""
    _batch3(x, "trsm_block_update")
    w, _ = _batch3(solved, "trsm_block_update")

    def body(b, r, c):
        later = (r >= j + w) if lower else (r < j)
        rest = te.if_then_else(later, x[b, r, c] - product[b, r, c], x[b, r, c])
        return te.if_then_else(_in_block(r, j, w), solved[b, _clamp(r - j, w), c], rest)
    return te.compute(x.shape, body, name="trsm_block_update", tag="injective")


def put_block(a, block, row, col):
    """``a`` (B, n, m) with ``block`` (B, r, c) written at (``row``, ``col``)."""
    _batch3(a, "put_block")
    rows, cols = _batch3(block, "put_block")

    def body(b, r, c):
        inside = te.all(_in_block(r, row, rows), _in_block(c, col, cols))
        return te.if_then_else(inside, block[b, _clamp(r - row, rows), _clamp(c - col, cols)], a[b, r, c])
    return te.compute(a.shape, body, name="put_block", tag="injective")
