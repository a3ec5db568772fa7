"""The host side of the dense solvers (``topi.linalg_lu``): each algorithm as its
sequence of step-kernel calls on (B, n, n) matrices, with no autodiff. The graph ops
of ``linalg_solve`` and ``linalg_cholesky`` build their forward passes and gradients
from these.

A factorization of n x n matrices is ``n`` calls of its step kernel (the step index a
runtime scalar, so one build per shape serves them all), each writing its matrix in
place over a copy of the input; a triangular solve is ``n`` calls, one row of the
solution final after each. One step per call: a kernel of several steps takes longer
to build (64 x (64 x 64) LU, 4 steps: ~2 s against ~1 s; 16: ~9 s) than the calls it
saves (tens of microseconds each). From ``BLOCKED_MIN`` columns, Cholesky and the
substitutions run blocked (see :data:`BLOCK`). Every call goes through ``dispatch``,
so ``tm.jit`` records the whole sequence like any other op's kernels.
"""
import math

import numpy as np

from ..errors import TVMiniError
from ..runtime import ndarray as nd
from ..topi import linalg_blocked as blocked
from ..topi import linalg_lu as kernels
from . import dispatch, ops
from .tensor import Tensor

#: Row swaps of the pivots replayed per kernel call (:func:`permutation`): each step is
#: a few instructions per row, far less than a call costs.
SWAPS = 8

#: Columns (rows) per block of the blocked Cholesky and substitutions, which run on
#: matrices of at least ``BLOCKED_MIN`` columns (a substitution only with at least
#: ``BLOCK`` right-hand sides): Cholesky a panel of ``BLOCK`` columns at a time (its
#: step kernels on the n x BLOCK panel only), the rest of the matrix updated once per
#: panel by a GEMM; a substitution a block of ``BLOCK`` rows at a time, each solved by
#: a GEMM with the inverse of its diagonal block (``log2 BLOCK`` GEMMs) and subtracted
#: from the rows after it by another. Otherwise one step kernel per column (row) runs
#: on the whole matrix. Measured in CPU time, one thread, fastest of 12 (on cores other
#: processes kept busy, so within ~20%): 512 x 512 Cholesky 8.0-9.9 ms one step per
#: column, 4.4-5.9 blocked; ``inv`` (its substitutions have 512 right-hand sides)
#: 23.8-25.1 against 19.5-24.8; a substitution with 8 right-hand sides 0.5 against 2.4
#: (the blocks' calls cost more than the thin steps they replace); 64 x (64 x 64)
#: ``inv`` 5.6-6.5 against 8.3-9.0 (blocks of 32). LU stays one step per column: the
#: blocked LU written like the Cholesky (a panel step that pivots, the panel's row
#: swaps, a triangular-block inverse and two GEMMs per panel) measured slower at 64,
#: 512 and 1024 columns (1024: 114 against 98 ms).
BLOCK = 64
BLOCKED_MIN = 256

_STEP = ("int32",)


class LinAlgError(TVMiniError, RuntimeError):
    """A matrix the solver cannot handle: singular, or not positive-definite
    (PyTorch's ``torch.linalg.LinAlgError``)."""


def _wrap(out):
    return [Tensor._wrap(o) for o in out] if isinstance(out, list) else Tensor._wrap(out)


def _run(name, define, tensors, scalars=(), attrs=()):
    return _wrap(dispatch.run(name, define, [t._data for t in tensors], scalars=scalars,
                              scalar_dtypes=_STEP * len(scalars), attrs=attrs))


def _steps_in_place(name, define, tensors, overwrites, steps, attrs=()):
    """Run step kernel ``define`` for each of ``steps`` (a step index, or a tuple of
    its scalars), its outputs written over ``tensors[i]`` for ``i`` in ``overwrites``
    (arrays these functions made: a step then allocates nothing, and its matrix stays
    in cache from one step to the next)."""
    arrays = [t._data for t in tensors]
    steps = [k if isinstance(k, tuple) else (k,) for k in steps]
    dispatch.run_inplace_steps(name, define, arrays, overwrites, steps, _STEP * len(steps[0]), attrs=attrs)
    for i in overwrites:        # nothing saw them between the steps: they are new arrays, as a kernel's output
        arrays[i]._version = 0


