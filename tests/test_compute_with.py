"""``Stage.compute_with``: outputs computed inside another stage's loop, block by block,
right after it (a multi-output epilogue). Random schedules of a product and of the
stages computed with it must equal numpy, in place or not; misuse is a clear error."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini import te
from tvmini.errors import ScheduleError

from strategies import EXTENT, SMALL, check, examples, random_annotations, random_array, random_loops


def _update(M, N, K, dtype="float32"):
    """g = a @ b; buf' = 0.9 buf + g + 0.01 p; p' = p - 0.1 buf' (an SGD-momentum step
    after a weight-gradient product)."""
    a, b = te.placeholder((M, K), name="a", dtype=dtype), te.placeholder((K, N), name="b", dtype=dtype)
    p, buf = te.placeholder((M, N), name="p", dtype=dtype), te.placeholder((M, N), name="buf", dtype=dtype)
    k = te.reduce_axis((0, K), name="k")
    g = te.compute((M, N), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="g")
    new_buf = te.compute((M, N), lambda i, j: buf[i, j] * 0.9 + g[i, j] + p[i, j] * 0.01, name="new_buf")
    new_p = te.compute((M, N), lambda i, j: p[i, j] - new_buf[i, j] * 0.1, name="new_p")
    return (a, b, p, buf), (g, new_buf, new_p)


def _expected(a, b, p, buf):
    g = a @ b
    new_buf = buf * 0.9 + g + p * 0.01
    return g, new_buf, p - new_buf * 0.1


def _data_leaves_outside_reduction(stage, loops):
    leaves = stage.leaf_iter_vars
    first = next((i for i, iv in enumerate(leaves) if stage._is_reduce(iv)), len(leaves))
    return [iv for iv in leaves[:first] if loops.annotated.get(iv) != "vectorize"]


@examples(30)
@given(st.data())
def test_update_computed_with_random_product_schedule(data):
    M, N, K = (data.draw(EXTENT, label=n) for n in "MNK")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    inputs, (g, new_buf, new_p) = _update(M, N, K, dtype)
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    loops = random_annotations(data, random_loops(data, s[g]), vectorize=False)
    points = _data_leaves_outside_reduction(s[g], loops)
    if points:
        at = data.draw(st.sampled_from(points), label="computed with g at")
        for stage in (s[new_buf], s[new_p]):
            stage.compute_with(s[g], at)
            random_annotations(data, random_loops(data, stage, max_steps=3), parallel=False)
    rng = np.random.default_rng(M * N * K)
    arrays = [random_array(rng, shape, dtype) for shape in ((M, K), (K, N), (M, N), (M, N))]
    want = _expected(*arrays)
    check(s, [*inputs, g, new_buf, new_p], dict(zip(inputs, arrays)), dict(zip((g, new_buf, new_p), want)),
          scale=K, name="with")


@examples(15)
@given(M=EXTENT, N=EXTENT, K=SMALL, mi=SMALL, nj=SMALL)
def test_update_in_place_inside_parallel_tiles(M, N, K, mi, nj):
    """Tiles of the product run in parallel; the update overwrites p and buf in place."""
    (a, b, p, buf), (g, new_buf, new_p) = _update(M, N, K)
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    io, jo, ii, ji = s[g].tile(g.op.axis[0], g.op.axis[1], mi, nj)
    tile = s[g].fuse(io, jo)
    s[g].parallel(tile)
    for stage in (s[new_buf], s[new_p]):
        stage.compute_with(s[g], tile)
        stage.vectorize(stage.op.axis[1])
    f = tm.build(s, [a, b, p, buf, g, new_buf, new_p], inplace={new_buf: buf, new_p: p})
    rng = np.random.default_rng(M + N)
    arrays = [rng.standard_normal(shape).astype("float32") for shape in ((M, K), (K, N), (M, N), (M, N))]
    want = _expected(*arrays)
    P, B, G = tm.nd.array(arrays[2]), tm.nd.array(arrays[3]), tm.nd.empty((M, N))
    f(arrays[0], arrays[1], P, B, G, B, P)
    for got, expected in zip((G, B, P), want):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_shapes_must_match():
    a = te.placeholder((4, 5), name="a")
    b = te.compute((4, 5), lambda i, j: a[i, j] + 1.0, name="b")
    c = te.compute((5, 4), lambda i, j: a[j, i] * 2.0, name="c")
    s = te.create_schedule([b.op, c.op])
    with pytest.raises(ScheduleError, match="shapes must be equal"):
        s[c].compute_with(s[b], b.op.axis[0])


def test_inside_the_reduction_is_refused():
    (a, b, p, buf), (g, new_buf, new_p) = _update(6, 7, 5)
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    s[g].reorder(g.op.axis[0], g.op.reduce_axis[0], g.op.axis[1])
    s[new_buf].compute_with(s[g], g.op.axis[1])
    with pytest.raises(ScheduleError, match="partial sums"):
        tm.lower(s, [a, b, p, buf, g, new_buf, new_p])


def _b_t_c(t_reads_b):
    """a -> b (an output), t (a temporary reading b or a), c (an output reading t and b)."""
    a = te.placeholder((6, 6), name="a")
    b = te.compute((6, 6), lambda i, j: a[i, j] + 1.0, name="b")
    t = te.compute((6, 6), lambda i, j: (b if t_reads_b else a)[i, j] * 2.0, name="t")
    c = te.compute((6, 6), lambda i, j: t[i, j] + b[i, j], name="c")
    return (a, b, t, c), te.create_schedule([b.op, c.op])


def test_only_outputs_are_computed_with():
    (a, b, t, c), s = _b_t_c(t_reads_b=True)
    s[t].compute_with(s[b], b.op.axis[0])
    with pytest.raises(ScheduleError, match="not an argument"):
        tm.lower(s, [a, b, c])


def test_nothing_is_computed_inside_a_with_stage():
    (a, b, t, c), s = _b_t_c(t_reads_b=False)
    s[c].compute_with(s[b], b.op.axis[0])
    s[t].compute_at(s[c], c.op.axis[0])
    with pytest.raises(ScheduleError, match="no stage can be computed inside it"):
        tm.lower(s, [a, b, c])
