"""The kernels of ``tm.linalg``'s spectral factorizations: Householder QR, the
symmetric eigendecomposition by cyclic Jacobi rotations and the SVD by one-sided
(Hestenes) Jacobi rotations, each on a batch of matrices ``(B, m, n)``.

te has no while loop and no in-place update, so each algorithm is cut into steps
that are pure functions of the previous step's arrays, and the host (``graph/
linalg_spectral.py``) calls one kernel per step with the step's number as a runtime
int32 scalar (one build serves every step, as ``topi.ctc``'s recursion):

* QR: step ``k`` of :func:`householder_step` computes reflector ``k`` from column
  ``k`` (LAPACK's ``dlarfg`` convention: ``R[k, k] = -sign(a_kk) ||a_k:||``, no
  reflection where the column below the diagonal is already 0) and applies it to the
  columns right of it; the reflector's vector is kept below the diagonal and its
  factor in ``tau``, as ``geqrf`` does, so ``R`` and ``Q`` come out with LAPACK's (and
  torch's) signs. :func:`householder_apply_step` then forms ``Q`` by applying the
  reflectors to the leading columns of the identity, last one first.
* Jacobi (both): a sweep visits each pair of columns once in ``N - 1`` rounds
  (``N``: ``n`` rounded up to even) of the round-robin (circle) tournament, whose
  ``N / 2`` pairs per round are disjoint, so one round's rotations are independent
  and a round is one elementwise update of the whole matrix. In round ``r``, index
  ``N - 1`` meets ``r`` and every other ``i`` meets ``(2 r - i) mod (N - 1)`` (that
  is ``i`` itself only for ``i = r``); an odd ``n`` has a dummy index ``n`` whose
  partner sits the round out. :func:`jacobi_eigh_round` applies ``J^T A J`` and
  ``V J`` with the rotations of Golub and Van Loan's ``sym.schur2`` (the pair's
  entry becomes exactly 0 and its diagonal moves by ``-+t a_pq``);
  :func:`jacobi_svd_round` rotates the columns of ``A`` (and ``V``) so that each
  pair becomes orthogonal, the same rotation on the pair's Gram matrix.
  The rotated vectors are kept as rows, transposed (``V^T``, and the SVD's ``A^T``):
  rotating a pair of rows reads and writes whole contiguous rows in vector lanes, and
  the SVD's column norms and dot products become sums along contiguous rows, where a
  pair of columns was a gather per element (measured in ``graph/linalg_spectral.py``).
* The finishing kernels sort (eigenvalues ascending, singular values descending,
  ties in index order, by counting ranks) and give every vector a deterministic
  sign: the entry of largest magnitude of each eigenvector, and of each column of the
  Jacobi ``V``, is positive (the first such entry where several tie).
"""
from .. import te
from ..tir import expr as E
from .schedule import MATERIALIZED, register
from .schedule_cpu import LANES, PARALLEL_MIN
from .transform import _check

__all__ = ["householder_step", "householder_apply_step", "identity_columns", "column_signs",
           "symmetric_start", "jacobi_eigh_round", "off_diagonal_ratio", "eigh_finish",
           "jacobi_svd_round", "svd_finish"]


#: Tag of the rotated rows of a Jacobi round (``J^T A``, and the vectors held as rows):
#: kept in a buffer as a MATERIALIZED intermediate is, and looped as "broadcast" (outer
#: axes fused, the last in vector lanes, see :func:`schedule_rows`). CUDA schedules it
#: with its rule for any tag.
ROWS_TAG = "linalg_rows"


#: Tag of a Jacobi round's ``(J^T A) J`` (:func:`jacobi_eigh_round`), whose CPU rule
#: computes each row of its ``J^T A`` (ROWS_TAG) just before it.
ROTATED_TAG = "linalg_rotated"


def _vector_lanes(stage, axis):
    """``axis`` split into vector lanes of LANES where they divide it (no bounds guard)."""
    if int(axis.dom.extent.value) % LANES == 0:
        _, lanes = stage.split(axis, factor=LANES)
        stage.vectorize(lanes)