def _constant(shape, value, dtype, like):
    """A tensor of ``value``s on ``like``'s device (a constant of a ``tm.jit`` trace; the
    steps that overwrite a start value take a ``clone`` of it, which each replay makes
    afresh)."""
    return Tensor._wrap(nd.array(np.full(shape, value, dtype=dtype), device=like.device))


def lu(a):
    """(LU, pivots) of the (B, n, n) tensor ``a``: the packed factors (unit-lower ``L``
    below the diagonal, ``U`` on and above it) and LAPACK's 1-based int32 pivots."""
    batch, n = a.shape[0], a.shape[-1]
    out, pivots = a.detach().clone(), _constant((batch, n), 0, "int32", a).clone()
    _steps_in_place("lu_step", kernels.lu_step, [out, pivots], (0, 1), range(n))
    return out, pivots


def _blocked(n):
    return n >= BLOCKED_MIN and n > BLOCK


def triangular_inverse(t, lower, unit):
    """The inverses of the ``lower`` (else upper) triangles of ``t`` (B, w, w) (``unit``:
    ones taken on the diagonal): ``(I + N)(I + N^2)(I + N^4) ... D^{-1}`` for ``T = D (I
    - N)`` (``topi.linalg_blocked``), the products on the GEMM kernel."""
    power, product = _run("triangular_parts", blocked.triangular_parts, [t], attrs=(("lower", lower), ("unit", unit)))
    for _ in range(1, max(1, math.ceil(math.log2(t.shape[-1])))):
        power = ops.matmul(power, power)
        product = ops.add(product, ops.matmul(product, power))
    return product if unit else _run("divide_columns", blocked.divide_columns, [product, t])


def _blocks(n):
    """(first column, width) of each block of :data:`BLOCK` columns of n (the last one
    narrower where ``BLOCK`` does not divide n)."""
    return [(j, min(BLOCK, n - j)) for j in range(0, n, BLOCK)]


def lu_info(packed):
    """(B,) int32: getrf's ``info``, ``j + 1`` for the first zero ``U[j, j]``, else 0."""
    return _run("lu_info", kernels.lu_info, [packed])


def permutation(pivots):
    """(B, n) int32 ``perm`` of the pivots: row ``i`` of ``L U`` is row ``perm[i]`` of
    ``A``, i.e. ``A = P L U`` with ``P[perm[i], i] = 1``."""
    batch, n = pivots.shape
    perm = _constant((batch, n), np.arange(n, dtype="int32"), "int32", pivots)
    count = min(SWAPS, n)
    for k in range(0, n, count):
        perm = _run("pivots_to_perm", kernels.pivots_to_perm, [perm, pivots], scalars=(k,), attrs=(("count", count),))
    return perm


def permute_rows(x, perm):
    """``x`` (B, n, m) with row ``i`` taken from row ``perm[i]`` (``P^T x``)."""
    return _run("permute_rows", kernels.permute_rows, [x, perm])


def unpermute_rows(x, perm):
    """``P x``: row ``perm[i]`` of the result is row ``i`` of ``x``."""
    return permute_rows(x, _run("inverse_perm", kernels.inverse_perm, [perm]))


def perm_matrix(perm, dtype):
    """The (B, n, n) permutation matrices ``P`` of ``perm``."""
    return _run("perm_matrix", kernels.perm_matrix, [perm], attrs=(("dtype", dtype),))


def pivots_sign(pivots, dtype):
    """(B,) the sign (+1 or -1) of each permutation, in ``dtype``."""
    return _run("pivots_sign", kernels.pivots_sign, [pivots], attrs=(("dtype", dtype),))


