"""``Stage.compute_with``: outputs computed inside another stage's loop, block by block,
right after it (a multi-output epilogue). Random schedules of a product and of the
stages computed with it must equal numpy, in place or not; misuse is a clear error."""
import numpy as np
import pytest
from hypothesis import event, given, strategies as st

import tvmini as tm
from tvmini import te
from tvmini.errors import ScheduleError
from tvmini.te.relation import Split, derived_extents
from tvmini.tir.simplify import simplify

from strategies import (EXTENT, SMALL, assert_matches, check, examples, garbage, random_annotations, random_array,
                        random_loops)


def _update(M, N, K, dtype="float32", columns=None):
    """g = a @ b; buf' = 0.9 buf + g + 0.01 p; p' = p - 0.1 buf' (an SGD-momentum step
    after a weight-gradient product). With ``columns`` (a shape of N elements) g's
    columns are those axes (a convolution's weight gradient: (C, KH, KW))."""
    columns = (N,) if columns is None else tuple(columns)
    a = te.placeholder((M, K), name="a", dtype=dtype)
    b = te.placeholder((K, *columns), name="b", dtype=dtype)
    p, buf = (te.placeholder((M, *columns), name=name, dtype=dtype) for name in ("p", "buf"))
    k = te.reduce_axis((0, K), name="k")
    if len(columns) == 1:
        g = te.compute((M, N), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="g")
    else:
        g = te.compute((M, *columns), lambda *ij: te.sum(a[ij[0], k] * b[(k, *ij[1:])], axis=k), name="g")
    new_buf = te.compute(g.shape, lambda *i: buf[i] * 0.9 + g[i] + p[i] * 0.01, name="new_buf")
    new_p = te.compute(g.shape, lambda *i: p[i] - new_buf[i] * 0.1, name="new_p")
    return (a, b, p, buf), (g, new_buf, new_p)


def _expected(a, b, p, buf):
    g = np.tensordot(a, b, 1)
    new_buf = buf * 0.9 + g + p * 0.01
    return g, new_buf, p - new_buf * 0.1


def _data_leaves_outside_reduction(stage, loops):
    leaves = stage.leaf_iter_vars
    first = next((i for i, iv in enumerate(leaves) if stage._is_reduce(iv)), len(leaves))
    return [iv for iv in leaves[:first] if loops.annotated.get(iv) != "vectorize"]


def _in_place(s, tensors, arrays, dtype, scale):
    """Build ``s`` with buf' over buf and p' over p, run it and compare with numpy: an
    update computed twice moves p and buf twice, one computed before its block of g
    reads garbage."""
    (a, b, p, buf), (g, new_buf, new_p) = tensors
    f = tm.build(s, [a, b, p, buf, g, new_buf, new_p], inplace={new_buf: buf, new_p: p})
    want = _expected(*arrays)
    P, B = (tm.nd.array(np.array(x, copy=True)) for x in arrays[2:])
    G = tm.nd.array(garbage(want[0].shape, dtype))
    f(arrays[0], arrays[1], P, B, G, B, P)
    for name, got, expected in zip(("g", "buf'", "p'"), (G, B, P), want):
        assert_matches(got.numpy(), expected, dtype, scale, what=f"{name} in place")


@examples(30)
@given(st.data())
def test_update_computed_with_random_product_schedule(data):
    """Random loops of the product, the update computed with it at a random loop
    outside the reduction (random loops of its own): out of place and in place it
    equals numpy; it is refused only where that loop's blocks are no boxes (a loop
    fused across rows and split, see :func:`_refused`)."""
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
        if _refused(s, [*inputs, g, new_buf, new_p], s[g], at):
            return
    rng = np.random.default_rng(M * N * K)
    arrays = [random_array(rng, shape, dtype) for shape in ((M, K), (K, N), (M, N), (M, N))]
    want = _expected(*arrays)
    check(s, [*inputs, g, new_buf, new_p], dict(zip(inputs, arrays)), dict(zip((g, new_buf, new_p), want)),
          scale=K, name="with")
    _in_place(s, (inputs, (g, new_buf, new_p)), arrays, dtype, K)