def _work(tensor):
    """Elements of ``tensor``: parallel loops from PARALLEL_MIN, as the injective rules."""
    work = 1
    for extent in tensor.shape:
        work *= int(extent.value)
    return work


@register(ROTATED_TAG, target="llvm")
def schedule_rotated(sch, tensor, target="llvm"):
    """``(J^T A) J`` row by row, each row of ``J^T A`` computed just before it into a
    buffer of one row (compute_at), instead of the whole ``J^T A`` written to memory and
    read back (a 256 x 256 float32 eigh, one thread, CPU time: 101 -> 87 ms, on cores
    shared with other work)."""
    stage = sch[tensor]
    b, i, j = stage.op.axis
    outer = stage.fuse(b, i)
    _vector_lanes(stage, j)
    if _work(tensor) >= PARALLEL_MIN:
        stage.parallel(outer)
    for producer in tensor.op.input_tensors:
        if getattr(producer.op, "tag", None) == ROWS_TAG:
            sch[producer].compute_at(stage, outer)


@register(ROWS_TAG)
def schedule_rows(sch, tensor, target="llvm"):
    """The row index a loop variable, not a division of one fused index (the elementwise
    rule fuses every axis, and the row's partner is looked up per element): a 256 x 256
    round on one core 0.26 -> 0.066 ms. Inside its reader's row loop (compute_at), one
    row in vector lanes."""
    stage = sch[tensor]
    axes = list(stage.op.axis)
    if stage.attach_type != "root":
        _vector_lanes(stage, axes[-1])
        return
    outer = stage.fuse(*axes[:-1])
    _vector_lanes(stage, axes[-1])
    if _work(tensor) >= PARALLEL_MIN:
        stage.parallel(outer)


def _dim(x, axis):
    return int(x.shape[axis].value)


def _zero(dtype):
    return E.const(0, dtype)


def _one(dtype):
    return E.const(1, dtype)


# ------------------------------------------------------------------------ QR (Householder)

def _reflector_vector(P, b, i, k):
    """Entry ``i`` of reflector ``k``'s vector: 0 above ``k``, 1 at ``k``, below it the
    entries that ``householder_step`` stored below the diagonal of column ``k``."""
    dtype = P.dtype
    rows = _dim(P, 1)
    below = P[b, te.min(i, rows - 1), k]
    return te.if_then_else(i < k, _zero(dtype), te.if_then_else(i == k, _one(dtype), below))


def householder_step(P, tau, k):
    """Step ``k`` of Householder QR: from ``P`` (B, m, n), the matrix after ``k``
    reflections with reflectors ``0 .. k-1`` stored below the diagonal, and their
    factors ``tau`` (B, K), returns ``[P', tau']`` after reflection ``k``: ``H = I - tau
    v v^T`` with ``v[k] = 1`` maps column ``k`` below the diagonal to ``beta e_k``."""
    for x in (P, tau):
        _check(x, "householder_step")
    B, m, n = (_dim(P, a) for a in range(3))
    dtype = P.dtype
    zero, one = _zero(dtype), _one(dtype)
    kk = te.min(k, m - 1)
    i = te.reduce_axis((0, m), name="i")
    below = te.compute((B,), lambda b: te.sum(te.if_then_else(i.var > k, P[b, i.var, k] * P[b, i.var, k], zero),
                                                axis=i), name="qr_below", tag="reduce")

    # single-output stages (the CUDA rules read a reader's one body)
    keep = te.compute((B,), lambda b: te.if_then_else(below[b] == zero, one, zero), name="qr_keep", tag=MATERIALIZED)

    def beta_of(b):
        alpha = P[b, kk, k]
        norm = te.sqrt(alpha * alpha + below[b])
        return te.if_then_else(keep[b] == one, alpha, te.if_then_else(alpha >= zero, -norm, norm))
    beta = te.compute((B,), beta_of, name="qr_beta", tag=MATERIALIZED)
    factor = te.compute((B,), lambda b: te.if_then_else(keep[b] == one, zero, (beta[b] - P[b, kk, k]) / beta[b]),
                        name="qr_factor", tag=MATERIALIZED)
    scale = te.compute((B,), lambda b: te.if_then_else(keep[b] == one, zero, one / (P[b, kk, k] - beta[b])),
                       name="qr_scale", tag=MATERIALIZED)
    v = te.compute((B, m), lambda b, r: te.if_then_else(r > k, P[b, r, k] * scale[b],
                                                         te.if_then_else(r == k, one, zero)),
                   name="qr_v", tag=MATERIALIZED)
    i2 = te.reduce_axis((0, m), name="i2")
    w = te.compute((B, n), lambda b, j: te.sum(v[b, i2.var] * P[b, i2.var, j], axis=i2), name="qr_w", tag="reduce")

    def update(b, r, j):
        reflected = P[b, r, j] - factor[b] * v[b, r] * w[b, j]
        column = te.if_then_else(r == k, beta[b], v[b, r])
        return te.if_then_else(te.any(r < k, j < k), P[b, r, j], te.if_then_else(j == k, column, reflected))
    out = te.compute((B, m, n), update, name="qr_p", tag="injective")
    taus = te.compute(tau.shape, lambda b, t: te.if_then_else(t == k, factor[b], tau[b, t]), name="qr_tau",
                      tag="injective")
    return [out, taus]


