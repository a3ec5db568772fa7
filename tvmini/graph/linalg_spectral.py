"""``tm.linalg``'s spectral factorizations, PyTorch's: ``qr``, ``eigh``, ``eigvalsh``,
``svd``, ``svdvals`` and ``tm.svd``/``tm.qr``, batched over leading axes, float32 and
float64, with PyTorch's gradients.

Each factorization is a host loop over the step kernels of ``topi.linalg_spectral``
(one call per Householder reflection, per Jacobi round), on the matrices flattened to
one batch axis. The Jacobi rounds hold the rotated vectors as rows (``V^T``; the SVD
rotates the rows of ``A^T``) and run through one ``dispatch.StepLoop`` per
factorization: outside ``tm.jit`` every round but the first is the native call alone,
on two sets of arrays allocated once (the Householder QR's reflections too); on the
CPU a large batch runs in cache-sized chunks (:data:`CHUNK_BYTES`). Against one checked
call per step on fresh arrays, the vectors as columns, the whole batch at once
(float32, one thread, CPU time per call, the two versions timed in alternation):
64 x (32 x 32) eigh 13.6 -> 8.3 ms, SVD 20.7 -> 9.8; 256 x 256 eigh 103 -> 65, SVD 174
-> 57; 64 x 64 eigh 3.2 -> 1.15, SVD 6.0 -> 1.43; 8 x 8 eigh 0.25 -> 0.16, SVD 0.48 ->
0.29 (float64: 17.2 -> 11.4, 29.2 -> 15.2, 184 -> 112, 260 -> 116, 3.9 -> 1.5, 7.0 ->
1.95, 0.29 -> 0.17, 0.52 -> 0.30). torch (LAPACK) stays ahead (benchmarks/
linalg_spectral.py --cpu-time, one thread): ~3x on the batch of 32 x 32 (SVD ~2x),
5-8x at 64 x 64, 10-24x at 256 x 256, 14-22x at 8 x 8 (where each op's fixed host
costs dominate): its tridiagonal and bidiagonal methods make a few passes over the
matrix where Jacobi makes ``N - 1`` per sweep, for 6-12 sweeps.

The Jacobi methods run sweeps until converged: outside ``tm.jit`` the host reads one
number per matrix after each sweep (eigh: the
off-diagonal's share of the Frobenius norm, at most the dtype's epsilon; SVD: the
largest cosine between two columns met in the sweep, at most ``sqrt(m)`` epsilons, as
LAPACK's ``gesvj``), at most :data:`MAX_SWEEPS`; a traced step must not depend on the
data, so inside ``tm.jit`` every call runs :data:`JIT_SWEEPS` sweeps (Jacobi converges
quadratically: on the symmetric random matrices of benchmarks/linalg_spectral.py,
eigh stopped after 7-8 sweeps in float32 and 8-10 in float64, the SVD after 9-11 and
10-12, 256 x 256 the most; 15 leaves a margin).

The SVD of an ``m x n`` matrix with ``m >= n`` rotates its columns (the SVD of a
wide one is its transpose's); ``U``'s columns are the rotated columns normalized, then
made exactly orthonormal and completed to ``m`` columns (``full_matrices``, or where
singular values are 0) by a Householder QR of them (``Q`` with ``R``'s signs). Signs:
QR's are LAPACK's (``R``'s diagonal ``-sign(a_kk) * norm``), so they agree with
torch's; eigenvectors have their largest entry positive, and so has each column of the
rotated factor (``V`` of a tall or square matrix, ``U`` of a wide one).

Gradients: each factorization is one :class:`Function` whose output packs its
factors side by side (the user's tensors are slices of it), so one backward receives
every factor's gradient: torch's formulas (QR: Walter and Lehmann's ``copyltu``
rule, ``R^-T`` applied by ``linalg.solve_triangular``; eigh: the ``1 / (lambda_j -
lambda_i)`` matrix; SVD: torch's ``svd_backward``).
Where those divide by zero (equal eigenvalues or singular values, a zero singular
value) and the factor's gradient is zero, the term is taken as 0, not NaN (torch
skips a factor whose gradient is undefined). The extra columns of ``full_matrices``
factors get no gradient, as in torch.
"""
import math