@examples(30)
@given(st.data())
def test_update_computed_with_random_schedule_of_a_product_with_several_column_axes(data):
    """A product whose columns are several axes (a convolution's weight gradient, here
    (P, Q)), its loops random (fusing the column axes and splitting the fused loop
    among them), the update in place computed with it at a random loop: equal to numpy,
    or refused where that loop computes blocks that are no boxes."""
    M, P, Q, K = (data.draw(SMALL, label=n) for n in "MPQK")
    inputs, (g, new_buf, new_p) = _update(M, P * Q, K, columns=(P, Q))
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    if data.draw(st.booleans(), label="fuse the columns and split them"):
        i, p, q = s[g].op.axis
        fused = s[g].fuse(p, q)
        s[g].split(fused, factor=data.draw(st.sampled_from([2, 3, 4, 6, 8, Q, 2 * Q, P * Q + 1]), label="factor"))
    loops = random_annotations(data, random_loops(data, s[g], max_steps=3), vectorize=False)
    points = _data_leaves_outside_reduction(s[g], loops)
    if not points:
        return
    at = data.draw(st.sampled_from(points), label="computed with g at")
    for stage in (s[new_buf], s[new_p]):
        stage.compute_with(s[g], at)
        if data.draw(st.booleans(), label=f"{stage.name}: fuse its columns"):
            stage.fuse(*stage.op.axis[1:])
    if _refused(s, [*inputs, g, new_buf, new_p], s[g], at):
        return
    rng = np.random.default_rng(M * P * Q * K)
    arrays = [random_array(rng, shape, "float32") for shape in ((M, K), (K, P, Q), (M, P, Q), (M, P, Q))]
    _in_place(s, (inputs, (g, new_buf, new_p)), arrays, "float32", K)


def _blocks(stage, at):
    """The elements ``stage`` computes in each iteration of its loop ``at`` (and the loops
    around it), found by running its data loops: ``[(n, ndim) element array]``. Each
    split's padding past its parent's extent is left out, as the stage's guards leave
    it out."""
    extents = {iv: simplify(e).value for iv, e in
               derived_extents(stage.relations, {iv: iv.dom.extent for iv in stage.root_iter_vars}).items()}
    leaves = [iv for iv in stage.leaf_iter_vars if not stage._is_reduce(iv)]
    grid = np.meshgrid(*[np.arange(extents[iv]) for iv in leaves], indexing="ij")
    value = {iv: g.ravel() for iv, g in zip(leaves, grid)}
    keep = np.ones(grid[0].size, bool)
    for rel in reversed(stage.relations):
        if isinstance(rel, Split):
            if rel.outer in value and rel.inner in value:
                value[rel.parent] = value[rel.outer] * extents[rel.inner] + value[rel.inner]
                keep &= value[rel.parent] < extents[rel.parent]
        elif rel.fused in value:
            value[rel.outer] = value[rel.fused] // extents[rel.inner]
            value[rel.inner] = value[rel.fused] % extents[rel.inner]
    position = stage.leaf_iter_vars.index(at)
    outside = [iv for iv in leaves if stage.leaf_iter_vars.index(iv) <= position]
    elements = np.stack([value[iv] for iv in stage.op.axis], 1)[keep]
    keys = np.stack([value[iv] for iv in outside], 1)[keep]
    return [elements[(keys == key).all(1)] for key in np.unique(keys, axis=0)]


def _all_boxes(stage, at):
    """Whether every block :func:`_blocks` finds is a box (its bounding box holds no
    other element)."""
    return all(len(block) == np.prod(block.max(0) - block.min(0) + 1) for block in _blocks(stage, at))


def _pads_an_inner_side(stage):
    """Whether a split of ``stage`` pads past the end of an axis that is the inner one of
    a split or fuse (directly, or as the outer part of axes derived from it): values
    past its end alias the next elements, so only its own guards (which the stage
    computed with it does not repeat) keep them out."""
    inner_side = set()
    for rel in stage.relations:
        if isinstance(rel, Split):
            inner_side.add(rel.inner)
            if rel.parent in inner_side:
                inner_side.add(rel.outer)
        elif rel.outer in inner_side or rel.inner in inner_side:
            inner_side.add(rel.fused)
    extents = derived_extents(stage.relations, {iv: iv.dom.extent for iv in stage.root_iter_vars})
    return any(isinstance(rel, Split) and rel.parent in inner_side
               and simplify(extents[rel.outer] * extents[rel.inner]).value != simplify(extents[rel.parent]).value
               for rel in stage.relations)