def trsm(t, b, lower, unit=False):
    """The solution of ``t x = b`` for triangular (B, n, n) ``t`` (only its lower or
    upper triangle read; ``unit``: ones taken on the diagonal) and (B, n, m) ``b``."""
    n = t.shape[-1]
    if not _blocked(n) or b.shape[-1] < BLOCK:
        x = b.detach().clone()
        _steps_in_place("trsm_step", kernels.trsm_step, [t, x], (1,), range(n) if lower else range(n - 1, -1, -1),
                        attrs=(("lower", lower), ("unit", unit)))
        return x
    x, m = b.detach(), b.shape[-1]
    blocks = _blocks(n)
    for j, w in blocks if lower else blocks[::-1]:
        diagonal = _run("take_block", blocked.take_block, [t], (j, j), attrs=(("rows", w), ("cols", w)))
        inverse = triangular_inverse(diagonal, lower, unit)
        solved = ops.matmul(inverse, _run("take_block", blocked.take_block, [x], (j, 0),
                                          attrs=(("rows", w), ("cols", m))))
        if (j + w == n) if lower else (j == 0):
            return _run("put_block", blocked.put_block, [x, solved], (j, 0))
        column = _run("take_block", blocked.take_block, [t], (0, j), attrs=(("rows", n), ("cols", w)))
        x = _run("trsm_block_update", blocked.trsm_block_update, [x, solved, ops.matmul(column, solved)], (j,),
                 attrs=(("lower", lower),))


def lu_solve(packed, perm, b, adjoint=False):
    """``A^{-1} b`` (``adjoint``: ``A^{-T} b``) for ``A = P L U`` given packed ``L U``
    (B, n, n), its ``perm`` and (B, n, m) ``b``."""
    if not adjoint:
        return trsm(packed, trsm(packed, permute_rows(b, perm), lower=True, unit=True), lower=False)
    flipped = packed.transpose(-2, -1)           # U^T below and on the diagonal, L^T strictly above
    return unpermute_rows(trsm(flipped, trsm(flipped, b, lower=True), lower=False, unit=True), perm)


def cholesky(a):
    """(L, info) of the (B, n, n) tensor ``a`` (its lower triangle): ``L`` lower
    triangular (zeros above), ``info`` (B,) int32, 0 where the factorization succeeded."""
    batch, n = a.shape[0], a.shape[-1]
    info = _constant((batch,), 0, "int32", a).clone()
    if not _blocked(n):
        out = a.detach().clone()
        _steps_in_place("cholesky_step", kernels.cholesky_step, [out, info], (0, 1), range(n))
        return out.tril(), info
    out = a.detach()
    for j, w in _blocks(n):
        panel = _run("take_block", blocked.take_block, [out], (0, j), attrs=(("rows", n), ("cols", w)))
        _steps_in_place("cholesky_panel_step", kernels.cholesky_panel_step, [panel, info], (0, 1),
                        [(j + t, t) for t in range(w)])
        if j + w == n:
            out = _run("put_block", blocked.put_block, [out, panel], (0, j))
            break
        product = _run("batch_matmul", "batch_matmul", [panel, panel], attrs=(("transpose_b", True),))
        out = _run("cholesky_block_update", blocked.cholesky_block_update, [out, panel, product], (j,))
    return out.tril(), info


def first_failure(info):
    """``(batch element, info)`` of the first nonzero entry of ``info`` (B,), or None;
    None too where it cannot be read: inside a ``tm.jit`` trace (a step cannot stop on
    a value it computes, so a jitted solver returns what the ``_ex`` variant would)."""
    if dispatch.thread.tracer is not None:
        return None
    values = info.numpy()
    bad = np.flatnonzero(values)
    return (int(bad[0]), int(values[bad[0]])) if bad.size else None


def raise_failure(op, info, batched, message):
    """Raise TVMiniError for the first failed batch element in ``info``, PyTorch's
    wording: ``message(info value)`` after ``op:`` and, for batches, the element."""
    failure = first_failure(info)
    if failure is not None:
        element, value = failure
        where = f"(Batch element {element}): " if batched else ""
        raise LinAlgError(f"{op}: {where}{message(value)}")