import numpy as np

from ..codegen import parallel
from ..errors import AutogradError, ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from ..topi import linalg_spectral as kernels
from ..topi.schedule_cpu import PARALLEL_MIN
from . import dispatch, ops
from .autograd import Function, no_grad
from .creation import eye, zeros
from .dispatch import run
from .join_ops import cat
from .layout_aliases import diag_embed, diagonal
from .linalg_cholesky import solve_triangular
from .logic_ops import where
from .reorder_ops import narrow, tril, triu
from .tensor import Tensor

#: Sweeps at most outside ``tm.jit`` (Jacobi converges quadratically: a matrix needing
#: more is not converging, and its last iterate is returned)
MAX_SWEEPS = 30
#: Sweeps inside ``tm.jit``, where the host cannot test convergence (module docstring)
JIT_SWEEPS = 15
#: Bytes of Jacobi state (a StepLoop's two sets of arrays) per chunk of a batch on the
#: CPU: a batch whose state is larger runs chunk after chunk, each in the cache (512
#: KiB: Zen 3's L2) while its rounds sweep over it, and stopping when its own matrices
#: converge. 64 x (32 x 32), one thread, CPU time, on shared cores: eigh float32 11.5-15
#: -> 8.6-9.2 ms (chunks of 32), float64 15.8-17.5 -> 11.8-12.1 (16); the SVD within
#: the noise (float32 10.4-15 -> 10.7-11.0, float64 19-25 -> 17.5-23). With several
#: threads a chunk keeps at least the elements a parallel loop needs
#: (``topi.schedule_cpu.PARALLEL_MIN``): smaller chunks ran serially, and on 2 idle
#: cores 64 x (32 x 32) float64 eigh took 10.4-11.7 ms in chunks, 8.6 ms whole.
CHUNK_BYTES = 1 << 19


def _matrices(op, A, square=False):
    """``A`` (..., m, n) as (B, m, n) (None where ``A`` has no element) and its batch
    shape, after the checks torch makes."""
    if not isinstance(A, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(A).__name__}")
    if A.dtype not in ("float32", "float64"):
        raise DTypeError(f"{op}: Expected a floating point tensor as input (float32 or float64). Got {A.dtype}")
    if A.ndim < 2:
        raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions, got shape {A.shape}")
    m, n = A.shape[-2:]
    if square and m != n:
        raise ShapeError(f"{op}: A must be batches of square matrices, but they are {m} by {n} matrices")
    batch = A.shape[:-2]
    if not A.numel():
        return None, batch
    return ops.reshape(A, (math.prod(batch), m, n)), batch


def _empty(A, batch, shapes, identities):
    """The factors of empty matrices (``A`` has no element), as torch's: zeros of
    ``batch + shape``, or the identity where ``identities`` marks a complete orthogonal
    factor (``U`` of ``full_matrices``, ``Q`` of "complete") with rows."""
    out = []
    for shape, identity in zip(shapes, identities):
        if identity and shape[-1]:
            out.append(ops.expand(eye(shape[-1], dtype=A.dtype, device=A.device), batch + tuple(shape)))
        else:
            out.append(zeros(*(batch + tuple(shape)), dtype=A.dtype, device=A.device))
    return out


def _eye(like, rows, columns):
    """(B, rows, columns): the leading columns of the identity, per matrix of ``like``."""
    return run("linalg_eye", kernels.identity_columns, [like], attrs=(("rows", rows), ("columns", columns)))