def _refused(s, args, parent, at):
    """Lower ``s``: a refusal must say that a block is no box, and is right unless the
    blocks are boxes after all; the analysis may then refuse only where a split padded
    past its end feeds an inner side (:func:`_pads_an_inner_side`). Returns whether it
    was refused."""
    try:
        tm.lower(s, args)
    except ScheduleError as e:
        assert "not a box" in str(e), str(e)
        if _all_boxes(parent, at):
            assert _pads_an_inner_side(parent), f"refused, but every block is a box: {e}"
            event("refused: a padded split of an inner side")
        else:
            event("refused: a block is no box")
        return True
    event("computed with")
    return False


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


def _weight_gradient(split, rows=None):
    """g (10, 4, 3, 3) = a @ b, a convolution's weight gradient with its (C, KH, KW)
    columns fused and split by ``split`` (``rows``: the rows too, outside), an SGD
    momentum update computed with it at the loop over column blocks (or row blocks)."""
    tensors = _update(10, 36, 7, columns=(4, 3, 3))
    (a, b, p, buf), (g, new_buf, new_p) = tensors
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    i, c, kh, kw = g.op.axis
    io, ii = s[g].split(i, factor=rows or 10)
    jo, ji = s[g].split(s[g].fuse(c, kh, kw), factor=split)
    s[g].reorder(io, jo, ii, ji)
    for stage in (s[new_buf], s[new_p]):
        stage.compute_with(s[g], io if rows else jo)
    return s, tensors


@pytest.mark.parametrize("split", [8, 32, 5])
def test_blocks_of_fused_columns_that_are_no_boxes_are_refused(split):
    """Blocks of 8 (32, 5) columns of a 3x3 kernel's taps are no boxes: the update was
    computed over the whole weight once per block (twice over most of it, in place, and
    ahead of the gradients it read)."""
    s, ((a, b, p, buf), (g, new_buf, new_p)) = _weight_gradient(split)
    with pytest.raises(ScheduleError, match="are not a box of new_(p|buf)'s domain"):
        tm.lower(s, [a, b, p, buf, g, new_buf, new_p])


@pytest.mark.parametrize("split, rows", [(9, None), (18, None), (27, None), (8, 3), (5, 4), (36, 1)])
def test_blocks_of_whole_kernels_or_whole_rows_are_computed_once(split, rows):
    """Blocks of whole 3x3 kernels (9, 18: one and two channels; 27 past the end of the
    four channels), or the column blocks of a row block computed with the row block:
    each update element computed once, in place, after its gradient."""
    s, tensors = _weight_gradient(split, rows)
    rng = np.random.default_rng(split)
    arrays = [random_array(rng, shape, "float32") for shape in ((10, 7), (7, 4, 3, 3), (10, 4, 3, 3), (10, 4, 3, 3))]
    _in_place(s, tensors, arrays, "float32", 7)


def test_a_block_spanning_gpu_threads_is_refused():
    """With the product's threads inside the loop, every thread would compute the whole
    block of the update."""
    (a, b, p, buf), (g, new_buf, new_p) = _update(64, 8, 5)
    s = te.create_schedule([g.op, new_buf.op, new_p.op])
    io, ii = s[g].split(g.op.axis[0], factor=16)
    s[g].bind(ii, te.thread_axis("threadIdx.x"))
    s[new_p].compute_with(s[g], io)
    s[new_buf].compute_with(s[g], io)
    with pytest.raises(ScheduleError, match="bound to threadIdx.x: every thread would compute"):
        tm.lower(s, [a, b, p, buf, g, new_buf, new_p])


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


def test_a_producer_of_the_stage_it_is_computed_with_is_refused():
    """A follower runs after its leader in every block: computed with a stage that reads
    it, it was read before it was written (the leader saw zeros)."""
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[7 - i] * 2.0, name="b")
    host = te.compute((8,), lambda i: b[i] + 1.0, name="host")
    s = te.create_schedule([b.op, host.op])
    s[b].compute_with(s[host], host.op.axis[0])
    with pytest.raises(ScheduleError, match="b is computed with host, which reads it"):
        tm.lower(s, [a, b, host])