def identity_columns(P, rows, columns):
    """The first ``columns`` columns of the ``rows x rows`` identity, once per matrix of
    ``P`` (B, ., .): (B, rows, columns), where :func:`householder_apply_step` starts (and
    the Jacobi rotations)."""
    _check(P, "identity_columns")
    dtype = P.dtype
    return te.compute((_dim(P, 0), rows, columns), lambda b, i, j: te.if_then_else(i == j, _one(dtype), _zero(dtype)),
                      name="qr_eye", tag="injective")


def householder_apply_step(P, tau, Q, k):
    """``H_k Q`` (B, m, c): reflector ``k`` of ``P``/``tau`` (see :func:`householder_step`)
    applied to ``Q``; applying ``K-1 .. 0`` to the identity's first ``c`` columns gives
    the first ``c`` columns of ``H_0 H_1 ... H_{K-1}``."""
    for x in (P, tau, Q):
        _check(x, "householder_apply_step")
    B, m, c = (_dim(Q, a) for a in range(3))
    v = te.compute((B, m), lambda b, i: _reflector_vector(P, b, i, k), name="qr_v", tag=MATERIALIZED)
    i = te.reduce_axis((0, m), name="i")
    y = te.compute((B, c), lambda b, j: te.sum(v[b, i.var] * Q[b, i.var, j], axis=i), name="qr_y", tag="reduce")
    return te.compute(Q.shape, lambda b, r, j: Q[b, r, j] - tau[b, k] * v[b, r] * y[b, j], name="qr_q",
                      tag="injective")


def column_signs(Q, P):
    """``Q`` (B, m, c) with column ``j < K`` negated where ``P[j, j]`` (a diagonal of
    ``R``) is negative: turns the ``Q`` of a matrix with orthonormal columns into those
    columns (completed to an orthonormal basis past them)."""
    for x in (Q, P):
        _check(x, "column_signs")
    K = min(_dim(P, 1), _dim(P, 2))
    zero = _zero(Q.dtype)

    def body(b, i, j):
        flip = te.all(j < K, P[b, te.min(j, K - 1), te.min(j, K - 1)] < zero)
        return te.if_then_else(flip, -Q[b, i, j], Q[b, i, j])
    return te.compute(Q.shape, body, name="qr_signs", tag="injective")


# ------------------------------------------------------------------------ Jacobi rotations

def rounds(n):
    """Rounds of a sweep over ``n`` columns: ``N - 1``, ``N`` being ``n`` rounded up to even."""
    return n + n % 2 - 1