def _in_chunks(factorize, a, state_bytes):
    """``factorize(a)`` (a list of (B, ...) arrays) run on chunks of the batch of ``a``
    (B, ., .), as many matrices each as :data:`CHUNK_BYTES` of their Jacobi state
    (``state_bytes`` a matrix) hold, the chunks' results joined along the batch; on a
    GPU, the whole batch at once (its rounds run the batch's matrices in parallel)."""
    B, rows, columns = a.shape
    size = max(1, CHUNK_BYTES // state_bytes)
    if parallel.thread_count() > 1:
        size = max(size, -(-PARALLEL_MIN // (rows * columns)))
    if B <= size or a.device.kind != "cpu":
        return factorize(a)
    with no_grad():
        whole = Tensor._wrap(a)
        parts = [factorize(narrow(whole, 0, start, min(size, B - start))._data) for start in range(0, B, size)]
        return [cat([Tensor._wrap(part[k]) for part in parts], 0)._data for k in range(len(parts[0]))]


def _householder(a):
    """``(P, tau)``: Householder QR of ``a`` (B, m, n), reflectors below ``R`` (the
    reflections one ``dispatch.StepLoop``, as the Jacobi rounds)."""
    B, m, n = a.shape
    tau = nd.zeros((B, min(m, n)), a.dtype, a.device)
    loop = dispatch.StepLoop("householder_step", kernels.householder_step, [a, tau], ("int32",))
    return tuple(loop.run([(k,) for k in range(min(m, n))]))


def _form_q(P, tau, columns):
    """The first ``columns`` columns of ``Q`` of the QR held in ``P``, ``tau``."""
    q = _eye(P, P.shape[1], columns)
    loop = dispatch.StepLoop("householder_apply_step", kernels.householder_apply_step, [P, tau, q], ("int32",),
                             constant=2)
    return loop.run([(k,) for k in reversed(range(tau.shape[1]))])[0]


def _sweeps():
    """The sweeps to run: None (until converged, tested on the host) or a fixed count."""
    return None if dispatch.thread.tracer is None else JIT_SWEEPS


def _converged(measure, tol):
    """Whether every matrix's convergence measure (an NDArray) is at most ``tol``
    (a NaN, from a NaN input, stops the sweeps too)."""
    values = measure.numpy()
    return bool(np.all((values <= tol) | np.isnan(values)))


def _round_loop(name, define, state):
    """``(loop, sweep)``: a ``dispatch.StepLoop`` of Jacobi round kernel ``define`` on
    ``state`` (its arrays, the rotated vectors (B, n, .) first), and the scalars of one
    sweep's ``rounds(n)`` rounds for its ``run`` (the arrays a sweep returns are
    overwritten by the next)."""
    steps = [(r,) for r in range(kernels.rounds(state[0].shape[1]))]
    return dispatch.StepLoop(name, define, state, ("int32",)), steps


def _eigh_arrays(a, upper):
    """(eigenvalues (B, n) ascending, eigenvectors (B, n, n)) of the symmetric matrices
    of ``a``'s lower (``upper``: upper) triangles."""
    n = a.shape[1]
    s = run("eigh_start", kernels.symmetric_start, [a], attrs=(("upper", upper),))
    vt = _eye(a, n, n)
    fixed = _sweeps()
    eps = float(np.finfo(a.dtype).eps)
    if n > 1:
        loop, sweep = _round_loop("jacobi_eigh_round", kernels.jacobi_eigh_round, [s, vt])
        for _ in range(fixed or MAX_SWEEPS):
            s, vt = loop.run(sweep)
            if fixed is None and _converged(run("off_diagonal_ratio", kernels.off_diagonal_ratio, [s]), eps):
                break
    return run("eigh_finish", kernels.eigh_finish, [s, vt])


def _jacobi_svd(at, columns):
    """(U (B, m, columns), S (B, n), V (B, n, n)) of the tall ``A`` (B, m, n), m >= n,
    given as its transpose ``at`` (B, n, m): the columns Jacobi rotates are rows."""
    B, n, m = at.shape
    vt = _eye(at, n, n)
    fixed = _sweeps()
    tol = math.sqrt(m) * float(np.finfo(at.dtype).eps)
    if n > 1:
        state = [at, vt, nd.zeros((B,), at.dtype, at.device)]
        loop, sweep = _round_loop("jacobi_svd_round", kernels.jacobi_svd_round, state)
        for _ in range(fixed or MAX_SWEEPS):
            at, vt, worst = loop.run(sweep)
            if fixed is None and _converged(worst, tol):
                break
    s, u, v = run("svd_finish", kernels.svd_finish, [at, vt])
    p, tau = _householder(u)
    u = run("qr_column_signs", kernels.column_signs, [_form_q(p, tau, columns), p])
    return u, s, v


def _transpose(array):
    with no_grad():
        return Tensor._wrap(array).mT._data


def _pack(tensors):
    """The (B, total) side-by-side flattening of (B, ...) tensors (one Function output)."""
    B = tensors[0].shape[0]
    return cat([ops.reshape(t, (B, math.prod(t.shape[1:]))) for t in tensors], 1)


def _unpack(packed, shapes):
    """The (B, *shape) tensors that :func:`_pack` joined, from ``packed``."""
    B, out, start = packed.shape[0], [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(ops.reshape(narrow(packed, 1, start, size), (B,) + tuple(shape)))
        start += size
    return out


def _row(x):
    """(B, n) as (B, 1, n): broadcast along the rows."""
    return ops.reshape(x, (x.shape[0], 1, x.shape[1]))


def _col(x):
    """(B, n) as (B, n, 1): broadcast along the columns."""
    return ops.reshape(x, (x.shape[0], x.shape[1], 1))


def _safe_divide(x, d):
    """``x / d`` with 0 where ``d`` is 0 (see the module docstring)."""
    zero = where(d == 0, 1.0, d)
    return where(d == 0, 0.0, x / zero)


def _factor(cls, A, shapes, **attrs):
    """Run Function ``cls`` on (B, m, n) ``A`` and return its factors (B, *shape)."""
    return _unpack(cls.apply(A, shapes=shapes, **attrs), shapes)


# ------------------------------------------------------------------------------------ QR

class _QR(Function):
    """Householder QR: packs (Q (m, kq), R (kr, n)); attributes ``shapes``, ``mode``."""

    def forward(self, a):
        m = a.shape[1]
        P, tau = _householder(a)
        (_, kq), (kr, _) = self.shapes
        with no_grad():
            self.q = Tensor._wrap(_form_q(P, tau, kq))
            self.r = narrow(triu(Tensor._wrap(P)), 1, 0, kr) if kr < m else triu(Tensor._wrap(P))
            return _pack([self.q, self.r])._data

    def backward(self, g):
        gq, gr = _unpack(g, self.shapes)
        m, n = self.q.shape[1], self.r.shape[2]
        if self.mode == "complete" and m > n:
            raise AutogradError("linalg.qr: The QR decomposition is not differentiable when mode='complete' and "
                                f"nrows > ncols (A is {m} by {n})")
        return (qr_backward(self.q, self.r, gq, gr),)


def _copyltu(M):
    """The symmetric matrix with ``M``'s lower triangle (diagonal included)."""
    low = tril(M, -1)
    return low + low.mT + diag_embed(diagonal(M, 0, -2, -1))


def qr_backward(Q, R, gQ, gR):
    """The gradient of ``A = Q R`` (batched (B, ., .)): for ``m >= n``, ``(gQ + Q
    copyltu(M)) R^-T`` with ``M = R gR^T - gQ^T Q``; for ``m < n`` (``A = Q [X | Y]``,
    ``R = [U | W]``) that rule for ``X`` with ``gQ + Y gW^T``, and ``Q gW`` for ``Y``."""
    m, n = Q.shape[1], R.shape[2]
    if m >= n:
        M = ops.matmul(R, gR.mT) - ops.matmul(gQ.mT, Q)
        return solve_triangular(R.mT, gQ + ops.matmul(Q, _copyltu(M)), upper=False, left=False)
    U, W = narrow(R, 2, 0, m), narrow(R, 2, m, n - m)
    gU, gW = narrow(gR, 2, 0, m), narrow(gR, 2, m, n - m)
    Y = ops.matmul(Q, W)
    gX = qr_backward(Q, U, gQ + ops.matmul(Y, gW.mT), gU)
    return cat([gX, ops.matmul(Q, gW)], 2)


_QR_MODES = ("reduced", "complete", "r")


def qr(A, mode="reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` orthonormal columns and ``R`` upper triangular
    (Householder, LAPACK's signs): "reduced" ``Q`` (m, k), ``R`` (k, n), ``k = min(m,
    n)``; "complete" ``Q`` (m, m), ``R`` (m, n); "r": ``R`` only, ``Q`` empty."""
    if mode not in _QR_MODES:
        raise ArgumentError(f"linalg.qr: qr received unrecognized mode {mode!r} but expected one of 'reduced' "
                            "(default), 'r', or 'complete'")
    a, batch = _matrices("linalg.qr", A)
    m, n = A.shape[-2:]
    k = min(m, n)
    kq, kr = (m, m) if mode == "complete" else (k, k)
    if a is None:
        q, r = _empty(A, batch, ((m, kq), (kr, n)), (mode == "complete", False))
    else:
        q, r = _factor(_QR, a, ((m, kq), (kr, n)), mode=mode)
    r = ops.reshape(r, batch + (kr, n))
    if mode == "r":
        return zeros(0, dtype=A.dtype, device=A.device), r
    return ops.reshape(q, batch + (m, kq)), r


# ---------------------------------------------------------------------------------- eigh

class _Eigh(Function):
    """Packs (eigenvalues (n,), eigenvectors (n, n)); attributes ``shapes``, ``upper``."""

    def forward(self, a):
        n = a.shape[1]
        w, v = _in_chunks(lambda chunk: _eigh_arrays(chunk, self.upper), a, 4 * n * n * a._dtype.itemsize)
        with no_grad():
            self.w, self.v = Tensor._wrap(w), Tensor._wrap(v)
            return _pack([self.w, self.v])._data

    def backward(self, g):
        gw, gv = _unpack(g, self.shapes)
        return (eigh_backward(self.w, self.v, gw, gv),)


def eigh_backward(w, V, gw, gV):
    """torch's: ``V (diag(gw) + skew(V^T gV) / E) V^T`` with ``skew(X) = (X - X^T) / 2``
    and ``E[i, j] = w[j] - w[i]`` (a zero gap contributes 0)."""
    X = ops.matmul(V.mT, gV)
    gaps = _row(w) - _col(w)
    inner = _safe_divide((X - X.mT) * 0.5, gaps) + diag_embed(gw)
    return ops.matmul(ops.matmul(V, inner), V.mT)


def _uplo(op, UPLO):
    if UPLO not in ("L", "U"):
        raise ArgumentError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")
    return UPLO == "U"


def eigh(A, UPLO="L"):
    """``(eigenvalues, eigenvectors)`` of the symmetric matrices whose lower (``UPLO="U"``:
    upper) triangle ``A`` holds: eigenvalues ascending, eigenvectors as columns (each
    with its largest entry positive). The gradient assumes ``A`` symmetric, as torch's."""
    upper = _uplo("linalg.eigh", UPLO)
    a, batch = _matrices("linalg.eigh", A, square=True)
    n = A.shape[-1]
    if a is None:
        return tuple(_empty(A, batch, ((n,), (n, n)), (False, False)))
    w, v = _factor(_Eigh, a, ((n,), (n, n)), upper=upper)
    return ops.reshape(w, batch + (n,)), ops.reshape(v, batch + (n, n))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of :func:`eigh`, ascending."""
    return eigh(A, UPLO)[0]


# ----------------------------------------------------------------------------------- SVD

class _SVD(Function):
    """Packs (U (m, cu), S (k,), Vh (cv, n)), ``k = min(m, n)``; ``cu``, ``cv``: k, or
    m and n with ``full_matrices``. Attribute ``shapes``. The gradient reaching the
    columns of ``U`` and rows of ``Vh`` past ``k`` is ignored, as torch's."""

    def forward(self, a):
        B, m, n = a.shape
        (_, cu), _, (cv, _) = self.shapes
        state = 2 * (m * n + min(m, n) ** 2) * a._dtype.itemsize
        if m >= n:
            u, s, v = _in_chunks(lambda chunk: _jacobi_svd(chunk, cu), _transpose(a), state)
        else:
            v, s, u = _in_chunks(lambda chunk: _jacobi_svd(chunk, cv), a, state)
        with no_grad():
            self.u, self.s, self.v = Tensor._wrap(u), Tensor._wrap(s), Tensor._wrap(v)
            return _pack([self.u, self.s, self.v.mT])._data

    def backward(self, g):
        gu, gs, gvh = _unpack(g, self.shapes)
        k = self.s.shape[1]
        u, vh = narrow(self.u, 2, 0, k), narrow(self.v, 2, 0, k).mT
        return (svd_backward(u, self.s, vh, narrow(gu, 2, 0, k), gs, narrow(gvh, 1, 0, k)),)


def svd_backward(U, S, Vh, gU, gS, gVh):
    """torch's ``svd_backward`` (real case) for ``A = U diag(S) Vh``, ``U`` (m, k),
    ``Vh`` (k, n), ``k = min(m, n)``; a zero gap ``S_j^2 - S_i^2`` or zero ``S`` gives
    0 for its term (see the module docstring)."""
    m, n, k = U.shape[1], Vh.shape[2], S.shape[1]
    UhgU = ops.matmul(U.mT, gU)
    VhgV = ops.matmul(Vh, gVh.mT)
    UhgU, VhgV = UhgU - UhgU.mT, VhgV - VhgV.mT
    S2 = S * S
    gaps = _row(S2) - _col(S2)
    inner = _safe_divide(UhgU * _row(S) + _col(S) * VhgV, gaps) + diag_embed(gS)
    if m > k:
        gUSinv = _safe_divide(gU, _row(S))
        left = ops.matmul(U, inner) + gUSinv - ops.matmul(U, ops.matmul(U.mT, gUSinv))
        return ops.matmul(left, Vh)
    if n > k:
        gVhSinv = _safe_divide(gVh, _col(S))
        right = ops.matmul(inner, Vh) + gVhSinv - ops.matmul(ops.matmul(gVhSinv, Vh.mT), Vh)
        return ops.matmul(U, right)
    return ops.matmul(ops.matmul(U, inner), Vh)


def _svd(op, A, full_matrices):
    a, batch = _matrices(op, A)
    m, n = A.shape[-2:]
    k = min(m, n)
    cu, cv = (m, n) if full_matrices else (k, k)
    if a is None:
        return tuple(_empty(A, batch, ((m, cu), (k,), (cv, n)), (full_matrices, False, full_matrices)))
    u, s, vh = _factor(_SVD, a, ((m, cu), (k,), (cv, n)))
    return ops.reshape(u, batch + (m, cu)), ops.reshape(s, batch + (k,)), ops.reshape(vh, batch + (cv, n))


def svd(A, full_matrices=True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``: singular values descending, ``U``
    (m, m) and ``Vh`` (n, n) orthogonal (``full_matrices=False``: their first ``min(m,
    n)`` columns/rows), by one-sided Jacobi (see the module docstring for signs)."""
    return _svd("linalg.svd", A, full_matrices)


def svdvals(A):
    """The singular values of ``A``, descending (their gradient is ``U Vh``)."""
    return _svd("linalg.svdvals", A, False)[1]


def legacy_svd(input, some=True, compute_uv=True):  # noqa: A002  (torch's argument name)
    """``torch.svd``: ``(U, S, V)`` with ``V`` not transposed; ``some=False`` the full
    factors; ``compute_uv=False``: zero ``U`` and ``V`` (full size), as torch's."""
    U, S, Vh = _svd("svd", input, not some)
    if compute_uv:
        return U, S, Vh.mT
    m, n = input.shape[-2:]
    batch = input.shape[:-2]
    return (zeros(*batch, m, m, dtype=input.dtype, device=input.device), S.detach(),
            zeros(*batch, n, n, dtype=input.dtype, device=input.device))


def legacy_qr(input, some=True):  # noqa: A002  (torch's argument name)
    """``torch.qr``: :func:`qr` with ``some`` (reduced) or not (complete)."""
    return qr(input, "reduced" if some else "complete")
