"""Property tests: random shapes and random schedules must not change the answer.

Every op family is defined with ``te``, scheduled at random (split factors including
larger than the extent, nparts, tile, fuse, reorder permutations of all leaves, unroll,
vectorize, parallel, compute_at at random legal leaves, compute_inline, cache_read,
cache_write, rfactor), built for LLVM, run, and compared with numpy and with
``tvmini.testing.reference`` within the dtype's tolerance. Extents are 1..~70,
including size 1 and sizes no split factor divides; some are symbolic ``te.var``s.
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from strategies import (DTYPES, EXTENT, MAYBE_EMPTY, Dims, check, examples, random_annotations, random_array,
                        random_attach, random_loops, random_schedule, rng_of, split_amount)


def np_exact(x, dtype):
    return np.asarray(x).astype(dtype)


# --------------------------------------------------------------------------- elementwise

@examples(30)
@given(st.data())
def test_elementwise_broadcast(data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    rank = data.draw(st.integers(1, 3), label="rank")
    ext = MAYBE_EMPTY if rank <= 2 else st.integers(1, 16)
    values = {f"d{i}": data.draw(ext, label=f"d{i}") for i in range(rank)}
    d = Dims(data, values)
    shape = [d[f"d{i}"] for i in range(rank)]
    vshape = [values[f"d{i}"] for i in range(rank)]
    if data.draw(st.booleans(), label="broadcast with size-1 dims (else trailing dims)"):
        ones = [data.draw(st.booleans(), label=f"B dim {i} is 1") for i in range(rank)]
        bshape = [1 if o else e for o, e in zip(ones, shape)]
        bvshape = [1 if o else e for o, e in zip(ones, vshape)]

        def bidx(idx):
            return tuple(0 if o else v for o, v in zip(ones, idx))
    else:
        q = data.draw(st.integers(1, rank), label="B rank")
        bshape, bvshape = shape[rank - q:], vshape[rank - q:]

        def bidx(idx):
            return tuple(idx[rank - q:])
    A = te.placeholder(shape, name="A", dtype=dtype)
    B = te.placeholder(bshape, name="B", dtype=dtype)
    op = data.draw(st.sampled_from(["mul_add", "max", "sub_mul"]), label="op")

    def body(*idx):
        a, b = A[idx], B[bidx(idx)]
        if op == "mul_add":
            return a * b + 3
        if op == "max":
            return te.max(a, b) - a
        return (a - b) * 2

    C = te.compute(shape, body, name="C")
    s = te.create_schedule(C.op)
    random_schedule(data, s[C])

    rng = rng_of(data)
    a, b = random_array(rng, vshape, dtype), random_array(rng, bvshape, dtype)
    if op == "mul_add":
        want = a * b + 3
    elif op == "max":
        want = np.maximum(a, b) - a
    else:
        want = (a - b) * 2
    check(s, [A, B, C], {A: a, B: b}, {C: np_exact(want, dtype)}, d.binds, name="ewise")


@examples(30)
@given(st.data())
def test_elementwise_chain_inline_and_compute_at(data):
    """A -> P1 (broadcast add) -> P2 (stencil along j) -> Out (stencil along i); each
    producer at the root, inlined, or computed at a random leaf of its reader."""
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    values = {"M": data.draw(MAYBE_EMPTY, label="M"), "N": data.draw(MAYBE_EMPTY, label="N")}
    d = Dims(data, values)
    M, N = d["M"], d["N"]
    A = te.placeholder((M, N), name="A", dtype=dtype)
    B = te.placeholder((N,), name="B", dtype=dtype)
    P1 = te.compute((M, N), lambda i, j: A[i, j] + B[j], name="P1")
    P2 = te.compute((M, N), lambda i, j: P1[i, j] * 2 + P1[i, te.min(j + 1, N - 1)], name="P2")
    Out = te.compute((M, N), lambda i, j: P2[i, j] - P2[te.max(i - 1, 0), j] * A[i, j], name="Out")

    s = te.create_schedule(Out.op)
    out_loops = random_schedule(data, s[Out])
    where2 = random_attach(data, s[P2], out_loops)
    reader = out_loops
    if where2 != "inline":
        reader = random_schedule(data, s[P2], parallel=where2 == "root")
    where1 = random_attach(data, s[P1], reader)
    if where1 != "inline":
        random_schedule(data, s[P1], parallel=where1 == "root")

    rng = rng_of(data)
    a, b = random_array(rng, (values["M"], values["N"]), dtype), random_array(rng, (values["N"],), dtype)
    p1 = a + b
    jn = np.minimum(np.arange(values["N"]) + 1, values["N"] - 1)
    p2 = p1 * 2 + p1[:, jn]
    im = np.maximum(np.arange(values["M"]) - 1, 0)
    want = p2 - p2[im, :] * a
    check(s, [A, B, Out], {A: a, B: b}, {Out: want}, d.binds, scale=4, name="chain")


@examples(30)
@given(st.data())
def test_compute_at_read_by_a_stage_computed_there_too(data):
    """P is computed at a random leaf of Out and read by Out and by S (a row sum of P)
    computed at that leaf or one inside it: P's region covers what both read during
    one iteration (a softmax's exponentials, read by their row sum and the quotient)."""
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    values = {"M": data.draw(MAYBE_EMPTY, label="M"), "N": data.draw(MAYBE_EMPTY, label="N")}
    d = Dims(data, values)
    M, N = d["M"], d["N"]
    A = te.placeholder((M, N), name="A", dtype=dtype)
    P = te.compute((M, N), lambda i, j: A[i, j] * 2 + 1, name="P")
    k = te.reduce_axis((0, N), name="k")
    S = te.compute((M,), lambda i: te.sum(P[i, k], axis=k), name="S")
    Out = te.compute((M, N), lambda i, j: P[i, te.min(j + 1, N - 1)] - S[i] * P[i, j], name="Out")

    s = te.create_schedule(Out.op)
    points = random_schedule(data, s[Out]).attach_points()
    if points:          # none when Out is one fused, vectorized loop: P and S stay at the root
        p_at = data.draw(st.integers(0, len(points) - 1), label="P at leaf")
        s_at = data.draw(st.integers(p_at, len(points) - 1), label="S at leaf")
        s[P].compute_at(s[Out], points[p_at])
        s[S].compute_at(s[Out], points[s_at])
    random_schedule(data, s[S], parallel=False, label="S")
    random_schedule(data, s[P], parallel=False, label="P")

    a = random_array(rng_of(data), (values["M"], values["N"]), dtype)
    p = a * 2 + 1
    jn = np.minimum(np.arange(values["N"]) + 1, values["N"] - 1)
    want = p[:, jn] - p.sum(1, keepdims=True) * p
    check(s, [A, Out], {A: a}, {Out: want}, d.binds, scale=4 * values["N"], name="sibling")


@examples(25)
@given(st.data())
def test_one_reduce_axis_in_producer_and_consumer(data):
    """One ``te.reduce_axis`` object reduced by a producer P and by its consumer Out, P
    computed at a random leaf of Out (often a loop of that very axis): each stage's
    loops get their own variable, so P's loop over ``k`` does not shadow Out's (it did:
    a silent wrong answer)."""
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    values = {"N": data.draw(st.integers(1, 24), label="N")}
    d = Dims(data, values)
    N = d["N"]
    A = te.placeholder((N, N), name="A", dtype=dtype)
    k = te.reduce_axis((0, N), name="k")
    P = te.compute((N,), lambda i: te.sum(A[i, k], axis=k), name="P")
    Out = te.compute((N,), lambda i: te.sum(P[k] * A[k, i], axis=k), name="Out")
    s = te.create_schedule(Out.op)
    points = random_schedule(data, s[Out], parallel=False).attach_points()
    if points:
        s[P].compute_at(s[Out], points[data.draw(st.integers(0, len(points) - 1), label="P at leaf")])
    random_schedule(data, s[P], parallel=False, label="P")

    a = random_array(rng_of(data), (values["N"], values["N"]), dtype)
    check(s, [A, Out], {A: a}, {Out: a.sum(1) @ a}, d.binds, scale=values["N"] ** 2, name="shared_k")


# --------------------------------------------------------------------------- reductions

# "absmax" is a te.comm_reducer: a user's reducer goes through every schedule rule too
_NP_REDUCE = {"sum": np.sum, "max": np.max, "min": np.min,
              "absmax": lambda a, axis, keepdims, initial: np.abs(a).max(axis=axis, keepdims=keepdims, initial=initial)}
_TE_REDUCE = {"sum": te.sum, "max": te.max, "min": te.min,
              "absmax": te.comm_reducer(lambda x, y: te.max(te.abs(x), te.abs(y)), lambda t: 0, name="absmax")}


@examples(35)
@given(st.data())
def test_reduction(data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    rname = data.draw(st.sampled_from(sorted(_TE_REDUCE)), label="reducer")
    rank = data.draw(st.integers(1, 3), label="rank")
    ext = MAYBE_EMPTY if rank <= 2 else st.integers(1, 16)
    values = {f"d{i}": data.draw(ext, label=f"d{i}") for i in range(rank)}
    d = Dims(data, values)
    shape = [d[f"d{i}"] for i in range(rank)]
    vshape = [values[f"d{i}"] for i in range(rank)]
    raxes = sorted(data.draw(st.sets(st.integers(0, rank - 1), min_size=1), label="reduced axes"))
    keepdims = data.draw(st.booleans(), label="keepdims")
    # the first reduced axis may start above 0 (reduce_axis((lo, hi)))
    lo = 0
    if isinstance(shape[raxes[0]], int) and shape[raxes[0]] and data.draw(st.booleans(), label="offset reduce axis"):
        lo = data.draw(st.integers(0, vshape[raxes[0]] - 1), label="reduce lo")
    kv = {a: te.reduce_axis((lo if a == raxes[0] else 0, shape[a]), name=f"k{a}") for a in raxes}
    out_shape = [1 if a in kv else shape[a] for a in range(rank) if keepdims or a not in kv]

    A = te.placeholder(shape, name="A", dtype=dtype)

    def body(*idx):
        it = iter(idx)
        full = []
        for a in range(rank):
            if a in kv:
                full.append(kv[a])
                if keepdims:
                    next(it)
            else:
                full.append(next(it))
        return _TE_REDUCE[rname](A[tuple(full)], axis=[kv[a] for a in raxes])

    R = te.compute(out_shape, body, name="R")
    s = te.create_schedule(R.op)

    if data.draw(st.booleans(), label="rfactor"):
        ax = data.draw(st.sampled_from(raxes), label="rfactor axis")
        k = axis = kv[ax]
        if data.draw(st.booleans(), label="split before rfactor"):
            f = data.draw(split_amount(vshape[ax]), label="factor")
            ko, ki = s[R].split(k, factor=f)
            axis = data.draw(st.sampled_from([ko, ki]), label="rfactor outer/inner")
        factor_axis = data.draw(st.integers(0, len(out_shape)), label="factor_axis")
        RF = s.rfactor(R, axis, factor_axis=factor_axis)
        out_loops = random_schedule(data, s[R])
        where = random_attach(data, s[RF], out_loops, allow_inline=False)
        random_schedule(data, s[RF], parallel=where == "root")
    else:
        random_schedule(data, s[R])

    rng = rng_of(data)
    a = random_array(rng, vshape, dtype)
    sl = tuple(slice(lo, None) if ax == raxes[0] else slice(None) for ax in range(rank))
    # over an empty axis each output is the reducer's identity (numpy's max/min refuse)
    initial = {"sum": 0, "max": -np.inf, "min": np.inf, "absmax": 0}[rname]
    if np.dtype(dtype).kind == "i":
        initial = {"sum": 0, "max": np.iinfo(dtype).min, "min": np.iinfo(dtype).max, "absmax": 0}[rname]
    want = _NP_REDUCE[rname](a[sl], axis=tuple(raxes), keepdims=keepdims, initial=initial)
    count = int(np.prod([vshape[x] for x in raxes]))
    check(s, [A, R], {A: a}, {R: np_exact(want, dtype)}, d.binds, scale=count, name="reduce")


@examples(25)
@given(st.data())
def test_empty_extents(data):
    """An extent of 0 in every example (an output axis, the reduce axis, or both; constant
    or bound at call time) under random splits, fuses, reorders, unrolls, vectorize and
    parallel: outputs of no elements are left alone, reductions over no elements give
    the identity, and nothing is read (inputs with no elements sit against a guard page
    under test_oob)."""
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    rname = data.draw(st.sampled_from(["sum", "max", "min"]), label="reducer")
    values = {x: data.draw(MAYBE_EMPTY, label=x) for x in "MNK"}
    empty = data.draw(st.sets(st.sampled_from("MNK"), min_size=1), label="forced to 0")
    values.update({x: 0 for x in empty})
    d = Dims(data, values)
    M, N, K = d["M"], d["N"], d["K"]
    A = te.placeholder((M, K), name="A", dtype=dtype)
    B = te.placeholder((M, N), name="B", dtype=dtype)
    k = te.reduce_axis((0, K), name="k")
    R = te.compute((M,), lambda i: _TE_REDUCE[rname](A[i, k] * 2, axis=k), name="R")
    Out = te.compute((M, N), lambda i, j: B[i, j] + R[i], name="Out")
    s = te.create_schedule(Out.op)
    out_loops = random_schedule(data, s[Out])
    where = random_attach(data, s[R], out_loops, allow_inline=False)
    random_schedule(data, s[R], parallel=where == "root")

    rng = rng_of(data)
    a = random_array(rng, (values["M"], values["K"]), dtype)
    b = random_array(rng, (values["M"], values["N"]), dtype)
    info = np.iinfo(dtype) if dtype == "int32" else None
    initial = {"sum": 0, "max": info.min if info else -np.inf, "min": info.max if info else np.inf}[rname]
    r = _NP_REDUCE[rname](a * 2, axis=1, initial=initial).astype(dtype)
    with np.errstate(over="ignore"):        # the int32 identity plus b wraps, as the kernel's sum
        want = (b + r[:, None]).astype(dtype)
    check(s, [A, B, Out], {A: a, B: b}, {Out: want}, d.binds, name="empty")


# --------------------------------------------------------------------------- matmul

def _maybe_tile(data, stage, x, y, label):
    if data.draw(st.booleans(), label=f"{label}: tile"):
        fx = data.draw(split_amount(None), label=f"{label}: tile x factor")
        fy = data.draw(split_amount(None), label=f"{label}: tile y factor")
        stage.tile(x, y, fx, fy)


def _cache_reads(data, s, tensors, reader):
    """Maybe cache_read each input for ``reader``; returns the cache tensors."""
    caches = []
    for t in tensors:
        if data.draw(st.booleans(), label=f"cache_read {t.name}"):
            scope = data.draw(st.sampled_from(["local", "shared", "global"]), label=f"{t.name} cache scope")
            caches.append(s.cache_read(t, scope, [reader]))
    return caches


def _attach_caches(data, s, caches, reader_loops):
    for c in caches:
        where = random_attach(data, s[c], reader_loops)
        if where != "inline":
            random_schedule(data, s[c], parallel=where == "root", max_steps=3)


@examples(45)
@given(st.data())
def test_matmul(data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    values = {x: data.draw(MAYBE_EMPTY, label=x) for x in "MNK"}
    d = Dims(data, values)
    M, N, K = d["M"], d["N"], d["K"]
    A = te.placeholder((M, K), name="A", dtype=dtype)
    B = te.placeholder((K, N), name="B", dtype=dtype)
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)

    variant = data.draw(st.sampled_from(["plain", "cache_write", "rfactor"]), label="variant")
    if variant == "plain":
        caches = _cache_reads(data, s, [A, B], C)
        _maybe_tile(data, s[C], C.op.axis[0], C.op.axis[1], "C")
        comp_loops = random_schedule(data, s[C], max_steps=6)
    elif variant == "cache_write":
        CC = s.cache_write(C, "local")
        caches = _cache_reads(data, s, [A, B], CC)
        _maybe_tile(data, s[C], C.op.axis[0], C.op.axis[1], "C")
        out_loops = random_schedule(data, s[C])
        where = random_attach(data, s[CC], out_loops, allow_inline=False)
        comp_loops = random_loops(data, s[CC], max_steps=6)
        random_annotations(data, comp_loops, parallel=where == "root")
    else:
        axis = C.op.reduce_axis[0]
        if data.draw(st.booleans(), label="split k before rfactor"):
            ko, ki = s[C].split(axis, factor=data.draw(split_amount(values["K"]), label="k factor"))
            axis = data.draw(st.sampled_from([ko, ki]), label="rfactor ko/ki")
        RF = s.rfactor(C, axis, factor_axis=data.draw(st.integers(0, 2), label="factor_axis"))
        caches = _cache_reads(data, s, [A, B], RF)
        out_loops = random_schedule(data, s[C])
        where = random_attach(data, s[RF], out_loops, allow_inline=False)
        comp_loops = random_schedule(data, s[RF], parallel=where == "root", max_steps=6)
    _attach_caches(data, s, caches, comp_loops)

    rng = rng_of(data)
    a = random_array(rng, (values["M"], values["K"]), dtype)
    b = random_array(rng, (values["K"], values["N"]), dtype)
    want = (a.astype(np.float64) @ b.astype(np.float64)) if dtype != "int32" else a.astype(np.int64) @ b
    check(s, [A, B, C], {A: a, B: b}, {C: np_exact(want, dtype)}, d.binds, scale=values["K"], name="matmul")


@examples(25)
@given(st.data())
def test_batched_matmul(data):
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    small = st.one_of(st.integers(1, 24), st.sampled_from([1, 7, 17]))
    values = {"Bt": data.draw(st.integers(1, 5), label="Bt")}
    values.update({x: data.draw(small, label=x) for x in "MNK"})
    d = Dims(data, values)
    Bt, M, N, K = d["Bt"], d["M"], d["N"], d["K"]
    A = te.placeholder((Bt, M, K), name="A", dtype=dtype)
    B = te.placeholder((Bt, K, N), name="B", dtype=dtype)
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((Bt, M, N), lambda b, i, j: te.sum(A[b, i, k] * B[b, k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    if data.draw(st.booleans(), label="cache_write"):
        CC = s.cache_write(C, "local")
        _maybe_tile(data, s[C], C.op.axis[1], C.op.axis[2], "C")
        out_loops = random_schedule(data, s[C])
        where = random_attach(data, s[CC], out_loops, allow_inline=False)
        random_schedule(data, s[CC], parallel=where == "root")
    else:
        _maybe_tile(data, s[C], C.op.axis[1], C.op.axis[2], "C")
        random_schedule(data, s[C], max_steps=6)

    rng = rng_of(data)
    a = random_array(rng, (values["Bt"], values["M"], values["K"]), dtype)
    b = random_array(rng, (values["Bt"], values["K"], values["N"]), dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    check(s, [A, B, C], {A: a, B: b}, {C: np_exact(want, dtype)}, d.binds, scale=values["K"], name="bmm")


# --------------------------------------------------------------------------- index remaps

def _factor_shape(data, total, rank):
    """A random shape of ``rank`` dims whose product is ``total``."""
    shape = []
    rest = total
    for _ in range(rank - 1):
        divisors = [x for x in range(1, rest + 1) if rest % x == 0]
        x = data.draw(st.sampled_from(divisors), label="reshape dim")
        shape.append(x)
        rest //= x
    return shape + [rest]


def _reshape_index(idx, out_shape, in_shape):
    """Indices into ``in_shape`` for output indices ``idx`` (row-major), with // and %."""
    flat = 0
    for i, extent in zip(idx, out_shape):
        flat = flat * extent + i
    res = []
    for extent in reversed(in_shape):
        res.append(flat % extent)
        flat = flat // extent
    return tuple(reversed(res))


@examples(30)
@given(st.data())
def test_transpose_reshape(data):
    """transpose (any permutation), reshape (index arithmetic with // and %), or a
    reshape of a transpose with the transpose stage inlined / at the root / computed at
    a random leaf of the reshape."""
    kind = data.draw(st.sampled_from(["transpose", "reshape", "both"]), label="kind")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    rank = data.draw(st.integers(1, 3), label="rank")
    ext = EXTENT if rank <= 2 else st.integers(1, 14)
    values = {f"d{i}": data.draw(ext, label=f"d{i}") for i in range(rank)}
    d = Dims(data, values, symbolic=(kind == "transpose"))
    shape = [d[f"d{i}"] for i in range(rank)]
    vshape = [values[f"d{i}"] for i in range(rank)]
    A = te.placeholder(shape, name="A", dtype=dtype)
    rng = rng_of(data)
    a = random_array(rng, vshape, dtype)

    src, src_v = A, a
    if kind in ("transpose", "both"):
        perm = data.draw(st.permutations(range(rank)), label="perm")
        tshape = [shape[p] for p in perm]

        def tbody(*idx):
            aidx = [None] * rank
            for q, p in enumerate(perm):
                aidx[p] = idx[q]
            return A[tuple(aidx)]

        T = te.compute(tshape, tbody, name="T")
        src, src_v = T, np.transpose(a, perm)
    out = src
    if kind in ("reshape", "both"):
        total = int(np.prod(vshape))
        orank = data.draw(st.integers(1, 3), label="out rank")
        oshape = _factor_shape(data, total, orank)
        ishape = list(src_v.shape)
        out = te.compute(oshape, lambda *idx: src[_reshape_index(idx, oshape, ishape)], name="R")
        want = src_v.reshape(oshape)
    else:
        want = src_v

    s = te.create_schedule(out.op)
    out_loops = random_schedule(data, s[out])
    if kind == "both":
        where = random_attach(data, s[src], out_loops)
        if where != "inline":
            random_schedule(data, s[src], parallel=where == "root")
    check(s, [A, out], {A: a}, {out: np.ascontiguousarray(want)}, d.binds, name="remap")


# --------------------------------------------------------------------------- conv and pooling

def _pad_stage(X, pad, value, name="Pad"):
    N, C, H, W = X.shape
    if pad == 0 and value is None:
        return None
    return te.compute(
        (N, C, H + 2 * pad, W + 2 * pad),
        lambda n, c, h, w: te.if_then_else(te.all(h >= pad, h < H + pad, w >= pad, w < W + pad),
                                           X[n, c, h - pad, w - pad], value),
        name=name)


def _np_windows(xp, k_h, k_w, stride, oh, ow):
    """xp[..., y*s+ry, x*s+rx] as an array [..., oh, ow, k_h, k_w]."""
    out = np.empty(xp.shape[:2] + (oh, ow, k_h, k_w), xp.dtype)
    for ry in range(k_h):
        for rx in range(k_w):
            out[..., ry, rx] = xp[:, :, ry:ry + stride * (oh - 1) + 1:stride, rx:rx + stride * (ow - 1) + 1:stride]
    return out


@examples(30)
@given(st.data())
def test_conv2d_nchw(data):
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    nb = data.draw(st.integers(1, 2), label="N")
    c, f = data.draw(st.integers(1, 3), label="C"), data.draw(st.integers(1, 4), label="F")
    h, w = data.draw(st.integers(1, 12), label="H"), data.draw(st.integers(1, 12), label="W")
    kh, kw = data.draw(st.integers(1, 3), label="KH"), data.draw(st.integers(1, 3), label="KW")
    stride = data.draw(st.integers(1, 2), label="stride")
    pad = data.draw(st.integers(0, 2), label="pad")
    if h + 2 * pad < kh or w + 2 * pad < kw:
        pad = max(kh - h, kw - w, 0) // 2 + 1
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    d = Dims(data, {"n": nb})
    X = te.placeholder((d["n"], c, h, w), name="X", dtype=dtype)
    Wt = te.placeholder((f, c, kh, kw), name="W", dtype=dtype)
    P = _pad_stage(X, pad, 0.0)
    rc, ry, rx = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    Y = te.compute((d["n"], f, oh, ow),
                   lambda n, ff, y, x: te.sum(P[n, rc, y * stride + ry, x * stride + rx] * Wt[ff, rc, ry, rx],
                                              axis=[rc, ry, rx]), name="Y")
    s = te.create_schedule(Y.op)
    out_loops = random_schedule(data, s[Y])
    where = random_attach(data, s[P], out_loops)
    if where != "inline":
        random_schedule(data, s[P], parallel=where == "root", max_steps=3)

    rng = rng_of(data)
    x, wt = random_array(rng, (nb, c, h, w), dtype), random_array(rng, (f, c, kh, kw), dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = _np_windows(xp, kh, kw, stride, oh, ow)                     # n c oh ow kh kw
    want = np.einsum("ncyxhw,fchw->nfyx", win.astype(np.float64), wt.astype(np.float64))
    check(s, [X, Wt, Y], {X: x, Wt: wt}, {Y: np_exact(want, dtype)}, d.binds, scale=c * kh * kw, name="conv")


@examples(30)
@given(st.data())
def test_pooling(data):
    kind = data.draw(st.sampled_from(["max", "avg"]), label="pool")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    nb, c = data.draw(st.integers(1, 2), label="N"), data.draw(st.integers(1, 3), label="C")
    h, w = data.draw(st.integers(1, 14), label="H"), data.draw(st.integers(1, 14), label="W")
    k = data.draw(st.integers(1, 3), label="k")
    stride = data.draw(st.integers(1, 3), label="stride")
    pad = data.draw(st.integers(0, k - 1), label="pad")
    if h + 2 * pad < k or w + 2 * pad < k:
        pad = k - 1
    if h + 2 * pad < k or w + 2 * pad < k:
        h, w = max(h, k), max(w, k)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    d = Dims(data, {"n": nb, "c": c})
    X = te.placeholder((d["n"], d["c"], h, w), name="X", dtype=dtype)
    P = _pad_stage(X, pad, float("-inf") if kind == "max" else 0.0)
    ry, rx = te.reduce_axis((0, k), "ry"), te.reduce_axis((0, k), "rx")
    oshape = (d["n"], d["c"], oh, ow)
    if kind == "max":
        Y = te.compute(oshape, lambda n, cc, y, x: te.max(P[n, cc, y * stride + ry, x * stride + rx], axis=[ry, rx]),
                       name="Y")
        S = None
    else:
        S = te.compute(oshape, lambda n, cc, y, x: te.sum(P[n, cc, y * stride + ry, x * stride + rx], axis=[ry, rx]),
                       name="S")
        Y = te.compute(oshape, lambda n, cc, y, x: S[n, cc, y, x] / (k * k), name="Y")
    s = te.create_schedule(Y.op)
    reader = random_schedule(data, s[Y])
    if S is not None:
        where = random_attach(data, s[S], reader, allow_inline=False)
        reader = random_schedule(data, s[S], parallel=where == "root")
    where = random_attach(data, s[P], reader)
    if where != "inline":
        random_schedule(data, s[P], parallel=where == "root", max_steps=3)

    rng = rng_of(data)
    x = random_array(rng, (nb, c, h, w), dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf if kind == "max" else 0)
    win = _np_windows(xp, k, k, stride, oh, ow)
    want = win.max(axis=(4, 5)) if kind == "max" else win.sum(axis=(4, 5)) / (k * k)
    check(s, [X, Y], {X: x}, {Y: np_exact(want, dtype)}, d.binds, scale=k * k, name="pool")


# --------------------------------------------------------------------------- softmax

@examples(30)
@given(st.data())
def test_row_softmax(data):
    """max -> exp(x - max) -> sum -> divide, each stage at a random legal place."""
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    values = {"M": data.draw(MAYBE_EMPTY, label="M"), "N": data.draw(MAYBE_EMPTY, label="N")}
    d = Dims(data, values)
    M, N = d["M"], d["N"]
    X = te.placeholder((M, N), name="X", dtype=dtype)
    k1, k2 = te.reduce_axis((0, N), "k1"), te.reduce_axis((0, N), "k2")
    Mx = te.compute((M,), lambda i: te.max(X[i, k1], axis=k1), name="Mx")
    E = te.compute((M, N), lambda i, j: te.exp(X[i, j] - Mx[i]), name="E")
    S = te.compute((M,), lambda i: te.sum(E[i, k2], axis=k2), name="S")
    Y = te.compute((M, N), lambda i, j: E[i, j] / S[i], name="Y")
    s = te.create_schedule(Y.op)

    y_loops = random_schedule(data, s[Y])
    where_s = random_attach(data, s[S], y_loops, allow_inline=False)
    random_schedule(data, s[S], parallel=where_s == "root")
    # E is read by S and Y: it can only be at the root or inlined.
    where_e = random_attach(data, s[E], None)
    if where_e == "inline":
        where_m = random_attach(data, s[Mx], None, allow_inline=False)   # read by S and Y now
    else:
        e_loops = random_schedule(data, s[E])
        where_m = random_attach(data, s[Mx], e_loops, allow_inline=False)
    random_schedule(data, s[Mx], parallel=where_m == "root")

    rng = rng_of(data)
    x = random_array(rng, (values["M"], values["N"]), dtype, -4, 4)
    e = np.exp(x - x.max(axis=1, keepdims=True, initial=-np.inf))
    want = e / e.sum(axis=1, keepdims=True)
    check(s, [X, Y], {X: x}, {Y: np_exact(want, dtype)}, d.binds, name="softmax")


# --------------------------------------------------------------------------- clamped reads

@examples(30)
@given(st.data())
def test_clamped_rows_cached_per_tile(data):
    """Rows read clamped to the last one (the GEMM's padded rows read ``A[min(i, M-1)]``)
    and staged per tile of rows: the cache holds one tile-sized window of A — a constant
    size, which shared memory needs — placed inside A at the last tiles."""
    M, pad, N = (data.draw(st.integers(1, 40), label="M"), data.draw(st.integers(0, 30), label="pad"),
                 data.draw(st.integers(1, 9), label="N"))
    factor = data.draw(st.integers(1, 48), label="factor")
    A = te.placeholder((M, N), name="A")
    Out = te.compute((M + pad, N), lambda i, j: A[te.min(i, M - 1), j] * 2.0, name="Out")
    s = te.create_schedule(Out.op)
    cache = s.cache_read(A, "local", [Out])
    io, _ = s[Out].split(Out.op.axis[0], factor=factor)
    s[cache].compute_at(s[Out], io)
    rows = factor if factor < M else M
    assert f"allocate A.local: float32[{rows}, {N}]" in str(tm.lower(s, [A, Out]))
    a = random_array(rng_of(data), (M, N), "float32")
    check(s, [A, Out], {A: a}, {Out: a[np.minimum(np.arange(M + pad), M - 1)] * 2}, name="clamped")