def _partner(i, r, n):
    """The index paired with ``i`` in round ``r`` of the circle tournament on ``N``
    (``n`` rounded up to even) indices; ``n`` (only for odd ``n``) is the dummy."""
    N = n + n % 2
    q = (2 * r - i + (N - 1)) % (N - 1)
    return te.if_then_else(i == N - 1, r, te.if_then_else(q == i, N - 1, q))


def _mates(n, r, name):
    """(n,) int32: each index's partner in round ``r`` (``n``: the dummy of an odd
    ``n``), computed once so that the updates index with a load, not the formula."""
    return te.compute((n,), lambda i: _partner(i, r, n), name=f"{name}_mates", tag=MATERIALIZED)


def _pairs(n, r):
    """``[lows, pair_of]``: (N / 2,) int32, the lower index of each pair of round ``r``
    (pair 0 is ``(r, N - 1)``, pair ``k`` the two indices ``r -+ k`` modulo ``N - 1``),
    and (n,) int32, the pair of each index, so that a quantity of a pair (the SVD's dot
    product of its columns) is computed once, not once per index."""
    N = n + n % 2
    M = N - 1

    def low(k):
        up, down = (r + k) % M, (r - k + M) % M
        return te.if_then_else(k == 0, te.min(r, n - 1), te.max(te.min(te.min(up, down), n - 1), 0))
    lows = te.compute((N // 2,), low, name="svd_lows", tag=MATERIALIZED)

    def pair(i):
        d = (i - r + M) % M
        return te.if_then_else(te.any(i == N - 1, i == r), 0, te.max(te.min(te.min(d, M - d), N // 2 - 1), 0))
    return [lows, te.compute((n,), pair, name="svd_pair_of", tag=MATERIALIZED)]


def _rotations(mates, B, dtype, pivots, name):
    """``(C, S, t, a_pq)`` (B, n) of each index's rotation in this round, from
    ``pivots(b, lo, hi) = (a_pp, a_qq, a_pq)`` of its pair ``lo < hi``: the rotation
    ``[[c, s], [-s, c]]`` diagonalizing ``[[a_pp, a_pq], [a_pq, a_qq]]`` (``sym.schur2``:
    ``t = s / c`` the smaller root of ``t^2 + 2 tau t - 1``, ``tau = (a_qq - a_pp) / 2
    a_pq``, so at most 45 degrees; ``sqrt(1 + tau^2)`` as ``|tau| sqrt(1 + tau^-2)``
    past 1, which overflows for no ``tau``). ``C`` multiplies the index's own column,
    ``S`` its partner's (``-s`` for ``lo``, ``s`` for ``hi``); no rotation (``t = 0``)
    for the dummy's partner or an ``a_pq`` of 0. Three small stages, so that no
    expression repeats another's tree."""
    n = int(mates.shape[0].value)
    zero, one = _zero(dtype), _one(dtype)

    def pair(b, i):
        q = te.min(mates[i], n - 1)
        return pivots(b, te.min(i, q), te.max(i, q))

    def off(b, i):
        return te.if_then_else(mates[i] < n, pair(b, i)[2], zero)
    apq = te.compute((B, n), off, name=f"{name}_apq", tag=MATERIALIZED)

    def ratio(b, i):
        app, aqq, _ = pair(b, i)
        turn = apq[b, i] != zero
        return te.if_then_else(turn, (aqq - app) / (2 * te.if_then_else(turn, apq[b, i], one)), zero)
    tau = te.compute((B, n), ratio, name=f"{name}_tau", tag=MATERIALIZED)

    def tangent(b, i):
        x = tau[b, i]
        mag = te.abs(x)
        root = te.if_then_else(mag > one, mag * te.sqrt(one + (one / mag) * (one / mag)), te.sqrt(one + x * x))
        return te.if_then_else(apq[b, i] == zero, zero, te.if_then_else(x >= zero, one, -one) / (mag + root))
    t = te.compute((B, n), tangent, name=f"{name}_t", tag=MATERIALIZED)
    C = te.compute((B, n), lambda b, i: one / te.sqrt(one + t[b, i] * t[b, i]), name=f"{name}_c", tag=MATERIALIZED)
    S = te.compute((B, n), lambda b, i: te.if_then_else(i < mates[i], -t[b, i], t[b, i]) * C[b, i],
                   name=f"{name}_s", tag=MATERIALIZED)
    return C, S, t, apq


def symmetric_start(A, upper):
    """The symmetric matrix (B, n, n) of ``A``'s lower triangle (``upper``: of its upper
    one) mirrored: what ``eigh`` reads, as LAPACK's ``syevd`` with ``UPLO``."""
    _check(A, "symmetric_start")

    def body(b, i, j):
        lo, hi = te.min(i, j), te.max(i, j)
        return A[b, lo, hi] if upper else A[b, hi, lo]
    return te.compute(A.shape, body, name="eigh_start", tag="injective")


def _rotate_rows(X, C, S, partner, name):
    """``X`` (B, n, k) with each row ``i`` replaced by ``C[i] x_i + S[i] x_partner(i)``:
    the round's rotations applied to vectors held as rows (contiguous, in vector lanes)."""
    return te.compute(X.shape, lambda b, i, k: C[b, i] * X[b, i, k] + S[b, i] * X[b, partner(i), k], name=name,
                      tag=ROWS_TAG)


def jacobi_eigh_round(A, Vt, r):
    """Round ``r`` of the cyclic Jacobi method on the symmetric ``A`` (B, n, n) with the
    accumulated rotations ``V`` held transposed, ``Vt`` (B, n, n) (row ``i``: column
    ``i`` of ``V``): ``[J^T A J, (V J)^T]`` with ``J`` rotating every pair of the round
    (the pair's entries become exactly 0; its diagonal moves by ``-+t a_pq``,
    Rutishauser's update). Each row of ``J^T A`` (contiguous reads) is computed just
    before the same row of ``(J^T A) J`` (a gather within it, see
    :func:`schedule_rotated`): a 256 x 256 float32 round, ``V`` included, on one core
    takes ~0.027 ms (the four-term formula per entry, read symmetrically: 1.1 ms for
    ``A`` alone). Only the upper triangle feeds the next rotations; the lower one
    agrees up to rounding."""
    for x in (A, Vt):
        _check(x, "jacobi_eigh_round")
    B, n = _dim(A, 0), _dim(A, 1)
    dtype = A.dtype
    zero = _zero(dtype)
    mates = _mates(n, r, "jacobi")

    def partner(i):
        return te.min(mates[i], n - 1)

    C, S, t, apq = _rotations(mates, B, dtype, lambda b, lo, hi: (A[b, lo, lo], A[b, hi, hi], A[b, lo, hi]), "jacobi")
    rows = _rotate_rows(A, C, S, partner, "jacobi_rows")

    def rotated(b, i, j):
        diagonal = A[b, i, i] + te.if_then_else(i < mates[i], -t[b, i], t[b, i]) * apq[b, i]
        value = C[b, j] * rows[b, i, j] + S[b, j] * rows[b, i, partner(j)]
        return te.if_then_else(i == j, diagonal, te.if_then_else(j == mates[i], zero, value))
    out = te.compute(A.shape, rotated, name="jacobi_a", tag=ROTATED_TAG)
    return [out, _rotate_rows(Vt, C, S, partner, "jacobi_v")]


def off_diagonal_ratio(A):
    """``||offdiag(A)||_F / ||A||_F`` per matrix (B,) (0 for a zero matrix): the host
    stops the sweeps once it is at most the dtype's epsilon."""
    _check(A, "off_diagonal_ratio")
    B, n = _dim(A, 0), _dim(A, 1)
    dtype = A.dtype
    zero = _zero(dtype)
    i = te.reduce_axis((0, n), name="i")
    j = te.reduce_axis((0, n), name="j")
    total = te.compute((B,), lambda b: te.sum(A[b, i.var, j.var] * A[b, i.var, j.var], axis=[i, j]),
                       name="norm2", tag="reduce")
    i2 = te.reduce_axis((0, n), name="i2")
    j2 = te.reduce_axis((0, n), name="j2")
    off = te.compute((B,), lambda b: te.sum(te.if_then_else(i2.var == j2.var, zero,
                                                            A[b, i2.var, j2.var] * A[b, i2.var, j2.var]),
                                            axis=[i2, j2]), name="off2", tag="reduce")
    return te.compute((B,), lambda b: te.if_then_else(total[b] > zero, te.sqrt(off[b] / total[b]), zero),
                      name="off_ratio", tag="injective")


def _order(values, descending, name):
    """``src`` (B, n) int32: the index of the value at each position once the rows of
    ``values`` (B, n) are sorted (ties in index order), by counting ranks."""
    B, n = _dim(values, 0), _dim(values, 1)
    j = te.reduce_axis((0, n), name="j")

    def before(b, jj, i):
        other, mine = values[b, jj], values[b, i]
        ahead = other > mine if descending else other < mine
        return te.any(ahead, te.all(other == mine, jj < i))
    rank = te.compute((B, n), lambda b, i: te.sum(te.if_then_else(before(b, j.var, i), 1, 0), axis=j),
                      name=f"{name}_rank", tag="reduce")
    i = te.reduce_axis((0, n), name="i")
    src = te.compute((B, n), lambda b, k: te.sum(te.if_then_else(rank[b, i.var] == k, i.var, 0), axis=i),
                     name=f"{name}_src", tag="reduce")
    return te.compute((B, n), lambda b, k: te.min(src[b, k], n - 1), name=f"{name}_order", tag=MATERIALIZED)


def _signs(Vt, src, name):
    """(B, n): +1 or -1 per sorted vector ``k`` (row ``src[k]`` of ``Vt``, the vectors
    held as rows), the sign of its first entry of largest magnitude."""
    B, length = _dim(Vt, 0), _dim(Vt, 2)
    dtype = Vt.dtype
    a = te.reduce_axis((0, length), name="a")
    top = te.compute((B, _dim(src, 1)), lambda b, k: te.max(te.abs(Vt[b, src[b, k], a.var]), axis=a),
                     name=f"{name}_top", tag="reduce")
    a2 = te.reduce_axis((0, length), name="a2")
    first = te.compute(top.shape, lambda b, k: te.min(te.if_then_else(te.abs(Vt[b, src[b, k], a2.var]) == top[b, k],
                                                                      a2.var, length - 1), axis=a2),
                       name=f"{name}_first", tag="reduce")
    return te.compute(top.shape, lambda b, k: te.if_then_else(Vt[b, src[b, k], first[b, k]] < _zero(dtype),
                                                              -_one(dtype), _one(dtype)),
                      name=f"{name}_sign", tag=MATERIALIZED)


def eigh_finish(A, Vt):
    """``[eigenvalues (B, n) ascending, eigenvectors (B, n, n)]`` from the converged
    ``A`` (its diagonal) and ``Vt`` (the eigenvectors as rows), each eigenvector's
    largest entry positive, as columns."""
    for x in (A, Vt):
        _check(x, "eigh_finish")
    B, n = _dim(A, 0), _dim(A, 1)
    diagonal = te.compute((B, n), lambda b, i: A[b, i, i], name="eigh_diag", tag=MATERIALIZED)
    src = _order(diagonal, False, "eigh")
    sign = _signs(Vt, src, "eigh")
    values = te.compute((B, n), lambda b, k: diagonal[b, src[b, k]], name="eigh_w", tag="injective")
    vectors = te.compute(Vt.shape, lambda b, i, k: sign[b, k] * Vt[b, src[b, k], i], name="eigh_v", tag="injective")
    return [values, vectors]


def jacobi_svd_round(At, Vt, worst, r):
    """Round ``r`` of one-sided Jacobi on the columns of ``A`` (B, m, n), held as the
    rows of ``At`` (B, n, m), with the accumulated rotations ``V`` held as ``Vt`` (B, n,
    n): each pair ``(p, q)`` of the round is rotated so that ``a_p . a_q = 0`` (the
    rotation diagonalizing their Gram matrix). Returns ``[(A J)^T, (V J)^T, worst']``,
    ``worst'`` (B,) the largest of the round's ``|a_p . a_q| / (|a_p| |a_q|)`` before
    rotating and, but in round 0 (a sweep's first), ``worst``: the sweep's largest,
    once its last round has run; the host stops once that is small."""
    for x in (At, Vt, worst):
        _check(x, "jacobi_svd_round")
    B, n, m = (_dim(At, a) for a in range(3))
    dtype = At.dtype
    zero = _zero(dtype)
    mates = _mates(n, r, "svd")

    def partner(i):
        return te.min(mates[i], n - 1)
    k = te.reduce_axis((0, m), name="k")
    norm2 = te.compute((B, n), lambda b, i: te.sum(At[b, i, k.var] * At[b, i, k.var], axis=k), name="svd_norm2",
                       tag="reduce")
    lows, pair_of = _pairs(n, r)
    k2 = te.reduce_axis((0, m), name="k2")
    dots = te.compute((B, _dim(lows, 0)),
                      lambda b, p: te.sum(At[b, lows[p], k2.var] * At[b, partner(lows[p]), k2.var], axis=k2),
                      name="svd_dot", tag="reduce")

    C, S, _, _ = _rotations(mates, B, dtype, lambda b, lo, hi: (norm2[b, lo], norm2[b, hi], dots[b, pair_of[lo]]),
                            "svd")

    def cosine(b, i):
        q = partner(i)
        gamma = dots[b, pair_of[i]]
        return te.if_then_else(te.all(mates[i] < n, gamma != zero),
                               te.abs(gamma) / te.sqrt(norm2[b, i]) / te.sqrt(norm2[b, q]), zero)
    j = te.reduce_axis((0, n), name="j")
    largest = te.compute((B,), lambda b: te.max(cosine(b, j.var), axis=j), name="svd_round_worst", tag="reduce")
    merged = te.compute((B,), lambda b: te.if_then_else(r == 0, largest[b], te.max(largest[b], worst[b])),
                        name="svd_worst", tag="injective")
    return [_rotate_rows(At, C, S, partner, "svd_a"), _rotate_rows(Vt, C, S, partner, "svd_v"), merged]


def svd_finish(At, Vt):
    """``[S (B, n) descending, U (B, m, n), V (B, n, n)]`` from the converged columns of
    ``A`` held as the rows of ``At`` (B, n, m) (their norms are the singular values,
    their directions ``U``'s columns; a zero column gives a zero column of ``U``) and
    the rotations ``Vt`` (``V`` transposed); each pair of singular vectors is signed so
    that the largest entry of ``V``'s column is positive."""
    for x in (At, Vt):
        _check(x, "svd_finish")
    B, n, m = (_dim(At, a) for a in range(3))
    dtype = At.dtype
    zero = _zero(dtype)
    k = te.reduce_axis((0, m), name="k")
    norm2 = te.compute((B, n), lambda b, i: te.sum(At[b, i, k.var] * At[b, i, k.var], axis=k), name="svd_norm2",
                       tag="reduce")
    norms = te.compute((B, n), lambda b, i: te.sqrt(norm2[b, i]), name="svd_s_all", tag=MATERIALIZED)
    src = _order(norms, True, "svd")
    sign = _signs(Vt, src, "svd")
    values = te.compute((B, n), lambda b, j: norms[b, src[b, j]], name="svd_s", tag=MATERIALIZED)
    left = te.compute((B, m, n), lambda b, i, j: te.if_then_else(values[b, j] > zero,
                                                                 sign[b, j] * At[b, src[b, j], i] / values[b, j],
                                                                 zero),
                      name="svd_u", tag="injective")
    right = te.compute(Vt.shape, lambda b, i, j: sign[b, j] * Vt[b, src[b, j], i], name="svd_v", tag="injective")
    return [values, left, right]
